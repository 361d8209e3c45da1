import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix install` (path A) and `pve2nix validate` as an operator runs them, against the
/// simulator and the stand-in node, with stand-in `nix` and `nixos-anywhere` that carry out each
/// phase on the VM: kexec and reboot boot it again (same disks and host key), disko really wipes
/// the by-id disk of disko.nix. The gate refuses a changed disk and nothing is wiped; a hanging
/// phase is stopped at its bound; a SIGKILL mid-run resumes; the wipe happens exactly once.
@Suite(.serialized, .enabled(if: StandInAvailability.canRun,
                             "the stand-in node needs root, qemu-system-x86_64, qemu-img, debootstrap and ssh (scripts/setup); PVE2NIX_LAB=0 skips it"))
struct StandInInstallTests {
    typealias E2E = StandInEndToEndTests
    static let node = E2E.node

    struct Run {
        var op: E2E.Operator
        var port: Int
        var plan: URL
        var generated: URL
        var bin: String
        var api: [String] = []

        func pve2nix(_ arguments: [String], environment: [String: String?] = [:]) async throws -> ProcessOutput.Result {
            let binary = try #require(CommandLineTests.binary, "pve2nix not built next to the tests")
            let started = Date()
            let env: [String: String?] = [
                "HOME": op.home.path, "XDG_STATE_HOME": op.dir.appendingPathComponent("state").path,
                "XDG_CONFIG_HOME": op.dir.appendingPathComponent("config").path,
            ].merging(environment) { $1 }
            let result = try await offloaded { try ProcessOutput.capture(binary, arguments, environment: env, timeout: 600) }
            print("standin-install: pve2nix \(arguments.prefix(2).joined(separator: " ")): exit \(result.status) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            return result
        }

        func install(_ extra: [String] = [], hash: String, environment: [String: String?] = [:]) async throws -> ProcessOutput.Result {
            try await pve2nix(["install", StandInInstallTests.node, "--plan", plan.path, "--generated", generated.path, "--ssh", "root@127.0.0.1:\(port)"]
                              + op.ssh() + ["--journal", op.journal.path, "--nixos-anywhere", bin + "/nixos-anywhere", "--nix", bin + "/nix",
                                            "--yes", hash, "--wait", "300"] + extra, environment: environment)
        }

        func lines(_ name: String) -> [String] {
            ((try? String(contentsOfFile: bin + "/../" + name, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    @Test(.timeLimit(.minutes(30)))
    func pathAFromProxmoxToNixOSOnTheStandIn() async throws {
        let setup = try await StandInNodeTests.Setup()
        defer { setup.remove() }
        let (op, pki, world) = try Self.start(setup)
        defer { try? FileManager.default.removeItem(at: pki.dir) }

        do {
            try await E2E.withSimulator(pki) { cluster, server in
                let vm = try await world.boot(.proxmox)
                let run = try await Self.prepare(op, cluster, server, vm, world)
                let hash = try #require(try JSONReader.parse(String(contentsOf: run.plan, encoding: .utf8))["planHash"]?.stringValue)
                try await Self.install(run, world, hash: hash, setup: setup)
            }
        } catch {
            if let vm = world.node { print(vm.console.suffix(3000)) }
            await world.stop()
            throw error
        }
        await world.stop()
        #expect(!FileManager.default.fileExists(atPath: op.home.appendingPathComponent(".ssh").path), "pve2nix made ~/.ssh in the operator's HOME")
    }

    /// What every stand-in install test starts from: the operator, the simulator's PKI, and the
    /// install world (the VM's boot disk grown to a plausible size, reboots served).
    static func start(_ setup: StandInNodeTests.Setup) throws -> (op: E2E.Operator, pki: LiveClientSimulatorTests.TestPKI, world: StandInInstallWorld) {
        let pki = try LiveClientSimulatorTests.makePKI()
        let op = E2E.Operator(dir: setup.dir.appendingPathComponent("operator"), identity: setup.client.privateKey, ca: pki.ca)
        try FileManager.default.createDirectory(at: op.home, withIntermediateDirectories: true)
        var base = setup.options()
        base.sizes = [.boot: E2E.bootDiskSize]
        base.memoryMiB = 3072
        base.actions = [.shell("[ ! -e \(E2E.bootDisk) ] || sgdisk -e \(E2E.bootDisk)")]
        let world = try StandInInstallWorld(control: setup.dir.appendingPathComponent("control"), base: base)
        world.serveReboots()
        return (op, pki, world)
    }

    /// Capture, plan path A on the stand-in's boot disk, drain, generate, rehearse (recorded), check.
    static func prepare(_ op: E2E.Operator, _ cluster: FakeProxmoxCluster, _ server: ProxmoxSimulatorServer, _ vm: RunningStandIn,
                        _ world: StandInInstallWorld) async throws -> Run {
        let bundle = op.dir.appendingPathComponent("bundle"), plan = op.dir.appendingPathComponent("plan.json")
        let generated = op.dir.appendingPathComponent("generated")
        let capture = try await op.capture(server, port: vm.sshPort, into: bundle, fingerprint: vm.hostKeyFingerprint)
        #expect(capture.status == 0, "\(capture.out)\(capture.err)")
        var site = try String(contentsOf: Fixtures.villa.appendingPathComponent("site.toml"), encoding: .utf8)
        site += "\n[nodes.\(node)]\ninstall_disk = \"\(E2E.bootDisk)\"\ninstall_path = \"A\"\n"
        try Data(site.utf8).write(to: bundle.appendingPathComponent("site.toml"))
        let planned = try op.pve2nix(["plan", node, "--site", bundle.path, "--out", plan.path])
        #expect(planned.status == 0, "\(planned.out)\(planned.err)")
        let drain = try await offloaded { try op.pve2nix(["drain", node, "--plan", plan.path] + op.api(server) + ["--journal", op.journal.path, "--poll-interval", "0.02", "--no-health-checks"]) }
        #expect(drain.status == 0, "\(drain.out)\(drain.err)")
        let generate = try op.pve2nix(["generate", node, "--site", bundle.path, "--out", generated.path, "--without-ssh-key"])
        #expect(generate.status == 0, "\(generate.out)\(generate.err)")
        #expect(FileManager.default.fileExists(atPath: generated.appendingPathComponent("kexec-installer.nix").path))
        try SQLiteRunJournal(path: op.journal.path).recordRehearsal(networkHash: NetworkUnitsHash.of(GeneratedTreeSnapshot.read(directory: generated.path).units),
                                                                    passed: true, detail: "the stand-in install test")
        let check = try await op.check(server, port: vm.sshPort, plan: plan, generated: generated, json: false)
        #expect(check.status == 0, "\(check.out)\(check.err)")
        return Run(op: op, port: vm.sshPort, plan: plan, generated: generated, bin: world.bin, api: op.api(server))
    }

    static func install(_ run: Run, _ world: StandInInstallWorld, hash: String, setup: StandInNodeTests.Setup) async throws {
        // A dry run prints the exact commands and runs nothing.
        let dry = try await run.pve2nix(["install", node, "--plan", run.plan.path, "--generated", run.generated.path, "--dry-run"])
        #expect(dry.status == 0 && dry.out.contains("nixos-anywhere --phases disko --store-paths"), "\(dry.out)\(dry.err)")
        #expect(run.lines("nixos-anywhere-calls").isEmpty && run.lines("nix-calls").isEmpty)

        // The installer comes up with the boot disk under another serial: the gate refuses, nothing is wiped.
        world.nextInstallerOptions = { $0.serials = [.boot: "PVE2NIXBOOT0009"] }
        let refused = try await run.install(hash: hash)
        #expect(refused.status == 1 && refused.err.contains("gate refused"), "\(refused.out)\(refused.err)")
        #expect(run.lines("disko-runs").isEmpty, "disko ran although the gate refused")
        #expect(!FileManager.default.fileExists(atPath: world.control.appendingPathComponent("ssh-copy-id-would-append").path),
                "nixos-anywhere's key would have gone into the cluster-wide authorized_keys")
        let installer = try setup.ssh(to: try #require(world.node))
        #expect(try installer.output("pvs --noheadings -o vg_name").contains("pve"), "the volume group on the boot disk is gone")
        #expect(FileManager.default.fileExists(atPath: run.generated.appendingPathComponent("facter.json").path))

        // The disk back as planned (the installer booted again); install hangs and is stopped at its bound.
        try await world.boot(.installer)
        try Data().write(to: world.control.appendingPathComponent("hang-install"))
        // The bound is for the hanging install; disko before it must fit in it even on a loaded machine.
        let hung = try await run.install(["--phase-timeout", "120"], hash: hash)
        #expect(hung.status == 1 && hung.err.contains("did not end within 120 s"), "\(hung.out)\(hung.err)")
        #expect(run.lines("disko-runs").count == 1)

        // Killed right after its next journal write, then run again: it resumes and wipes nothing twice.
        let killed = try await run.install(hash: hash, environment: ["PVE2NIX_TEST_CRASH_AFTER_RECORDS": "1"])
        #expect(killed.status != 0 && killed.status != 1, "\(killed.out)\(killed.err)")
        let done = try await run.install(hash: hash)
        #expect(done.status == 0, "\(done.out)\(done.err)")
        #expect(run.lines("disko-runs").count == 1, "disko ran \(run.lines("disko-runs").count) times")
        let phases = run.lines("nixos-anywhere-calls").map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "" }
        #expect(phases.filter { $0 == "kexec" }.count == 1 && phases.filter { $0 == "reboot" }.count == 1, "\(phases)")
        #expect(world.boots == [.proxmox, .installer, .installer, .nixos], "\(world.boots)")

        // validate: the node booted what was built, at its address, with its pinned key.
        let validate = try await run.pve2nix(["validate", node, "--plan", run.plan.path, "--ssh", "root@127.0.0.1:\(run.port)"] + run.op.ssh()
                                             + ["--journal", run.op.journal.path, "--json"])
        let checks = try E2E.checks(validate.out)
        if checks["booted-system"]?.status != "pass", let vm = world.node {
            print("standin-install: the installed system's scenario log:\n" + ((try? setup.ssh(to: vm).output("cat /var/log/standin-scenario.log; ls -la /run/booted-system; ls -l /dev/disk/by-partlabel")) ?? "(unreadable)"))
        }
        for name in ["host-key", "boot-id", "booted-system", "not-installer"] {
            #expect(checks[name]?.status == "pass", "\(name): \(checks[name].map { "\($0)" } ?? "missing") \(validate.err)")
        }
        // The stand-in is Debian: it runs none of the generated containers, and validate says so.
        #expect(checks.keys.contains { $0.hasPrefix("container ") } && validate.status == 1, "\(validate.out)")

        // convert on the same run: everything up to the install is done, so it goes straight to
        // validate, and stops there (before cluster-remove) because validate fails.
        let convert = try await run.pve2nix(["convert", node, "--plan", run.plan.path, "--generated", run.generated.path, "--without-ssh-key",
                                             "--ssh", "root@127.0.0.1:\(run.port)"] + run.api + run.op.ssh()
                                            + ["--journal", run.op.journal.path, "--nixos-anywhere", run.bin + "/nixos-anywhere", "--nix", run.bin + "/nix", "--yes", hash])
        #expect(convert.status == 1, "\(convert.out)\(convert.err)")
        for skipped in ["= generate: done", "= rehearse: done", "= drain: done", "= check: done", "= install: done"] {
            #expect(convert.out.contains(skipped), "\(skipped) missing:\n\(convert.out)")
        }
        #expect(convert.out.contains("→ validate") && !convert.out.contains("→ cluster-remove") && convert.out.contains("convert stopped at stage validate"), "\(convert.out)")
        #expect(run.lines("disko-runs").count == 1 && run.lines("nixos-anywhere-calls").count == phases.count, "convert ran nixos-anywhere again")
    }
}
