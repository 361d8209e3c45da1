import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Synchronization
import Testing

/// Install path C in memory: pve2nix kexecs the node into the installer as on path A, then runs
/// `clan machines install` once per phase (disko, install, reboot) with the gate and the
/// confirmation before the wipe; clan's sshd service gives the installed system a new host key,
/// which is pinned once the reboot call ended.
@Suite struct InstallRunPathCTests {
    static let target = InstallRunTests.target
    static let proxmoxKey = FakeHostKeys.ed25519(1, comment: "root@villa-pve-01")

    static var plan: ConversionPlan {
        var p = DrainExecutorTests.plan
        p.install.path = .clan
        return p
    }

    struct World {
        var node: FakeInstallNode
        var pins: PinnedHostKeys
    }

    /// A node on Proxmox with its key pinned; the kexec installer carries the same key. With
    /// `sshd`, the tree uses clan's sshd service (clan's first run makes its key var).
    static func world(sshd: Bool = true) throws -> World {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-pathc-\(UUID().uuidString)")
        let pins = PinnedHostKeys(path: dir.appendingPathComponent("known_hosts").path)
        try pins.pin(host: target.host, port: target.port, key: proxmoxKey)
        var state = FakeInstallNode.State(hostname: "villa-pve-01", lsblk: try NodeCheckTests.capture("lsblk.json"), diskByID: try NodeCheckTests.capture("disk-by-id.txt"))
        state.hostKeys = [.proxmox: proxmoxKey, .installer: proxmoxKey]
        state.clanSSHD = sshd
        return World(node: FakeInstallNode(target: target, state: state, plannedDisks: ["main": plan.disk!.kernelName]), pins: pins)
    }

    static func install(_ w: World, _ log: any RunLog, pins: (any HostKeyPinning)? = nil, confirm: Bool = true) -> InstallRun {
        let node = w.node, checking = w.pins
        var run = InstallRun(plan: plan, tree: "/work/tree", target: target, key: InstallRunTests.key, connect: { _ in try node.connect(checking: checking) },
                             processes: node, log: log, confirm: { _ in confirm })
        run.clock = ImmediateClock()
        let disk = plan.disk!.byId.path
        let varPath = ClanInstallCall.hostKeyVarPath(machine: plan.node)
        run.treeFile = { name in
            switch name {
            case "disko.nix": Data("{ disko.devices.disk.main.device = \"\(disk)\"; }".utf8)
            case "facter.json": node.state.withLock { $0.facterWritten } ? Data("{\"version\": 1}".utf8) : nil
            case varPath: node.state.withLock { $0.clanHostKey }.map { Data(($0 + "\n").utf8) }
            default: nil
            }
        }
        run.verifyInstallKey = { node.state.withLock { !$0.installKeyRefused } }
        run.clanSetup = InstallRun.ClanSetup(pins: pins ?? w.pins, nodeKey: proxmoxKey.fingerprint)
        return run
    }

    static func clanPhases(_ s: FakeInstallNode.State) -> [String] {
        s.clanCalls.map { $0[$0.firstIndex(of: "--phases")! + 1] }
    }

    @Test func pathCKexecsThenRunsClanOncePerPhaseAndPinsTheNewHostKey() async throws {
        let w = try Self.world()
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        try await Self.install(w, log).run()
        let s = w.node.state.withLock { $0 }
        #expect(s.phaseRuns == ["kexec": 1, "disko": 1, "install": 1, "reboot": 1])
        #expect(s.calls.count == 1 && s.calls[0].contains("--kexec"), "only the kexec is pve2nix's own nixos-anywhere call: \(s.calls)")
        #expect(Self.clanPhases(s) == ["disko", "install", "reboot"])
        for call in s.clanCalls {
            #expect(call.starts(with: ["machines", "install", "villa-pve-01"]))
            #expect(call.contains("--yes") && !call.contains("--host-key-check") && !call.contains("--no-reboot") && !call.contains("--kexec"))
        }
        #expect(s.system == .nixos && s.bootedSystem?.hasSuffix("-nixos-system-villa-pve-01") == true)
        let clanKey = try SSHPublicKey(parsing: try #require(s.clanHostKey))
        #expect(try w.pins.fingerprint(for: Self.target) == clanKey.fingerprint, "the node's address is pinned to clan's sshd key")
        #expect(s.mntHostKey == nil, "with clan's sshd var nothing is made under /mnt")
        let entries = await log.entries()
        #expect(entries.filter { $0.phase == .done && $0.stage != .check }.map(\.stage) == [.kexec, .build, .build, .disko, .install, .reboot])
        #expect(entries.last { $0.stage == .reboot && $0.phase == .requested }?.facts.hostKey == clanKey.description)
    }

    /// Without clan's sshd service in the tree the key is read (or made) under /mnt in the installer, as on path B.
    @Test func withoutClansSSHDVarTheKeyUnderMntIsPinned() async throws {
        let w = try Self.world(sshd: false)
        try await Self.install(w, InMemoryRunLog(InstallRunTests.passedChecks)).run()
        let s = w.node.state.withLock { $0 }
        let mnt = try SSHPublicKey(parsing: try #require(s.mntHostKey))
        #expect(try w.pins.fingerprint(for: Self.target) == mnt.fingerprint)
        #expect(s.system == .nixos)
    }

    @Test func theGateRefusesWhenTheDisksChangedAndClanWipesNothing() async throws {
        let w = try Self.world()
        w.node.state.withLock { $0.lsblk = $0.lsblk.replacingOccurrences(of: "\"S5GXNF0T512345A\"", with: "\"S5GXNF0T999999X\"") }
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        await #expect(throws: InstallError.self) { try await Self.install(w, log).run() }
        let s = w.node.state.withLock { $0 }
        #expect(s.clanCalls.isEmpty && s.phaseRuns["disko"] == nil && s.laidOut.isEmpty)
        #expect(try await log.latest(.disko)?.phase == .failed)
        #expect(s.system == .installer)
        #expect(try w.pins.fingerprint(for: Self.target) == Self.proxmoxKey.fingerprint)
    }

    @Test func withoutTheConfirmationClanIsNeverRun() async throws {
        let w = try Self.world()
        await #expect(throws: InstallError.notConfirmed) { try await Self.install(w, InMemoryRunLog(InstallRunTests.passedChecks), confirm: false).run() }
        #expect(w.node.state.withLock { $0.clanCalls.isEmpty })
    }

    @Test func aCrashAfterAnyJournalWriteResumesAndClanWipesOnce() async throws {
        let base = InstallRunTests.passedChecks.count
        for crashAt in (base + 1)...(base + 11) {
            let w = try Self.world()
            struct Crash: Error {}
            let log = InMemoryRunLog(InstallRunTests.passedChecks) { count in if count == crashAt { throw Crash() } }
            do { try await Self.install(w, log).run() } catch is Crash {} catch { Issue.record("run \(crashAt): \(error)") }
            try await Self.install(w, InMemoryRunLog(await log.entries())).run()
            let s = w.node.state.withLock { $0 }
            #expect(s.phaseRuns["disko"] == 1 && s.phaseRuns["kexec"] == 1 && s.phaseRuns["reboot"] == 1, "crash after write \(crashAt): \(s.phaseRuns)")
            #expect(Self.clanPhases(s).filter { $0 == "disko" }.count == 1, "crash after write \(crashAt): \(Self.clanPhases(s))")
            #expect(s.system == .nixos, "crash after write \(crashAt)")
            #expect(try w.pins.fingerprint(for: Self.target) == s.clanHostKey.flatMap { try? SSHPublicKey(parsing: $0) }?.fingerprint, "crash after write \(crashAt)")
        }
    }

    /// pve2nix dies after clan rebooted the installer but before it re-pinned: the system then
    /// presents the key the journal recorded, and only that is pinned.
    @Test func aCrashBetweenTheRebootAndTheRepinPinsTheJournaledKey() async throws {
        let w = try Self.world()
        struct Dies: Error {}
        struct DiesOnRepin: HostKeyPinning {
            let pins: PinnedHostKeys
            func fingerprint(for target: SSHTarget) throws -> HostKeyFingerprint? { try pins.fingerprint(for: target) }
            func repin(_ target: SSHTarget, to key: SSHPublicKey, replacing: HostKeyFingerprint?) throws { throw Dies() }
        }
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        await #expect(throws: Dies.self) { try await Self.install(w, log, pins: DiesOnRepin(pins: w.pins)).run() }
        #expect(w.node.state.withLock { $0.phaseRuns["reboot"] } == 1)
        #expect(try w.pins.fingerprint(for: Self.target) == Self.proxmoxKey.fingerprint)
        let resumed = InMemoryRunLog(await log.entries())
        try await Self.install(w, resumed).run()
        let s = w.node.state.withLock { $0 }
        #expect(s.phaseRuns["reboot"] == 1)
        #expect(try await resumed.latest(.reboot)?.phase == .done)
        #expect(try w.pins.fingerprint(for: Self.target) == s.clanHostKey.flatMap { try? SSHPublicKey(parsing: $0) }?.fingerprint)
    }

    @Test func aClanPhaseThatFailsIsReportedAndTheRunResumes() async throws {
        let w = try Self.world()
        w.node.state.withLock { _ = $0.failing.insert("install") }
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        do {
            try await Self.install(w, log).run()
            Issue.record("a failing install did not stop the run")
        } catch let error as InstallError {
            guard case .phaseFailed(let phase, _, _) = error else { Issue.record("\(error)"); return }
            #expect(phase.contains("clan machines install"))
        }
        try await Self.install(w, InMemoryRunLog(await log.entries())).run()
        let s = w.node.state.withLock { $0 }
        #expect(s.phaseRuns["disko"] == 1 && s.system == .nixos)
    }

    /// Every flag pve2nix passes to clan is in clan's flag table (install-facts §4.1), with the
    /// right number of values; the machine is the one positional argument.
    @Test(arguments: ClanInstallCall.phases)
    func theFlagsAreClansOwn(_ phase: NixosAnywhereCall.Phase) throws {
        let table = try String(contentsOf: Fixtures.fixtures.appendingPathComponent("install/clan-flags.txt"), encoding: .utf8)
        var arity: [String: Int] = [:]
        for line in table.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: " ")
            arity[String(f[0])] = Int(f[1])
        }
        let call = ClanInstallCall(phase: phase, machine: NodeName("villa-pve-01"), flakeDirectory: "/t", target: SSHTarget(user: "root", host: "fd00::1", port: 2222), identityFile: "/k")
        #expect(Array(call.arguments.prefix(3)) == ["machines", "install", "villa-pve-01"])
        var args = call.arguments.dropFirst(3)
        while let flag = args.first {
            let n = try #require(arity[flag], "\(flag) is not a flag of clan machines install")
            #expect(args.count > n, "\(flag) needs \(n) values")
            args = args.dropFirst(n + 1)
        }
        #expect(!call.arguments.contains("--host-key-check") && !call.arguments.contains("--no-reboot") && !call.arguments.contains("--debug"))
        #expect(call.arguments.contains("root@[fd00::1]:2222"))
        let phases = call.arguments[call.arguments.firstIndex(of: "--phases")! + 1]
        #expect(phases == phase.rawValue, "one phase per call, as one word")
        #expect(ClanInstallCall(phase: phase, machine: NodeName("n"), flakeDirectory: "/t", target: Self.target, identityFile: "/k").targetHost == "root@10.1.10.11")
    }
}

extension InstallRunPathCTests {
    /// The villa example with `tool = "clan"`: the dry run shows the kexec as path A, then the
    /// exact clan commands, one phase each, and writes nothing.
    @Test func theDryRunOfPathCPrintsTheExactClanCommands() throws {
        let site = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-pathc-site-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Fixtures.packageRoot.appendingPathComponent("Examples/villa"), to: site)
        defer { try? FileManager.default.removeItem(at: site) }
        let toml = site.appendingPathComponent("site.toml")
        let text = try String(contentsOf: toml, encoding: .utf8).replacingOccurrences(of: "[install]\n", with: "[install]\ntool = \"clan\"\n")
        try Data(text.utf8).write(to: toml)
        let tree = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-pathc-dry-\(UUID().uuidString)")
        let (status, out) = try CommandLineTests.run(["install", "villa-pve-01", "--site", site.path, "--generated", tree.path, "--dry-run", "--json"])
        #expect(status == 0, "\(out)")
        let steps = try JSONReader.parse(out)["steps"]?.arrayValue ?? []
        let commands = steps.compactMap { $0["command"]?.stringValue }
        #expect(commands.contains { $0.hasPrefix("nixos-anywhere --phases kexec") })
        for phase in ["disko", "install", "reboot"] {
            #expect(commands.contains { $0.hasPrefix("clan machines install villa-pve-01 --flake \(tree.path)") && $0.contains("--phases \(phase) --update-hardware-config none --yes") },
                    "no clan \(phase) command in \(commands)")
        }
        #expect(!commands.contains { $0.hasPrefix("nixos-anywhere --phases disko") || $0.contains("--host-key-check") })
        let what = steps.compactMap { $0["what"]?.stringValue }.joined(separator: "\n")
        #expect(what.contains(ClanInstallCall.hostKeyVarPath(machine: NodeName("villa-pve-01"))))
        #expect(!FileManager.default.fileExists(atPath: tree.path), "a dry run writes nothing")
    }
}

extension InstallRunPathCTests {
    /// The stand-in `clan` (no VM needed for this much): it refuses what clan refuses, and runs the
    /// stand-in nixos-anywhere once for its phase with the store paths it built and the node's address.
    @Test func theStandInClanTakesClansFlagsAndRunsOneNixosAnywherePhase() throws {
        let control = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-clan-standin-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: control) }
        try StandInInstallTools.write(control: control)
        let tree = control.appendingPathComponent("villa-pve-01")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try Data("{ }".utf8).write(to: tree.appendingPathComponent("flake.nix"))
        try Data("{ disko.devices.disk.main.device = \"\(Self.plan.disk!.byId.path)\"; }".utf8).write(to: tree.appendingPathComponent("disko.nix"))
        let key = control.appendingPathComponent("install_ed25519")
        try Data("key".utf8).write(to: key)
        let clan = control.appendingPathComponent("bin/clan")
        let call = ClanInstallCall(phase: .disko, machine: NodeName("villa-pve-01"), flakeDirectory: tree.path,
                                   target: SSHTarget(user: "root", host: "fd00::1", port: 2222), identityFile: key.path)
        let naCalls = control.appendingPathComponent("nixos-anywhere-calls")

        #expect(try ProcessOutput.run(clan, call.arguments + ["--host-key-chec"]).status == 2, "an unknown flag")
        #expect(try ProcessOutput.run(clan, call.arguments.filter { $0 != "--yes" }).status == 1, "no terminal for clan's prompt without --yes")
        #expect(!FileManager.default.fileExists(atPath: naCalls.path))

        // Told to fail before it touches the node: what matters is the nixos-anywhere call it made.
        try Data().write(to: control.appendingPathComponent("fail-disko"))
        #expect(try ProcessOutput.run(clan, call.arguments).status == 1)
        let na = try String(contentsOf: naCalls, encoding: .utf8).split(separator: "\n")
        #expect(na.count == 1)
        let args = na.first.map(String.init) ?? ""
        #expect(args.hasPrefix("--phases disko --store-paths /nix/store/") && args.contains("-disko /nix/store/") && args.contains("-nixos-system-villa-pve-01"))
        #expect(args.hasSuffix("-i \(key.path) -p 2222 --target-host root@fd00::1"))
    }
}
