import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// `/cluster/ha/…`: resources, rules (PVE 9) and groups (PVE 8) read and written as an operator or a
/// drain would, and the manager's status. Writes need `Sys.Console` (checked from the schema).
extension FakeProxmoxCluster {
    func haRead(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let p = request.parameters
        switch request.template {
        case "/cluster/ha/resources":
            let type = p["type"]?.text
            return .array(ha.resources.sorted { $0.key < $1.key }.filter { type == nil || $0.value.sid.hasPrefix(type! + ":") }.map { haResourceJSON($0.value) }, line: 0)
        case "/cluster/ha/resources/{sid}":
            let (vmid, _) = try haResourceID(request, where_)
            return haResourceJSON(ha.resources[vmid]!)
        case "/cluster/ha/rules":
            let type = p["type"]?.text, resource = p["resource"]?.text
            return .array(ha.rules.values.sorted { ($0.order, $0.id) < ($1.order, $1.id) }
                .filter { (type == nil || $0.type == type) && (resource == nil || $0.resources.contains(resource!)) }.map(haRuleJSON), line: 0)
        case "/cluster/ha/rules/{rule}":
            guard let rule = ha.rules[request.pathParameters["rule"]?.text ?? ""] else { throw ProxmoxAPIError(status: 500, reason: "no such ha rule '\(request.pathParameters["rule"]?.text ?? "")'", request: where_) }
            return haRuleJSON(rule)
        case "/cluster/ha/groups":
            return .array(ha.groups.values.sorted { $0.id < $1.id }.map(haGroupJSON), line: 0)
        case "/cluster/ha/groups/{group}":
            guard let group = ha.groups[request.pathParameters["group"]?.text ?? ""] else { throw ProxmoxAPIError(status: 500, reason: "no such ha group '\(request.pathParameters["group"]?.text ?? "")'", request: where_) }
            return haGroupJSON(group)
        case "/cluster/ha/status/current":
            return haStatus()
        default:
            throw ProxmoxAPIError(status: 501, reason: "Method 'GET \(request.path)' not implemented", request: where_)
        }
    }

    func haWrite(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let p = request.parameters
        func text(_ k: String) -> String? { p[k]?.text }
        func deleting(_ k: String) -> Bool { (text("delete") ?? "").split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " }).contains { $0 == k } }
        try requireQuorum(where_)
        switch (request.method, request.template) {
        case (.post, "/cluster/ha/resources"):
            let sid = text("sid") ?? ""
            guard let vmid = haVMID(sid), let guest = guests[vmid] else { throw ProxmoxAPIError(status: 500, reason: "unable to find VM/CT for HA resource '\(sid)'", request: where_) }
            guard ha.resources[vmid] == nil else { throw ProxmoxAPIError(status: 500, reason: "resource ID '\(haSID(vmid))' already defined", request: where_) }
            ha.resources[vmid] = HAResourceState(sid: "\(guest.kind == .qemu ? "vm" : "ct"):\(vmid)", kind: guest.kind)
            guests[vmid]?.haManaged = true
            fallthrough
        case (.put, "/cluster/ha/resources/{sid}"):
            let vmid = request.template.hasSuffix("{sid}") ? try haResourceID(request, where_).0 : haVMID(text("sid") ?? "")!
            try checkDigest(text("digest"), haResourceJSON(ha.resources[vmid]!)["digest"]?.stringValue ?? "", where_)
            var r = ha.resources[vmid]!
            if let s = text("state") { r.state = s == "enabled" ? "started" : s }
            if let f = p["failback"] { r.failback = Self.flag(f) } else if deleting("failback") { r.failback = true }
            if let g = text("group") {
                guard ha.groups[g] != nil else { throw ProxmoxAPIError(status: 500, reason: "ha group '\(g)' does not exist", request: where_) }
                r.group = g
            } else if deleting("group") { r.group = nil }
            if let n = Self.int(p["max_restart"]) { r.maxRestart = n }
            if let n = Self.int(p["max_relocate"]) { r.maxRelocate = n }
            if let c = text("comment") { r.comment = c } else if deleting("comment") { r.comment = nil }
            ha.resources[vmid] = r
        case (.delete, "/cluster/ha/resources/{sid}"):
            removeHAResource(try haResourceID(request, where_).0)
        case (.post, "/cluster/ha/rules"), (.put, "/cluster/ha/rules/{rule}"):
            let id = request.pathParameters["rule"]?.text ?? text("rule") ?? ""
            var rule: HARuleState
            if request.method == .post {
                guard ha.rules[id] == nil else { throw ProxmoxAPIError(status: 500, reason: "HA rule '\(id)' already defined", request: where_) }
                rule = HARuleState(id: id, type: text("type") ?? "node-affinity", order: (ha.rules.values.map(\.order).max() ?? 0) + 1)
            } else {
                guard let existing = ha.rules[id] else { throw ProxmoxAPIError(status: 500, reason: "no such ha rule '\(id)'", request: where_) }
                guard text("type") == existing.type else {
                    throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["type": "rule '\(id)' is of type '\(existing.type)'"], request: where_)
                }
                try checkDigest(text("digest"), haRuleJSON(existing)["digest"]?.stringValue ?? "", where_)
                rule = existing
            }
            if let r = text("resources") { rule.resources = r.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            if let n = text("nodes") { rule.nodes = HAState.nodeList(n) }
            if let s = p["strict"] { rule.strict = Self.flag(s) } else if deleting("strict") { rule.strict = false }
            if let d = p["disable"] { rule.disable = Self.flag(d) } else if deleting("disable") { rule.disable = false }
            if let c = text("comment") { rule.comment = c } else if deleting("comment") { rule.comment = nil }
            if let a = text("affinity") { rule.affinity = a }
            try checkRule(rule, where_)
            ha.rules[id] = rule
        case (.delete, "/cluster/ha/rules/{rule}"):
            let id = request.pathParameters["rule"]?.text ?? ""
            guard ha.rules.removeValue(forKey: id) != nil else { throw ProxmoxAPIError(status: 500, reason: "no such ha rule '\(id)'", request: where_) }
        case (.post, "/cluster/ha/groups"), (.put, "/cluster/ha/groups/{group}"), (.delete, "/cluster/ha/groups/{group}"):
            guard ha.major < 9 else {
                throw ProxmoxAPIError(status: 500, reason: "HA groups have been migrated to HA node affinity rules: change /cluster/ha/rules instead", request: where_)
            }
            let id = request.pathParameters["group"]?.text ?? text("group") ?? ""
            if request.method == .delete {
                guard ha.groups.removeValue(forKey: id) != nil else { throw ProxmoxAPIError(status: 500, reason: "no such ha group '\(id)'", request: where_) }
                return .null(line: 0)
            }
            var group = ha.groups[id] ?? HAGroupState(id: id)
            if request.method == .post && ha.groups[id] != nil { throw ProxmoxAPIError(status: 500, reason: "ha group '\(id)' already defined", request: where_) }
            if request.method == .put && ha.groups[id] == nil { throw ProxmoxAPIError(status: 500, reason: "no such ha group '\(id)'", request: where_) }
            if request.method == .put { try checkDigest(text("digest"), haGroupJSON(group)["digest"]?.stringValue ?? "", where_) }
            if let n = text("nodes") { group.nodes = HAState.nodeList(n) }
            if let r = p["restricted"] { group.restricted = Self.flag(r) } else if deleting("restricted") { group.restricted = false }
            if let f = p["nofailback"] { group.nofailback = Self.flag(f) } else if deleting("nofailback") { group.nofailback = false }
            if let c = text("comment") { group.comment = c } else if deleting("comment") { group.comment = nil }
            ha.groups[id] = group
        default:
            throw ProxmoxAPIError(status: 501, reason: "Method '\(request.method.rawValue) \(request.path)' not implemented", request: where_)
        }
        return .null(line: 0)
    }

    /// pve-ha-manager's feasibility checks that matter here: a resource sits in one node-affinity rule.
    func checkRule(_ rule: HARuleState, _ where_: String) throws {
        guard rule.type == "node-affinity", !rule.disable else { return }
        if rule.nodes.isEmpty { throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["nodes": "property is missing and it is not optional"], request: where_) }
        for sid in rule.resources {
            if ha.rules.values.contains(where: { $0.id != rule.id && $0.type == "node-affinity" && !$0.disable && $0.resources.contains(sid) }) {
                throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["resources": "resource '\(sid)' is already used in another node affinity rule"], request: where_)
            }
        }
    }

    func checkDigest(_ given: String?, _ current: String, _ where_: String) throws {
        guard let given, given != current else { return }
        throw ProxmoxAPIError(status: 500, reason: "detected modified configuration - file changed by other user? Try again.", request: where_)
    }

    /// A stand-in for the SHA-1 of the section config: changes whenever the entry does.
    func haDigest(_ entry: JSONValue) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in entry.serialized.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16).leftPadded(16)
        return String((hex + hex + hex).prefix(40))
    }

    func haVMID(_ sid: String) -> VMID? {
        let id = sid.split(separator: ":").last.flatMap { Int($0) }
        return id.map(VMID.init)
    }

    func haSID(_ vmid: VMID) -> String { ha.resources[vmid]?.sid ?? "\(guests[vmid]?.kind == .lxc ? "ct" : "vm"):\(vmid)" }

    func haResourceID(_ request: ProxmoxRequest, _ where_: String) throws -> (VMID, String) {
        let sid = request.pathParameters["sid"]?.text ?? ""
        guard let vmid = haVMID(sid), ha.resources[vmid] != nil else { throw ProxmoxAPIError(status: 500, reason: "no such resource '\(sid)'", request: where_) }
        return (vmid, ha.resources[vmid]!.sid)
    }

    func haResourceJSON(_ r: HAResourceState) -> JSONValue {
        var m: [(String, JSONValue)] = [("sid", Self.str(r.sid)), ("type", Self.str(r.sid.hasPrefix("ct:") ? "ct" : "vm")), ("state", Self.str(r.state)),
                                        ("max_restart", Self.num(r.maxRestart)), ("max_relocate", Self.num(r.maxRelocate))]
        if ha.major >= 9 { m.append(("failback", Self.num(r.failback ? 1 : 0))) }
        if let g = r.group { m.append(("group", Self.str(g))) }
        if let c = r.comment { m.append(("comment", Self.str(c))) }
        return Self.object(m + [("digest", Self.str(haDigest(Self.object(m))))])
    }

    func haRuleJSON(_ r: HARuleState) -> JSONValue {
        var m: [(String, JSONValue)] = [("rule", Self.str(r.id)), ("type", Self.str(r.type)), ("resources", Self.str(r.resources.sorted().joined(separator: ","))),
                                        ("order", Self.num(r.order))]
        if r.type == "node-affinity" { m += [("nodes", Self.str(HAState.nodeListText(r.nodes))), ("strict", Self.num(r.strict ? 1 : 0))] }
        if let a = r.affinity { m.append(("affinity", Self.str(a))) }
        if r.disable { m.append(("disable", Self.num(1))) }
        if let c = r.comment { m.append(("comment", Self.str(c))) }
        return Self.object(m + [("digest", Self.str(haDigest(Self.object(m))))])
    }

    func haGroupJSON(_ g: HAGroupState) -> JSONValue {
        var m: [(String, JSONValue)] = [("group", Self.str(g.id)), ("type", Self.str("group")), ("nodes", Self.str(HAState.nodeListText(g.nodes))),
                                        ("restricted", Self.num(g.restricted ? 1 : 0)), ("nofailback", Self.num(g.nofailback ? 1 : 0))]
        if let c = g.comment { m.append(("comment", Self.str(c))) }
        return Self.object(m + [("digest", Self.str(haDigest(Self.object(m))))])
    }

    /// `GET /cluster/ha/status/current`: quorum, the master, one LRM per node, one entry per service.
    func haStatus() -> JSONValue {
        let up = online.filter(\.value).keys.sorted()
        let master = up.first?.rawValue ?? seed.memberNames.first?.rawValue ?? ""
        var items: [JSONValue] = [
            Self.object([("id", Self.str("quorum")), ("type", Self.str("quorum")), ("node", Self.str(master)),
                         ("status", Self.str(quorate ? "OK" : "No quorum on node '\(master)'!")), ("quorate", Self.num(quorate ? 1 : 0))]),
            Self.object([("id", Self.str("master")), ("type", Self.str("master")), ("node", Self.str(master)),
                         ("status", Self.str("\(master) (active, \(Self.stamp(now)))")), ("timestamp", Self.num(now))]),
        ]
        let busy = Set(ha.resources.keys.compactMap { guests[$0]?.node })
        for node in online.keys.sorted() {
            let status = online[node] == true ? (busy.contains(node) ? "active" : "idle") : "old timestamp - dead?"
            items.append(Self.object([("id", Self.str("lrm:\(node)")), ("type", Self.str("lrm")), ("node", Self.str(node.rawValue)),
                                      ("status", Self.str("\(node) (\(status), \(Self.stamp(now)))")), ("timestamp", Self.num(now))]))
        }
        for (vmid, r) in ha.resources.sorted(by: { $0.key < $1.key }) {
            let node = guests[vmid]?.node.rawValue ?? ""
            var m: [(String, JSONValue)] = [("id", Self.str("service:\(r.sid)")), ("type", Self.str("service")), ("sid", Self.str(r.sid)), ("node", Self.str(node)),
                                            ("state", Self.str(r.crmState)), ("crm_state", Self.str(r.crmState)), ("request_state", Self.str(r.state)),
                                            ("status", Self.str("\(r.sid) (\(node), \(r.crmState))")),
                                            ("max_restart", Self.num(r.maxRestart)), ("max_relocate", Self.num(r.maxRelocate))]
            if ha.major >= 9 { m.append(("failback", Self.num(r.failback ? 1 : 0))) }
            items.append(Self.object(m))
        }
        return .array(items, line: 0)
    }
}
