import Foundation

/// One of the stand-in node's disks.
public enum StandInDiskRole: String, Sendable, CaseIterable, Hashable {
    /// GPT like Proxmox's installer makes: BIOS boot, ESP (vfat), LVM PV with VG `pve` (root, swap, data).
    case boot
    /// A second disk with one GPT partition holding ext4 (label `pve2nix-data`).
    case data
    /// A small third disk (one ext4 partition, label `pve2nix-spare`), to swap in.
    case spare

    /// The serial QEMU gives the disk unless a boot says otherwise: `/dev/disk/by-id/virtio-<serial>`.
    public var serial: String {
        switch self {
        case .boot: "PVE2NIXBOOT0001"
        case .data: "PVE2NIXDATA0001"
        case .spare: "PVE2NIXSPARE001"
        }
    }

    public var sizeBytes: UInt64 {
        switch self {
        case .boot: 4 << 30
        case .data: 2 << 30
        case .spare: 256 << 20
        }
    }

    var fileName: String { "\(rawValue).qcow2" }
}

/// A test's own copies of the disks: qcow2 overlays over the cached, prepared bases. What a boot
/// writes stays for the next boot of the same `StandInDisks`; the bases never change.
public struct StandInDisks: Sendable {
    public let directory: URL

    public func file(_ role: StandInDiskRole) -> URL { directory.appendingPathComponent(role.fileName) }

    /// Makes fresh overlays in `directory` (created if missing) over `image`'s bases.
    public static func create(in directory: URL, image: StandInImage) throws -> StandInDisks {
        guard image.isBuilt else { throw StandInError.imageMissing(image.directory.path) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let disks = StandInDisks(directory: directory)
        for role in StandInDiskRole.allCases {
            try? FileManager.default.removeItem(at: disks.file(role))
            try StandInCommand.run(StandInCommand.qemuImg, ["create", "-q", "-f", "qcow2", "-F", "qcow2",
                                                            "-b", image.base(role).path, disks.file(role).path])
        }
        return disks
    }

    /// Gives the disk a new size from now on, as if it were replaced by a larger (or smaller) one.
    public func resize(_ role: StandInDiskRole, to bytes: UInt64) throws {
        try StandInCommand.run(StandInCommand.qemuImg, ["resize", "-q", "--shrink", "-f", "qcow2", file(role).path, "\(bytes)"])
    }
}
