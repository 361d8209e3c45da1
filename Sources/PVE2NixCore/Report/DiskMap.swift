/// Every disk of a node as the report draws it: what the install destroys and what stays, down to
/// partitions, and the pools and volume groups that span disks.
public struct DiskMap: Sendable, Hashable {
    public enum Fate: String, Sendable, Hashable { case destroyed, kept }

    public struct Partition: Sendable, Hashable {
        public var name: String
        public var sizeBytes: Int64
        public var fstype: String?
        public var label: String?
        public var typeName: String?
        public var mountpoints: [String]
        public var fate: Fate
    }

    public struct Disk: Sendable, Hashable {
        public var kernelName: String
        /// The most descriptive `/dev/disk/by-id` name (the plan's for an install disk).
        public var byId: String?
        public var otherIds: [String]
        public var model: String?
        public var serial: String?
        public var wwn: String?
        public var sizeBytes: Int64
        public var transport: String?
        public var removable: Bool
        public var fate: Fate
        /// Why: the plan's reason for an install disk, else what is on it.
        public var reason: String
        public var partitions: [Partition]
    }

    /// A ZFS pool, LVM volume group or md array, with the whole disks it has members on.
    public struct Group: Sendable, Hashable {
        public var kind: String
        public var name: String
        public var disks: [String]
        public var fate: Fate
    }

    public var disks: [Disk]
    public var groups: [Group]

    public init(disks: [Disk], groups: [Group]) {
        self.disks = disks
        self.groups = groups
    }

    /// The map of `capture`'s disks under `plan`: a disk the plan installs on is destroyed whole,
    /// with every group that has a member there; everything else is kept.
    public static func build(capture: NodeCapture, plan: DiskPlan?) -> DiskMap {
        let targets = Set(plan.map { [$0.kernelName] + $0.mirrors.map(\.kernelName) } ?? [])
        var disks: [Disk] = []
        var groups: [Group] = []
        func addGroup(_ kind: String, _ name: String, disk: String, fate: Fate) {
            if let i = groups.firstIndex(where: { $0.kind == kind && $0.name == name }) {
                if !groups[i].disks.contains(disk) { groups[i].disks.append(disk) }
                if fate == .destroyed { groups[i].fate = .destroyed }
            } else {
                groups.append(Group(kind: kind, name: name, disks: [disk], fate: fate))
            }
        }
        for device in capture.disks where device.isWholeDisk {
            let fate: Fate = targets.contains(device.kernelName) ? .destroyed : .kept
            let links = capture.diskLinks.filter { $0.target == device.kernelName }.map(\.name)
                .sorted { (rank($0, device), $0) < (rank($1, device), $1) }
            let planned = plan.flatMap { p in p.kernelName == device.kernelName ? p.byId.linkName : p.mirrors.first { $0.kernelName == device.kernelName }?.byId.linkName }
            let byId = planned ?? links.first
            let partitions = device.children.filter { $0.type == "part" }.map { part in
                Partition(name: part.name, sizeBytes: part.sizeBytes, fstype: part.fstype, label: part.label, typeName: part.partitionTypeName,
                          mountpoints: ([part] + part.allDescendants).flatMap(\.mountpoints), fate: fate)
            }
            for member in [device] + device.allDescendants {
                switch member.fstype {
                case "zfs_member": addGroup("ZFS pool", member.label ?? "?", disk: device.kernelName, fate: fate)
                case "LVM2_member":
                    let lvs = member.children.filter { $0.type == "lvm" }.map(\.name)
                    addGroup("LVM volume group", lvs.first.map(volumeGroup) ?? member.name, disk: device.kernelName, fate: fate)
                case "linux_raid_member":
                    for md in member.children where md.type.hasPrefix("raid") { addGroup("md array", md.name, disk: device.kernelName, fate: fate) }
                default: break
                }
            }
            var reason: String
            if fate == .destroyed, let plan { reason = plan.kernelName == device.kernelName ? plan.reason : "mirror of the install disk" }
            else if device.isRemovableOrUSB { reason = "removable or USB: never an install target" }
            else { reason = "not an install target" }
            if fate == .destroyed { reason += "; wiped by the install" }
            disks.append(Disk(kernelName: device.kernelName, byId: byId, otherIds: links.filter { $0 != byId }, model: device.model, serial: device.serial,
                              wwn: device.wwn, sizeBytes: device.sizeBytes, transport: device.transport, removable: device.isRemovableOrUSB,
                              fate: fate, reason: reason, partitions: partitions))
        }
        return DiskMap(disks: disks, groups: groups)
    }

    /// Serial-bearing names first, then the rest; WWN and EUI names last.
    private static func rank(_ link: String, _ device: BlockDevice) -> Int {
        if link.hasPrefix("wwn-") || link.hasPrefix("nvme-eui.") { return 2 }
        return device.serial.map { link.contains($0) } == true ? 0 : 1
    }

    /// A device-mapper name `vg-lv` (dashes in names doubled) gives its volume group.
    private static func volumeGroup(_ dmName: String) -> String {
        var name = "", chars = Array(dmName), i = 0
        while i < chars.count {
            if chars[i] == "-" {
                if i + 1 < chars.count, chars[i + 1] == "-" { name.append("-"); i += 2; continue }
                return name
            }
            name.append(chars[i]); i += 1
        }
        return name
    }
}
