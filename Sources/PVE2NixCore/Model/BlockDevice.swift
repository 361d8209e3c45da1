/// One device from `lsblk -J -b -O`, with its children (partitions, LVs, md members…).
public struct BlockDevice: Sendable, Hashable, Codable {
    public var name: String
    public var kernelName: String
    public var path: String?
    public var type: String
    public var sizeBytes: Int64
    public var model: String?
    public var serial: String?
    public var wwn: String?
    public var transport: String?
    public var removable: Bool
    public var hotplug: Bool
    public var rotational: Bool?
    public var fstype: String?
    public var label: String?
    public var uuid: String?
    public var partitionLabel: String?
    public var partitionTypeName: String?
    public var mountpoints: [String]
    public var children: [BlockDevice]
    public var line: Int
    /// The partition table's UUID (GPT disk GUID, or the MBR disk id), on the disk and its partitions.
    public var ptuuid: String? = nil
    /// `gpt` or `dos`, on the disk and its partitions.
    public var pttype: String? = nil
    /// lsblk `parttype`: the GPT partition type GUID, or the MBR type such as `0x83`.
    public var partitionType: String? = nil
    /// lsblk `partuuid`: the GPT partition GUID, or `<disk id>-NN` on MBR.
    public var partitionUUID: String? = nil
    /// lsblk `start`: where a partition begins, in 512-byte sectors.
    public var startSector: Int64? = nil

    /// This device and every descendant, depth first.
    public var allDescendants: [BlockDevice] { children.flatMap { [$0] + $0.allDescendants } }

    public var isWholeDisk: Bool { type == "disk" }

    /// Removable media and USB-attached disks are never install targets.
    public var isRemovableOrUSB: Bool { removable || transport == "usb" || (hotplug && transport != "nvme" && transport != "sata" && transport != "sas") }
}

/// One link in `/dev/disk/by-id`.
public struct DiskIDLink: Sendable, Hashable, Codable {
    public var name: String
    /// The kernel name the link points to, e.g. `nvme0n1` or `nvme0n1p3`.
    public var target: String
    public var line: Int
    public var byID: DiskByID { DiskByID(linkName: name) }
}

/// A link from `ip -j -d link show`.
public struct IPLink: Sendable, Hashable, Codable {
    public var name: String
    public var mac: String?
    /// Set when the MAC was changed (bond members): the NIC's burned-in address.
    public var permanentMAC: String?
    public var kind: String?
    public var slaveKind: String?
    public var master: String?
    public var operState: String?
    public var mtu: Int?
    public var altNames: [String]
    public var vlanID: Int?
    public var vlanFiltering: Bool?
    public var linkType: String?
    public var parentBus: String?
    public var line: Int

    /// A NIC with no software kind: what `.link` files and `PermanentMACAddress=` match.
    public var isPhysical: Bool { kind == nil && linkType == "ether" && !name.hasPrefix("veth") && !name.hasPrefix("tap") && !name.hasPrefix("fwpr") && !name.hasPrefix("fwln") }

    /// The address to match this NIC by after conversion.
    public var matchMAC: String? { permanentMAC ?? mac }
}

/// Addresses from `ip -j addr show`, per interface.
public struct IPAddressEntry: Sendable, Hashable, Codable {
    public var interface: String
    public var address: CIDRAddress
    public var scope: String?
    public var line: Int
}
