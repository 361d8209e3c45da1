import PVE2NixCore
import PVE2NixRuntime

/// An in-memory Proxmox VE cluster behind the same `ProxmoxAPI` the live client implements, strict
/// where Proxmox is: requests are checked against the official API schema (unknown or ill-typed
/// parameters 400, missing privileges 403, anything routed to an offline node 595), migrations
/// refuse what Proxmox refuses, tasks take time (a number of requests, or wall-clock time scaled
/// from the guest's size), vzdump holds a per-node lock, and an HA manager places HA guests by
/// their node-affinity rules or groups, failback included. Faults can be injected.
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
    var taskOrder: [String] = []
    var taskCounter = 0x1000
    /// The cluster's clock (seconds since the epoch): a second passes with every request.
    public internal(set) var now = 1_795_766_400
    public internal(set) var archives: [String: [Archive]] = [:]
    /// Current guest configs (the .conf text) that differ from the seed: restored or changed ones.
    var configs: [VMID: String] = [:]
    /// `/etc/pve/nodes/<node>/config`: the node's description and other settings.
    public internal(set) var nodeConfigs: [NodeName: [String: String]] = [:]
    /// Moves in flight at once, at most, over the cluster's life: a drain's concurrency limit shows here.
    public internal(set) var mostMovesAtOnce = 0
    /// Every request that changes something, in order, as "METHOD path".
    public internal(set) var writes: [String] = []
    var ha = HAState()
    /// Replication jobs, the corosync nodelist as delnode changes it, the QDevice, the serving node.
    var membership = MembershipState()
    /// The TLS certificate's SHA-256 fingerprint the simulator serves, for `GET /nodes`.
    var sslFingerprint: String?

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
    /// Wall-clock pace: a task lasts its work's seconds times this (nil: `taskPolls` requests).
    public internal(set) var timeScale: Double?
    /// With a time scale: migrations, backups and restores last their bytes over shared links.
    public internal(set) var linkTiming: LinkTiming?
    /// When transfers last got their share of the links.
    var transfersAdvancedAt: ContinuousClock.Instant?

    let seed: Site
    /// The bundle's own texts the simulator serves as captured: guest configs and node status.
    let captured: CapturedTexts
    /// The schema requests are checked against (nil: no checks, answers only).
    public nonisolated let schema: ProxmoxSchema?
    let clock = ContinuousClock()

    /// A cluster seeded from a capture bundle. `bundle` (the bundle's files) adds what the `Site`
    /// model leaves out: HA node priorities, `failback`, `nofailback`. `schema` defaults to the 9.1
    /// schema next to the package; its release decides HA rules (9) or HA groups (8).
    public init(site: Site, bundle: (any FileTree)? = nil, schema: ProxmoxSchema? = ProxmoxSchema.bundled()) {
        seed = site
        captured = CapturedTexts(site: site, bundle: bundle)
        self.schema = schema
        for member in site.memberNames { online[member] = site.isOnline(member) }
        quorate = site.cluster?.quorate ?? true
        ha = HAState(site: site, bundle: bundle, major: schema?.major ?? 9)
        for r in site.resources {
            guests[r.vmid] = Guest(kind: r.kind, name: r.name, node: r.node, status: r.status, lock: r.lock,
                                   haManaged: ha.resources[r.vmid] != nil, template: r.template)
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
    /// How many requests (to anything) a task lasts, when tasks are not timed by the clock.
    public func setTaskPolls(_ n: Int) { taskPolls = n }
    /// Time tasks by the wall clock: each lasts its work's seconds (from memory and disk sizes) times `scale`.
    public func setTimeScale(_ scale: Double?) { timeScale = scale }
    /// Someone moves a guest behind the drain's back.
    public func relocate(_ vmid: VMID, to node: NodeName) { guests[vmid]?.node = node }
    /// Someone starts a guest by hand.
    public func setStatus(_ vmid: VMID, _ status: String) { guests[vmid]?.status = status }
    /// Someone edits a guest's config file (the whole text).
    public func setConfig(_ vmid: VMID, _ text: String) { configs[vmid] = text }
    public func setSSLFingerprint(_ fingerprint: String) { sslFingerprint = fingerprint }

    public func guests(on node: NodeName) -> [VMID] { guests.filter { $0.value.node == node }.map(\.key).sorted() }

    /// Sends a request as `caller` (a token and its privileges), as the HTTPS simulator does.
    public func send(_ request: ProxmoxRequest, as caller: ProxmoxCaller) async throws -> JSONValue {
        try await ProxmoxCaller.$current.withValue(caller) { try await send(request) }
    }

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
        replicationTick()
        if request.method == .get, transientFailures > 0 {
            transientFailures -= 1
            throw ProxmoxAPIError(status: 503, reason: "Service Unavailable", request: where_)
        }
        try admit(request)
        if request.method != .get { writes.append(where_) }
        switch (request.method, request.template) {
        case (.get, "/version"): return version()
        case (.get, "/nodes"): return nodeList()
        case (.get, "/cluster/status"): return clusterStatus()
        case (.get, "/cluster/resources"): return clusterResources(request)
        case (.get, "/cluster/nextid"): return nextID()
        case (.get, "/cluster/config/nodes"): return corosyncNodes()
        case (.delete, "/cluster/config/nodes/{node}"): return try deleteNode(request)
        case (.get, "/cluster/config/qdevice"): return qdeviceStatus()
        case (.get, "/cluster/replication"): return replicationJobs()
        case (.get, "/cluster/replication/{id}"): return try replicationJob(request)
        case (.delete, "/cluster/replication/{id}"): return try deleteReplicationJob(request)
        case (.get, "/storage"): return storageList()
        case (.get, "/nodes/{node}/status"): return try nodeStatus(request)
        case (.get, "/nodes/{node}/config"): return nodeConfig(request)
        case (.put, "/nodes/{node}/config"): return try setNodeConfig(request)
        case (.get, "/nodes/{node}/qemu"), (.get, "/nodes/{node}/lxc"): return guestList(request)
        case (.get, "/nodes/{node}/qemu/{vmid}/status/current"), (.get, "/nodes/{node}/lxc/{vmid}/status/current"): return try guestStatus(request)
        case (.get, "/nodes/{node}/qemu/{vmid}/config"), (.get, "/nodes/{node}/lxc/{vmid}/config"): return try guestConfig(request)
        case (.put, "/nodes/{node}/qemu/{vmid}/config"), (.put, "/nodes/{node}/lxc/{vmid}/config"), (.post, "/nodes/{node}/qemu/{vmid}/config"):
            return try changeGuestConfig(request)
        case (.get, "/nodes/{node}/qemu/{vmid}/pending"), (.get, "/nodes/{node}/lxc/{vmid}/pending"): return try pendingChanges(request)
        case (.get, "/nodes/{node}/qemu/{vmid}/snapshot"), (.get, "/nodes/{node}/lxc/{vmid}/snapshot"): return try snapshotList(request)
        case (.get, "/nodes/{node}/qemu/{vmid}/migrate"): return try migratePrecondition(request)
        case (.post, "/nodes/{node}/qemu/{vmid}/migrate"), (.post, "/nodes/{node}/lxc/{vmid}/migrate"): return try migrate(request)
        case (.post, "/nodes/{node}/qemu/{vmid}/status/shutdown"), (.post, "/nodes/{node}/lxc/{vmid}/status/shutdown"): return try powerAction(request, start: false)
        case (.post, "/nodes/{node}/qemu/{vmid}/status/start"), (.post, "/nodes/{node}/lxc/{vmid}/status/start"): return try powerAction(request, start: true)
        case (.post, "/nodes/{node}/vzdump"): return try vzdump(request)
        case (.get, "/nodes/{node}/storage/{storage}/content"): return storageContent(request)
        case (.get, "/nodes/{node}/vzdump/extractconfig"): return try extractConfig(request)
        case (.post, "/nodes/{node}/qemu"), (.post, "/nodes/{node}/lxc"): return try restore(request)
        case (.delete, "/nodes/{node}/qemu/{vmid}"), (.delete, "/nodes/{node}/lxc/{vmid}"): return try destroy(request)
        case (.get, "/nodes/{node}/tasks"): return taskList(request)
        case (.get, "/nodes/{node}/tasks/{upid}/status"): return try taskStatus(request)
        case (.get, "/nodes/{node}/tasks/{upid}/log"): return try taskLog(request)
        case (.get, let t) where t.hasPrefix("/cluster/ha/"): return try haRead(request)
        case (_, let t) where t.hasPrefix("/cluster/ha/"): return try haWrite(request)
        default:
            throw ProxmoxAPIError(status: 501, reason: "Method '\(request.method.rawValue) \(request.template)' not implemented", request: where_)
        }
    }

    static func object(_ members: [(String, JSONValue)]) -> JSONValue { .object(members.map { (key: $0.0, value: $0.1) }, line: 0) }
    static func str(_ s: String) -> JSONValue { .string(s, line: 0) }
    static func num(_ n: Int) -> JSONValue { .number(Double(n), line: 0) }
    static func num(_ n: Int64) -> JSONValue { .number(Double(n), line: 0) }

    /// The config text of a guest: changed or restored here, else the seed's, else a minimal one.
    func configText(_ vmid: VMID) -> String? {
        guard let guest = guests[vmid] else { return nil }
        if let text = configs[vmid] ?? captured.guestConfigs[vmid] { return text }
        let r = seed.resources.first { $0.vmid == vmid }
        let name = guest.kind == .qemu ? "name" : "hostname"
        let disk = guest.kind == .qemu ? "scsi0: local-lvm:vm-\(vmid)-disk-0,size=32G" : "rootfs: local-lvm:vm-\(vmid)-disk-0,size=8G"
        return "\(name): \(guest.name)\nmemory: \((r?.maxMemoryBytes ?? 536_870_912) >> 20)\ncores: \(max(1, Int(r?.maxCPU ?? 1)))\n\(disk)\n"
    }

    /// The parsed config of the guest the request's path names.
    func configFile(_ request: ProxmoxRequest, _ where_: String) throws -> GuestConfigFile {
        guard let id = Self.int(request.pathParameters["vmid"]), let text = configText(VMID(id)), let guest = guests[VMID(id)] else {
            let dir = request.template.contains("/lxc/") ? "lxc" : "qemu-server"
            throw ProxmoxAPIError(status: 500, reason: "Configuration file 'nodes/\(request.pathParameters["node"]?.text ?? "?")/\(dir)/\(request.pathParameters["vmid"]?.text ?? "?").conf' does not exist", request: where_)
        }
        return GuestConfigParser.parse(text, kind: guest.kind, vmid: VMID(id), file: "")
    }

    static func int(_ value: ProxmoxValue?) -> Int? {
        switch value {
        case .integer(let i)?: i
        case .string(let s)?: Int(s)
        case .number(let d)?: Int(exactly: d)
        default: nil
        }
    }

    /// A boolean parameter as the API reads it (1/0; typed `true`/`false` in process).
    static func flag(_ value: ProxmoxValue?) -> Bool {
        switch value {
        case .boolean(let b)?: b
        case .integer(let i)?: i != 0
        case .string(let s)?: s == "1"
        default: false
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

/// Texts of a capture bundle the simulator answers with as they were captured. Read here, in the
/// testing target, so that the shipped model keeps none of them.
struct CapturedTexts: Sendable {
    var guestConfigs: [VMID: String] = [:]
    var nodeStatus: [NodeName: String] = [:]

    init(site: Site, bundle: (any FileTree)?) {
        guard let bundle else { return }
        for node in site.nodes {
            let dir = "nodes/\(node.name)"
            nodeStatus[node.name] = bundle.read("\(dir)/status.json")
            for kind in ["lxc", "qemu-server"] {
                for entry in bundle.list("\(dir)/\(kind)") ?? [] where entry.hasSuffix(".conf") {
                    guard let vmid = VMID(String(entry.dropLast(5))), node.guests.contains(where: { $0.vmid == vmid }),
                          let text = bundle.read("\(dir)/\(kind)/\(entry)") else { continue }
                    guestConfigs[vmid] = text
                }
            }
        }
    }
}
