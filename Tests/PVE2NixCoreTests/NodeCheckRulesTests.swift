import PVE2NixCore
import Testing

/// `check`'s judgement of the node's RAM follows the plan's install path, as the plan's own preflight does.
@Suite struct NodeCheckRulesTests {
    static func meminfo(mebibytes: Int) -> String { "MemTotal:       \(mebibytes * 1024) kB\nMemFree:        1000 kB\n" }

    @Test(arguments: [
        (1000, InstallPath?.none, PreflightCheck.Status.fail),
        (1000, .kexec, .fail),
        (1000, .clan, .fail),
        (1000, .bootImage, .warn),
        (1800, .kexec, .warn),
        (1800, .bootImage, .warn),
        (4096, .kexec, .pass),
        (4096, .bootImage, .pass),
    ])
    func kexecMemoryStopsOnlyAnInstallThatUsesKexec(mebibytes: Int, path: InstallPath?, expected: PreflightCheck.Status) {
        let check = NodeCheckRules.kexecMemory(meminfo: Self.meminfo(mebibytes: mebibytes), installPath: path)
        #expect(check.status == expected, "\(check.detail)")
        #expect(check.detail.contains(ByteFormat.string(Int64(mebibytes) << 20)))
    }
}
