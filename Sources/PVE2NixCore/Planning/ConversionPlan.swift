/// The reviewable plan for converting one node: a value, printable as text or JSON.
public struct ConversionPlan: Sendable, Hashable, Codable {
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    public var node: NodeName
    public var site: String?
    public var drain: DrainPlan
    public var disk: DiskPlan?
    public var network: NetworkPlan
    public var guests: [GuestOutcome]
    public var install: InstallPlan
    public var preflight: [PreflightCheck]
    public var diagnostics: [Diagnostic]

    /// A plan with error diagnostics or failed checks cannot be carried out as it stands.
    public var hasErrors: Bool { diagnostics.hasErrors || preflight.contains { $0.status == .fail } }
}

// MARK: Drain

public enum MigrationMethod: String, Sendable, Hashable, Codable {
    case live, restart, offline
    case backupRestore = "backup-restore"
    case none

    public var movesGuest: Bool { self != .none }
}

/// How long the guest's service is down during its move.
public enum DowntimeClass: String, Sendable, Hashable, Codable {
    /// Live migration: a pause of well under a second.
    case none
    /// Shut down and start again on the peer: seconds to a minute.
    case restart
    /// Stopped while its local disks are copied: minutes, growing with disk size.
    case copy
    /// Backed up, restored and started: the longest.
    case long
    /// The guest does not run now: no service is interrupted.
    case notRunning = "not-running"
    /// Stays down until an operator acts.
    case manual
}

public struct Blocker: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case localDisk = "local-disk", localISO = "local-iso", passthrough, bindMount = "bind-mount", deviceMount = "device-mount"
        case containerDevice = "container-device", rawLXC = "raw-lxc", haManaged = "ha-managed", haRule = "ha-rule"
        case storageMissing = "storage-missing", lock, snapshots, pendingChanges = "pending-changes", capacity
        case unknownState = "unknown-state"
    }
    /// `blocks`: the move cannot happen; `action`: an operator must act around the move; `note`: for review.
    public enum Severity: String, Sendable, Hashable, Codable { case blocks, action, note }

    public var kind: Kind
    public var severity: Severity
    public var message: String
    public var file: String?
    public var line: Int?
}

public struct DrainMove: Sendable, Hashable, Codable {
    public var vmid: VMID
    public var kind: GuestKind
    public var name: String
    public var status: String
    public var template: Bool
    public var from: NodeName
    public var to: NodeName?
    public var method: MigrationMethod
    /// Why this method (and, for `none`, why the guest cannot move).
    public var reason: String
    public var downtime: DowntimeClass
    public var haManaged: Bool
    public var withLocalDisks: Bool
    /// Where local volumes go when their storage does not exist on the target.
    public var targetStorage: String?
    /// For backup-restore: the target's storage the restored volumes go to.
    public var restoreStorage: String? = nil
    public var memoryBytes: Int64
    public var vcpus: Int
    public var blockers: [Blocker]
}

public struct PeerCapacity: Sendable, Hashable, Codable {
    public var node: NodeName
    public var online: Bool
    public var memoryTotalBytes: Int64
    /// Memory the peer may commit: total less the headroom.
    public var memoryUsableBytes: Int64
    public var memoryCommittedBeforeBytes: Int64
    public var memoryCommittedAfterBytes: Int64
    public var cpus: Int
    public var vcpusBefore: Int
    public var vcpusAfter: Int
    public var vcpuLimit: Int
    public var guestsReceived: [VMID]
}

public struct DrainPlan: Sendable, Hashable, Codable {
    public var moves: [DrainMove]
    public var peers: [PeerCapacity]
    public var memoryHeadroomPercent: Int
    public var backupStorage: String?
    /// The planned schedule of the moves; nil in plans saved before it was planned.
    public var schedule: DrainSchedule? = nil

    public var isComplete: Bool { moves.allSatisfy { $0.method.movesGuest } }
}

// MARK: Disk

public struct DiskEffect: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case partitionTable = "partition-table", partition, volumeGroup = "lvm-volume-group", logicalVolume = "lvm-logical-volume"
        case zfsPool = "zfs-pool", mdArray = "md-array", btrfsVolume = "btrfs-filesystem", storage = "proxmox-storage", disk
    }
    public var kind: Kind
    public var name: String
    public var detail: String
    /// For a pool or volume group: the kernel names of all its members.
    public var members: [String]
    public var line: Int?
}

public struct DiskPlan: Sendable, Hashable, Codable {
    public var byId: DiskByID
    public var kernelName: String
    public var model: String?
    public var serial: String?
    public var wwn: String?
    public var sizeBytes: Int64
    public var transport: String?
    public var reason: String
    /// Further install targets when the root is mirrored (the primary disk's fields are above).
    public var mirrors: [DiskTarget]
    public var destroys: [DiskEffect]
    public var untouched: [DiskEffect]
    public var otherByIdLinks: [String]
    /// The primary disk's partition table as planned; nil in plans saved before it was recorded.
    public var partitionTable: PartitionTableIdentity? = nil
}

/// One disk to install on, named by id.
public struct DiskTarget: Sendable, Hashable, Codable {
    public var byId: DiskByID
    public var kernelName: String
    public var model: String?
    public var serial: String?
    public var wwn: String?
    public var sizeBytes: Int64
    public var transport: String?
    public var otherByIdLinks: [String]
    /// The partition table as planned; nil in plans saved before it was recorded.
    public var partitionTable: PartitionTableIdentity? = nil
}

// MARK: Network

public struct NetworkPlan: Sendable, Hashable, Codable {
    public var interfaces: [NetworkInterface]
    public var managementAddress: String?
    public var managementInterface: String?
    public var managementVLAN: Int?
    public var managementMAC: String?
    public var defaultGateway: String?
    /// Physical NICs under the management path, with the MAC to match them by after conversion.
    public var uplinks: [Uplink]
    /// Hooks with no networkd equivalent: they need a hand-written NixOS equivalent.
    public var hooks: [InterfaceHook]
    /// Hooks carried over as `.link` settings (`ethtool -s IF wol g` → `WakeOnLan=magic`).
    public var translatedHooks: [InterfaceHook]
    public var unsupported: [String]
    public var files: [String]

    public struct Uplink: Sendable, Hashable, Codable {
        public var name: String
        public var mac: String?
        public var kernelNames: [String]
    }
}

// MARK: Guests after conversion

public struct GuestOutcome: Sendable, Hashable, Codable {
    public var vmid: VMID
    public var kind: GuestKind
    public var name: String
    public var ostype: String?
    public var rehome: Rehoming
    /// The peer it runs on between drain and rehoming (or for good, with `stay`).
    public var interimNode: NodeName?
    public var reason: String
    public var address: String?
    public var vlan: Int?
}

// MARK: Install and preflight

public struct InstallPlan: Sendable, Hashable, Codable {
    public var path: InstallPath
    public var reasons: [String]
    public var memoryBytes: Int64?
    public var firmware: Firmware?
}

public struct PreflightCheck: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable { case pass, warn, fail }
    public var check: String
    public var status: Status
    public var detail: String

    public init(_ check: String, _ status: Status, _ detail: String) {
        self.check = check
        self.status = status
        self.detail = detail
    }
}

/// The plan's JSON carries every documented key, `null` where there is no value, so that a reader
/// can tell "cannot move" (`"to": null`) from a plan written by a version without the key.
extension ConversionPlan {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(node, forKey: .node)
        try c.encode(site, forKey: .site)
        try c.encode(drain, forKey: .drain)
        try c.encode(disk, forKey: .disk)
        try c.encode(network, forKey: .network)
        try c.encode(guests, forKey: .guests)
        try c.encode(install, forKey: .install)
        try c.encode(preflight, forKey: .preflight)
        try c.encode(diagnostics, forKey: .diagnostics)
    }
}

extension DrainMove {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vmid, forKey: .vmid)
        try c.encode(kind, forKey: .kind)
        try c.encode(name, forKey: .name)
        try c.encode(status, forKey: .status)
        try c.encode(template, forKey: .template)
        try c.encode(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encode(method, forKey: .method)
        try c.encode(reason, forKey: .reason)
        try c.encode(downtime, forKey: .downtime)
        try c.encode(haManaged, forKey: .haManaged)
        try c.encode(withLocalDisks, forKey: .withLocalDisks)
        try c.encode(targetStorage, forKey: .targetStorage)
        try c.encode(restoreStorage, forKey: .restoreStorage)
        try c.encode(memoryBytes, forKey: .memoryBytes)
        try c.encode(vcpus, forKey: .vcpus)
        try c.encode(blockers, forKey: .blockers)
    }
}
