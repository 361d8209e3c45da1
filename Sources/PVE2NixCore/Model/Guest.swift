/// A guest NIC from `netN`, for both kinds.
public struct GuestNIC: Sendable, Hashable, Codable {
    public var key: String
    /// Inside a CT: `eth0`; for a VM: the NIC model (`virtio`, `e1000`…).
    public var name: String?
    public var mac: String?
    public var bridge: String?
    public var vlanTag: Int?
    public var address: CIDRAddress?
    /// `dhcp`, `manual` or nil when a static address (or none) is set.
    public var addressMode: String?
    public var gateway: String?
    public var firewall: Bool
    public var line: Int
}

/// A disk, mount point or CD-ROM of a guest.
public struct GuestVolume: Sendable, Hashable, Codable {
    public var key: String
    public var source: VolumeSource
    /// For CT mount points: the path inside the container (`mp=`).
    public var mountPath: String?
    public var sizeBytes: Int64?
    public var isCDROM: Bool
    /// `shared=1` on a CT mount point: the operator says the source exists on every node.
    public var markedShared: Bool
    public var readOnly: Bool
    public var line: Int
}

/// Host hardware handed to a guest (`hostpciN`, `usbN`, `serialN`, `virtiofsN`, CT `devN`), or a raw
/// `lxc.*` device line.
public struct GuestDevice: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case pci, usb, serial, virtiofs, containerDevice, rawLXC
    }
    public var kind: Kind
    public var key: String
    public var value: String
    public var line: Int
}

/// A guest as the plan sees it: the current config, its resource entry, and what pins it.
public struct Guest: Sendable, Hashable, Codable {
    public var vmid: VMID
    public var kind: GuestKind
    public var name: String
    public var node: NodeName
    public var status: String
    public var template: Bool
    public var memoryBytes: Int64
    public var vcpus: Int
    public var ostype: String?
    /// A container's `nameserver:` setting.
    public var nameservers: [String]
    public var nics: [GuestNIC]
    public var volumes: [GuestVolume]
    public var devices: [GuestDevice]
    public var pendingKeys: [String]
    public var snapshots: [String]
    public var lock: String?
    public var haState: String?
    public var tags: [String]
    public var description: String
    /// The config file in the bundle, or nil when only the resource list knows the guest.
    public var file: String?

    public init(vmid: VMID, kind: GuestKind, name: String, node: NodeName, status: String, template: Bool, memoryBytes: Int64, vcpus: Int,
                ostype: String?, nameservers: [String], nics: [GuestNIC], volumes: [GuestVolume], devices: [GuestDevice], pendingKeys: [String],
                snapshots: [String], lock: String?, haState: String?, tags: [String], description: String, file: String?) {
        self.vmid = vmid
        self.kind = kind
        self.name = name
        self.node = node
        self.status = status
        self.template = template
        self.memoryBytes = memoryBytes
        self.vcpus = vcpus
        self.ostype = ostype
        self.nameservers = nameservers
        self.nics = nics
        self.volumes = volumes
        self.devices = devices
        self.pendingKeys = pendingKeys
        self.snapshots = snapshots
        self.lock = lock
        self.haState = haState
        self.tags = tags
        self.description = description
        self.file = file
    }

    public var isRunning: Bool { status == "running" }
    public var label: String { "\(kind.shortName) \(vmid) \(name)" }
}
