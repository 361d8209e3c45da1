import Foundation
import PVE2NixTesting
import Testing

/// The stand-in node (a QEMU guest that looks like villa-pve-01 over SSH) as a plain OpenSSH
/// client sees it. Like the lab tests: needs root, QEMU, qemu-img and debootstrap (scripts/setup),
/// builds its image on first use, one VM at a time; PVE2NIX_LAB=0 skips them.
enum StandInAvailability {
    static var canRun: Bool {
        if ProcessInfo.processInfo.environment["PVE2NIX_LAB"] == "0" { return false }
        return getuid() == 0 && ["/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-img", "/usr/sbin/debootstrap", "/usr/bin/ssh"]
            .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

@Suite(.serialized, .enabled(if: StandInAvailability.canRun,
                             "the stand-in node needs root, qemu-system-x86_64, qemu-img, debootstrap and ssh (scripts/setup); PVE2NIX_LAB=0 skips it"))
struct StandInNodeTests {

    /// The system ssh client, pinned to one host key, logging in with one key.
    struct PinnedSSH {
        var key: URL
        var knownHosts: URL
        var port: Int

        func run(_ command: String) throws -> ProcessOutput.Result {
            try ProcessOutput.capture(URL(fileURLWithPath: "/usr/bin/ssh"), [
                "-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts.path)",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "HostKeyAlgorithms=ssh-ed25519", "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20", "-i", key.path, "-p", "\(port)", "root@127.0.0.1", command,
            ], timeout: 90)
        }

        func output(_ command: String) throws -> String {
            let result = try run(command)
            #expect(result.status == 0, "ssh \(command): \(result.err)")
            return result.out
        }
    }

    /// A temp folder with a client key, a host key and the test's disks.
    struct Setup {
        var dir: URL
        var client: SSHKeyPair
        var host: SSHKeyPair
        var disks: StandInDisks

        init() async throws {
            let image = try StandInImage.cached()
            let started = Date()
            try await image.build { print($0) }
            if Date().timeIntervalSince(started) > 5 { print("standin: image build took \(Int(Date().timeIntervalSince(started))) s") }
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-standin-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            client = try SSHKeyPair.generate(at: dir.appendingPathComponent("client"), comment: "pve2nix-test")
            host = try SSHKeyPair.generate(at: dir.appendingPathComponent("host"), comment: "root@villa-pve-01")
            disks = try StandInDisks.create(in: dir.appendingPathComponent("disks"), image: image)
        }

        func options(host: SSHKeyPair? = nil) -> StandInBootOptions {
            StandInBootOptions(disks: disks, hostKey: (host ?? self.host).privateKey, authorizedKeys: [client.publicKey])
        }

        func ssh(to node: RunningStandIn, pinning pin: String? = nil) throws -> PinnedSSH {
            let knownHosts = dir.appendingPathComponent("known_hosts-\(node.sshPort)")
            try Data(((pin ?? node.knownHostsLine) + "\n").utf8).write(to: knownHosts)
            return PinnedSSH(key: client.privateKey, knownHosts: knownHosts, port: node.sshPort)
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    /// Boots, waits for sshd (timed), and always stops the VM, also when `body` throws.
    static func withNode<T>(_ options: StandInBootOptions, _ body: (RunningStandIn) async throws -> T) async throws -> T {
        let started = Date()
        let node = try await StandInNode.boot(options)
        do {
            try await node.waitForSSH(timeout: .seconds(300))
            print("standin: boot to ssh \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
            let result = try await body(node)
            await node.stop()
            node.removeWorkDirectory()
            return result
        } catch {
            print(node.console.suffix(4000))
            await node.stop(timeout: .seconds(10))
            throw error
        }
    }

    struct BlockDevice: Decodable {
        var name: String
        var serial: String?
        var size: UInt64
        var type: String
        var fstype: String?
        var parttypename: String?
        var children: [BlockDevice]?
    }

    static func blockDevices(_ json: String) throws -> [BlockDevice] {
        struct Listing: Decodable { var blockdevices: [BlockDevice] }
        return try JSONDecoder().decode(Listing.self, from: Data(json.utf8)).blockdevices
    }

    @Test(.timeLimit(.minutes(20)))
    func looksLikeAProxmoxNodeAndKeepsItsDisksAcrossBoots() async throws {
        let setup = try await Setup()
        defer { setup.remove() }
        var first = setup.options()
        first.actions = [.mount(device: "/dev/pve/data", at: "/mnt"), .swapOn("/dev/pve/swap")]
        let (bootID, names) = try await Self.withNode(first) { node -> (String, [String]) in
            #expect(node.hostKeyFingerprint == setup.host.fingerprint)
            let ssh = try setup.ssh(to: node)
            #expect(try ssh.output("hostname").trimmingCharacters(in: .whitespacesAndNewlines) == "villa-pve-01")
            #expect(try ssh.output("cat /run/standin-scenario.status").hasPrefix("0"))

            let devices = try Self.blockDevices(ssh.output("lsblk -J -b -O"))
            let boot = try #require(devices.first { $0.serial == "PVE2NIXBOOT0001" })
            #expect(boot.size == 4 << 30)
            let parts = boot.children ?? []
            #expect(parts.map(\.parttypename) == ["BIOS boot", "EFI System", "Linux LVM"])
            #expect(parts.count == 3 && parts[1].fstype == "vfat" && parts[2].fstype == "LVM2_member")
            #expect(Set(parts.last?.children?.map(\.name) ?? []) == ["pve-root", "pve-swap", "pve-data"])
            let data = try #require(devices.first { $0.serial == "PVE2NIXDATA0001" })
            #expect(data.size == 2 << 30 && data.children?.first?.fstype == "ext4")
            #expect(devices.contains { $0.serial == "PVE2NIXSPARE001" })

            let byID = try ssh.output("ls -l /dev/disk/by-id")
            for link in ["virtio-PVE2NIXBOOT0001 -> ../../\(boot.name)", "virtio-PVE2NIXBOOT0001-part3 -> ../../\(boot.name)3",
                         "virtio-PVE2NIXDATA0001 -> ../../\(data.name)", "dm-name-pve-root", "lvm-pv-uuid-"] {
                #expect(byID.contains(link), "\(link) missing from:\n\(byID)")
            }
            let storage = try String(contentsOf: Fixtures.villa.appendingPathComponent("cluster/storage.cfg"), encoding: .utf8)
            #expect(try ssh.output("cat /etc/pve/storage.cfg") == storage)
            #expect(try ssh.output("readlink /root/.ssh/authorized_keys") == "/etc/pve/priv/authorized_keys\n")
            #expect(try ssh.output("ls /etc/pve/nodes/villa-pve-01/qemu-server /etc/pve/nodes/villa-pve-01/lxc").contains("120.conf"))
            #expect(try ssh.output("findmnt -n -o SOURCE /mnt") == "/dev/mapper/pve-data\n")
            #expect(try ssh.output("swapon --show=NAME --noheadings").contains("dm-"))
            #expect(try ssh.output("ip -br addr show vmbr0.10").contains("10.1.10.11/24"))
            _ = try ssh.output("echo kept > /mnt/marker && sync")
            let bootID = try ssh.output("cat /proc/sys/kernel/random/boot_id").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(bootID.count == 36)
            return (bootID, [boot.name, data.name])
        }

        // The same disks in another order: same serials, other kernel names; what was written stays.
        var second = setup.options()
        second.diskOrder = [.spare, .data, .boot]
        second.actions = [.mount(device: "/dev/pve/data", at: "/mnt"), .detach(serial: "PVE2NIXSPARE001")]
        try await Self.withNode(second) { node in
            let ssh = try setup.ssh(to: node)
            #expect(try ssh.output("cat /proc/sys/kernel/random/boot_id").trimmingCharacters(in: .whitespacesAndNewlines) != bootID)
            #expect(try ssh.output("cat /mnt/marker") == "kept\n")
            let devices = try Self.blockDevices(ssh.output("lsblk -J -b -O"))
            let boot = try #require(devices.first { $0.serial == "PVE2NIXBOOT0001" })
            let data = try #require(devices.first { $0.serial == "PVE2NIXDATA0001" })
            #expect([boot.name, data.name] != names, "kernel names \(names) both times")
            #expect(Set(boot.children?.last?.children?.map(\.name) ?? []) == ["pve-root", "pve-swap", "pve-data"])
            #expect(!devices.contains { $0.serial == "PVE2NIXSPARE001" }, "the detached disk is still there")
            #expect(try ssh.output("ls -l /dev/disk/by-id").contains("virtio-PVE2NIXBOOT0001 -> ../../\(boot.name)"))
        }
    }

    @Test(.timeLimit(.minutes(15)))
    func anotherHostKeyIsRefusedByTheOldPin() async throws {
        let setup = try await Setup()
        defer { setup.remove() }
        let other = try SSHKeyPair.generate(at: setup.dir.appendingPathComponent("other-host"), comment: "root@elsewhere")
        var options = setup.options(host: other)
        options.serials = [.spare: "PVE2NIXSPARE002"]
        options.sizes = [.spare: 512 << 20]
        options.actions = [.extendVolumeGroup("pve", onto: "/dev/disk/by-id/virtio-PVE2NIXSPARE002-part1")]
        try await Self.withNode(options) { node in
            #expect(node.hostKeyFingerprint == other.fingerprint && other.fingerprint != setup.host.fingerprint)
            let oldPin = "[127.0.0.1]:\(node.sshPort) " + setup.host.publicKey.split(separator: " ").prefix(2).joined(separator: " ")
            let refused = try setup.ssh(to: node, pinning: oldPin).run("true")
            #expect(refused.status == 255)
            #expect(refused.err.contains("Host key verification failed") || refused.err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(refused.err)")

            let ssh = try setup.ssh(to: node)
            let devices = try Self.blockDevices(ssh.output("lsblk -J -b -O"))
            let spare = try #require(devices.first { $0.serial == "PVE2NIXSPARE002" })
            #expect(spare.size == 512 << 20)
            #expect(try ssh.output("vgs --noheadings -o pv_count pve").trimmingCharacters(in: .whitespaces) == "2\n")
            #expect(try ssh.output("cat /etc/pve/priv/known_hosts").contains(other.publicKey.split(separator: " ")[1]))
        }
    }
}
