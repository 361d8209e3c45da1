import Foundation

/// How to boot the stand-in node this time: which host key it shows, whom it lets in, which
/// disks in which order under which serials, and what it does before sshd starts.
public struct StandInBootOptions: Sendable {
    /// The test's disks (overlays); what one boot writes, the next one sees.
    public var disks: StandInDisks
    /// Private ed25519 host key file (its `.pub` beside it), e.g. from `SSHKeyPair.generate`.
    public var hostKey: URL
    /// Lines for `/etc/pve/priv/authorized_keys` (which `/root/.ssh/authorized_keys` links to).
    public var authorizedKeys: [String]
    /// The disks on QEMU's command line, in this order (the kernel names follow it); a disk left
    /// out is not attached.
    public var diskOrder: [StandInDiskRole] = StandInDiskRole.allCases
    /// Serials other than the roles' own, for this boot.
    public var serials: [StandInDiskRole: String] = [:]
    /// New sizes, applied to the overlays before the boot and kept from then on.
    public var sizes: [StandInDiskRole: UInt64] = [:]
    public var actions: [StandInAction] = []
    /// QEMU is ended after this long whatever happens.
    public var lifetimeSeconds = 1800
    /// The forwarded SSH port; nil picks a free one. A reboot keeps the port by passing the last one.
    public var sshPort: Int?
    /// The guest's RAM.
    public var memoryMiB = 1024

    public init(disks: StandInDisks, hostKey: URL, authorizedKeys: [String]) {
        self.disks = disks
        self.hostKey = hostKey
        self.authorizedKeys = authorizedKeys
    }
}

/// A QEMU guest that looks like a Proxmox node to an SSH client: Debian 13 with systemd, real
/// sshd (root by key only), LVM, udev's `/dev/disk/by-id`, virtio disks with serials, the example
/// node's `/etc/pve` and `/etc/network/interfaces`. Test infrastructure: it needs root, QEMU and
/// debootstrap (scripts/setup), and boots in about 40 s under TCG.
public enum StandInNode {
    /// Boots the stand-in and returns at once; call `waitForSSH` before connecting.
    /// The guest holds the process-wide `VMSlot` until QEMU exits.
    public static func boot(_ options: StandInBootOptions, image: StandInImage? = nil) async throws -> RunningStandIn {
        await VMSlot.shared.acquire()
        do {
            let running = try await start(options, image: image)
            running.releaseSlotWhenDone()
            return running
        } catch {
            await VMSlot.shared.release()
            throw error
        }
    }

    private static func start(_ options: StandInBootOptions, image: StandInImage?) async throws -> RunningStandIn {
        try await offloaded {
            let image = try image ?? StandInImage.cached()
            guard image.isBuilt else { throw StandInError.imageMissing(image.directory.path) }
            for (role, size) in options.sizes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                try options.disks.resize(role, to: size)
            }
            let drives = options.diskOrder.map { StandInDrive(file: options.disks.file($0), serial: options.serials[$0] ?? $0.serial) }
            return try StandInLaunch(image: image, drives: drives, hostKey: SSHKeyPair.load(options.hostKey),
                                     authorizedKeys: options.authorizedKeys,
                                     scenario: options.actions.map(\.script).joined(separator: "\n") + "\n",
                                     lifetimeSeconds: options.lifetimeSeconds, sshPort: options.sshPort, memoryMiB: options.memoryMiB).start()
        }
    }
}
