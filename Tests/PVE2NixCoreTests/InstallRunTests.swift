import Foundation
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// Install path A against a node in memory that plays Proxmox, the kexec installer and NixOS,
/// and plays `nix` and `nixos-anywhere` with their effects on it.
@Suite struct InstallRunTests {
    static let target = SSHTarget(user: "root", host: "10.1.10.11")
    static let key = InstallRun.InstallKey(privateKeyPath: "/state/install-key", publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPve2nixInstallKeyForTests pve2nix-install@villa-pve-01")

    static var plan: ConversionPlan {
        var p = DrainExecutorTests.plan
        p.install.path = .kexec
        return p
    }

    static func node() throws -> FakeInstallNode {
        let state = FakeInstallNode.State(hostname: "villa-pve-01", lsblk: try NodeCheckTests.capture("lsblk.json"), diskByID: try NodeCheckTests.capture("disk-by-id.txt"))
        let kernel = Self.plan.disk!.kernelName
        return FakeInstallNode(target: target, state: state, plannedDisks: ["main": kernel])
    }

    /// The checks of this run, all passed (as `pve2nix check` journals them).
    static let passedChecks: [RunEntry] = ["cluster", "host-key", "disk-identity", "network-rehearsed", "generated-config"].map {
        RunEntry(stage: .check, subject: .node, phase: .done, detail: "\($0) pass: ok")
    }

    static func install(_ node: FakeInstallNode, _ log: any RunLog, confirm: Bool = true) -> InstallRun {
        var run = InstallRun(plan: plan, tree: "/work/tree", target: target, key: key, connect: { _ in try node.connect() },
                             processes: node, log: log, confirm: { _ in confirm })
        run.clock = ImmediateClock()
        let disk = plan.disk!.byId.path
        run.treeFile = { name in
            switch name {
            case "disko.nix": Data("{ disko.devices.disk.main.device = \"\(disk)\"; }".utf8)
            case "facter.json": node.state.withLock { $0.facterWritten } ? Data("{\"version\": 1}".utf8) : nil
            default: nil
            }
        }
        run.verifyInstallKey = { node.state.withLock { !$0.installKeyRefused } }
        return run
    }

    @Test func pathAGoesFromProxmoxToTheInstalledSystemOnePhasePerCall() async throws {
        let node = try Self.node()
        let log = InMemoryRunLog(Self.passedChecks)
        try await Self.install(node, log).run()
        let s = node.state.withLock { $0 }
        #expect(s.phaseRuns == ["kexec": 1, "disko": 1, "install": 1, "reboot": 1])
        #expect(s.system == .nixos || s.system == .down)
        #expect(s.bootedSystem?.hasSuffix("-nixos-system-villa-pve-01") == true)
        #expect(s.authorizedKeys2.contains(Self.key.publicKey))
        for call in s.calls {
            #expect(!call.contains("--force-kexec"))
            #expect(!call.joined(separator: " ").contains("StrictHostKeyChecking"))
            let phases = call[call.firstIndex(of: "--phases")! + 1]
            #expect(NixosAnywhereCall.Phase(rawValue: phases) != nil, "one phase per call, as one word: \(phases)")
        }
        #expect(s.calls[0].contains("--kexec") && s.calls[0].contains("--generate-hardware-config"))
        #expect(s.calls[2].contains("--copy-host-keys"))
        let stages = try await log.entries().filter { $0.phase == .done && $0.stage != .check }.map(\.stage)
        #expect(stages == [.kexec, .build, .build, .disko, .install, .reboot])
    }

    /// Every flag pve2nix passes is in nixos-anywhere's flag table, with the right number of values.
    @Test(arguments: NixosAnywhereCall.Phase.allCases)
    func theFlagsAreNixosAnywheresOwn(_ phase: NixosAnywhereCall.Phase) throws {
        let table = try String(contentsOf: Fixtures.fixtures.appendingPathComponent("install/nixos-anywhere-flags.txt"), encoding: .utf8)
        var arity: [String: Int] = [:]
        for line in table.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: " ")
            arity[String(f[0])] = Int(f[1])
        }
        let source: NixosAnywhereCall.Source = phase == .kexec ? .flake(directory: "/t", attribute: "villa-pve-01") : .storePaths(disko: "/nix/store/x-disko", toplevel: "/nix/store/y-system")
        let call = NixosAnywhereCall(phase: phase, target: SSHTarget(user: "root", host: "fd00::1", port: 2222), identityFile: "/k",
                                     source: source, kexecImage: "/nix/store/z/i.tar.gz", hardwareReport: "/t/facter.json", postKexecPort: 22)
        var args = call.arguments[...]
        while let flag = args.first {
            let n = try #require(arity[flag], "\(flag) is not a nixos-anywhere flag")
            #expect(args.count > n, "\(flag) needs \(n) values")
            args = args.dropFirst(n + 1)
        }
        #expect(!call.arguments.contains("--force-kexec") && !call.arguments.contains("--ssh-option") && !call.arguments.contains("--debug"))
        #expect(call.arguments.contains("root@fd00::1"))
    }

    @Test func aCrashAfterAnyJournalWriteResumesAndWipesOnce() async throws {
        let base = Self.passedChecks.count
        for crashAt in (base + 1)...(base + 12) {
            let node = try Self.node()
            struct Crash: Error {}
            let log = InMemoryRunLog(Self.passedChecks) { count in if count == crashAt { throw Crash() } }
            do { try await Self.install(node, log).run() } catch is Crash {} catch { Issue.record("run \(crashAt): \(error)") }
            let entries = try await log.entries()
            try await Self.install(node, InMemoryRunLog(entries)).run()
            let s = node.state.withLock { $0 }
            #expect(s.phaseRuns["disko"] == 1, "crash after write \(crashAt): disko ran \(s.phaseRuns["disko"] ?? 0) times")
            #expect(s.phaseRuns["kexec"] == 1 && s.phaseRuns["reboot"] == 1, "crash after write \(crashAt): \(s.phaseRuns)")
            #expect(s.bootedSystem != nil)
        }
    }

    @Test func aWipeThatRanButWasNotJournaledIsNotRunAgain() async throws {
        let node = try Self.node()
        let log = InMemoryRunLog(Self.passedChecks)
        node.state.withLock { $0.failing.insert("install") }
        await #expect(throws: InstallError.self) { try await Self.install(node, log).run() }
        // As if pve2nix died after disko's run but before writing that it ended.
        let entries = try await log.entries().filter { !($0.stage == .disko && $0.phase == .done) }
        try await Self.install(node, InMemoryRunLog(entries)).run()
        #expect(node.state.withLock { $0.phaseRuns } == ["kexec": 1, "disko": 1, "install": 1, "reboot": 1])
    }

    @Test func theGateRefusesWhenTheDisksChangedAndNothingIsWiped() async throws {
        let node = try Self.node()
        node.state.withLock { $0.lsblk = $0.lsblk.replacingOccurrences(of: "\"S5GXNF0T512345A\"", with: "\"S5GXNF0T999999X\"") }
        let log = InMemoryRunLog(Self.passedChecks)
        await #expect(throws: InstallError.self) { try await Self.install(node, log).run() }
        #expect(node.state.withLock { $0.phaseRuns["disko"] } == nil)
        #expect(try await log.latest(.disko)?.phase == .failed)
        #expect(node.state.withLock { $0.system } == .installer)
    }

    @Test func withoutTheConfirmationNothingIsWiped() async throws {
        let node = try Self.node()
        await #expect(throws: InstallError.notConfirmed) { try await Self.install(node, InMemoryRunLog(Self.passedChecks), confirm: false).run() }
        #expect(node.state.withLock { $0.phaseRuns["disko"] } == nil)
    }

    @Test(arguments: ["kexec", "disko", "install", "reboot"])
    func aPhaseThatHangsIsStoppedAndTheRunResumes(_ phase: String) async throws {
        let node = try Self.node()
        node.state.withLock { _ = $0.hanging.insert(phase) }
        let log = InMemoryRunLog(Self.passedChecks)
        do {
            try await Self.install(node, log).run()
            Issue.record("a hanging \(phase) did not stop the run")
        } catch let error as InstallError {
            #expect(error.localizedDescription.contains("did not end within"))
        }
        #expect(try await log.latest(RunStage(rawValue: phase)!)?.phase == .failed)
        try await Self.install(node, InMemoryRunLog(try await log.entries())).run()
        #expect(node.state.withLock { $0.phaseRuns["disko"] } == 1)
        #expect(node.state.withLock { $0.bootedSystem } != nil)
    }

    @Test func withoutPassedChecksNothingRuns() async throws {
        let node = try Self.node()
        var entries = Self.passedChecks
        entries.append(RunEntry(stage: .check, subject: .node, phase: .failed, detail: "disk-identity fail: another serial"))
        await #expect(throws: InstallError.self) { try await Self.install(node, InMemoryRunLog(entries)).run() }
        await #expect(throws: InstallError.self) { try await Self.install(node, InMemoryRunLog()).run() }
        #expect(node.state.withLock { $0.calls.isEmpty && $0.builds.isEmpty })
    }

    @Test func aLinkedAuthorizedKeys2IsNeverWrittenThrough() async throws {
        let node = try Self.node()
        node.state.withLock { $0.authorizedKeys2IsLink = true }
        await #expect(throws: InstallError.authorizedKeys2IsLink("/root/.ssh/authorized_keys2")) { try await Self.install(node, InMemoryRunLog(Self.passedChecks)).run() }
        #expect(node.state.withLock { $0.calls.isEmpty })
    }

    @Test func aTreeThatWipesAnotherDiskIsRefusedBeforeTheWipe() async throws {
        let node = try Self.node()
        var run = Self.install(node, InMemoryRunLog(Self.passedChecks))
        run.treeFile = { $0 == "facter.json" ? Data("{}  ".utf8) : Data("{ device = \"/dev/disk/by-id/ata-Samsung_SSD_870_EVO_2TB_S6PNNJ0W123456B\"; }".utf8) }
        await #expect(throws: InstallError.self) { try await run.run() }
        #expect(node.state.withLock { $0.phaseRuns["disko"] } == nil)
    }

    @Test func anInstallKeyThatDoesNotLogInStopsBeforeNixosAnywhere() async throws {
        let node = try Self.node()
        node.state.withLock { $0.installKeyRefused = true }
        await #expect(throws: InstallError.installKeyDoesNotLogIn(Self.target.description)) { try await Self.install(node, InMemoryRunLog(Self.passedChecks)).run() }
        #expect(node.state.withLock { $0.calls.isEmpty })
    }

    @Test func aMissingHardwareReportIsWrittenInTheInstallerFirst() async throws {
        let node = try Self.node()
        let log = InMemoryRunLog(Self.passedChecks + [RunEntry(stage: .kexec, subject: .node, phase: .done, detail: "the installer answers")])
        node.state.withLock { $0.system = .installer }
        try await Self.install(node, log).run()
        let s = node.state.withLock { $0 }
        #expect(s.calls.first?.contains("--generate-hardware-config") == true && s.phaseRuns["disko"] == 1)
    }

    @Test func aChangedHostKeyStopsAtOnce() async throws {
        let node = try Self.node()
        let pinned = HostKeyFingerprint("SHA256:" + String(repeating: "A", count: 43))!
        var run = Self.install(node, InMemoryRunLog(Self.passedChecks))
        run = InstallRun(plan: run.plan, tree: run.tree, target: run.target, key: run.key,
                         connect: { t in throw RemoteShellError.hostKeyChanged(host: t.host, pinned: pinned, presented: nil) },
                         processes: node, log: run.log, confirm: run.confirm)
        await #expect(throws: RemoteShellError.self) { try await run.run() }
        #expect(node.state.withLock { $0.calls.isEmpty })
    }
}
