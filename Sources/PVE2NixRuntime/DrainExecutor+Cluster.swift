import PVE2NixCore

/// What the drain reads of the cluster before and after every action.
extension DrainExecutor {
    struct ClusterView {
        struct Guest { var node: NodeName; var name: String; var status: String; var lock: String? }
        var quorate: Bool
        var online: Set<NodeName>
        var guests: [VMID: Guest]
    }

    func readCluster() async throws -> ClusterView {
        let status = try await read(.clusterStatus())
        let resources = try await read(.clusterResources())
        var view = ClusterView(quorate: false, online: [], guests: [:])
        for entry in status.arrayValue ?? [] {
            if entry["type"]?.stringValue == "cluster" { view.quorate = entry["quorate"]?.boolValue ?? false }
            if entry["type"]?.stringValue == "node", entry["online"]?.boolValue == true, let n = entry["name"]?.stringValue { view.online.insert(NodeName(n)) }
        }
        for entry in resources.arrayValue ?? [] {
            guard let id = entry["vmid"]?.intValue, let node = entry["node"]?.stringValue else { continue }
            let lock = entry["lock"]?.stringValue
            view.guests[VMID(id)] = .init(node: NodeName(node), name: entry["name"]?.stringValue ?? "", status: entry["status"]?.stringValue ?? "unknown",
                                          lock: lock?.isEmpty == true ? nil : lock)
        }
        return view
    }

    /// Reads are idempotent: transient failures (5xx, no answer in time) are retried a bounded number of times.
    func read(_ request: ProxmoxRequest) async throws -> JSONValue {
        var attempt = 0
        while true {
            do {
                return try await api.send(request)
            } catch let error as ProxmoxAPIError where error.isTransient && attempt < limits.readRetries {
                attempt += 1
                try await clock.sleep(for: limits.pollInterval * attempt)
            }
        }
    }
}
