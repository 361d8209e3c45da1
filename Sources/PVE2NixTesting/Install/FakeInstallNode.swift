import Foundation
import PVE2NixCore
import PVE2NixRuntime
import Synchronization

/// A node going through an install, in memory: Proxmox, then the installer, then NixOS. It
/// answers the commands pve2nix runs over SSH, and as a `ProcessRunner` it plays `nix` and
/// `nixos-anywhere`, carrying out each phase's effect on itself: kexec boots the installer
/// (same host key, new boot id), disko lays the planned disks out, install writes the system
/// profile under /mnt, reboot boots the installed system. Each phase can be told to fail or hang.
public final class FakeInstallNode: RemoteShell, ProcessRunner, Sendable {
    public enum System: String, Sendable { case proxmox, installer, nixos, down }

    public struct State: Sendable {
        public var system: System = .proxmox
        public var hostname: String
        public var bootID = UUID().uuidString.lowercased()
        /// `lsblk -J -b -O` of the running Proxmox; the installer shows it without mount points.
        public var lsblk: String
        public var diskByID: String
        /// The planned disks' kernel names once disko laid them out (name in disko.nix → kernel name).
        public var laidOut: [String: String] = [:]
        public var mntMounted = false
        public var mntProfile: String?
        public var bootedSystem: String?
        public var authorizedKeys2 = ""
        public var authorizedKeys2IsLink = false
        /// The install key does not log in (sshd ignores authorized_keys2).
        public var installKeyRefused = false
        /// nixos-facter's report was written into the tree by a kexec call.
        public var facterWritten = false
        /// nixos-anywhere's runs per phase, and the nix builds.
        public var phaseRuns: [String: Int] = [:]
        public var builds: [String] = []
        public var calls: [[String]] = []
        /// Path C: the `clan` calls (arguments after `clan`).
        public var clanCalls: [[String]] = []
        /// Path C: the tree uses clan's sshd service; its host key var (the `.pub` line), made by
        /// the first clan call, is what the system clan installed presents.
        public var clanSSHD = false
        public var clanHostKey: String?
        public var installedByClan = false
        /// Phases that fail (exit 1) or hang (stopped at their bound) on their next run.
        public var failing: Set<String> = []
        public var hanging: Set<String> = []
        /// After kexec, the installer stays down for this many connection attempts.
        public var downFor = 0
        /// What comes up after `down` (nil: NixOS once installed, else the installer).
        public var nextSystem: System?
        /// Path B: the key each system presents (none set: keys are not checked). NixOS presents
        /// the key made under /mnt in the installer, if any.
        public var hostKeys: [System: SSHPublicKey] = [:]
        /// Path B: the key made at /mnt/etc/ssh in the installer (the `.pub` line).
        public var mntHostKey: String?
        /// Path B: someone at the rack boots the stick after this many connection attempts
        /// (nil: nobody does); the installer then comes up from the image.
        public var stickBootsAfter: Int?

        public init(hostname: String, lsblk: String, diskByID: String) {
            self.hostname = hostname
            self.lsblk = lsblk
            self.diskByID = diskByID
        }
    }

    public let target: SSHTarget
    public let state: Mutex<State>
    public let plannedDisks: [String: String]

    /// `plannedDisks`: disko.nix's disk names (`main`, `mirror1`…) → the kernel names they are now.
    public init(target: SSHTarget, state: State, plannedDisks: [String: String]) {
        self.target = target
        self.state = Mutex(state)
        self.plannedDisks = plannedDisks
    }

    /// A connection: fails while the node is down or booting.
    public func connect(checking pins: (any HostKeyPinning)? = nil) throws -> FakeInstallNode {
        try state.withLock { s in
            if s.system == .proxmox, let n = s.stickBootsAfter {
                if n <= 0 {
                    s.system = .installer
                    s.bootID = UUID().uuidString.lowercased()
                    s.stickBootsAfter = nil
                } else {
                    s.stickBootsAfter = n - 1
                }
            }
            if s.system == .down || s.downFor > 0 {
                if s.downFor > 0 { s.downFor -= 1 }
                if s.system == .down, s.downFor == 0 { s.system = s.nextSystem ?? (s.bootedSystem == nil ? .installer : .nixos); s.nextSystem = nil }
                throw RemoteShellError.connectionFailed(host: target.description, detail: "Connection refused")
            }
            guard let pins else { return }
            let clanKey = s.installedByClan ? s.clanHostKey.flatMap { try? SSHPublicKey(parsing: $0) } : nil
            let presented = s.system == .nixos ? (clanKey ?? s.mntHostKey.flatMap { try? SSHPublicKey(parsing: $0) } ?? s.hostKeys[.nixos]) : s.hostKeys[s.system]
            guard let presented else { return }
            guard let pinned = try pins.fingerprint(for: target) else { throw RemoteShellError.hostKeyUnknown(host: target.description) }
            if pinned != presented.fingerprint { throw RemoteShellError.hostKeyChanged(host: target.description, pinned: pinned, presented: presented.fingerprint) }
        }
        return self
    }

    public func run(_ command: String, timeout: Duration) async throws -> RemoteCommandResult {
        state.withLock { s in Self.answer(command, &s) }
    }

    public func read(file path: String) async throws -> Data {
        let r = try await run("cat \(path)", timeout: .seconds(5))
        guard r.status == 0 else { throw RemoteShellError.commandFailed(host: target.description, command: "cat \(path)", status: r.status, detail: r.standardErrorText) }
        return r.standardOutput
    }

    public func write(_ data: Data, to path: String, mode: Int) async throws {
        state.withLock { s in
            if path == "/root/.ssh/authorized_keys2" { s.authorizedKeys2 = String(decoding: data, as: UTF8.self) }
        }
    }

    public func close() async throws {}

    static func answer(_ command: String, _ s: inout State) -> RemoteCommandResult {
        func ok(_ text: String) -> RemoteCommandResult { RemoteCommandResult(status: 0, standardOutput: Data(text.utf8)) }
        let no = RemoteCommandResult(status: 1)
        switch command {
        case "cat /etc/os-release":
            switch s.system {
            case .installer: return ok("NAME=NixOS\nID=nixos\nVARIANT_ID=installer\n")
            case .nixos: return ok("NAME=NixOS\nID=nixos\n")
            default: return ok("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n")
            }
        case "cat /proc/sys/kernel/hostname": return ok((s.system == .proxmox ? s.hostname : s.system == .installer ? "nixos-installer" : s.hostname) + "\n")
        case "cat /proc/sys/kernel/random/boot_id": return ok(s.bootID + "\n")
        case "lsblk -J -b -O": return ok(s.system == .proxmox ? s.lsblk : FakeInstallDisks.installerView(s.lsblk, laidOut: s.laidOut))
        case "ls -l /dev/disk/by-id": return ok(s.diskByID)
        case "test -L /root/.ssh/authorized_keys2": return s.authorizedKeys2IsLink ? ok("") : no
        case "test ! -e /root/.ssh/authorized_keys2 || cat /root/.ssh/authorized_keys2": return ok(s.authorizedKeys2)
        case "test -L /root/.ssh": return no
        case "mkdir -p -m 700 /root/.ssh": return ok("")
        case "systemctl reboot || reboot":
            // The installer runs from memory: a reboot comes back as what is on the disks.
            let next: System = s.system == .installer && s.laidOut.isEmpty ? .proxmox : s.bootedSystem == nil ? .proxmox : .nixos
            s.system = .down
            s.downFor = 1
            s.nextSystem = next
            s.bootID = UUID().uuidString.lowercased()
            return RemoteCommandResult(status: 255)
        case "mountpoint -q /mnt": return s.mntMounted ? ok("") : no
        case "test -s /mnt/etc/ssh/ssh_host_ed25519_key.pub": return s.mntHostKey != nil ? ok("") : no
        case "cat /mnt/etc/ssh/ssh_host_ed25519_key.pub": return s.mntHostKey.map { ok($0 + "\n") } ?? no
        case _ where command.hasPrefix("mkdir -p -m 755 /mnt/etc/ssh && ssh-keygen "):
            guard s.system == .installer, s.mntMounted else { return no }
            s.mntHostKey = FakeHostKeys.ed25519(200, comment: "root@" + s.hostname).description
            return ok("")
        case "readlink -f /mnt/nix/var/nix/profiles/system 2>/dev/null": return s.mntProfile.map { ok($0 + "\n") } ?? no
        case "readlink -f /run/booted-system": return s.bootedSystem.map { ok($0 + "\n") } ?? no
        default:
            if command.hasPrefix("zpool list") { return ok("") }
            if command.hasPrefix("pgrep -f") { return no }
            return RemoteCommandResult(status: 127, standardError: Data("fake install node: no answer for '\(command)'\n".utf8))
        }
    }
}
