import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// pve2nix as an operator runs it, each command its own process: against the simulator over HTTPS
/// and the stand-in node over real SSH. `capture --ssh` reads the node and changes nothing, the
/// host-key pin holds, `disk-check` proceeds and refuses for the right reasons, and `check` prints
/// every check. One set of disks, four boots (each about 25 s); PVE2NIX_LAB=0 skips it.
@Suite(.serialized, .enabled(if: StandInAvailability.canRun,
                             "the stand-in node needs root, qemu-system-x86_64, qemu-img, debootstrap and ssh (scripts/setup); PVE2NIX_LAB=0 skips it"))
struct StandInEndToEndTests {
    typealias PinnedSSH = StandInNodeTests.PinnedSSH
    static let node = "villa-pve-01"
    static let bootDisk = "/dev/disk/by-id/virtio-\(StandInDiskRole.boot.serial)"
    static let dataDisk = "/dev/disk/by-id/virtio-\(StandInDiskRole.data.serial)"
    /// pve2nix installs on 32 GiB or more; the stand-in's boot disk is 4 GiB, so its overlay grows first.
    static let bootDiskSize: UInt64 = 40 << 30

    /// The machine pve2nix runs on: a throwaway HOME and state directory (nothing of the real user
    /// is read or written), the site's pinned host keys, the simulator's CA and the token.
    struct Operator {
        var dir: URL
        var identity: URL
        var ca: String
        var home: URL { dir.appendingPathComponent("home") }
        var pins: URL { dir.appendingPathComponent("pins/known_hosts") }
        var journal: URL { dir.appendingPathComponent("journal.sqlite") }

        func pve2nix(_ arguments: [String]) throws -> ProcessOutput.Result {
            let binary = try #require(CommandLineTests.binary, "pve2nix not built next to the tests")
            let started = Date()
            let result = try ProcessOutput.capture(binary, arguments, environment: [
                "HOME": home.path, "XDG_STATE_HOME": dir.appendingPathComponent("state").path,
                "XDG_CONFIG_HOME": dir.appendingPathComponent("config").path,
                "PVE2NIX_TOKEN_ID": "pve2nix@pve!drain", "PVE2NIX_TOKEN_SECRET": "token-secret-123", "PVE2NIX_TOKEN_SECRET_FILE": nil,
            ], timeout: 300)
            print("e2e: pve2nix \(arguments.prefix(2).joined(separator: " ")): exit \(result.status) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            return result
        }

        func api(_ server: ProxmoxSimulatorServer) -> [String] { ["--endpoint", "https://127.0.0.1:\(server.port)", "--ca-file", ca] }

        func ssh(pins: URL? = nil) -> [String] {
            ["--ssh-identity", identity.path, "--ssh-config", "/dev/null", "--known-hosts", (pins ?? self.pins).path]
        }

        func capture(_ server: ProxmoxSimulatorServer, port: Int, into bundle: URL, fingerprint: String? = nil, pins: URL? = nil) async throws -> ProcessOutput.Result {
            let args = ["capture"] + api(server) + ["--out", bundle.path, "--ssh", "\(StandInEndToEndTests.node)=root@127.0.0.1:\(port)"]
                + (fingerprint.map { ["--host-key-fingerprint", "\(StandInEndToEndTests.node)=\($0)"] } ?? []) + ssh(pins: pins)
            return try await offloaded { try pve2nix(args) }
        }

        func check(_ server: ProxmoxSimulatorServer, port: Int, plan: URL, generated: URL, json: Bool) async throws -> ProcessOutput.Result {
            let args = ["check", StandInEndToEndTests.node, "--plan", plan.path] + api(server) + ["--ssh", "root@127.0.0.1:\(port)"] + ssh()
                + ["--generated", generated.path, "--journal", journal.path] + (json ? ["--json"] : [])
            return try await offloaded { try pve2nix(args) }
        }

        /// `pve2nix disk-check` on lsblk and by-id read from the node right now: exit status and the verdict.
        func gate(_ ssh: PinnedSSH, plan: URL) throws -> (status: Int32, failed: Set<Int>, verdict: String) {
            let now = dir.appendingPathComponent("now-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: now, withIntermediateDirectories: true)
            try Data(ssh.output("lsblk -J -b -O").utf8).write(to: now.appendingPathComponent("lsblk.json"))
            try Data(ssh.output("ls -l /dev/disk/by-id").utf8).write(to: now.appendingPathComponent("disk-by-id.txt"))
            let run = try pve2nix(["disk-check", StandInEndToEndTests.node, "--plan", plan.path, "--now", now.path, "--json"])
            let verdict = try JSONReader.parse(run.out)
            let failed = (verdict["findings"]?.arrayValue ?? []).filter { $0["outcome"]?.stringValue == "fail" }.compactMap { $0["rule"]?.intValue }
            #expect((verdict["decision"]?.stringValue == "proceed") == (run.status == 0), "\(run.out)\(run.err)")
            return (run.status, Set(failed), run.out)
        }
    }

    /// Every file on the node's root filesystem (type, mode, owner, mtime, ctime, size), the boot
    /// disk's partition table, the block devices' identities and the VG's metadata sequence number:
    /// a write anywhere shows. Pruned: the mount points of the kernel's and tmpfs file systems
    /// (-xdev still lists them, with the mounted file system's times: /run changes at every login)
    /// and /var/log/journal, where journald logs each SSH login. Nothing else changes when
    /// pve2nix logs in (this Debian keeps no wtmp or lastlog). /etc/pve is a plain directory here,
    /// so unlike on Proxmox (pmxcfs) it is included. atime is left out: reading is allowed.
    static let nodeState = """
        find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /var/log/journal \\) -prune -o -printf '%p %y %m %U:%G %T@ %C@ %s\\n' | LC_ALL=C sort
        echo '--'; sgdisk -p \(bootDisk)
        echo '--'; lsblk -b -n -o NAME,SERIAL,SIZE,FSTYPE,UUID,PTUUID,PARTUUID,MOUNTPOINTS
        echo '--'; vgs --noheadings -o vg_name,vg_seqno,pv_count
        """

    static func expectUnchanged(_ before: String, _ after: String, _ context: String) {
        guard before != after else { return }
        let old = Set(before.split(separator: "\n")), new = Set(after.split(separator: "\n"))
        let diff = old.subtracting(new).sorted().prefix(40).map { "- \($0)" } + new.subtracting(old).sorted().prefix(40).map { "+ \($0)" }
        Issue.record("\(context) changed the node:\n\(diff.joined(separator: "\n"))")
    }

    /// A bundle's files by relative path.
    static func files(under root: URL) -> [String: Data] {
        var found: [String: Data] = [:]
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            found[String(url.path.dropFirst(root.path.count + 1))] = try? Data(contentsOf: url)
        }
        return found
    }

    static func checks(_ out: String) throws -> [String: (status: String, detail: String)] {
        let report = try JSONReader.parse(out)
        var found: [String: (status: String, detail: String)] = [:]
        for c in report["checks"]?.arrayValue ?? [] { found[c["check"]?.stringValue ?? ""] = (c["status"]?.stringValue ?? "", c["detail"]?.stringValue ?? "") }
        return found
    }

    static func withSimulator<T>(_ pki: LiveClientSimulatorTests.TestPKI, _ body: (FakeProxmoxCluster, ProxmoxSimulatorServer) async throws -> T) async throws -> T {
        let cluster = DrainExecutorTests.cluster()
        let server = try await ProxmoxSimulatorServer.start(cluster: cluster, certificate: pki.cert, key: pki.key, accounts: LiveClientSimulatorTests.accounts)
        do {
            let result = try await body(cluster, server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    @Test(.timeLimit(.minutes(30)))
    func captureThePinTheGateAndCheckOnTheStandIn() async throws {
        let setup = try await StandInNodeTests.Setup()
        defer { setup.remove() }
        let pki = try LiveClientSimulatorTests.makePKI()
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        let op = Operator(dir: setup.dir.appendingPathComponent("operator"), identity: setup.client.privateKey, ca: pki.ca)
        try FileManager.default.createDirectory(at: op.home, withIntermediateDirectories: true)
        let bundle = op.dir.appendingPathComponent("bundle")
        let plan = op.dir.appendingPathComponent("plan.json")
        let realKnownHosts = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".ssh/known_hosts")
        let realKnownHostsBefore = try? Data(contentsOf: realKnownHosts)

        try await Self.withSimulator(pki) { cluster, server in
            // Boot 1: the disks as the image made them, the boot disk grown to a plausible size
            // (its backup GPT moved to the new end, as on a real disk). Nothing of it is mounted.
            var first = setup.options()
            first.sizes = [.boot: Self.bootDiskSize]
            first.actions = [.shell("sgdisk -e \(Self.bootDisk)")]
            let kernelNames = try await StandInNodeTests.withNode(first) { vm -> [String] in
                let ssh = try setup.ssh(to: vm)
                let scenarioLog = try ssh.output("cat /var/log/standin-scenario.log")
                #expect(try ssh.output("cat /run/standin-scenario.status").hasPrefix("0"), "\(scenarioLog)")
                try await Self.captureChangesNothingAndPlans(setup, op, server, vm, ssh, bundle: bundle, plan: plan)
                try Self.aFingerprintThatDoesNotMatchIsRefused(op, server, vm, keys: setup.dir)
                try Self.gateOnTheRunningNode(op, ssh, plan: plan)
                try await Self.checkPrintsEveryCheck(setup, op, cluster, server, vm, ssh, bundle: bundle, plan: plan)
                try Self.gateRefusesWhatChangesOnTheNode(op, ssh, plan: plan)
                return try StandInNodeTests.blockDevices(ssh.output("lsblk -J -b -O")).map(\.name)
            }

            // Boot 2: the same disks in another order, and another host key at the pinned address.
            let other = try SSHKeyPair.generate(at: setup.dir.appendingPathComponent("other-host"), comment: "root@impostor")
            var second = setup.options(host: other)
            second.diskOrder = [.spare, .data, .boot]
            try await StandInNodeTests.withNode(second) { vm in
                try await Self.anotherHostKeyIsRefused(setup, op, server, vm, other: other, bundle: bundle, plan: plan)
                let ssh = try setup.ssh(to: vm)
                let names = try StandInNodeTests.blockDevices(ssh.output("lsblk -J -b -O")).map(\.name)
                #expect(names != kernelNames, "the disks kept their kernel names \(names)")
                let reordered = try op.gate(ssh, plan: plan)
                #expect(reordered.status == 0 && reordered.failed.isEmpty, "disks in another order: \(reordered.verdict)")
            }
        }

        // Boot 3: the boot disk under another serial (replaced by a look-alike).
        var third = setup.options()
        third.serials = [.boot: "PVE2NIXBOOT0009"]
        try await StandInNodeTests.withNode(third) { vm in
            let gate = try op.gate(setup.ssh(to: vm), plan: plan)
            #expect(gate.status == 1 && gate.failed.contains(1), "another serial: \(gate.verdict)")
            #expect(gate.verdict.contains("virtio-PVE2NIXBOOT0001"))
        }
        // Boot 4: the boot disk another size.
        var fourth = setup.options()
        fourth.sizes = [.boot: Self.bootDiskSize + (8 << 30)]
        try await StandInNodeTests.withNode(fourth) { vm in
            let gate = try op.gate(setup.ssh(to: vm), plan: plan)
            #expect(gate.status == 1 && gate.failed.contains(2), "another size: \(gate.verdict)")
        }

        #expect(!FileManager.default.fileExists(atPath: op.home.appendingPathComponent(".ssh").path), "pve2nix made ~/.ssh in the operator's HOME")
        #expect((try? Data(contentsOf: realKnownHosts)) == realKnownHostsBefore, "the real user's known_hosts changed")
    }
}

extension StandInEndToEndTests {
    /// capture --ssh with the fingerprint the console shows, then again on the pin alone: the node
    /// is as it was, the bundle holds the node's own files, and it plans without errors.
    static func captureChangesNothingAndPlans(_ setup: StandInNodeTests.Setup, _ op: Operator, _ server: ProxmoxSimulatorServer, _ vm: RunningStandIn,
                                              _ ssh: PinnedSSH, bundle: URL, plan: URL) async throws {
        let before = try ssh.output(nodeState)
        let first = try await op.capture(server, port: vm.sshPort, into: bundle, fingerprint: vm.hostKeyFingerprint)
        #expect(first.status == 0, "\(first.out)\(first.err)")
        #expect(first.err.contains(vm.hostKeyFingerprint) && first.err.contains("fingerprint given on the command line"), "\(first.err)")
        #expect(first.out.contains("pins NIC names with 50-pmx-nic0.link, 50-pmx-nic1.link"), "\(first.out)")
        expectUnchanged(before, try ssh.output(nodeState), "capture --ssh")

        let dir = "nodes/\(node)"
        let captured = files(under: bundle)
        for leaf in ["interfaces", "interfaces.d/mgmt-ipv6", "ip-link.json", "ip-addr.json", "lsblk.json", "disk-by-id.txt", "meminfo", "firmware",
                     "hostid", "boot_id", "ssh_host_ed25519_key.pub", "authorized_keys-link", "lxc/101.conf", "lxc/105.conf", "qemu-server/120.conf", "status.json",
                     // Proxmox VE 9 pins NIC names in /usr/local/lib/systemd/network.
                     "systemd-network/50-pmx-nic0.link", "systemd-network/50-pmx-nic1.link"] {
            #expect(captured["\(dir)/\(leaf)"] != nil, "\(dir)/\(leaf) missing from the bundle: \(captured.keys.sorted())")
        }
        func text(_ leaf: String) -> String { captured["\(dir)/\(leaf)"].map { String(decoding: $0, as: UTF8.self) } ?? "" }
        #expect(text("boot_id").trimmingCharacters(in: .whitespacesAndNewlines) == (try ssh.output("cat /proc/sys/kernel/random/boot_id")).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text("authorized_keys-link") == "/etc/pve/priv/authorized_keys\n")
        #expect(text("disk-by-id.txt").contains("virtio-PVE2NIXBOOT0001 -> ../../"))
        #expect(text("ssh_host_ed25519_key.pub").contains(setup.host.publicKey.split(separator: " ")[1]))
        let interfaces = try String(contentsOf: Fixtures.villa.appendingPathComponent("\(dir)/interfaces"), encoding: .utf8)
        #expect(text("interfaces") == interfaces)

        // Again, on the pin alone: the node's files are the same, and the node still is too.
        let second = try await op.capture(server, port: vm.sshPort, into: bundle)
        #expect(second.status == 0, "\(second.out)\(second.err)")
        #expect(second.err.contains("pinned before"), "\(second.err)")
        let again = files(under: bundle)
        // Not compared: what moves by itself (free memory, the bridge's gc_timer, the lifetimes of
        // the address learned from QEMU's router advertisements) and the API's status (uptime).
        let moving: Set<String> = ["meminfo", "ip-link.json", "ip-addr.json", "status.json"]
        for (path, data) in captured where path.hasPrefix(dir + "/") && !moving.contains(String(path.dropFirst(dir.count + 1))) {
            let lines = (String(decoding: data, as: UTF8.self).split(separator: "\n"), String(decoding: again[path] ?? Data(), as: UTF8.self).split(separator: "\n"))
            #expect(again[path] == data, "\(path) differs between the two captures: \(zip(lines.0, lines.1).first { $0 != $1 }.map { "\($0) → \($1)" } ?? "in length")")
        }
        expectUnchanged(before, try ssh.output(nodeState), "a second capture --ssh")

        // The operator names the install disk: the stand-in runs from a disk of its own.
        var site = try String(contentsOf: Fixtures.villa.appendingPathComponent("site.toml"), encoding: .utf8)
        site += "\n[nodes.\(node)]\ninstall_disk = \"\(bootDisk)\"\n"
        try Data(site.utf8).write(to: bundle.appendingPathComponent("site.toml"))
        let planned = try op.pve2nix(["plan", node, "--site", bundle.path, "--out", plan.path])
        #expect(planned.status == 0, "\(planned.out)\(planned.err)")
        let saved = try JSONReader.parse(String(contentsOf: plan, encoding: .utf8))
        #expect(saved["plan"]?["disk"]?["byId"]?.stringValue == bootDisk, "\(saved["plan"]?["disk"].map { "\($0)" } ?? "no disk")")
    }

    /// A fingerprint that is not the presented key's: refused, nothing pinned, nothing written.
    static func aFingerprintThatDoesNotMatchIsRefused(_ op: Operator, _ server: ProxmoxSimulatorServer, _ vm: RunningStandIn, keys dir: URL) throws {
        let stranger = try SSHKeyPair.generate(at: dir.appendingPathComponent("stranger"), comment: "someone else")
        let pins = op.dir.appendingPathComponent("fresh-pins/known_hosts")
        let out = op.dir.appendingPathComponent("refused-bundle")
        let args = ["capture"] + op.api(server) + ["--out", out.path, "--ssh", "\(node)=root@127.0.0.1:\(vm.sshPort)",
                                                   "--host-key-fingerprint", "\(node)=\(stranger.fingerprint)"] + op.ssh(pins: pins)
        let run = try op.pve2nix(args)
        #expect(run.status == 1, "\(run.out)\(run.err)")
        #expect(run.err.contains(stranger.fingerprint) && run.err.contains(vm.hostKeyFingerprint), "\(run.err)")
        #expect(!FileManager.default.fileExists(atPath: pins.path), "a key was pinned")
        #expect(!FileManager.default.fileExists(atPath: out.path), "the bundle was written")
    }

    /// The gate on the node as booted: nothing of the boot disk is mounted or swapped on.
    static func gateOnTheRunningNode(_ op: Operator, _ ssh: PinnedSSH, plan: URL) throws {
        let boot = try #require(try StandInNodeTests.blockDevices(ssh.output("lsblk -J -b -O")).first { $0.serial == StandInDiskRole.boot.serial })
        #expect(boot.size == bootDiskSize)
        #expect(try ssh.output("findmnt -rn -o SOURCE; swapon --show=NAME --noheadings").contains("pve") == false, "the stand-in uses the target")
        let gate = try op.gate(ssh, plan: plan)
        #expect(gate.status == 0 && gate.failed.isEmpty, "unchanged: \(gate.verdict)")
    }

    /// The gate refuses a mounted ESP, the VG grown onto the data disk, and the disk pulled; each
    /// undone (but the last) before the next.
    static func gateRefusesWhatChangesOnTheNode(_ op: Operator, _ ssh: PinnedSSH, plan: URL) throws {
        _ = try ssh.output("mkdir -p /mnt/esp && mount \(bootDisk)-part2 /mnt/esp")
        let mounted = try op.gate(ssh, plan: plan)
        #expect(mounted.status == 1 && mounted.failed == [5], "ESP mounted: \(mounted.verdict)")
        #expect(mounted.verdict.contains("/mnt/esp"))
        _ = try ssh.output("umount /mnt/esp")

        _ = try ssh.output("pvcreate -y \(dataDisk)-part1 && vgextend pve \(dataDisk)-part1")
        let extended = try op.gate(ssh, plan: plan)
        #expect(extended.status == 1 && extended.failed == [6], "VG extended: \(extended.verdict)")
        _ = try ssh.output("vgreduce pve \(dataDisk)-part1 && pvremove -y \(dataDisk)-part1 && sync")
        let undone = try op.gate(ssh, plan: plan)
        #expect(undone.status == 0, "undone: \(undone.verdict)")

        // Pulled: the LVs let go first, as the disk's removal would otherwise hang the shutdown.
        _ = try ssh.output("""
            vgchange -an pve >/dev/null && sync
            for s in /sys/block/vd*/serial; do
              if [ "$(cat "$s")" = \(StandInDiskRole.boot.serial) ]; then echo 1 > "$(readlink -f "${s%/serial}/device/..")/remove"; fi
            done
            udevadm settle -t 10
            """)
        let pulled = try op.gate(ssh, plan: plan)
        #expect(pulled.status == 1 && pulled.failed.contains(1), "disk pulled: \(pulled.verdict)")
    }
}

extension StandInEndToEndTests {
    /// The simulator drained of the node (by `pve2nix drain` with the reviewed plan), the tree
    /// generated: `check` prints every check; once the units' rehearsal is recorded, that one passes.
    static func checkPrintsEveryCheck(_ setup: StandInNodeTests.Setup, _ op: Operator, _ cluster: FakeProxmoxCluster, _ server: ProxmoxSimulatorServer,
                                      _ vm: RunningStandIn, _ ssh: PinnedSSH, bundle: URL, plan: URL) async throws {
        let drainArgs = ["drain", node, "--plan", plan.path] + op.api(server) + ["--journal", op.journal.path, "--poll-interval", "0.02", "--no-health-checks"]
        let drain = try await offloaded { try op.pve2nix(drainArgs) }
        #expect(drain.status == 0, "\(drain.out)\(drain.err)")
        await DrainExecutorTests.expectDrained(cluster)
        let generated = op.dir.appendingPathComponent("generated")
        let generate = try op.pve2nix(["generate", node, "--site", bundle.path, "--out", generated.path, "--without-ssh-key"])
        #expect(generate.status == 0, "\(generate.out)\(generate.err)")

        let before = try ssh.output(nodeState)
        let first = try await op.check(server, port: vm.sshPort, plan: plan, generated: generated, json: true)
        let checks = try Self.checks(first.out)
        let names = ["drained", "quorum-now", "quorum-after", "peers-online", "backup-archives", "host-key", "kexec-memory", "authorized-keys",
                     "disk-identity", "generated-config", "network-rehearsed"]
        #expect(Set(checks.keys) == Set(names), "\(first.out)\(first.err)")
        for name in ["drained", "quorum-now", "quorum-after", "peers-online", "backup-archives", "host-key", "disk-identity", "generated-config"] {
            #expect(checks[name]?.status == "pass", "\(name): \(checks[name].map { "\($0)" } ?? "missing")")
        }
        #expect(checks["host-key"]?.detail.contains(setup.host.fingerprint) == true)
        #expect(checks["backup-archives"]?.detail.contains("archive") == true, "\(checks["backup-archives"].map { "\($0)" } ?? "")")
        #expect(checks["authorized-keys"]?.status == "warn")
        // The stand-in has 1 GiB of RAM, too little for kexec; the plan boots the installer image
        // (path B, the site's first node), so that is said, with the size, and stops nothing.
        let meminfo = try #require(MeminfoParser.parse(try ssh.output("cat /proc/meminfo"), file: "/proc/meminfo").0?.totalBytes)
        #expect(checks["kexec-memory"]?.status == "warn" && checks["kexec-memory"]?.detail.contains(ByteFormat.string(meminfo)) == true,
                "\(checks["kexec-memory"].map { "\($0)" } ?? "")")
        #expect(checks["network-rehearsed"]?.status == "fail")
        #expect(Set(checks.filter { $0.value.status == "fail" }.keys) == ["network-rehearsed"])
        #expect(first.status == 1)

        try SQLiteRunJournal(path: op.journal.path).recordRehearsal(networkHash: NetworkUnitsHash.of(GeneratedTreeSnapshot.read(directory: generated.path).units),
                                                                    passed: true, detail: "the stand-in end-to-end test")
        let second = try await op.check(server, port: vm.sshPort, plan: plan, generated: generated, json: false)
        print("e2e: pve2nix check (human):\n\(second.out)")
        for name in names { #expect(second.out.contains(" \(name) "), "\(name) not printed") }
        #expect(second.out.contains("✓ network-rehearsed"), "\(second.out)")
        #expect(second.out.contains("All 11 checks passed (2 with warnings)."), "\(second.out)\(second.err)")
        #expect(second.status == 0)
        expectUnchanged(before, try ssh.output(nodeState), "check")
    }

    /// The node back at its pinned address with another host key: capture and check stop, name both
    /// keys, and write nothing (the bundle, the pins and the user's known_hosts stay as they are).
    static func anotherHostKeyIsRefused(_ setup: StandInNodeTests.Setup, _ op: Operator, _ server: ProxmoxSimulatorServer, _ vm: RunningStandIn,
                                        other: SSHKeyPair, bundle: URL, plan: URL) async throws {
        // The port is new each boot: pin the first key for it, as if the node kept its address.
        try PinnedHostKeys(path: op.pins.path).pin(host: "127.0.0.1", port: vm.sshPort, key: SSHPublicKey(parsing: setup.host.publicKey))
        let pinsBefore = try Data(contentsOf: op.pins)
        let bundleBefore = files(under: bundle)

        let capture = try await op.capture(server, port: vm.sshPort, into: bundle)
        #expect(capture.status == 1, "\(capture.out)\(capture.err)")
        #expect(capture.err.contains(setup.host.fingerprint) && capture.err.contains(other.fingerprint), "\(capture.err)")
        #expect(capture.err.contains("Nothing was written"), "\(capture.err)")
        #expect(files(under: bundle) == bundleBefore, "the bundle changed")

        let check = try await op.check(server, port: vm.sshPort, plan: plan, generated: op.dir.appendingPathComponent("generated"), json: true)
        #expect(check.status == 1, "\(check.out)\(check.err)")
        let hostKey = try Self.checks(check.out)["host-key"]
        #expect(hostKey?.status == "fail", "\(check.out)")
        #expect(hostKey?.detail.contains(setup.host.fingerprint) == true && hostKey?.detail.contains(other.fingerprint) == true, "\(hostKey.map { "\($0)" } ?? "")")
        #expect(try Data(contentsOf: op.pins) == pinsBefore, "the pins changed")
    }
}
