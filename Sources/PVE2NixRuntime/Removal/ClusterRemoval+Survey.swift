import PVE2NixCore

/// The reads a removal starts with (and repeats on every run): all GETs, each retried while the
/// failure is transient.
extension ClusterRemoval {
    public func survey() async throws -> ClusterSurvey {
        let tasks = ProxmoxTasks(api: api, clock: clock, pollInterval: limits.pollInterval)
        let status = try await tasks.read(.clusterStatus())
        var quorate = false, online: Set<NodeName> = [], serving: NodeName?, addresses: [NodeName: String] = [:]
        for entry in status.arrayValue ?? [] {
            if entry["type"]?.stringValue == "cluster" { quorate = entry["quorate"]?.boolValue ?? false }
            guard entry["type"]?.stringValue == "node", let text = entry["name"]?.stringValue else { continue }
            let name = NodeName(text)
            if entry["online"]?.boolValue == true { online.insert(name) }
            if entry["local"]?.boolValue == true { serving = name }
            if let ip = entry["ip"]?.stringValue, !ip.isEmpty { addresses[name] = ip }
        }
        let members = (try await tasks.read(.clusterNodes()).arrayValue ?? []).compactMap { m -> ClusterSurvey.Member? in
            guard let name = (m["node"] ?? m["name"])?.stringValue else { return nil }
            let n = NodeName(name)
            return ClusterSurvey.Member(name: n, votes: m["quorum_votes"]?.intValue ?? 1, address: m["ring0_addr"]?.stringValue ?? addresses[n])
        }
        let view = try await tasks.cluster()
        let guests = view.guests.filter { $0.value.node == node }.map(\.key).sorted()
        let qdevice = try await tasks.read(.qdeviceStatus()).objectMembers?.reduce(into: [String: String]()) { out, m in
            out[m.key] = m.value.stringValue ?? m.value.description
        } ?? [:]
        let replication = (try await tasks.read(.replicationJobs()).arrayValue ?? []).compactMap { j -> ClusterSurvey.ReplicationJob? in
            guard let id = j["id"]?.stringValue, let target = j["target"]?.stringValue else { return nil }
            let guest = VMID(j["guest"]?.intValue ?? Int(id.split(separator: "-").first ?? "") ?? 0)
            // Where the guest is now decides the source: a migration turns a job around.
            let source = view.guests[guest]?.node ?? j["source"]?.stringValue.map { NodeName($0) }
            let mark = j["remove_job"]?.stringValue
            return ClusterSurvey.ReplicationJob(id: id, guest: guest, source: source, target: NodeName(target), removeJob: mark?.isEmpty == true ? nil : mark)
        }
        var survey = ClusterSurvey(node: node, members: members, online: online, quorate: quorate, servingNode: serving, guestsOnNode: guests,
                                   replication: replication, qdevice: qdevice)
        do {
            let rules = try await tasks.read(.haRules())
            survey.haRules = (rules.arrayValue ?? []).compactMap { r -> ClusterSurvey.HANodeList? in
                guard r["type"]?.stringValue == "node-affinity", let name = r["rule"]?.stringValue, let nodes = r["nodes"]?.stringValue else { return nil }
                return ClusterSurvey.HANodeList(name: name, nodes: nodes, resources: HANodeListText.names(r["resources"]?.stringValue ?? ""))
            }
        } catch let error as ProxmoxAPIError where [400, 404, 501].contains(error.status) {
            // Proxmox VE 8 and older: HA groups instead of rules.
            survey.haRules = nil
            let resources = try await tasks.read(.haResources()).arrayValue ?? []
            survey.haGroups = (try await tasks.read(.haGroups()).arrayValue ?? []).compactMap { g -> ClusterSurvey.HANodeList? in
                guard let name = g["group"]?.stringValue, let nodes = g["nodes"]?.stringValue else { return nil }
                let users = resources.filter { $0["group"]?.stringValue == name }.compactMap { $0["sid"]?.stringValue }
                return ClusterSurvey.HANodeList(name: name, nodes: nodes, resources: users.sorted())
            }
        }
        return survey
    }

    /// The peer to act from over SSH: the one asked for if it is an online member, else the first
    /// online one (never the node itself).
    func choosePeer(_ survey: ClusterSurvey) throws -> NodeName {
        let candidates = survey.remaining.map(\.name).filter { survey.online.contains($0) }.sorted()
        if let preferredPeer {
            guard candidates.contains(preferredPeer) else { throw ClusterRemovalError.noPeer(node, online: candidates, preferred: preferredPeer) }
            return preferredPeer
        }
        guard let first = candidates.first else { throw ClusterRemovalError.noPeer(node, online: candidates, preferred: nil) }
        return first
    }
}
