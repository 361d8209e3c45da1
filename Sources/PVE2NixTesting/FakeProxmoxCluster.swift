import PVE2NixCore
import PVE2NixRuntime

/// An in-memory Proxmox VE cluster behind the same `ProxmoxAPI` the live client implements:
/// migrations are tasks with UPIDs that take a few polls, guests are locked while they move,
/// requests fail without quorum or to an offline node, HA-managed guests move only after their
/// task has ended, and faults can be injected.
public actor FakeProxmoxCluster: ProxmoxAPI {
    public struct Guest: Sendable {
        public var kind: GuestKind
        public var name: String
        public var node: NodeName
        public var status: String
        public var lock: String?
        public var haManaged: Bool
        public var template: Bool
    }

    struct PendingTask {
        var node: NodeName
        var pollsLeft: Int
        var exitStatus: String
        var vmid: VMID
        var target: NodeName
        var neverEnds: Bool
    }

    public private(set) var guests: [VMID: Guest] = [:]
    public private(set) var online: [NodeName: Bool] = [:]
    public var quorate = true
    /// Every migration request accepted, by guest: a drain must never start one twice.
    public private(set) var migrationRequests: [VMID: Int] = [:]
    private var tasks: [String: PendingTask] = [:]
    private var haMoves: [VMID: (target: NodeName, pollsLeft: Int)] = [:]
    private var taskCounter = 0x1000

    // Faults.
    public var failingMigrations: [VMID: String] = [:]
    public var neverEndingMigrations: Set<VMID> = []
    public var transientFailures = 0
    public var taskPolls = 2

    private let seed: Site

    public init(site: Site) {
        seed = site
        for member in site.memberNames { online[member] = site.isOnline(member) }
        quorate = site.cluster?.quorate ?? true
        for r in site.resources {
            guests[r.vmid] = Guest(kind: r.kind, name: r.name, node: r.node, status: r.status, lock: r.lock,
                                   haManaged: site.haResources.contains { $0.vmid == r.vmid }, template: r.template)
        }
    }

    public func setOnline(_ node: NodeName, _ value: Bool) { online[node] = value }
    public func setQuorate(_ value: Bool) { quorate = value }
    public func failMigration(_ vmid: VMID, with message: String) { failingMigrations[vmid] = message }
    public func neverFinish(_ vmid: VMID) { neverEndingMigrations.insert(vmid) }
    public func failNextReads(_ count: Int) { transientFailures = count }

    public func guests(on node: NodeName) -> [VMID] { guests.filter { $0.value.node == node }.map(\.key).sorted() }

    public func send(_ request: ProxmoxRequest) async throws -> JSONValue {
        let where_ = "\(request)"
        // Time passes with every request: tasks run on their own, as on a real cluster.
        tick()
        if request.method == .get, transientFailures > 0 {
            transientFailures -= 1
            throw ProxmoxAPIError(status: 503, reason: "Service Unavailable", request: where_)
        }
        switch (request.method, request.template) {
        case (.get, "/cluster/status"):
            let name = seed.cluster?.name ?? "cluster"
            var items: [JSONValue] = [Self.object([("id", .string("cluster", line: 0)), ("name", .string(name, line: 0)), ("type", .string("cluster", line: 0)),
                                                   ("quorate", .number(quorate ? 1 : 0, line: 0)), ("nodes", .number(Double(online.count), line: 0))])]
            for (node, up) in online.sorted(by: { $0.key < $1.key }) {
                let ip = seed.cluster?.members.first { $0.name == node }?.ip ?? ""
                items.append(Self.object([("id", .string("node/\(node)", line: 0)), ("type", .string("node", line: 0)), ("name", .string(node.rawValue, line: 0)),
                                          ("online", .number(up ? 1 : 0, line: 0)), ("ip", .string(ip, line: 0))]))
            }
            return .array(items, line: 0)
        case (.get, "/cluster/resources"):
            advanceHA()
            return .array(guests.sorted { $0.key < $1.key }.map { id, g in
                var members: [(key: String, value: JSONValue)] = [
                    ("id", .string("\(g.kind.rawValue)/\(id)", line: 0)), ("vmid", .number(Double(id.rawValue), line: 0)), ("type", .string(g.kind.rawValue, line: 0)), ("name", .string(g.name, line: 0)),
                    ("node", .string(g.node.rawValue, line: 0)), ("status", .string(g.status, line: 0)), ("template", .number(g.template ? 1 : 0, line: 0)),
                ]
                if let lock = g.lock { members.append(("lock", .string(lock, line: 0))) }
                return .object(members, line: 0)
            }, line: 0)
        case (.get, "/nodes/{node}/status"):
            guard case .string(let n)? = request.pathParameters["node"], online[NodeName(n)] == true,
                  let text = seed.node(NodeName(n))?.statusText, let json = try? JSONReader.parse(text) else {
                throw ProxmoxAPIError(status: 595, reason: "No route to host", request: where_)
            }
            // The captured answer, as the node gave it.
            return json["data"] ?? json
        case (.get, "/nodes/{node}/qemu/{vmid}/config"), (.get, "/nodes/{node}/lxc/{vmid}/config"):
            let file = try configFile(request, where_)
            var section = file.current
            if case .string(let name)? = request.parameters["snapshot"] {
                guard let snap = file.snapshots.first(where: { $0.name == name }) else { throw ProxmoxAPIError(status: 500, reason: "snapshot '\(name)' does not exist", request: where_) }
                section = snap
            }
            var members: [(key: String, value: JSONValue)] = section.entries.map { ($0.key, .string($0.value, line: 0)) }
            if !file.description.isEmpty && section.name.isEmpty { members.append(("description", .string(file.description, line: 0))) }
            members.append(("digest", .string("0123456789abcdef0123456789abcdef01234567", line: 0)))
            return .object(members, line: 0)
        case (.get, "/nodes/{node}/qemu/{vmid}/pending"), (.get, "/nodes/{node}/lxc/{vmid}/pending"):
            let file = try configFile(request, where_)
            var items: [JSONValue] = file.current.entries.map { e in
                var m: [(String, JSONValue)] = [("key", .string(e.key, line: 0)), ("value", .string(e.value, line: 0))]
                if let p = file.pending?[e.key] { m.append(("pending", .string(p, line: 0))) }
                return Self.object(m)
            }
            for e in file.pending?.entries ?? [] where file.current[e.key] == nil {
                items.append(Self.object([("key", .string(e.key, line: 0)), ("pending", .string(e.value, line: 0))]))
            }
            return .array(items, line: 0)
        case (.get, "/nodes/{node}/qemu/{vmid}/snapshot"), (.get, "/nodes/{node}/lxc/{vmid}/snapshot"):
            let file = try configFile(request, where_)
            var items = file.snapshots.map { s in Self.object([("name", .string(s.name, line: 0)), ("description", .string("", line: 0)), ("snaptime", .string(s["snaptime"] ?? "0", line: 0))]) }
            items.append(Self.object([("name", .string("current", line: 0)), ("description", .string("You are here!", line: 0))]))
            return .array(items, line: 0)
        case (.get, "/storage"):
            return .array(seed.storages.map { s in
                Self.object([("storage", .string(s.id, line: 0)), ("type", .string(s.type, line: 0))]
                            + s.properties.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value, line: 0)) })
            }, line: 0)
        case (.get, "/cluster/config/nodes"):
            return .array((seed.corosync?.nodes ?? []).map { n in
                Self.object([("node", .string(n.name.rawValue, line: 0)), ("name", .string(n.name.rawValue, line: 0)), ("nodeid", .number(Double(n.nodeID ?? 0), line: 0)),
                             ("quorum_votes", .number(Double(n.quorumVotes), line: 0)), ("ring0_addr", .string(n.ringAddresses.first ?? "", line: 0))])
            }, line: 0)
        case (.get, "/cluster/ha/resources"):
            return .array(seed.haResources.map { r in
                Self.object([("sid", .string("\(r.kind == .lxc ? "ct" : "vm"):\(r.vmid)", line: 0)), ("state", .string(r.state, line: 0)),
                             ("type", .string(r.kind == .lxc ? "ct" : "vm", line: 0))] + (r.group.map { [("group", JSONValue.string($0, line: 0))] } ?? []))
            }, line: 0)
        case (.get, "/cluster/ha/rules"):
            return .array(seed.haRules.map { r in
                Self.object([("rule", .string(r.rule, line: 0)), ("type", .string("node-affinity", line: 0)),
                             ("resources", .string(r.vmids.map { "ct:\($0)" }.joined(separator: ","), line: 0)),
                             ("nodes", .string(r.nodes.map(\.rawValue).joined(separator: ","), line: 0)), ("strict", .number(r.strict ? 1 : 0, line: 0))])
            }, line: 0)
        case (.get, "/cluster/ha/groups"):
            return .array(seed.haGroups.map { g in
                Self.object([("group", .string(g.group, line: 0)), ("nodes", .string(g.nodes.map(\.rawValue).joined(separator: ","), line: 0)),
                             ("restricted", .number(g.restricted ? 1 : 0, line: 0))])
            }, line: 0)
        case (.post, "/nodes/{node}/qemu/{vmid}/migrate"), (.post, "/nodes/{node}/lxc/{vmid}/migrate"):
            return try migrate(request)
        case (.get, "/nodes/{node}/tasks/{upid}/status"):
            guard case .string(let upid)? = request.pathParameters["upid"], let task = tasks[upid] else {
                throw ProxmoxAPIError(status: 500, reason: "no such task", request: where_)
            }
            // The UPID carries the task's identity: UPID:node:pid:pstart:starttime:type:id:user:
            let f = upid.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            var members: [(String, JSONValue)] = [
                ("upid", .string(upid, line: 0)), ("node", .string(f[1], line: 0)), ("pid", .number(Double(Int(f[2], radix: 16) ?? 0), line: 0)),
                ("pstart", .number(Double(Int(f[3], radix: 16) ?? 0), line: 0)), ("starttime", .number(Double(Int(f[4], radix: 16) ?? 0), line: 0)),
                ("type", .string(f[5], line: 0)), ("id", .string(f[6], line: 0)), ("user", .string(f[7], line: 0)),
            ]
            guard task.pollsLeft <= 0, !task.neverEnds else { return Self.object(members + [("status", .string("running", line: 0))]) }
            members += [("status", .string("stopped", line: 0)), ("exitstatus", .string(task.exitStatus, line: 0))]
            return Self.object(members)
        default:
            throw ProxmoxAPIError(status: 501, reason: "Method '\(request.method.rawValue) \(request.template)' not implemented", request: where_)
        }
    }

    static func object(_ members: [(String, JSONValue)]) -> JSONValue { .object(members.map { (key: $0.0, value: $0.1) }, line: 0) }

    /// The seed's config of a guest, or (for guests the bundle has no config of) a minimal one.
    private func configFile(_ request: ProxmoxRequest, _ where_: String) throws -> GuestConfigFile {
        guard case .integer(let id)? = request.pathParameters["vmid"], let guest = guests[VMID(id)] else {
            throw ProxmoxAPIError(status: 500, reason: "Configuration file does not exist", request: where_)
        }
        let text = seed.nodes.compactMap { $0.guestConfigTexts[VMID(id)] }.first ?? {
            let r = seed.resources.first { $0.vmid == VMID(id) }
            let name = guest.kind == .qemu ? "name" : "hostname"
            let disk = guest.kind == .qemu ? "scsi0: local-lvm:vm-\(id)-disk-0,size=32G" : "rootfs: local-lvm:vm-\(id)-disk-0,size=8G"
            return "\(name): \(guest.name)\nmemory: \((r?.maxMemoryBytes ?? 536_870_912) >> 20)\ncores: \(max(1, Int(r?.maxCPU ?? 1)))\n\(disk)\n"
        }()
        return GuestConfigParser.parse(text, kind: guest.kind, vmid: VMID(id), file: "")
    }

    private func migrate(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        guard case .string(let nodeName)? = request.pathParameters["node"], case .integer(let id)? = request.pathParameters["vmid"],
              case .string(let targetName)? = request.parameters["target"] else {
            throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["target": "property is missing and it is not optional"], request: where_)
        }
        let vmid = VMID(id), node = NodeName(nodeName), target = NodeName(targetName)
        guard quorate else { throw ProxmoxAPIError(status: 500, reason: "cluster not ready - no quorum?", request: where_) }
        guard var guest = guests[vmid], guest.node == node else {
            throw ProxmoxAPIError(status: 500, reason: "Configuration file 'nodes/\(node)/\(vmid).conf' does not exist", request: where_)
        }
        guard online[target] == true else { throw ProxmoxAPIError(status: 500, reason: "target node '\(target)' is not online", request: where_) }
        if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "VM is locked (\(lock))", request: where_) }
        if guest.kind == .lxc, guest.status == "running", request.parameters["restart"] == nil {
            throw ProxmoxAPIError(status: 500, reason: "lxc live migration is currently not implemented (use restart mode)", request: where_)
        }
        migrationRequests[vmid, default: 0] += 1
        taskCounter += 1
        let upid = "UPID:\(node):\(String(taskCounter, radix: 16, uppercase: true).leftPadded(8)):00ABCDEF:6745A1B2:\(guest.kind == .qemu ? "qmigrate" : "vzmigrate"):\(vmid):root@pam:"
        guest.lock = "migrate"
        guests[vmid] = guest
        if guest.haManaged {
            // HA: the task only queues the request; the CRM moves the guest later.
            tasks[upid] = PendingTask(node: node, pollsLeft: 1, exitStatus: "OK", vmid: vmid, target: target, neverEnds: false)
            haMoves[vmid] = (target, 2)
        } else {
            tasks[upid] = PendingTask(node: node, pollsLeft: taskPolls, exitStatus: failingMigrations[vmid] ?? "OK", vmid: vmid, target: target,
                                      neverEnds: neverEndingMigrations.contains(vmid))
        }
        return .string(upid, line: 0)
    }

    private func tick() {
        for (upid, task) in tasks where task.pollsLeft > 0 && !task.neverEnds {
            tasks[upid]!.pollsLeft -= 1
            guard tasks[upid]!.pollsLeft == 0 else { continue }
            if task.exitStatus != "OK" {
                guests[task.vmid]?.lock = nil
            } else if haMoves[task.vmid] == nil {
                guests[task.vmid]?.node = task.target
                guests[task.vmid]?.lock = nil
            }
        }
    }

    private func advanceHA() {
        for (vmid, move) in haMoves {
            if move.pollsLeft <= 1 {
                guests[vmid]?.node = move.target
                guests[vmid]?.lock = nil
                haMoves[vmid] = nil
            } else {
                haMoves[vmid] = (move.target, move.pollsLeft - 1)
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
