import Foundation

/// The stand-in node through an install: it boots the VM as Proxmox, and whenever the stand-in
/// nixos-anywhere asks (`control/request`), boots it again from the same disks with the same host
/// key at the same port, as the kexec installer or as the installed NixOS system.
public final class StandInInstallWorld: @unchecked Sendable {
    public enum Mode: String, Sendable { case proxmox, installer, nixos }

    public let control: URL
    public let base: StandInBootOptions
    private let lock = NSLock()
    private var running: RunningStandIn?
    private var watcher: Task<Void, Never>?
    public private(set) var boots: [Mode] = []
    /// Extra actions for the next boot as the installer (e.g. another serial on a disk).
    public var nextInstallerOptions: ((inout StandInBootOptions) -> Void)?
    /// Called after each boot, once the VM's sshd answers (e.g. to show the node offline in the
    /// simulator once it runs the installer or NixOS: no pve-cluster speaks for it any more).
    public var onBoot: (@Sendable (Mode) async -> Void)?

    public var bin: String { control.appendingPathComponent("bin").path }
    public var node: RunningStandIn? { lock.withLock { running } }

    public init(control: URL, base: StandInBootOptions) throws {
        self.control = control
        self.base = base
        try StandInInstallTools.write(control: control)
    }

    /// Boots the VM in `mode` (stopping the one running) and waits for its sshd.
    @discardableResult
    public func boot(_ mode: Mode) async throws -> RunningStandIn {
        let previous = lock.withLock { running }
        if let previous {
            previous.kill()
            _ = await previous.waitForExit(timeout: .seconds(30))
        }
        var options = base
        options.sshPort = previous?.sshPort ?? base.sshPort
        // This boot's mode first: the test's own actions may fail on purpose (a disk under another serial).
        options.actions = actions(mode) + options.actions
        if mode == .installer, let tweak = lock.withLock({ nextInstallerOptions }) {
            tweak(&options)
            lock.withLock { nextInstallerOptions = nil }
        }
        let started = Date()
        let vm = try await StandInNode.boot(options)
        lock.withLock { running = vm; boots.append(mode) }
        try await vm.waitForSSH(timeout: .seconds(300))
        print("standin-install: booted as \(mode.rawValue) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s (port \(vm.sshPort))")
        if let onBoot = lock.withLock({ self.onBoot }) { await onBoot(mode) }
        return vm
    }

    /// Serves the stand-in nixos-anywhere's reboot requests until `stop`.
    public func serveReboots() {
        let request = control.appendingPathComponent("request"), done = control.appendingPathComponent("done")
        watcher = Task.detached { [self] in
            while !Task.isCancelled {
                if let text = try? String(contentsOf: request, encoding: .utf8), let mode = Mode(rawValue: text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    try? FileManager.default.removeItem(at: request)
                    do {
                        try await boot(mode)
                        FileManager.default.createFile(atPath: done.path, contents: Data())
                    } catch {
                        print("standin-install: boot as \(mode.rawValue) failed: \(error)")
                    }
                }
                try? await Task.sleep(for: .milliseconds(300))
            }
        }
    }

    public func stop() async {
        watcher?.cancel()
        if let vm = lock.withLock({ running }) {
            await vm.stop(timeout: .seconds(20))
            vm.removeWorkDirectory()
        }
    }

    /// What makes this boot the installer or the installed system (the root disk is fresh each boot).
    func actions(_ mode: Mode) -> [StandInAction] {
        switch mode {
        case .proxmox:
            return []
        case .installer:
            // As nixos-images' kexec-run: the node's host keys and root's keys come along.
            let keys = (try? String(contentsOf: control.appendingPathComponent("installer-keys"), encoding: .utf8)) ?? ""
            return [.shell("""
                rm -f /etc/os-release; { cat /usr/lib/os-release; echo VARIANT_ID=installer; } > /etc/os-release
                echo nixos-installer > /etc/hostname; hostname nixos-installer
                mkdir -p /nix/store
                rm -f /root/.ssh/authorized_keys
                cat /etc/pve/priv/authorized_keys > /root/.ssh/authorized_keys
                cat >> /root/.ssh/authorized_keys <<'KEYS'
                \(keys)
                KEYS
                chmod 600 /root/.ssh/authorized_keys
                vgchange -an >/dev/null 2>&1 || true
                """)]
        case .nixos:
            return [.shell("""
                mkdir -p /nix/store /tmp/sys
                mount /dev/disk/by-partlabel/disk-main-root /tmp/sys
                ln -sfn "$(cat /tmp/sys/pve2nix-standin-system)" /run/booted-system
                umount /tmp/sys
                rm -f /etc/os-release; printf 'NAME=NixOS\\nID=nixos\\nVERSION_ID="26.05"\\nPRETTY_NAME="NixOS 26.05 (pve2nix stand-in)"\\n' > /etc/os-release
                """)]
        }
    }
}
