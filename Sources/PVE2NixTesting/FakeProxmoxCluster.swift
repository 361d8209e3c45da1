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

    /// What a task does to the cluster when it ends well.
    enum Effect {
        case migrate(to: NodeName)
        case haQueued
        case setStatus(String)
        case backup(storage: String, wasRunning: Bool, notes: String?)
        case restore(start: Bool)
        case destroy
    }

    struct PendingTask {
        var node: NodeName
        var pollsLeft: Int
        var exitStatus: String
        var vmid: VMID
        var effect: Effect
        var neverEnds: Bool
    }

    /// A backup archive on a storage: what `content` lists and `extractconfig` reads.
    public struct Archive: Sendable {
        public var volid: String
        public var vmid: VMID
        public var kind: GuestKind
        public var ctime: Int
        public var size: Int
        public var notes: String?
        public var config: String
    }

    public internal(set) var guests: [VMID: Guest] = [:]
    public internal(set) var online: [NodeName: Bool] = [:]
    public var quorate = true
    /// Every migration request accepted, by guest: a drain must never start one twice.
    public internal(set) var migrationRequests: [VMID: Int] = [:]
    var tasks: [String: PendingTask] = [:]
    var haMoves: [VMID: (target: NodeName, pollsLeft: Int)] = [:]
    var taskCounter = 0x1000
    /// The cluster's clock (seconds since the epoch): a second passes with every request.
    public internal(set) var now = 1_795_766_400
    public internal(set) var archives: [String: [Archive]] = [:]
    /// Configs of guests created here (restores), by VMID.
    var createdConfigs: [VMID: String] = [:]
    /// Moves in flight at once, at most, over the cluster's life: a drain's concurrency limit shows here.
    public internal(set) var mostMovesAtOnce = 0
    /// Every request that changes something, in order, as "METHOD path".
    public internal(set) var writes: [String] = []

    // Faults.
    public var failingMigrations: [VMID: String] = [:]
    public var neverEndingMigrations: Set<VMID> = []
    public var transientFailures = 0
    public var taskPolls = 2
    public var failingTasks: [String: String] = [:]
    /// Answer like a Proxmox VE older than protected backups and notes templates.
    public var legacyVzdump = false
    public var slowAnswers = 0
    public var slowWritesOnly = false
    public var answerDelay: Duration = .seconds(0)

    let seed: Site

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
    /// Make the next task of this type (vzdump, vzrestore, qmrestore, vzshutdown, vzdestroy, …) for a guest (nil: any) fail.
    public func failTask(_ type: String, of vmid: VMID?, with message: String) { failingTasks["\(type):\(vmid.map(\.description) ?? "*")"] = message }
    /// Make the next task of this type for a guest (nil: any) succeed with warnings.
    public func warnTask(_ type: String, of vmid: VMID?, count: Int = 1) { failingTasks["\(type):\(vmid.map(\.description) ?? "*")"] = "WARNINGS: \(count)" }
    /// Answer the next `count` requests only after `delay`.
    public func slowDown(_ count: Int, by delay: Duration, writesOnly: Bool = false) { slowAnswers = count; answerDelay = delay; slowWritesOnly = writesOnly }
    /// Someone else creates a guest (e.g. takes a free VMID).
    public func create(_ vmid: VMID, kind: GuestKind, name: String, on node: NodeName) {
        guests[vmid] = Guest(kind: kind, name: name, node: node, status: "stopped", lock: nil, haManaged: false, template: false)
    }
    public func setLegacyVzdump(_ value: Bool) { legacyVzdump = value }
    /// How many requests (to anything) a task lasts.
    public func setTaskPolls(_ n: Int) { taskPolls = n }
    /// Someone moves a guest behind the drain's back.
    public func relocate(_ vmid: VMID, to node: NodeName) { guests[vmid]?.node = node }
    /// Someone starts a guest by hand.
    public func setStatus(_ vmid: VMID, _ status: String) { guests[vmid]?.status = status }

    public func guests(on node: NodeName) -> [VMID] { guests.filter { $0.value.node == node }.map(\.key).sorted() }

    public func send(_ request: ProxmoxRequest) async throws -> JSONValue {
        let where_ = "\(request)"
        if slowAnswers > 0 && (!slowWritesOnly || request.method != .get) {
            // The answer is late, but what the request does still happens.
            slowAnswers -= 1
            try await Task.sleep(for: answerDelay)
        }
        // Time passes with every request: tasks run on their own, as on a real cluster.
        now += 1
        tick()
        if request.method != .get { writes.append(where_) }
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
        case (.post, "/nodes/{node}/qemu/{vmid}/status/shutdown"), (.post, "/nodes/{node}/lxc/{vmid}/status/shutdown"):
            let (vmid, node, guest) = try guestOnNode(request)
            if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "VM is locked (\(lock))", request: where_) }
            return startTask(guest.kind == .qemu ? "qmshutdown" : "vzshutdown", node: node, vmid: vmid, effect: .setStatus("stopped"))
        case (.post, "/nodes/{node}/qemu/{vmid}/status/start"), (.post, "/nodes/{node}/lxc/{vmid}/status/start"):
            let (vmid, node, guest) = try guestOnNode(request)
            if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "VM is locked (\(lock))", request: where_) }
            return startTask(guest.kind == .qemu ? "qmstart" : "vzstart", node: node, vmid: vmid, effect: .setStatus("running"))
        case (.post, "/nodes/{node}/vzdump"):
            return try vzdump(request)
        case (.get, "/nodes/{node}/storage/{storage}/content"):
            guard case .string(let storage)? = request.pathParameters["storage"] else { throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", request: where_) }
            let vmid = Self.int(request.parameters["vmid"])
            return .array((archives[storage] ?? []).filter { vmid == nil || $0.vmid.rawValue == vmid }.map { a in
                Self.object([("volid", .string(a.volid, line: 0)), ("format", .string(a.kind == .qemu ? "vma.zst" : "tar.zst", line: 0)), ("content", .string("backup", line: 0)),
                              ("size", .number(Double(a.size), line: 0)), ("ctime", .number(Double(a.ctime), line: 0)), ("vmid", .number(Double(a.vmid.rawValue), line: 0)),
                              ("subtype", .string(a.kind.rawValue, line: 0)), ("protected", .number(1, line: 0))] + (a.notes.map { [("notes", JSONValue.string($0, line: 0))] } ?? []))
            }, line: 0)
        case (.get, "/nodes/{node}/vzdump/extractconfig"):
            guard case .string(let volid)? = request.parameters["volume"], let a = archives.values.joined().first(where: { $0.volid == volid }) else {
                throw ProxmoxAPIError(status: 500, reason: "unable to parse volume ID", request: where_)
            }
            return .string(a.config, line: 0)
        case (.get, "/cluster/nextid"):
            var id = 100
            while guests[VMID(id)] != nil { id += 1 }
            // The API hands the id back as a string.
            return .string(String(id), line: 0)
        case (.post, "/nodes/{node}/qemu"), (.post, "/nodes/{node}/lxc"):
            return try restore(request)
        case (.delete, "/nodes/{node}/qemu/{vmid}"), (.delete, "/nodes/{node}/lxc/{vmid}"):
            let (vmid, node, guest) = try guestOnNode(request)
            if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "VM is locked (\(lock))", request: where_) }
            guard guest.status == "stopped" else {
                throw ProxmoxAPIError(status: 500, reason: guest.kind == .qemu ? "VM \(vmid) is running - destroy failed" : "CT \(vmid) is running - destroy failed", request: where_)
            }
            guests[vmid]?.lock = "destroyed"
            return startTask(guest.kind == .qemu ? "qmdestroy" : "vzdestroy", node: node, vmid: vmid, effect: .destroy)
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
    func configFile(_ request: ProxmoxRequest, _ where_: String) throws -> GuestConfigFile {
        guard case .integer(let id)? = request.pathParameters["vmid"], let guest = guests[VMID(id)] else {
            throw ProxmoxAPIError(status: 500, reason: "Configuration file does not exist", request: where_)
        }
        let text = createdConfigs[VMID(id)] ?? seed.nodes.compactMap { $0.guestConfigTexts[VMID(id)] }.first ?? {
            let r = seed.resources.first { $0.vmid == VMID(id) }
            let name = guest.kind == .qemu ? "name" : "hostname"
            let disk = guest.kind == .qemu ? "scsi0: local-lvm:vm-\(id)-disk-0,size=32G" : "rootfs: local-lvm:vm-\(id)-disk-0,size=8G"
            return "\(name): \(guest.name)\nmemory: \((r?.maxMemoryBytes ?? 536_870_912) >> 20)\ncores: \(max(1, Int(r?.maxCPU ?? 1)))\n\(disk)\n"
        }()
        return GuestConfigParser.parse(text, kind: guest.kind, vmid: VMID(id), file: "")
    }

}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
