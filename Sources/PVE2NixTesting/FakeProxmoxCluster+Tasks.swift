import PVE2NixCore
import PVE2NixRuntime

/// What the fake cluster's write requests do: each starts a task (migration, shutdown, start,
/// backup, restore, removal) whose effect lands when the task ends, a few requests later.
extension FakeProxmoxCluster {
    func migrate(_ request: ProxmoxRequest) throws -> JSONValue {
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
        guest.lock = "migrate"
        guests[vmid] = guest
        let type = guest.kind == .qemu ? "qmigrate" : "vzmigrate"
        if guest.haManaged {
            // HA: the task only queues the request; the CRM moves the guest later.
            haMoves[vmid] = (target, 2)
            return startTask(type, node: node, vmid: vmid, effect: .haQueued, polls: 1)
        }
        if let message = failingMigrations[vmid] { failingTasks["\(type):\(vmid)"] = message }
        return startTask(type, node: node, vmid: vmid, effect: .migrate(to: target), neverEnds: neverEndingMigrations.contains(vmid))
    }

    /// vzdump: locks the guest `backup`; in stop mode a running guest is stopped and started again
    /// afterwards. Answers "OK" (no task) when the guest is not on this node, as Proxmox does.
    func vzdump(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        guard case .string(let nodeName)? = request.pathParameters["node"], let id = Self.int(request.parameters["vmid"]),
              case .string(let storage)? = request.parameters["storage"] else {
            throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["vmid": "property is missing"], request: where_)
        }
        let node = NodeName(nodeName), vmid = VMID(id)
        if legacyVzdump {
            let unknown = ["protected", "notes-template"].filter { request.parameters[$0] != nil }
            if !unknown.isEmpty {
                throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.",
                                      parameterErrors: Dictionary(uniqueKeysWithValues: unknown.map { ($0, "property is not defined in schema and the schema does not allow additional properties") }), request: where_)
            }
        }
        guard let target = seed.storage(storage), target.contents.contains("backup"), target.isAvailable(on: node) else {
            throw ProxmoxAPIError(status: 500, reason: "storage '\(storage)' does not support backups or is not available on \(node)", request: where_)
        }
        guard let guest = guests[vmid], guest.node == node else { return .string("OK", line: 0) }
        if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "VM is locked (\(lock))", request: where_) }
        guests[vmid]?.lock = "backup"
        let notes = request.parameters["notes-template"].map { t -> String in
            t.text.replacingOccurrences(of: "{{guestname}}", with: guest.name).replacingOccurrences(of: "{{vmid}}", with: String(id))
        }
        return startTask("vzdump", node: node, vmid: vmid, effect: .backup(storage: storage, wasRunning: guest.status == "running", notes: notes))
    }

    /// Restore (`archive` for VMs, `ostemplate` + `restore=1` for CTs): the VMID must be free
    /// cluster-wide. The guest exists, locked `create`, while the restore runs.
    func restore(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let kind: GuestKind = request.template.hasSuffix("/qemu") ? .qemu : .lxc
        let source = kind == .qemu ? request.parameters["archive"] : request.parameters["ostemplate"]
        guard case .string(let nodeName)? = request.pathParameters["node"], let id = Self.int(request.parameters["vmid"]), let volid = source?.text else {
            throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["vmid": "property is missing and it is not optional"], request: where_)
        }
        let node = NodeName(nodeName), vmid = VMID(id)
        guard quorate else { throw ProxmoxAPIError(status: 500, reason: "cluster not ready - no quorum?", request: where_) }
        if kind == .lxc && request.parameters["restore"]?.text != "1" {
            throw ProxmoxAPIError(status: 500, reason: "creating containers from templates is not simulated", request: where_)
        }
        if let existing = guests[vmid] {
            let what = existing.kind == .qemu ? "VM" : "CT"
            throw ProxmoxAPIError(status: 500, reason: "unable to create \(kind == .qemu ? "VM" : "CT") \(vmid) - \(what) \(vmid) already exists on node '\(existing.node)'", request: where_)
        }
        guard let archive = archives.values.joined().first(where: { $0.volid == volid }), archive.kind == kind else {
            throw ProxmoxAPIError(status: 500, reason: "unable to restore - no such archive '\(volid)'", request: where_)
        }
        let storage = request.parameters["storage"]?.text ?? "local"
        guard let s = seed.storage(storage), s.isAvailable(on: node), s.contents.contains(kind == .qemu ? "images" : "rootdir") else {
            throw ProxmoxAPIError(status: 500, reason: "storage '\(storage)' does not exist or cannot hold \(kind == .qemu ? "images" : "rootdir") on \(node)", request: where_)
        }
        let config = GuestConfigParser.parse(archive.config, kind: kind, vmid: vmid, file: "")
        let name = config.current[kind == .qemu ? "name" : "hostname"] ?? "\(kind == .qemu ? "VM" : "CT")\(vmid)"
        guests[vmid] = Guest(kind: kind, name: name, node: node, status: "stopped", lock: "create", haManaged: false, template: config.current["template"] == "1")
        createdConfigs[vmid] = archive.config
        return startTask(kind == .qemu ? "qmrestore" : "vzrestore", node: node, vmid: vmid, effect: .restore(start: request.parameters["start"]?.text == "1"))
    }

    /// A guest named by the request's path, on the node the path names.
    func guestOnNode(_ request: ProxmoxRequest) throws -> (VMID, NodeName, Guest) {
        guard case .string(let nodeName)? = request.pathParameters["node"], let id = Self.int(request.pathParameters["vmid"]),
              let guest = guests[VMID(id)], guest.node == NodeName(nodeName) else {
            throw ProxmoxAPIError(status: 500, reason: "Configuration file 'nodes/\(request.pathParameters["node"]?.text ?? "?")/\(request.pathParameters["vmid"]?.text ?? "?").conf' does not exist", request: "\(request)")
        }
        return (VMID(id), NodeName(nodeName), guest)
    }

    static func int(_ value: ProxmoxValue?) -> Int? {
        switch value {
        case .integer(let i)?: i
        case .string(let s)?: Int(s)
        default: nil
        }
    }

    func startTask(_ type: String, node: NodeName, vmid: VMID, effect: Effect, polls: Int? = nil, neverEnds: Bool = false) -> JSONValue {
        taskCounter += 1
        let upid = "UPID:\(node):\(String(taskCounter, radix: 16, uppercase: true).leftPadded(8)):00ABCDEF:\(String(now, radix: 16, uppercase: true)):\(type):\(vmid):root@pam:"
        let failure = failingTasks.removeValue(forKey: "\(type):\(vmid)") ?? failingTasks.removeValue(forKey: "\(type):*")
        tasks[upid] = PendingTask(node: node, pollsLeft: polls ?? taskPolls, exitStatus: failure ?? "OK", vmid: vmid, effect: effect, neverEnds: neverEnds)
        mostMovesAtOnce = max(mostMovesAtOnce, Set(tasks.values.filter { $0.pollsLeft > 0 || $0.neverEnds }.map(\.vmid)).union(haMoves.keys).count)
        return .string(upid, line: 0)
    }

    func tick() {
        for (upid, task) in tasks where task.pollsLeft > 0 && !task.neverEnds {
            tasks[upid]!.pollsLeft -= 1
            guard tasks[upid]!.pollsLeft == 0 else { continue }
            // "WARNINGS: N" is success with something to read in the task log.
            guard task.exitStatus == "OK" || task.exitStatus.hasPrefix("WARNINGS: ") else {
                // A failed restore leaves nothing behind; every other failure leaves the guest as it was.
                if case .restore = task.effect { guests[task.vmid] = nil } else { guests[task.vmid]?.lock = nil }
                continue
            }
            finish(task)
        }
    }

    func finish(_ task: PendingTask) {
        let vmid = task.vmid
        switch task.effect {
        case .migrate(let target):
            guests[vmid]?.node = target
            guests[vmid]?.lock = nil
        case .haQueued:
            break
        case .setStatus(let status):
            guests[vmid]?.status = status
        case .backup(let storage, let wasRunning, let notes):
            guard let guest = guests[vmid] else { return }
            let stamp = Self.stamp(now)
            let ext = guest.kind == .qemu ? "vma.zst" : "tar.zst"
            let config = (try? configFile(.guestConfig(guest.kind, node: guest.node, vmid: vmid), "")).map(Self.configText) ?? ""
            archives[storage, default: []].append(Archive(volid: "\(storage):backup/vzdump-\(guest.kind.rawValue)-\(vmid)-\(stamp).\(ext)", vmid: vmid, kind: guest.kind,
                                                          ctime: now, size: 734_003_200, notes: notes, config: config))
            guests[vmid]?.lock = nil
            // Stop mode starts a guest that was running again once the backup is taken.
            guests[vmid]?.status = wasRunning ? "running" : guest.status
        case .restore(let start):
            guests[vmid]?.lock = nil
            // With start=1 the restore then starts the guest, which can fail on its own (the copy stays, stopped).
            let startFails = failingTasks.removeValue(forKey: "vzstart:\(vmid)") ?? failingTasks.removeValue(forKey: "vzstart:*")
            if start && startFails == nil { guests[vmid]?.status = "running" }
        case .destroy:
            guests[vmid] = nil
            createdConfigs[vmid] = nil
        }
    }

    /// vzdump's file-name time stamp: YYYY_MM_DD-HH_MM_SS (UTC here).
    static func stamp(_ epoch: Int) -> String {
        var days = epoch / 86_400, secs = epoch % 86_400
        var year = 1970
        func leap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }
        while days >= (leap(year) ? 366 : 365) { days -= leap(year) ? 366 : 365; year += 1 }
        let months = [31, leap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        var month = 0
        while days >= months[month] { days -= months[month]; month += 1 }
        let h = secs / 3600, m = (secs % 3600) / 60
        secs %= 60
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)_\(two(month + 1))_\(two(days + 1))-\(two(h))_\(two(m))_\(two(secs))"
    }

    /// A config section as the guest's .conf has it (what vzdump stores in the archive).
    static func configText(_ file: GuestConfigFile) -> String {
        (file.description.isEmpty ? "" : file.description.split(separator: "\n", omittingEmptySubsequences: false).map { "#\($0)" }.joined(separator: "\n") + "\n")
            + file.current.entries.map { "\($0.key): \($0.value)" }.joined(separator: "\n") + "\n"
    }

    func advanceHA() {
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
