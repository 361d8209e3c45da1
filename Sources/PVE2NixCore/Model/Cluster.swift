/// `GET /cluster/status`, folded into one value.
public struct ClusterStatus: Sendable, Hashable, Codable {
    public var name: String?
    public var quorate: Bool
    public var nodeCount: Int?
    public var version: Int?
    public var members: [ClusterMember]
}

public struct ClusterMember: Sendable, Hashable, Codable {
    public var name: NodeName
    public var nodeID: Int?
    public var ip: String?
    public var online: Bool
    public var line: Int
}

/// One guest from `GET /cluster/resources?type=vm`.
public struct GuestResource: Sendable, Hashable, Codable {
    public var vmid: VMID
    public var kind: GuestKind
    public var name: String
    public var node: NodeName
    public var status: String
    public var maxMemoryBytes: Int64
    public var maxCPU: Double
    public var maxDiskBytes: Int64
    public var template: Bool
    public var haState: String?
    public var lock: String?
    public var tags: [String]
    public var line: Int

    public var isRunning: Bool { status == "running" }
}

/// `GET /nodes/<node>/status`.
public struct NodeStatus: Sendable, Hashable, Codable {
    public var memoryTotalBytes: Int64
    public var memoryUsedBytes: Int64
    public var cpus: Int
    public var cpuModel: String?
    public var pveVersion: String?
    public var kernelVersion: String?

    /// Major Proxmox VE version from `pve-manager/9.1.1/...`.
    public var pveMajorVersion: Int? {
        guard let v = pveVersion, let slash = v.firstIndex(of: "/") else { return nil }
        return Int(v[v.index(after: slash)...].prefix { $0.isASCIIDigit })
    }
}

/// One HA-managed guest from `GET /cluster/ha/resources`.
public struct HAResource: Sendable, Hashable, Codable {
    public var vmid: VMID
    public var kind: GuestKind
    public var state: String
    public var group: String?
    public var line: Int
}

/// A PVE 9 node-affinity rule from `GET /cluster/ha/rules` (optional capture `cluster/ha-rules.json`).
public struct HANodeAffinityRule: Sendable, Hashable, Codable {
    public var rule: String
    public var vmids: [VMID]
    public var nodes: [NodeName]
    public var strict: Bool
    public var line: Int
}

/// An HA group from `GET /cluster/ha/groups` (PVE 8 and older; optional capture `cluster/ha-groups.json`).
public struct HAGroup: Sendable, Hashable, Codable {
    public var group: String
    public var nodes: [NodeName]
    /// A restricted group's guests may run only on its nodes.
    public var restricted: Bool
    public var line: Int
}
