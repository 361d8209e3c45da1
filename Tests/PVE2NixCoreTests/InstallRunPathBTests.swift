import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Synchronization
import Testing

/// Install path B in memory: the node runs Proxmox (drained) until someone at the rack boots the
/// stick; the installer answers with the host key pve2nix generated and pinned; the installed
/// system's key, read over the installer's connection, is pinned before its first boot.
@Suite struct InstallRunPathBTests {
    static let target = InstallRunTests.target
    static let proxmoxKey = FakeHostKeys.ed25519(1, comment: "root@villa-pve-01")
    static let installerKey = FakeHostKeys.ed25519(2, comment: "pve2nix-installer@villa-pve-01")

    static var plan: ConversionPlan {
        var p = DrainExecutorTests.plan
        p.install.path = .bootImage
        return p
    }

    struct World {
        var node: FakeInstallNode
        var pins: PinnedHostKeys
        var events = Events()
    }

    final class Events: Sendable {
        let all = Mutex<[InstallRun.Event]>([])
    }

    /// A node on Proxmox with its key pinned; the stick is booted after `stickAfter` connection attempts.
    static func world(stickAfter: Int? = 3) throws -> World {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-pathb-\(UUID().uuidString)")
        let pins = PinnedHostKeys(path: dir.appendingPathComponent("known_hosts").path)
        try pins.pin(host: target.host, port: target.port, key: proxmoxKey)
        var state = FakeInstallNode.State(hostname: "villa-pve-01", lsblk: try NodeCheckTests.capture("lsblk.json"), diskByID: try NodeCheckTests.capture("disk-by-id.txt"))
        state.hostKeys = [.proxmox: proxmoxKey, .installer: installerKey]
        state.stickBootsAfter = stickAfter
        return World(node: FakeInstallNode(target: target, state: state, plannedDisks: ["main": plan.disk!.kernelName]), pins: pins)
    }

    static func install(_ w: World, _ log: any RunLog, pins: (any HostKeyPinning)? = nil, confirm: Bool = true) -> InstallRun {
        let node = w.node, checking = w.pins
        var run = InstallRun(plan: plan, tree: "/work/tree", target: target, key: InstallRunTests.key, connect: { _ in try node.connect(checking: checking) },
                             processes: node, log: log, confirm: { _ in confirm })
        run.clock = ImmediateClock()
        let disk = plan.disk!.byId.path
        run.treeFile = { $0 == "disko.nix" ? Data("{ disko.devices.disk.main.device = \"\(disk)\"; }".utf8) : nil }
        run.bootImageSetup = InstallRun.BootImageSetup(hostKeyPath: "/state/sites/villa/installer-villa-pve-01_ed25519", hostKey: installerKey, pins: pins ?? w.pins,
                                                       locateISO: { $0 + "/iso/nixos-installer.iso" })
        let events = w.events
        run.events = { e in events.all.withLock { $0.append(e) } }
        return run
    }

    static func steps(_ w: World) -> [String] {
        w.events.all.withLock { $0.compactMap { if case .step(let s) = $0 { s } else { nil } } }
    }

    @Test func pathBBuildsTheImageWaitsForTheRackAndInstallsWithTheRightKeys() async throws {
        let w = try Self.world()
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        try await Self.install(w, log).run()
        let s = w.node.state.withLock { $0 }
        #expect(s.phaseRuns == ["disko": 1, "install": 1, "reboot": 1], "no kexec on path B: \(s.phaseRuns)")
        #expect(s.builds.filter { $0 == "nixos-installer-image" }.count == 1)
        let install = try #require(s.calls.first { $0.contains("install") })
        #expect(!install.contains("--copy-host-keys"), "the installer's key must not become the system's")
        // The trust chain: Proxmox's key → the installer's (pinned by pve2nix) → the system's (read in the installer).
        let systemKey = try SSHPublicKey(parsing: try #require(s.mntHostKey))
        #expect(try w.pins.fingerprint(for: Self.target) == systemKey.fingerprint)
        #expect(s.system == .nixos)
        let entries = await log.entries()
        #expect(entries.filter { $0.phase == .done && $0.stage != .check }.map(\.stage) == [.bootImage, .build, .build, .disko, .install, .reboot])
        let requested = try #require(entries.first { $0.stage == .bootImage && $0.phase == .requested })
        #expect(requested.facts.hostKeyFingerprint == Self.proxmoxKey.fingerprint.description)
        #expect(requested.facts.storePath?.hasSuffix("/iso/nixos-installer.iso") == true)
        #expect(entries.last { $0.stage == .reboot && $0.phase == .requested }?.facts.hostKey == systemKey.description)
        let rack = w.events.all.withLock { $0.compactMap { if case .rack(let r) = $0 { r } else { nil } } }
        #expect(rack.count == 1)
        #expect(rack.first?.wiped.map(\.byId) == [Self.plan.disk!.byId.path])
    }

    @Test func aCrashAfterAnyJournalWriteResumesWipesOnceAndNeverRebuildsTheImage() async throws {
        let base = InstallRunTests.passedChecks.count
        for crashAt in (base + 1)...(base + 11) {
            let w = try Self.world()
            struct Crash: Error {}
            let log = InMemoryRunLog(InstallRunTests.passedChecks) { count in if count == crashAt { throw Crash() } }
            do { try await Self.install(w, log).run() } catch is Crash {} catch { Issue.record("run \(crashAt): \(error)") }
            try await Self.install(w, InMemoryRunLog(await log.entries())).run()
            let s = w.node.state.withLock { $0 }
            #expect(s.phaseRuns["disko"] == 1 && s.phaseRuns["reboot"] == 1, "crash after write \(crashAt): \(s.phaseRuns)")
            #expect(s.builds.filter { $0 == "nixos-installer-image" }.count == 1, "crash after write \(crashAt): \(s.builds)")
            #expect(s.bootedSystem != nil && s.system == .nixos, "crash after write \(crashAt)")
            #expect(try w.pins.fingerprint(for: Self.target) == s.mntHostKey.flatMap { try? SSHPublicKey(parsing: $0) }?.fingerprint, "crash after write \(crashAt)")
        }
    }

    /// pve2nix dies after nixos-anywhere rebooted the installer but before it re-pinned: the
    /// system then presents the key the journal read in the installer, and only that is pinned.
    @Test func aCrashBetweenTheRebootAndTheRepinPinsTheJournaledKey() async throws {
        let w = try Self.world()
        struct Dies: Error {}
        struct DiesOnSystemKey: HostKeyPinning {
            let pins: PinnedHostKeys
            let installer: SSHPublicKey
            func fingerprint(for target: SSHTarget) throws -> HostKeyFingerprint? { try pins.fingerprint(for: target) }
            func repin(_ target: SSHTarget, to key: SSHPublicKey, replacing: HostKeyFingerprint?) throws {
                guard key == installer else { throw Dies() }
                try pins.repin(target, to: key, replacing: replacing)
            }
        }
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        await #expect(throws: Dies.self) { try await Self.install(w, log, pins: DiesOnSystemKey(pins: w.pins, installer: Self.installerKey)).run() }
        #expect(w.node.state.withLock { $0.phaseRuns["reboot"] } == 1)
        #expect(try w.pins.fingerprint(for: Self.target) == Self.installerKey.fingerprint)
        let resumed = InMemoryRunLog(await log.entries())
        try await Self.install(w, resumed).run()
        #expect(w.node.state.withLock { $0.phaseRuns["reboot"] } == 1)
        #expect(try await resumed.latest(.reboot)?.phase == .done)
        #expect(try w.pins.fingerprint(for: Self.target) != Self.installerKey.fingerprint)
    }

    @Test func aWaitThatTimesOutSaysWhatToDoAtTheRackThenResumesWithoutRebuilding() async throws {
        let w = try Self.world(stickAfter: nil)
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        var run = Self.install(w, log)
        run.limits.imageWait = .seconds(180)
        run.limits.progress = .seconds(60)
        do {
            try await run.run()
            Issue.record("the wait did not end")
        } catch let error as InstallError {
            guard case .imageNotBooted = error else { Issue.record("\(error)"); return }
            let text = error.localizedDescription
            #expect(text.contains("USB stick") && text.contains("one-time boot menu") && text.contains("nixos-installer.iso") && text.contains("Nothing was wiped"))
        }
        let progress = Self.steps(w).filter { $0.hasPrefix("still waiting") }
        #expect(progress.count == 2, "one line per minute: \(progress)")
        #expect(progress.allSatisfy { $0.contains("the old system still answers") })
        #expect(w.node.state.withLock { $0.calls.isEmpty })
        w.node.state.withLock { $0.stickBootsAfter = 0 }
        try await Self.install(w, InMemoryRunLog(await log.entries())).run()
        #expect(w.node.state.withLock { $0.builds.filter { $0 == "nixos-installer-image" }.count } == 1)
        #expect(w.node.state.withLock { $0.bootedSystem } != nil)
    }

    @Test func anInstallerWithAnotherKeyStopsAtOnceAndNothingIsWiped() async throws {
        let w = try Self.world(stickAfter: 0)
        w.node.state.withLock { $0.hostKeys[.installer] = FakeHostKeys.ed25519(9) }
        await #expect(throws: RemoteShellError.self) { try await Self.install(w, InMemoryRunLog(InstallRunTests.passedChecks)).run() }
        #expect(w.node.state.withLock { $0.calls.isEmpty })
    }

    @Test func anotherInstallerKeyThanTheImagesIsRefused() async throws {
        let w = try Self.world(stickAfter: nil)
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        var run = Self.install(w, log)
        run.limits.imageWait = .seconds(10)
        await #expect(throws: InstallError.self) { try await run.run() }
        var again = Self.install(w, InMemoryRunLog(await log.entries()))
        again.bootImageSetup?.hostKey = FakeHostKeys.ed25519(7)
        await #expect(throws: InstallError.installerKeyChanged(image: "/nix/store/\(String(repeating: "a", count: 32))-nixos-installer-image/iso/nixos-installer.iso",
                                                                path: "/state/sites/villa/installer-villa-pve-01_ed25519")) { try await again.run() }
    }

    @Test func theRackInstructionsNameTheDiskToWipeAndEveryDiskToLeaveAlone() throws {
        let plan = Self.plan
        let disk = try #require(plan.disk)
        let r = RackInstructions(plan: plan, image: "/nix/store/x-iso/iso/nixos.iso", address: "root@10.1.10.11", waitSeconds: 3600)
        let text = r.lines.joined(separator: "\n")
        #expect(r.wiped.map(\.byId) == disk.installTargets.map(\.byId.path))
        #expect(text.contains(disk.byId.path) && disk.serial.map(text.contains) != false)
        let others = disk.untouched.filter { $0.kind == .disk }
        #expect(!others.isEmpty)
        for other in others { #expect(r.leaveAlone.contains { $0.byId == other.name && $0.detail == other.detail }) }
        #expect(text.contains("dd if=/nix/store/x-iso/iso/nixos.iso of=/dev/sdX bs=4M conv=fsync status=progress"))
        #expect(text.contains("keep the ISO and the stick private"))
    }

    @Test func theImageIsBuiltImpureWithTheKeysPathsAndTheInstallKeepsNoInstallerKey() {
        let call = NixBuildCall(output: .installerImage, flakeDirectory: "/t", node: NodeName("villa-pve-01"),
                                environment: NixBuildCall.installerEnvironment(hostKey: "/s/installer_ed25519", installKey: "/s/install_ed25519.pub"))
        #expect(call.arguments.contains("--impure"))
        #expect(call.commandLine.hasPrefix("PVE2NIX_INSTALLER_HOST_KEY=/s/installer_ed25519 PVE2NIX_INSTALL_KEY=/s/install_ed25519.pub nix build"))
        #expect(!NixBuildCall(output: .toplevel, flakeDirectory: "/t", node: NodeName("villa-pve-01")).arguments.contains("--impure"))
        let na = NixosAnywhereCall(phase: .install, target: Self.target, identityFile: "/k", source: .storePaths(disko: "/nix/store/d", toplevel: "/nix/store/t"), copyHostKeys: false)
        #expect(!na.arguments.contains("--copy-host-keys"))
    }

    @Test func aPinIsReplacedOnlyFromWhatTheRunLeftIt() throws {
        let w = try Self.world()
        let other = FakeHostKeys.ed25519(5)
        #expect(throws: PinnedHostKeysError.self) { try w.pins.repin(Self.target, to: Self.installerKey, replacing: other.fingerprint) }
        try w.pins.repin(Self.target, to: Self.installerKey, replacing: Self.proxmoxKey.fingerprint)
        try w.pins.repin(Self.target, to: Self.installerKey, replacing: Self.proxmoxKey.fingerprint)
        #expect(try w.pins.fingerprint(for: Self.target) == Self.installerKey.fingerprint)
    }

    @Test func theDryRunOfPathBPrintsTheRackStepsWithExactCommands() throws {
        let tree = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-pathb-dry-\(UUID().uuidString)")
        let (status, out) = try CommandLineTests.run(["install", "villa-pve-01", "--site", "Examples/villa", "--generated", tree.path, "--dry-run", "--json"])
        #expect(status == 0, "\(out)")
        let steps = try JSONReader.parse(out)["steps"]?.arrayValue ?? []
        let stages = steps.compactMap { $0["stage"]?.stringValue }
        #expect(!stages.contains("kexec") && stages.contains("boot-image"))
        let commands = steps.compactMap { $0["command"]?.stringValue }
        #expect(commands.contains { $0.contains("PVE2NIX_INSTALLER_HOST_KEY=") && $0.contains("--impure") && $0.contains("villa-pve-01-installer") && $0.contains("isoImage") })
        #expect(commands.contains { $0.hasPrefix("nixos-anywhere --phases install") && !$0.contains("--copy-host-keys") })
        #expect(commands.contains { $0.hasPrefix("nixos-anywhere --phases reboot") })
        let what = steps.compactMap { $0["what"]?.stringValue }.joined(separator: "\n")
        #expect(commands.contains { $0.hasPrefix("dd if=") && $0.hasSuffix("of=/dev/sdX bs=4M conv=fsync status=progress") })
        #expect(what.contains(Self.plan.disk!.byId.path) && what.contains("Leave alone"))
        #expect(!FileManager.default.fileExists(atPath: tree.path), "a dry run writes nothing")
    }

    /// The installer answered, then the node went back to Proxmox before the wipe (stick out,
    /// rebooted): its old key means only that; the wait ends and nothing is wiped.
    @Test func proxmoxBackBeforeTheWipeIsWaitedOutNotCalledAnImpostor() async throws {
        let w = try Self.world(stickAfter: 0)
        let log = InMemoryRunLog(InstallRunTests.passedChecks)
        var run = Self.install(w, log, confirm: false)
        await #expect(throws: InstallError.notConfirmed) { try await run.run() }
        w.node.state.withLock { $0.system = .proxmox }
        run = Self.install(w, InMemoryRunLog(await log.entries()))
        run.limits.installerWait = .seconds(20)
        do {
            try await run.run()
            Issue.record("Proxmox was taken for the installer")
        } catch let error as InstallError {
            guard case .installerNotReached = error else { Issue.record("\(error)"); return }
        }
        #expect(Self.steps(w).contains { $0.contains("the old system still answers with its own key") })
        #expect(w.node.state.withLock { $0.phaseRuns["disko"] } == nil)
    }
}
