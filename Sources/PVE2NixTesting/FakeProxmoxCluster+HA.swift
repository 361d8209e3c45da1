import PVE2NixCore
import PVE2NixRuntime

/// The HA manager. An HA guest's migrate request only queues a command; the manager's rounds (every
/// 10 s: every 10 requests of the fake's clock, or 10 s times the time scale) carry commands out and keep each guest where its placement
/// says: a node-affinity rule (PVE 9: `nodes` with priorities, `strict`) or group (PVE 8:
/// `restricted`), and failback (PVE 9: the resource's `failback`, default on; PVE 8: the group's
/// `nofailback`). With failback on, a guest that is not on its highest-priority online node is
/// moved back there: a drain that moved it away without changing the rule sees it return.
extension FakeProxmoxCluster {
    struct HAResourceState {
        var sid: String
        var kind: GuestKind
        /// The requested state: started, stopped, disabled, ignored.
        var state = "started"
        var failback = true
        var group: String?
        var maxRestart = 1
        var maxRelocate = 1
        var comment: String?
        /// The manager's state: started, stopped, migrate, relocate.
        var crmState = "started"
        /// A queued `migrate` command's target.
        var command: NodeName?
        var target: NodeName?
        /// The LRM task carrying out a move, start or stop.
        var lrmTask: String?
    }

    struct HARuleState {
        var id: String
        var type = "node-affinity"
        var resources: [String] = []
        var nodes: [NodeName: Int] = [:]
        var strict = false
        var disable = false
        var comment: String?
        var affinity: String?
        var order: Int
    }

    struct HAGroupState {
        var id: String
        var nodes: [NodeName: Int] = [:]
        var restricted = false
        var nofailback = false
        var comment: String?
    }

    struct HAState {
        var major = 9
        var resources: [VMID: HAResourceState] = [:]
        var rules: [String: HARuleState] = [:]
        var groups: [String: HAGroupState] = [:]
        var roundCountdown = 0
        var lastRound: ContinuousClock.Instant?

        /// Guests the manager is moving or about to move.
        var movesInFlight: Set<VMID> { Set(resources.filter { $0.value.command != nil || $0.value.target != nil }.keys) }

        init() {}

        /// From the Site, refined by the bundle's own JSON (priorities, failback, nofailback).
        init(site: Site, bundle: (any FileTree)?, major: Int) {
            self.major = major
            func json(_ path: String) -> [JSONValue] {
                guard let text = bundle?.read(path), let v = try? JSONReader.parse(text) else { return [] }
                return (v["data"] ?? v).arrayValue ?? []
            }
            let rawResources = json("cluster/ha-resources.json"), rawRules = json("cluster/ha-rules.json"), rawGroups = json("cluster/ha-groups.json")
            for r in site.haResources {
                let sid = "\(r.kind == .lxc ? "ct" : "vm"):\(r.vmid)"
                var state = HAResourceState(sid: sid, kind: r.kind, state: r.state == "enabled" ? "started" : r.state, group: r.group)
                if let raw = rawResources.first(where: { $0["sid"]?.stringValue == sid }) {
                    state.failback = raw["failback"]?.boolValue ?? true
                    state.maxRestart = raw["max_restart"]?.intValue ?? 1
                    state.maxRelocate = raw["max_relocate"]?.intValue ?? 1
                    state.comment = raw["comment"]?.stringValue
                }
                state.crmState = state.state == "started" ? "started" : "stopped"
                resources[r.vmid] = state
            }
            for (i, r) in site.haRules.enumerated() {
                let raw = rawRules.first { $0["rule"]?.stringValue == r.rule }
                let nodes = raw?["nodes"]?.stringValue.map(Self.nodeList) ?? Dictionary(r.nodes.map { ($0, 0) }, uniquingKeysWith: { a, _ in a })
                let sids = r.vmids.map { id in resources[id]?.sid ?? "vm:\(id)" }
                rules[r.rule] = HARuleState(id: r.rule, resources: sids, nodes: nodes, strict: r.strict, comment: raw?["comment"]?.stringValue,
                                            order: raw?["order"]?.intValue ?? i + 1)
            }
            for g in site.haGroups {
                let raw = rawGroups.first { $0["group"]?.stringValue == g.group }
                let nodes = raw?["nodes"]?.stringValue.map(Self.nodeList) ?? Dictionary(g.nodes.map { ($0, 0) }, uniquingKeysWith: { a, _ in a })
                groups[g.group] = HAGroupState(id: g.group, nodes: nodes, restricted: g.restricted, nofailback: raw?["nofailback"]?.boolValue ?? false,
                                               comment: raw?["comment"]?.stringValue)
            }
            if major >= 9 { migrateGroupsToRules() }
        }

        /// PVE 9 turns every HA group into a node-affinity rule, and `nofailback` into the resources' `failback`.
        mutating func migrateGroupsToRules() {
            for (name, g) in groups.sorted(by: { $0.key < $1.key }) {
                let members = resources.filter { $0.value.group == name }
                if !members.isEmpty {
                    rules["ha-group-\(name)"] = HARuleState(id: "ha-group-\(name)", resources: members.values.map(\.sid).sorted(), nodes: g.nodes,
                                                            strict: g.restricted, comment: g.comment, order: rules.count + 1)
                }
                for id in members.keys {
                    resources[id]?.group = nil
                    if g.nofailback { resources[id]?.failback = false }
                }
            }
            groups = [:]
        }

        /// `node1:2,node2` → priorities (0 when none is given).
        static func nodeList(_ text: String) -> [NodeName: Int] {
            var out: [NodeName: Int] = [:]
            for item in text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == ";" }) {
                let parts = item.split(separator: ":", maxSplits: 1)
                guard let name = parts.first, !name.isEmpty else { continue }
                out[NodeName(String(name))] = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            }
            return out
        }

        /// As pve-ha-manager writes it back: sorted by name, a priority only when it is not 0.
        static func nodeListText(_ nodes: [NodeName: Int]) -> String {
            nodes.sorted { $0.key < $1.key }.map { $0.value == 0 ? $0.key.rawValue : "\($0.key):\($0.value)" }.joined(separator: ",")
        }
    }

    /// A round of the manager when one is due.
    func haTick() {
        if let scale = timeScale {
            let instant = clock.now
            if let last = ha.lastRound, instant - last < .seconds(10 * scale) { return }
            ha.lastRound = instant
        } else {
            // The CRM works every 10 s; the fake's clock advances a second per request.
            guard ha.roundCountdown <= 0 else { ha.roundCountdown -= 1; return }
            ha.roundCountdown = 9
        }
        haRound()
    }

    func haRound() {
        guard quorate else { return }
        for (vmid, r) in ha.resources.sorted(by: { $0.key < $1.key }) {
            guard let guest = guests[vmid], r.lrmTask == nil, r.state != "ignored", online[guest.node] == true else { continue }
            if let target = r.command {
                ha.resources[vmid]?.command = nil
                // The CRM ignores a command to an offline node or to where the guest already is.
                if online[target] == true && target != guest.node { haMove(vmid, to: target) }
                continue
            }
            switch r.state {
            case "started":
                if guest.status != "running" && guest.lock == nil {
                    haLRM(vmid, guest.kind == .qemu ? "qmstart" : "vzstart", effect: .setStatus("running"), seconds: 3)
                } else if guest.lock == nil, let best = haPlacement(vmid, current: guest.node), best != guest.node {
                    haMove(vmid, to: best)
                }
            case "stopped", "disabled":
                if guest.status == "running" && guest.lock == nil {
                    haLRM(vmid, guest.kind == .qemu ? "qmshutdown" : "vzshutdown", effect: .setStatus("stopped"), seconds: 10)
                }
            default:
                break
            }
        }
    }

    /// The LRM on the guest's node migrates it (VMs live when running; CTs by restart), as root@pam.
    func haMove(_ vmid: VMID, to target: NodeName) {
        guard let guest = guests[vmid] else { return }
        ha.resources[vmid]?.crmState = guest.kind == .qemu ? "migrate" : "relocate"
        ha.resources[vmid]?.target = target
        let upid = startMigration(vmid, from: guest.node, to: target, type: guest.kind == .qemu ? "qmigrate" : "vzmigrate",
                                  live: guest.kind == .qemu && guest.status == "running", withLocalDisks: false, mappedStorage: false, user: "root@pam")
        ha.resources[vmid]?.lrmTask = upid.stringValue
    }

    func haLRM(_ vmid: VMID, _ type: String, effect: Effect, seconds: Double) {
        guard let node = guests[vmid]?.node else { return }
        let upid = startTask(type, node: node, vmid: vmid, effect: effect, seconds: seconds, user: "root@pam")
        ha.resources[vmid]?.lrmTask = upid.stringValue
    }

    /// A task the manager started has ended: the resource settles where the guest now is.
    func haTaskEnded(_ task: PendingTask, success: Bool) {
        guard let entry = ha.resources.first(where: { $0.value.lrmTask == task.upid }) else { return }
        ha.resources[entry.key]?.lrmTask = nil
        ha.resources[entry.key]?.target = nil
        ha.resources[entry.key]?.crmState = entry.value.state == "started" ? "started" : "stopped"
    }

    /// pve-ha-manager's `select_service_node` with the basic scheduler: allowed and preferred
    /// (highest-priority) online nodes; stay put unless failback wants a preferred node.
    func haPlacement(_ vmid: VMID, current: NodeName) -> NodeName? {
        guard let r = ha.resources[vmid] else { return nil }
        let up = Set(online.filter(\.value).keys)
        var priorities: [NodeName: Int]?, strict = false, failback = r.failback
        if ha.major >= 9 {
            if let rule = ha.rules.values.sorted(by: { ($0.order, $0.id) < ($1.order, $1.id) })
                .first(where: { $0.type == "node-affinity" && !$0.disable && $0.resources.contains(r.sid) }) {
                priorities = rule.nodes
                strict = rule.strict
            }
        } else if let group = r.group.flatMap({ ha.groups[$0] }) {
            priorities = group.nodes
            strict = group.restricted
            failback = !group.nofailback
        }
        var nodes = priorities ?? Dictionary(up.map { ($0, 0) }, uniquingKeysWith: { a, _ in a })
        if !strict { for n in up where nodes[n] == nil { nodes[n] = -1 } }
        let allowed = nodes.filter { up.contains($0.key) }
        guard let top = allowed.values.max() else { return nil }
        let preferred = Set(allowed.filter { $0.value == top }.keys)
        if !failback && allowed[current] != nil { return current }
        if preferred.contains(current) { return current }
        let load = Dictionary(grouping: ha.resources.keys.compactMap { guests[$0]?.node }, by: { $0 }).mapValues(\.count)
        return preferred.sorted { (load[$0] ?? 0, $0.rawValue) < (load[$1] ?? 0, $1.rawValue) }.first
    }

    func removeHAResource(_ vmid: VMID) {
        guard let sid = ha.resources.removeValue(forKey: vmid)?.sid else { return }
        for (id, rule) in ha.rules where rule.resources.contains(sid) {
            let rest = rule.resources.filter { $0 != sid }
            if rest.isEmpty { ha.rules[id] = nil } else { ha.rules[id]?.resources = rest }
        }
        guests[vmid]?.haManaged = false
    }
}
