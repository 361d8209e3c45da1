/// One step of removing a node from its cluster, in the order they run.
public enum ClusterRemovalStep: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `DELETE /cluster/replication/{id}` (with `keep` when the node is the target: its disks are
    /// gone, there is nothing to clean there), then poll until the runner removed the job.
    case replicationJob(id: String, keep: Bool)
    /// `PUT /cluster/ha/rules/{rule}` with `after`, or `DELETE` when the rule named only the node.
    case haRule(rule: String, before: String, after: String?)
    /// The same for a PVE 8 HA group.
    case haGroup(group: String, before: String, after: String?)
    /// `DELETE /cluster/config/nodes/{node}` with a root@pam ticket, then check the nodelist.
    case delnode
    /// On the peer: `rm -rf -- /etc/pve/nodes/<node>` (pmxcfs: every node sees it).
    case nodeDirectory
    /// On the peer: the node's lines out of `/etc/pve/priv/authorized_keys`.
    case authorizedKeys
    /// On the peer: the node's lines out of `/etc/pve/priv/known_hosts`.
    case knownHosts

    /// The step's name in the journal (`RunFacts.removalStep`).
    public var key: String {
        switch self {
        case .replicationJob(let id, _): "replication:\(id)"
        case .haRule(let rule, _, _): "ha-rule:\(rule)"
        case .haGroup(let group, _, _): "ha-group:\(group)"
        case .delnode: "delnode"
        case .nodeDirectory: "node-directory"
        case .authorizedKeys: "authorized-keys"
        case .knownHosts: "known-hosts"
        }
    }

    /// The description with the node's name in place of `<node>`.
    public func text(for node: NodeName) -> String { description.replacingOccurrences(of: "<node>", with: node.rawValue) }

    public var description: String {
        switch self {
        case .replicationJob(let id, let keep): "remove replication job \(id)\(keep ? " (keep: nothing to clean on the wiped node)" : ""), and wait until it is gone"
        case .haRule(let rule, let before, let after?): "HA rule '\(rule)': nodes '\(before)' → '\(after)'"
        case .haRule(let rule, let before, nil): "HA rule '\(rule)': delete it (it names only the node: '\(before)')"
        case .haGroup(let group, let before, let after?): "HA group '\(group)': nodes '\(before)' → '\(after)'"
        case .haGroup(let group, let before, nil): "HA group '\(group)': delete it (it names only the node: '\(before)')"
        case .delnode: "delete the node from the corosync nodelist (pvecm delnode)"
        case .nodeDirectory: "remove its directory /etc/pve/nodes/<node> on a peer"
        case .authorizedKeys: "remove its lines from /etc/pve/priv/authorized_keys"
        case .knownHosts: "remove its lines from /etc/pve/priv/known_hosts"
        }
    }
}

/// What removing a node from its cluster will do, and what stops it: a value a person reads
/// (`--dry-run` prints it) before anything changes. Made from a fresh `ClusterSurvey` on every run,
/// so a resumed run plans only what is left.
public struct ClusterRemovalPlan: Sendable, Hashable, Codable {
    public var node: NodeName
    public var steps: [ClusterRemovalStep]
    /// Why the node must not be removed now; each says what to do.
    public var blockers: [String]
    /// What the result means (two nodes, quorum), for the person to read.
    public var notes: [String]
    /// Members and votes once the node has gone.
    public var remainingNodes: [NodeName]
    public var expectedVotesAfter: Int
    public var onlineVotesAfter: Int

    /// What the operator decided on the command line.
    public struct Decisions: Sendable, Hashable, Codable {
        /// The journal shows the disk was wiped (stage disko done), or the operator overrides that.
        public var diskWiped: Bool
        public var acceptTwoNode: Bool
        public init(diskWiped: Bool, acceptTwoNode: Bool = false) {
            self.diskWiped = diskWiped
            self.acceptTwoNode = acceptTwoNode
        }
    }

    public init(survey s: ClusterSurvey, decisions: Decisions) {
        node = s.node
        let remaining = s.remaining
        remainingNodes = remaining.map(\.name).sorted()
        expectedVotesAfter = remaining.reduce(0) { $0 + $1.votes }
        onlineVotesAfter = remaining.filter { s.online.contains($0.name) }.reduce(0) { $0 + $1.votes }
        var steps: [ClusterRemovalStep] = [], blockers: [String] = [], notes: [String] = []
        let n = s.node

        if !decisions.diskWiped {
            blockers.append("the journal does not show \(n)'s disk wiped (stage disko done): before that, a reboot brings Proxmox back with its cluster identity, and a rollback needs it in the cluster. Install first; only if the disk is wiped by other means, pass --disk-wiped-elsewhere.")
        }
        if !s.quorate { blockers.append("the cluster has no quorum now: delnode needs it. Bring the other nodes back online first.") }
        if s.isMember {
            if s.online.contains(n) { blockers.append("\(n) is online in the cluster: a running node must not be deleted (its corosync would break the cluster). Power it off, or wait until the installer runs, then try again.") }
            if s.servingNode == n { blockers.append("the API endpoint is \(n) itself (\"Cannot delete myself from cluster!\"): give --endpoint of a peer.") }
            if remaining.count <= 1 {
                blockers.append("only \(remaining.map(\.name.rawValue).joined()) would remain: a one-node cluster is not removal but dissolving the cluster. pve2nix does not do that; see 'Separate a Node Without Reinstalling' in the Proxmox docs.")
            } else if remaining.count == 2 {
                let text = "two nodes would remain (\(remainingNodes.map(\.rawValue).joined(separator: ", "))) with \(expectedVotesAfter) votes: quorum needs both, so when either fails or reboots the other loses quorum (no guest starts, no config changes). A QDevice (corosync-qnetd on a third machine, then 'pvecm qdevice setup ADDRESS' on a node) gives the cluster a third vote."
                if decisions.acceptTwoNode { notes.append(text) } else { blockers.append(text + " Pass --accept-two-node to remove the node anyway.") }
            }
            if onlineVotesAfter * 2 <= expectedVotesAfter {
                blockers.append("after the removal only \(onlineVotesAfter) of \(expectedVotesAfter) votes would be online: the cluster would lose quorum. Bring the offline peers back first.")
            }
        } else {
            notes.append("\(n) is no longer in the corosync nodelist: only the cleanup is left.")
        }
        if !s.qdevice.isEmpty {
            blockers.append("a QDevice is configured (\(s.qdevice.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))): remove it first with 'pvecm qdevice remove' on a peer (there is no API for it), run again, then set it up anew with 'pvecm qdevice setup ADDRESS'.")
        }
        if !s.guestsOnNode.isEmpty {
            blockers.append("guests \(s.guestsOnNode.map(\.description).joined(separator: ", ")) are still on \(n): their configs live in /etc/pve/nodes/\(n), which the removal deletes. Drain the node first ('pve2nix drain \(n)').")
        }

        for job in s.replication.sorted(by: { $0.id < $1.id }) where job.target == n || job.source == n {
            if job.source == n {
                blockers.append("replication job \(job.id) runs from \(n) (guest \(job.guest) is there): move the guest first; the job then turns around.")
            } else {
                steps.append(.replicationJob(id: job.id, keep: job.target == n))
            }
        }
        if let rules = s.haRules {
            for rule in rules.sorted(by: { $0.name < $1.name }) where HANodeListText.mentions(rule.nodes, n) {
                let after = HANodeListText.removing(n, from: rule.nodes)
                steps.append(.haRule(rule: rule.name, before: rule.nodes, after: after.isEmpty ? nil : after))
            }
        }
        for group in s.haGroups.sorted(by: { $0.name < $1.name }) where HANodeListText.mentions(group.nodes, n) {
            let after = HANodeListText.removing(n, from: group.nodes)
            if after.isEmpty && !group.resources.isEmpty {
                blockers.append("HA group '\(group.name)' names only \(n) and \(group.resources.joined(separator: ", ")) use it: give them another group ('ha-manager set SID --group GROUP'), then run again.")
            }
            steps.append(.haGroup(group: group.name, before: group.nodes, after: after.isEmpty ? nil : after))
        }
        if s.isMember { steps.append(.delnode) }
        steps += [.nodeDirectory, .authorizedKeys, .knownHosts]
        self.steps = steps
        self.blockers = blockers
        self.notes = notes
    }

    public var canProceed: Bool { blockers.isEmpty }
}
