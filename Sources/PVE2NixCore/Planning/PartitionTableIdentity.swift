/// The partition table a plan saw on an install disk: the gate right before the wipe refuses when
/// the disk carries another one, since then it is not the disk (or not the state) that was reviewed.
public struct PartitionTableIdentity: Sendable, Hashable, Codable {
    /// The GPT disk GUID or the MBR disk id; nil on a disk without a partition table.
    public var ptuuid: String?
    /// `gpt` or `dos`; nil on a disk without a partition table.
    public var pttype: String?
    /// In the order they sit on the disk.
    public var partitions: [PartitionIdentity]

    public init(ptuuid: String?, pttype: String?, partitions: [PartitionIdentity]) {
        self.ptuuid = ptuuid
        self.pttype = pttype
        self.partitions = partitions
    }

    /// The table of `disk` as lsblk shows it; nil when the capture lacks lsblk's partition table
    /// columns (a disk with partitions but no `pttype`), since an empty table would be a false record.
    public init?(disk: BlockDevice) {
        let parts = disk.children.filter { $0.type == "part" }
        if disk.pttype == nil, disk.ptuuid == nil, !parts.isEmpty { return nil }
        self.init(ptuuid: disk.ptuuid, pttype: disk.pttype, partitions: parts.map(PartitionIdentity.init(partition:)).sorted())
    }
}

/// One partition as the plan saw it. Kernel names are left out: they change between boots.
public struct PartitionIdentity: Sendable, Hashable, Codable, Comparable {
    /// In 512-byte sectors; nil when the capture had no `start` column.
    public var startSector: Int64?
    public var sizeBytes: Int64
    /// The GPT partition type GUID, or the MBR type such as `0x83`.
    public var partitionType: String?
    public var partitionUUID: String?

    public init(startSector: Int64?, sizeBytes: Int64, partitionType: String?, partitionUUID: String?) {
        self.startSector = startSector
        self.sizeBytes = sizeBytes
        self.partitionType = partitionType
        self.partitionUUID = partitionUUID
    }

    public init(partition: BlockDevice) {
        self.init(startSector: partition.startSector, sizeBytes: partition.sizeBytes,
                  partitionType: partition.partitionType?.lowercased(), partitionUUID: partition.partitionUUID?.lowercased())
    }

    public static func < (a: PartitionIdentity, b: PartitionIdentity) -> Bool {
        (a.startSector ?? -1, a.sizeBytes, a.partitionUUID ?? "") < (b.startSector ?? -1, b.sizeBytes, b.partitionUUID ?? "")
    }
}
