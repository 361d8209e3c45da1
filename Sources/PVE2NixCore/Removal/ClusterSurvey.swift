import Foundation

/// What the cluster said, read right before a node is removed from it: the corosync nodelist,
/// who is online, quorum, what still names the node (replication jobs, HA rules or groups, guests)
/// and the QDevice. `ClusterRemovalPlan` decides from this value alone.
public struct ClusterSurvey: Sendable, Hashable, Codable {
    /// One corosync node and its votes (`GET /cluster/config/nodes`).
    public struct Member: Sendable, Hashable, Codable {
        public var name: NodeName
        public var votes: Int
        public var address: String?
        public init(name: NodeName, votes: Int = 1, address: String? = nil) {
            self.name = name
            self.votes = votes
            self.address = address
        }
    }

    /// A storage replication job (`GET /cluster/replication`); `source` is where the guest is now.
    public struct ReplicationJob: Sendable, Hashable, Codable {
        public var id: String
        public var guest: VMID
        public var source: NodeName?
        public var target: NodeName
        /// `full` or `local` once deleted: the runner on the source removes it later.
        public var removeJob: String?
        public init(id: String, guest: VMID, source: NodeName?, target: NodeName, removeJob: String? = nil) {
            self.id = id
            self.guest = guest
            self.source = source
            self.target = target
            self.removeJob = removeJob
        }
    }

    /// An HA node-affinity rule (PVE 9) or HA group (PVE 8): its `node[:priority]` list.
    public struct HANodeList: Sendable, Hashable, Codable {
        public var name: String
        public var nodes: String
        /// The HA resources that use a group (PVE 8); a rule's own resources (PVE 9).
        public var resources: [String]
        public init(name: String, nodes: String, resources: [String] = []) {
            self.name = name
            self.nodes = nodes
            self.resources = resources
        }
    }

    public var node: NodeName
    public var members: [Member]
    public var online: Set<NodeName>
    public var quorate: Bool
    /// The node whose API answered (`local` in `/cluster/status`).
    public var servingNode: NodeName?
    public var guestsOnNode: [VMID]
    public var replication: [ReplicationJob]
    /// PVE 9 node-affinity rules, or nil on PVE 8 (groups instead).
    public var haRules: [HANodeList]?
    public var haGroups: [HANodeList]
    /// `GET /cluster/config/qdevice`; empty when none is set up.
    public var qdevice: [String: String]

    public init(node: NodeName, members: [Member], online: Set<NodeName>, quorate: Bool, servingNode: NodeName? = nil, guestsOnNode: [VMID] = [],
                replication: [ReplicationJob] = [], haRules: [HANodeList]? = [], haGroups: [HANodeList] = [], qdevice: [String: String] = [:]) {
        self.node = node
        self.members = members
        self.online = online
        self.quorate = quorate
        self.servingNode = servingNode
        self.guestsOnNode = guestsOnNode
        self.replication = replication
        self.haRules = haRules
        self.haGroups = haGroups
        self.qdevice = qdevice
    }

    /// Whether the node is still in the corosync nodelist.
    public var isMember: Bool { members.contains { $0.name == node } }
    /// The members that stay.
    public var remaining: [Member] { members.filter { $0.name != node } }
}

/// `node[:priority]` lists of HA rules and groups.
public enum HANodeListText {
    public static func names(_ list: String) -> [String] {
        list.split(separator: ",").compactMap { item in
            let name = item.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1).first.map(String.init)
            return name?.isEmpty == false ? name : nil
        }
    }

    public static func mentions(_ list: String, _ node: NodeName) -> Bool { names(list).contains(node.rawValue) }

    /// The list without `node`, every other entry (and its priority) as it was.
    public static func removing(_ node: NodeName, from list: String) -> String {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && $0.split(separator: ":", maxSplits: 1).first.map(String.init) != node.rawValue }
            .joined(separator: ",")
    }
}
