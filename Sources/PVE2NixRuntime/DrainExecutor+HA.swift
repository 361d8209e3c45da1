import PVE2NixCore

/// HA must stop wanting the drained node before an HA guest leaves it: with `failback` on, the HA
/// manager otherwise moves the guest straight back to its top-priority node. pve2nix takes the node
/// out of every node-affinity rule (PVE 9) or HA group (PVE 8) of the guest, journals each change
/// with what it was (so that a rollback can put it back), and after the move watches that HA keeps
/// the guest on its new node.
extension DrainExecutor {
    /// `node[:priority]` entries without `node`, and with `target` above every other priority: HA
    /// then wants the guest where the drain puts it (and, should it move the guest itself before
    /// the drain asks, moves it there).
    public static func nodes(_ list: String, without node: NodeName, preferring target: NodeName) -> String {
        var entries: [(name: String, priority: Int)] = list.split(separator: ",").compactMap { item in
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1).map(String.init)
            guard let name = parts.first, !name.isEmpty, name != node.rawValue else { return nil }
            return (name, parts.count > 1 ? Int(parts[1]) ?? 0 : 0)
        }
        let top = min(1000, (entries.map(\.priority).max() ?? 0) + 1)
        entries.removeAll { $0.name == target.rawValue }
        entries.insert((target.rawValue, top), at: 0)
        return entries.map { $0.priority == 0 ? $0.name : "\($0.name):\($0.priority)" }.joined(separator: ",")
    }

    public static func mentions(_ list: String, _ node: NodeName) -> Bool {
        list.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).split(separator: ":").first.map(String.init) == node.rawValue }
    }

    /// Takes `move.from` out of the HA rules or group that name this guest. Journaled as step
    /// `ha`: `planned` with the rule's nodes before, `done` with before and after.
    func releaseHA(for move: DrainMove, target: NodeName) async throws {
        let sid = "\(move.kind == .lxc ? "ct" : "vm"):\(move.vmid)"
        var changes: [(change: HAChange, request: ProxmoxRequest)] = []
        let rules: JSONValue?
        do {
            rules = try await read(.haRules())
        } catch let error as ProxmoxAPIError where [400, 404, 501].contains(error.status) {
            rules = nil // Proxmox VE 8 and older: HA groups instead of rules.
        }
        if let rules {
            for rule in rules.arrayValue ?? [] where rule["type"]?.stringValue == "node-affinity" && rule["disable"]?.boolValue != true {
                let resources = (rule["resources"]?.stringValue ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard resources.contains(sid), let name = rule["rule"]?.stringValue, let nodes = rule["nodes"]?.stringValue, Self.mentions(nodes, move.from) else { continue }
                let after = Self.nodes(nodes, without: move.from, preferring: target)
                changes.append((HAChange(kind: .rule, name: name, before: nodes, after: after), .updateHARule(name, nodes: after)))
            }
        } else {
            let resources = try await read(.haResources())
            let group = (resources.arrayValue ?? []).first { $0["sid"]?.stringValue == sid }?["group"]?.stringValue
            if let group, let entry = (try await read(.haGroups())).arrayValue?.first(where: { $0["group"]?.stringValue == group }),
               let nodes = entry["nodes"]?.stringValue, Self.mentions(nodes, move.from) {
                let after = Self.nodes(nodes, without: move.from, preferring: target)
                changes.append((HAChange(kind: .group, name: group, before: nodes, after: after), .updateHAGroup(group, nodes: after)))
            }
        }
        for (change, request) in changes {
            let detail = "\(change.label): nodes '\(change.before)' → '\(change.after)'"
            try await journal.append(DrainRecord(vmid: move.vmid, phase: .planned, step: .ha, target: target, ha: change, detail: "taking \(move.from) out of \(detail)"))
            _ = try await api.send(request)
            try await journal.append(DrainRecord(vmid: move.vmid, phase: .done, step: .ha, target: target, ha: change, detail: detail))
            progress(.waiting(move.vmid, "\(change.label) no longer names \(move.from) (was '\(change.before)')"))
        }
    }

    /// After an HA guest arrived: it must stay, not be taken back by failback. Watches a few polls.
    func verifyHAKeeps(_ move: DrainMove, on target: NodeName) async throws {
        for _ in 0..<limits.haSettlePolls {
            try await clock.sleep(for: limits.pollInterval)
            guard let now = try await readCluster().guests[move.vmid] else { throw DrainError.guestMissing(move.vmid) }
            if now.node != target {
                throw DrainError.haMovedBack(move.vmid, from: target, to: now.node)
            }
        }
    }
}
