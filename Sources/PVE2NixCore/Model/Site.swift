/// Everything captured from one cluster node.
public struct NodeCapture: Sendable, Hashable, Codable {
    public var name: NodeName
    public var status: NodeStatus?
    public var interfaces: [NetworkInterface]
    public var interfaceStanzas: [InterfaceStanza]
    public var interfaceFiles: [String]
    /// The interfaces files as captured, by bundle path (the rehearsal lab runs them for real).
    public var interfaceTexts: [String: String] = [:]
    public var links: [IPLink]
    public var addresses: [IPAddressEntry]
    public var disks: [BlockDevice]
    public var diskLinks: [DiskIDLink]
    public var meminfo: Meminfo?
    public var firmware: Firmware?
    public var hostID: String?
    public var guests: [Guest]

    /// The raw texts kept for the lab and the simulator are not part of the JSON: they are in the
    /// bundle already, and at a thousand nodes they would make `inspect --json` several times larger.
    enum CodingKeys: String, CodingKey {
        case name, status, interfaces, interfaceStanzas, interfaceFiles, links, addresses, disks, diskLinks, meminfo, firmware, hostID, guests
    }

    /// Memory of the node: `/proc/meminfo` when captured, else the API's figure.
    public var memoryTotalBytes: Int64? { meminfo?.totalBytes ?? status?.memoryTotalBytes }

    public func interface(_ name: String) -> NetworkInterface? { interfaces.first { $0.name == name } }
    public func link(_ name: String) -> IPLink? { links.first { $0.name == name || $0.altNames.contains(name) } }
}

public enum Firmware: String, Sendable, Hashable, Codable { case uefi, bios }

/// A whole capture bundle, parsed.
public struct Site: Sendable, Hashable, Codable {
    public static let supportedFormat = 1

    public var format: Int
    public var cluster: ClusterStatus?
    public var resources: [GuestResource]
    public var haResources: [HAResource]
    public var haRules: [HANodeAffinityRule]
    public var haGroups: [HAGroup]
    public var storages: [StorageDefinition]
    public var corosync: CorosyncConfig?
    public var nodes: [NodeCapture]
    public var intent: SiteIntent
    public var diagnostics: [Diagnostic]

    public func node(_ name: NodeName) -> NodeCapture? { nodes.first { $0.name == name } }
    public func storage(_ id: String) -> StorageDefinition? { storages.first { $0.id == id } }

    /// Cluster members, from the API status when captured, else from corosync.
    public var memberNames: [NodeName] {
        if let members = cluster?.members, !members.isEmpty { return members.map(\.name).sorted() }
        return (corosync?.nodes.map(\.name) ?? nodes.map(\.name)).sorted()
    }

    public func isOnline(_ node: NodeName) -> Bool {
        cluster?.members.first { $0.name == node }?.online ?? false
    }
}
