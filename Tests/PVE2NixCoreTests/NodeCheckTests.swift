import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix check` against the strict fake cluster, a fake host with the node's real capture,
/// and real nix-instantiate on a generated tree.
@Suite struct NodeCheckTests {
    static let node = NodeName("villa-pve-01")

    /// The villa node as its capture shows it, drained of nothing yet.
    static func capture(_ leaf: String) throws -> String {
        try String(contentsOf: Fixtures.villa.appendingPathComponent("nodes/villa-pve-01/\(leaf)"), encoding: .utf8)
    }

    static func host() throws -> FakeHost {
        var state = FakeHost.State()
        state.lsblk = try capture("lsblk.json")
        state.diskByID = try capture("disk-by-id.txt")
        state.files["/proc/meminfo"] = Data(try capture("meminfo").utf8)
        state.links["/root/.ssh/authorized_keys"] = "/etc/pve/priv/authorized_keys"
        state.files["/proc/sys/kernel/hostname"] = Data("villa-pve-01\n".utf8)
        return FakeHost(state: state)
    }

    /// A drained cluster, the generated tree on disk and a check wired to them.
    static func setUp(drain: Bool = true, host: FakeHost? = nil) async throws -> (NodeCheck, URL, FakeProxmoxCluster) {
        let cluster = DrainExecutorTests.cluster()
        let journal = InMemoryDrainJournal()
        if drain { _ = try await DrainExecutorTests.executor(cluster, journal).run(DrainExecutorTests.plan.drain) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-check-\(UUID().uuidString)")
        let generated = HostGenerator(site: DrainExecutorTests.site, plan: DrainExecutorTests.plan, options: GenerateOptions()).generate()
        try GeneratedTreeWriter(directory: dir).write(generated.files)
        var check = NodeCheck(plan: DrainExecutorTests.plan, site: DrainExecutorTests.site, api: cluster, shell: try host ?? Self.host(), processes: SubprocessRunner())
        check.clock = ImmediateClock()
        check.pinnedFingerprint = HostKeyFingerprint("SHA256:" + String(repeating: "A", count: 43))
        check.generated = GeneratedTreeSnapshot.read(directory: dir.path)
        check.rehearsed = (NetworkUnitsHash.of(check.generated!.units), "vlan-aware-bridge")
        for r in try await journal.records() where r.archive != nil { check.archives[r.vmid] = r.archive }
        return (check, dir, cluster)
    }

    static func status(_ results: [PreflightCheck], _ name: String) -> PreflightCheck.Status? { results.first { $0.check == name }?.status }

    @Test func aDrainedNodeWithItsPlannedDiskPassesEveryCheck() async throws {
        let (check, dir, _) = try await Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = await check.run()
        let names = results.map(\.check)
        #expect(names == ["drained", "quorum-now", "quorum-after", "peers-online", "backup-archives", "host-key", "kexec-memory", "authorized-keys",
                          "disk-identity", "generated-config", "network-rehearsed"])
        #expect(results.filter { $0.status == .fail }.isEmpty, "\(results.filter { $0.status == .fail })")
        // Proxmox links root's authorized_keys to the cluster-wide file: a warning, never silence.
        #expect(Self.status(results, "authorized-keys") == .warn)
        // The running Proxmox holds / on the install disk: expected before the installer, said as a warning.
        #expect(Self.status(results, "disk-identity") == .warn)
        #expect(results.first { $0.check == "backup-archives" }?.detail.contains("archive") == true)
    }

    /// In the installer (after kexec) nothing may be in use any more: the same findings refuse.
    @Test func inTheInstallerADiskInUseFails() async throws {
        let host = try Self.host()
        host.state.withLock { $0.files["/etc/os-release"] = Data("NAME=NixOS\nVARIANT_ID=installer\n".utf8) }
        let (check, dir, _) = try await Self.setUp(host: host)
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = await check.run().first { $0.check == "disk-identity" }
        #expect(result?.status == .fail && result?.detail.contains("rule 5") == true)
    }

    @Test func aNodeStillCarryingGuestsFails() async throws {
        let (check, dir, _) = try await Self.setUp(drain: false)
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = await check.run()
        #expect(Self.status(results, "drained") == .fail)
        #expect(results.first { $0.check == "drained" }?.detail.contains("lxc 101") == true)
    }

    @Test func aDiskWithAnotherSerialFailsTheGate() async throws {
        let host = try Self.host()
        host.state.withLock { $0.lsblk = $0.lsblk.replacingOccurrences(of: "\"S5GXNF0T512345A\"", with: "\"S5GXNF0T999999X\"") }
        let (check, dir, _) = try await Self.setUp(host: host)
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = await check.run()
        #expect(Self.status(results, "disk-identity") == .fail)
    }

    @Test func aChangedHostKeyFailsAndNothingElseRunsThere() async throws {
        let host = try Self.host()
        let pinned = HostKeyFingerprint("SHA256:" + String(repeating: "A", count: 43))!
        host.state.withLock { $0.failure = .hostKeyChanged(host: "fake-node", pinned: pinned, presented: HostKeyFingerprint("SHA256:" + String(repeating: "B", count: 43))) }
        let (check, dir, _) = try await Self.setUp(host: host)
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = await check.run()
        #expect(Self.status(results, "host-key") == .fail)
        #expect(results.first { $0.check == "host-key" }?.detail.contains(String(repeating: "B", count: 43)) == true)
        #expect(Self.status(results, "disk-identity") == nil)
    }

    /// A host that presents a pinned key but is another node (an address given by mistake).
    @Test func anotherNodeBehindTheAddressFails() async throws {
        let host = try Self.host()
        host.state.withLock { $0.files["/proc/sys/kernel/hostname"] = Data("villa-pve-02\n".utf8) }
        let (check, dir, _) = try await Self.setUp(host: host)
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = await check.run().first { $0.check == "host-key" }
        #expect(result?.status == .fail && result?.detail.contains("villa-pve-02") == true)
    }

    @Test func unitsThatWereNotRehearsedFail() async throws {
        var (check, dir, _) = try await Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        check.rehearsed = ("0000", "an older run")
        #expect(Self.status(await check.run(), "network-rehearsed") == .fail)
        check.rehearsed = nil
        #expect(Self.status(await check.run(), "network-rehearsed") == .fail)
    }

    @Test func aGeneratedFileChangedByHandOrBrokenFails() async throws {
        var (check, dir, _) = try await Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("configuration.nix")
        try (try String(contentsOf: file, encoding: .utf8) + "\n{ broken").write(to: file, atomically: true, encoding: .utf8)
        check.generated = GeneratedTreeSnapshot.read(directory: dir.path)
        let result = await check.run().first { $0.check == "generated-config" }
        #expect(result?.status == .fail && result?.detail.contains("configuration.nix") == true)
    }

    /// A tree generated from another plan (another install disk) is not the tree this plan checks.
    @Test func aTreeThatWipesAnotherDiskFails() async throws {
        var (check, dir, _) = try await Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let disko = check.generated?.disko?.replacingOccurrences(of: "S5GXNF0T512345A", with: "S6PNNJ0W123456B")
        check.generated?.disko = disko
        let result = await check.run().first { $0.check == "generated-config" }
        #expect(result?.status == .fail && result?.detail.contains("another plan") == true, "\(String(describing: result))")
        check.generated?.hasManifest = false
        #expect(await check.run().first { $0.check == "generated-config" }?.detail.contains("not a tree") == true)
    }

    /// lsblk shows no mount point for a ZFS pool's members: an imported pool on the install disk is
    /// found by its label, a pool on another disk is not the install's business.
    @Test func importedPoolsOnTheInstallDiskAreFound() throws {
        var (devices, _) = CaptureDecoders.lsblk(try Self.capture("lsblk.json"), file: "lsblk.json")
        let (links, _) = CaptureDecoders.diskByID(try Self.capture("disk-by-id.txt"), file: "disk-by-id.txt")
        let targets = try #require(DrainExecutorTests.plan.disk).installTargets
        let nvme = try #require(devices.firstIndex { $0.kernelName == "nvme0n1" })
        devices[nvme].children[0].fstype = "zfs_member"
        devices[nvme].children[0].label = "rpool"
        #expect(NodeCheck.importedPools(["rpool", "tank"], on: targets, devices: devices, links: links) == ["rpool"])
        // tank lives on the SATA disk, outside the plan.
        #expect(NodeCheck.importedPools(["tank"], on: targets, devices: devices, links: links).isEmpty)
        #expect(NodeCheck.importedPools([], on: targets, devices: devices, links: links).isEmpty)
    }

    @Test(arguments: [
        // (online peers, votes each, qdevice) → quorum-after
        (["a", "b", "c"], false, PreflightCheck.Status.pass),
        (["a", "b"], false, .pass),
        (["a"], false, .fail),
        (["a", "b", "c"], true, .fail),
    ])
    func quorumAfterTheNodeLeaves(online: [String], qdevice: Bool, expected: PreflightCheck.Status) throws {
        // Four members, "n" leaves; "c" may be offline.
        let members = ["n", "a", "b", "c"]
        let status = try JSONReader.parse("[{\"type\":\"cluster\",\"quorate\":1}," + members.map { m in
            "{\"type\":\"node\",\"name\":\"\(m)\",\"online\":\(online.contains(m) || m == "n" ? 1 : 0)}"
        }.joined(separator: ",") + "]")
        let text = "nodelist {\n" + members.enumerated().map { i, m in "  node {\n    name: \(m)\n    nodeid: \(i + 1)\n    quorum_votes: 1\n    ring0_addr: 10.0.0.\(i + 1)\n  }\n" }.joined()
            + "}\nquorum {\n  provider: corosync_votequorum\n" + (qdevice ? "  device {\n    model: net\n  }\n" : "") + "}\n"
        let corosync = CorosyncParser.parse(text, file: "corosync.conf").config
        #expect(corosync.nodes.count == 4 && corosync.hasQDevice == qdevice)
        let checks = NodeCheckRules.quorum(status: status, corosync: corosync, leaving: "n")
        #expect(checks.first { $0.check == "quorum-after" }?.status == expected)
    }
}
