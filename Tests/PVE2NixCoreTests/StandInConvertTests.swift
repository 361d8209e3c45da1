import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix convert` from a drained-nothing Proxmox node to a node out of its cluster, as one
/// command run again and again: the built binary is SIGKILLed right after each journal step it
/// writes for the first time (drain, check, install, validate, cluster-remove alike), and run again
/// until it exits. The world is real where it can be: the stand-in VM as the node (kexec, wipe,
/// reboot), the simulator over HTTPS for the cluster, a real sshd as the peer whose `/etc/pve`
/// the removal edits. However often it was killed, it ends converted, and every destructive step
/// happened exactly once: each guest's migration, the wipe, delnode.
@Suite(.enabled(if: StandInAvailability.canRun && LocalSSHServer.isAvailable,
                "the stand-in node needs root, qemu-system-x86_64, qemu-img, debootstrap and ssh (scripts/setup); PVE2NIX_LAB=0 skips it"))
struct StandInConvertTests {
    typealias E2E = StandInEndToEndTests
    static let node = E2E.node

    @Test(.timeLimit(.minutes(60)))
    func convertKilledAfterEachJournalStepEndsConvertedWithEachDestructiveStepOnce() async throws {
        let setup = try await StandInNodeTests.Setup()
        defer { setup.remove() }
        let (op, pki, world) = try StandInInstallTests.start(setup)
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        let peer = try await LocalSSHServer.start()

        do {
            try await E2E.withSimulator(pki) { cluster, server in
                // Once the node runs the installer or NixOS, no pve-cluster speaks for it: offline.
                world.onBoot = { mode in if mode != .proxmox { await cluster.setOnline(NodeName(Self.node), false) } }
                let vm = try await world.boot(.proxmox)
                let run = try await Self.prepare(op, cluster, server, vm, world, peer: peer)
                try await Self.convertUntilDone(run, cluster, world, peer: peer)
            }
        } catch {
            if let vm = world.node { print(vm.console.suffix(3000)) }
            await world.stop()
            await peer.shutdown()
            throw error
        }
        await world.stop()
        await peer.shutdown()
    }

    struct Run {
        var install: StandInInstallTests.Run
        var arguments: [String]
        var environment: [String: String?]
        var peerRoot: URL
    }

    /// Capture, a site whose guests all stay on the peers (the stand-in runs none of the generated
    /// containers), plan, generate, and a passing rehearsal of those units recorded; the peer's
    /// `/etc/pve` as a cluster has it.
    static func prepare(_ op: E2E.Operator, _ cluster: FakeProxmoxCluster, _ server: ProxmoxSimulatorServer, _ vm: RunningStandIn,
                        _ world: StandInInstallWorld, peer: LocalSSHServer) async throws -> Run {
        let bundle = op.dir.appendingPathComponent("bundle"), plan = op.dir.appendingPathComponent("plan.json")
        let generated = op.dir.appendingPathComponent("generated")
        let capture = try await op.capture(server, port: vm.sshPort, into: bundle, fingerprint: vm.hostKeyFingerprint)
        #expect(capture.status == 0, "\(capture.out)\(capture.err)")
        var site = try String(contentsOf: Fixtures.villa.appendingPathComponent("site.toml"), encoding: .utf8)
        if let probes = site.range(of: "\n# Health probes") { site = String(site[..<probes.lowerBound]) + "\n" }
        for vmid in await cluster.guests(on: NodeName(node)) { site += "\n[guests.\(vmid)]\nrehome = \"stay\"\n" }
        site += "\n[nodes.\(node)]\ninstall_disk = \"\(E2E.bootDisk)\"\ninstall_path = \"A\"\n"
        try Data(site.utf8).write(to: bundle.appendingPathComponent("site.toml"))
        let planned = try op.pve2nix(["plan", node, "--site", bundle.path, "--out", plan.path])
        #expect(planned.status == 0, "\(planned.out)\(planned.err)")
        let generate = try op.pve2nix(["generate", node, "--site", bundle.path, "--out", generated.path, "--without-ssh-key"])
        #expect(generate.status == 0, "\(generate.out)\(generate.err)")
        try SQLiteRunJournal(path: op.journal.path).recordRehearsal(networkHash: NetworkUnitsHash.of(GeneratedTreeSnapshot.read(directory: generated.path).units),
                                                                    passed: true, detail: "the stand-in convert test")

        // The peer: a real sshd that lets the operator's key in, its /etc/pve a directory here.
        let peerRoot = op.dir.appendingPathComponent("peer/etc/pve")
        let loaded = Fixtures.loadSite(bundle)
        for (path, data) in FakeClusterPeer.seeded(site: loaded, target: peer.target).state.withLock({ $0.files }) {
            let file = peerRoot.appendingPathComponent(String(path.dropFirst("/etc/pve/".count)))
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: file)
        }
        let authorized = try String(contentsOfFile: peer.path("authorized_keys"), encoding: .utf8) + operatorKey(op) + "\n"
        try Data(authorized.utf8).write(to: URL(fileURLWithPath: peer.path("authorized_keys")))
        try PinnedHostKeys(path: op.pins.path).pin(host: "127.0.0.1", port: peer.port, key: peer.hostKey())

        let installRun = StandInInstallTests.Run(op: op, port: vm.sshPort, plan: plan, generated: generated, bin: world.bin, api: op.api(server))
        let hash = try #require(try JSONReader.parse(String(contentsOf: plan, encoding: .utf8))["planHash"]?.stringValue)
        return Run(install: installRun, arguments: [], environment: [:], peerRoot: peerRoot).with(hash: hash, peer: peer)
    }

    /// The operator's public key line.
    static func operatorKey(_ op: E2E.Operator) throws -> String {
        try String(contentsOfFile: op.identity.path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func convertUntilDone(_ run: Run, _ cluster: FakeProxmoxCluster, _ world: StandInInstallWorld, peer: LocalSSHServer) async throws {
        let guests = await cluster.guests(on: NodeName(node))
        #expect(!guests.isEmpty)
        // nixos-anywhere's install phase fails once, as a real one can (a lost connection, a full /mnt).
        try Data().write(to: world.control.appendingPathComponent("fail-install"))
        var kills = 0, failures = 0
        var finished: ProcessOutput.Result?
        for attempt in 1...250 {
            let result = try await run.install.pve2nix(run.arguments, environment: run.environment.merging(["PVE2NIX_TEST_CRASH_AFTER_NEW_STEP": "1"]) { $1 })
            if result.status == 0 { finished = result; break }
            if result.status == 1, failures == 0, result.err.contains("told to fail install") {
                failures += 1  // said what happened; the next run resumes
                continue
            }
            guard result.status != 1 && result.status != 2 else {
                Issue.record("convert failed on attempt \(attempt) after \(kills) kills:\n\(result.out)\n\(result.err)")
                break
            }
            kills += 1
        }
        print("standin-convert: converted after \(kills) kills; boots \(world.boots)")
        let done = try #require(finished, "convert did not finish within 250 runs")
        #expect(done.out.contains("\(node) is converted"), "\(done.out)")
        // One kill right after each step the run wrote first: as many kills as distinct steps, over every stage.
        let steps = try SQLiteRunJournal.openForReading(path: run.install.op.journal.path).entries().map(\.entry)
        let distinct = Set(steps.map { "\($0.stage.rawValue) \($0.subject) \($0.phase.rawValue)" })
        #expect(kills == distinct.count, "\(kills) kills for \(distinct.count) distinct steps")
        #expect(steps.contains { $0.stage == .install && $0.phase == .failed && $0.detail.contains("told to fail install") },
                "the failed install phase was not journaled with what happened")
        let stages = Set(steps.map(\.stage))
        for stage: RunStage in [.drain, .build, .kexec, .disko, .install, .reboot, .validate, .clusterRemove] {
            #expect(stages.contains(stage), "no \(stage.rawValue) step was journaled (and killed after): \(stages.map(\.rawValue).sorted())")
        }
        let lines = { (name: String) in ((try? String(contentsOfFile: world.bin + "/../" + name, encoding: .utf8)) ?? "").split(separator: "\n") }
        #expect(lines("disko-runs").count == 1, "disko ran \(lines("disko-runs").count) times")
        let phases = lines("nixos-anywhere-calls").map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "" }
        #expect(phases.filter { $0 == "kexec" }.count == 1 && phases.filter { $0 == "install" }.count >= 2, "\(phases)")
        #expect(world.boots.first == .proxmox && world.boots.last == .nixos, "\(world.boots)")
        let requests = await cluster.migrationRequests
        for vmid in guests {
            #expect(requests[vmid, default: 0] <= 1, "guest \(vmid) was asked to migrate \(requests[vmid, default: 0]) times")
        }
        #expect(await cluster.guests(on: NodeName(node)).isEmpty)
        #expect(await cluster.delnodeCount == 1)
        #expect(await !cluster.nodelist.contains(NodeName(node)))
        #expect(!FileManager.default.fileExists(atPath: run.peerRoot.appendingPathComponent("nodes/\(node)").path))
        let known = try String(contentsOf: run.peerRoot.appendingPathComponent("priv/known_hosts"), encoding: .utf8)
        #expect(!known.contains(node) && known.contains("villa-pve-02"), "\(known)")
        _ = peer
    }
}

extension StandInConvertTests.Run {
    /// The convert command and its environment: the API token for the drain, the root password
    /// for delnode, the peer's `/etc/pve` under the test's directory.
    func with(hash: String, peer: LocalSSHServer) -> Self {
        var copy = self
        let i = install
        copy.arguments = ["convert", StandInConvertTests.node, "--plan", i.plan.path, "--generated", i.generated.path, "--without-ssh-key",
                          "--ssh", "root@127.0.0.1:\(i.port)", "--ssh-peer", "villa-pve-02=\(peer.target)"] + i.api + i.op.ssh()
            + ["--journal", i.op.journal.path, "--nixos-anywhere", i.bin + "/nixos-anywhere", "--nix", i.bin + "/nix", "--yes", hash, "--accept-two-node"]
        copy.environment = ["PVE2NIX_TOKEN_ID": "pve2nix@pve!drain", "PVE2NIX_TOKEN_SECRET": "token-secret-123", "PVE2NIX_TOKEN_SECRET_FILE": nil,
                            "PVE2NIX_USER": "root@pam", "PVE2NIX_PASSWORD": "root-password-456", "PVE2NIX_TEST_PVE_ROOT": peerRoot.path]
        return copy
    }
}
