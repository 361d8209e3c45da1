import PVE2NixCore
import PVE2NixRuntime

/// Tasks: every write that takes time answers a UPID naming its node, type, guest and the user or
/// token that asked; the effect lands when the task ends. A task lasts `taskPolls` requests, or
/// (with a time scale) its work's seconds on the wall clock; its log ends "TASK OK", "TASK ERROR: …"
/// or "TASK WARNINGS: N", and it stays listed under its node after it ended.
extension FakeProxmoxCluster {
    /// What a task does to the cluster when it ends well.
    enum Effect {
        case migrate(to: NodeName, status: String?)
        /// `hamigrate`: hands a migrate command to the HA manager.
        case haCommand(target: NodeName)
        /// `hastart`/`hastop`: sets the HA resource's requested state.
        case haState(String)
        case setStatus(String)
        case backup(storage: String, wasRunning: Bool, notes: String?)
        case restore(start: Bool)
        case destroy
        case none
    }

    struct PendingTask {
        let upid: String
        let node: NodeName
        let type: String
        let vmid: VMID
        let user: String
        let startTime: Int
        var effect: Effect
        var exitStatus: String
        var neverEnds: Bool
        var pollsLeft: Int
        /// Work in seconds, before the time scale (with link timing: after its bytes are sent).
        var seconds: Double
        /// With link timing: bytes still to send, and the links they cross ("out:node", "in:node").
        var bytesLeft: Double = 0
        var links: [String] = []
        var startedAt: ContinuousClock.Instant
        /// Waiting for a lock (vzdump's per-node lock) before its work starts.
        var queued = false
        var began: Int
        var log: [String]
        var endTime: Int?
        var isRunning: Bool { endTime == nil }
    }

    /// Starts a task and answers its UPID. `failure` makes it end with that exit status (a check
    /// Proxmox makes inside the worker); the fault tables can override either outcome.
    @discardableResult
    func startTask(_ type: String, node: NodeName, vmid: VMID, effect: Effect, seconds: Double = 2, polls: Int? = nil, neverEnds: Bool = false,
                   log: [String] = [], failure: String? = nil, user: String? = nil, queued: Bool = false) -> JSONValue {
        // Streams already under way get their share up to now, before this one joins them.
        advanceTransfers()
        taskCounter += 1
        let who = user ?? ProxmoxCaller.current.userid
        let upid = "UPID:\(node):\(String(taskCounter, radix: 16, uppercase: true).leftPadded(8)):00ABCDEF:\(String(now, radix: 16, uppercase: true).leftPadded(8)):\(type):\(vmid):\(who):"
        let injected = failingTasks.removeValue(forKey: "\(type):\(vmid)") ?? failingTasks.removeValue(forKey: "\(type):*")
        tasks[upid] = PendingTask(upid: upid, node: node, type: type, vmid: vmid, user: who, startTime: now, effect: effect,
                                  exitStatus: failure ?? injected ?? "OK", neverEnds: neverEnds, pollsLeft: polls ?? taskPolls, seconds: seconds,
                                  startedAt: clock.now, queued: queued, began: now, log: log)
        taskOrder.append(upid)
        noteMovesInFlight()
        return Self.str(upid)
    }

    /// Lets time pass: queued tasks take their lock, running ones end, the HA manager takes a round.
    func tick() {
        for upid in taskOrder where tasks[upid]?.queued == true {
            let task = tasks[upid]!
            if !tasks.values.contains(where: { $0.isRunning && !$0.queued && $0.type == "vzdump" && $0.node == task.node }) { beginBackup(upid) }
        }
        advanceTransfers()
        let instant = clock.now
        for upid in taskOrder {
            guard var task = tasks[upid], task.isRunning, !task.queued, !task.neverEnds else { continue }
            if let scale = timeScale {
                guard task.bytesLeft <= 0 else { continue }
                guard instant - task.startedAt >= .seconds(task.seconds * scale) else { continue }
            } else {
                task.pollsLeft -= 1
                tasks[upid] = task
                guard task.pollsLeft <= 0 else { continue }
            }
            end(upid)
        }
        haTick()
        noteMovesInFlight()
    }

    func end(_ upid: String) {
        guard var task = tasks[upid] else { return }
        task.endTime = now
        let ok = task.exitStatus == "OK" || task.exitStatus.hasPrefix("WARNINGS: ")
        task.log.append(task.exitStatus == "OK" ? "TASK OK" : ok ? "TASK \(task.exitStatus)" : "TASK ERROR: \(task.exitStatus)")
        tasks[upid] = task
        // "WARNINGS: N" is success with something to read in the task log.
        guard ok else {
            // A failed restore leaves nothing behind; every other failure leaves the guest as it was.
            if case .restore = task.effect {
                guests[task.vmid] = nil
                configs[task.vmid] = nil
            } else if guests[task.vmid]?.lock != nil, task.type != "hamigrate" {
                guests[task.vmid]?.lock = nil
            }
            if case .backup(_, let wasRunning, _) = task.effect, wasRunning { guests[task.vmid]?.status = "running" }
            haTaskEnded(task, success: false)
            return
        }
        finish(task)
        haTaskEnded(task, success: true)
    }

    func finish(_ task: PendingTask) {
        let vmid = task.vmid
        switch task.effect {
        case .migrate(let target, let status):
            guests[vmid]?.node = target
            guests[vmid]?.lock = nil
            if let status { guests[vmid]?.status = status }
        case .haCommand(let target):
            ha.resources[vmid]?.command = target
        case .haState(let state):
            ha.resources[vmid]?.state = state
        case .setStatus(let status):
            guests[vmid]?.status = status
        case .backup(let storage, let wasRunning, let notes):
            finishBackup(task, storage: storage, wasRunning: wasRunning, notes: notes)
        case .restore(let start):
            guests[vmid]?.lock = nil
            // With start=1 the restore then starts the guest, which can fail on its own (the copy stays, stopped).
            let startFails = failingTasks.removeValue(forKey: "vzstart:\(vmid)") ?? failingTasks.removeValue(forKey: "vzstart:*")
            if start && startFails == nil { guests[vmid]?.status = "running" }
        case .destroy:
            guests[vmid] = nil
            configs[vmid] = nil
        case .none:
            break
        }
    }

    /// Guests with a task or an HA move under way: the most at once is what a concurrency limit bounds.
    func noteMovesInFlight() {
        let busy = Set(tasks.values.filter { ($0.isRunning && !$0.queued) || $0.neverEnds }.map(\.vmid)).union(ha.movesInFlight)
        mostMovesAtOnce = max(mostMovesAtOnce, busy.count)
    }

    // MARK: Power

    /// `status/shutdown` and `status/start`; for an HA guest, a request to the HA manager.
    func powerAction(_ request: ProxmoxRequest, start: Bool) throws -> JSONValue {
        let where_ = "\(request)"
        let (vmid, node, guest) = try guestOnNode(request)
        if ha.resources[vmid] != nil {
            let what = guest.kind == .qemu ? "VM" : "CT"
            return startTask(start ? "hastart" : "hastop", node: node, vmid: vmid, effect: .haState(start ? "started" : "stopped"), seconds: 1, polls: 1,
                             log: ["Requesting HA \(start ? "start" : "stop") for \(what) \(vmid)"])
        }
        if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "\(guest.kind == .qemu ? "VM" : "CT") is locked (\(lock))", request: where_) }
        let type = (guest.kind == .qemu ? "qm" : "vz") + (start ? "start" : "shutdown")
        if start && guest.status == "running" {
            return startTask(type, node: node, vmid: vmid, effect: .none, seconds: 1, failure: "VM \(vmid) already running")
        }
        return startTask(type, node: node, vmid: vmid, effect: .setStatus(start ? "running" : "stopped"), seconds: start ? 3 : (guest.kind == .qemu ? 10 : 5))
    }

    /// `DELETE …/{vmid}`: a stopped, unlocked guest; an HA one only with `purge`.
    func destroy(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let (vmid, node, guest) = try guestOnNode(request)
        let what = guest.kind == .qemu ? "VM" : "CT"
        if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "\(what) is locked (\(lock))", request: where_) }
        guard guest.status == "stopped" else { throw ProxmoxAPIError(status: 500, reason: "\(what) \(vmid) is running - destroy failed", request: where_) }
        if ha.resources[vmid] != nil {
            guard Self.flag(request.parameters["purge"]) else {
                throw ProxmoxAPIError(status: 500, reason: "unable to remove \(what) \(vmid) - used in HA resources and purge parameter not set.", request: where_)
            }
            removeHAResource(vmid)
        }
        guests[vmid]?.lock = "destroyed"
        return startTask(guest.kind == .qemu ? "qmdestroy" : "vzdestroy", node: node, vmid: vmid, effect: .destroy, seconds: 2)
    }

    /// A guest named by the request's path, on the node the path names.
    func guestOnNode(_ request: ProxmoxRequest) throws -> (VMID, NodeName, Guest) {
        guard case .string(let nodeName)? = request.pathParameters["node"], let id = Self.int(request.pathParameters["vmid"]),
              let guest = guests[VMID(id)], guest.node == NodeName(nodeName) else {
            let dir = request.template.contains("/lxc/") ? "lxc" : "qemu-server"
            throw ProxmoxAPIError(status: 500, reason: "Configuration file 'nodes/\(request.pathParameters["node"]?.text ?? "?")/\(dir)/\(request.pathParameters["vmid"]?.text ?? "?").conf' does not exist", request: "\(request)")
        }
        return (VMID(id), NodeName(nodeName), guest)
    }

    // MARK: Task reads

    /// `UPID:node:pid:pstart:starttime:type:id:user:` as the status and list entries spell it out.
    static func upidMembers(_ upid: String) -> [(String, JSONValue)]? {
        let f = upid.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard f.count >= 9, f[0] == "UPID", let pid = Int(f[2], radix: 16), let pstart = Int(f[3], radix: 16), let start = Int(f[4], radix: 16) else { return nil }
        return [("upid", str(upid)), ("node", str(f[1])), ("pid", num(pid)), ("pstart", num(pstart)), ("starttime", num(start)),
                ("type", str(f[5])), ("id", str(f[6])), ("user", str(f[7]))]
    }

    /// A task's owner reads it freely; anyone else needs Sys.Audit on its node.
    func readableTask(_ request: ProxmoxRequest) throws -> (upid: String, task: PendingTask?, members: [(String, JSONValue)]) {
        let where_ = "\(request)"
        let upid = request.pathParameters["upid"]?.text ?? ""
        guard let members = Self.upidMembers(upid) else {
            throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["upid": "unable to parse worker upid"], request: where_)
        }
        let node = request.pathParameters["node"]?.text ?? ""
        let task = tasks[upid].flatMap { $0.node.rawValue == node ? $0 : nil }
        let owner = upid.split(separator: ":", omittingEmptySubsequences: false)[7]
        let caller = ProxmoxCaller.current
        if owner != caller.userid && String(owner.split(separator: "!").first ?? "") != caller.userid {
            try require("/nodes/\(node)", ["Sys.Audit"], where_)
        }
        return (upid, task, members)
    }

    /// A task the node does not know reads as stopped with exit status "unknown", as on Proxmox.
    func taskStatus(_ request: ProxmoxRequest) throws -> JSONValue {
        let (_, task, members) = try readableTask(request)
        guard let task else { return Self.object(members + [("status", Self.str("stopped")), ("exitstatus", Self.str("unknown"))]) }
        guard !task.isRunning else { return Self.object(members + [("status", Self.str("running"))]) }
        return Self.object(members + [("status", Self.str("stopped")), ("exitstatus", Self.str(task.exitStatus))])
    }

    func taskLog(_ request: ProxmoxRequest) throws -> JSONValue {
        let (_, task, _) = try readableTask(request)
        guard let task else {
            throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["upid": "no such task"], request: "\(request)")
        }
        let start = Self.int(request.parameters["start"]) ?? 0, limit = Self.int(request.parameters["limit"]) ?? 50
        let lines = task.log.isEmpty ? [""] : task.log
        return .array(lines.enumerated().dropFirst(start).prefix(limit == 0 ? lines.count : limit).map { i, line in
            Self.object([("n", Self.num(i + 1)), ("t", Self.str(line))])
        }, line: 0)
    }

    /// `GET /nodes/{node}/tasks`: newest first; finished ones by default (`source=archive`).
    func taskList(_ request: ProxmoxRequest) -> JSONValue {
        let node = request.pathParameters["node"]?.text ?? ""
        let p = request.parameters
        let source = p["source"]?.text ?? "archive"
        let caller = ProxmoxCaller.current
        let audit = caller.has("Sys.Audit")
        let statusFilter = p["statusfilter"].map { Set($0.text.lowercased().split(separator: ",").map(String.init)) }
        var list = taskOrder.reversed().compactMap { tasks[$0] }.filter { t in
            guard t.node.rawValue == node, source == "all" || (source == "active") == t.isRunning else { return false }
            if let vmid = Self.int(p["vmid"]), t.vmid.rawValue != vmid { return false }
            if let type = p["typefilter"]?.text, t.type != type { return false }
            if let user = p["userfilter"]?.text, !t.user.contains(user) { return false }
            if Self.flag(p["errors"]), t.isRunning || t.exitStatus == "OK" { return false }
            if let since = Self.int(p["since"]), t.startTime < since { return false }
            if let until = Self.int(p["until"]), t.startTime > until { return false }
            if let statusFilter, !t.isRunning {
                let kind = t.exitStatus == "OK" ? "ok" : t.exitStatus.hasPrefix("WARNINGS") ? "warning" : "error"
                if !statusFilter.contains(kind) { return false }
            }
            return audit || t.user == caller.userid || t.user.split(separator: "!").first.map(String.init) == caller.userid
        }
        let start = Self.int(p["start"]) ?? 0, limit = Self.int(p["limit"]) ?? 50
        list = Array(list.dropFirst(start).prefix(limit == 0 ? list.count : limit))
        return .array(list.map { t in
            var members = Self.upidMembers(t.upid) ?? []
            if let end = t.endTime { members += [("status", Self.str(t.exitStatus)), ("endtime", Self.num(end))] }
            return Self.object(members)
        }, line: 0)
    }
}
