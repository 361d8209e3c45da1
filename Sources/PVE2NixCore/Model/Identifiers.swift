/// A Proxmox guest id, unique cluster-wide.
public struct VMID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public init?(_ text: String) {
        guard let value = Int(text), value >= 100, value <= 999_999_999 else { return nil }
        rawValue = value
    }
    public static func < (a: VMID, b: VMID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(Int.self) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// A cluster member's name, as corosync and the API know it.
public struct NodeName: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public static func < (a: NodeName, b: NodeName) -> Bool { a.rawValue < b.rawValue }
    public var description: String { rawValue }
    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// A `/dev/disk/by-id/...` path: the only disk name that is stable across boots.
public struct DiskByID: Sendable, Hashable, Codable, CustomStringConvertible {
    public let path: String
    public init(linkName: String) { path = "/dev/disk/by-id/" + linkName }
    public var linkName: String { String(path.dropFirst("/dev/disk/by-id/".count)) }
    public var description: String { path }
    public init(from decoder: Decoder) throws { path = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(path)
    }
}

/// What kind of guest: a QEMU VM or an LXC container.
public enum GuestKind: String, Sendable, Hashable, Codable {
    case qemu, lxc

    /// The directory under `/etc/pve/nodes/<node>/` holding this kind's configs.
    public var configDirectory: String { self == .qemu ? "qemu-server" : "lxc" }
    public var shortName: String { self == .qemu ? "vm" : "ct" }
}
