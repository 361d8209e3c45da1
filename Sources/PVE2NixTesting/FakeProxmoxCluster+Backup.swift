import PVE2NixCore
import PVE2NixRuntime

/// vzdump, archives and restores. vzdump answers "OK" (no task) when no listed guest is on the
/// node; otherwise its task waits for the node's global vzdump lock (one backup at a time per
/// node, whatever the storage), locks the guest `backup`, stops a running guest in stop mode and
/// starts it again afterwards. Archives are named from the backup's start time. A restore needs
/// the VMID free cluster-wide; the guest exists, locked `create`, while it runs.
extension FakeProxmoxCluster {
    func vzdump(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let node = NodeName(request.pathParameters["node"]?.text ?? "")
        let ids = (request.parameters["vmid"]?.text ?? "").split(whereSeparator: { $0 == "," || $0 == " " }).compactMap { Int($0) }.map(VMID.init)
        guard let storage = request.parameters["storage"]?.text, !ids.isEmpty else {
            throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["vmid": "property is missing and it is not optional"], request: where_)
        }
        if legacyVzdump {
            let unknown = ["protected", "notes-template"].filter { request.parameters[$0] != nil }
            if !unknown.isEmpty {
                throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.",
                                      parameterErrors: Dictionary(uniqueKeysWithValues: unknown.map { ($0, "property is not defined in schema and the schema does not allow additional properties") }), request: where_)
            }
        }
        try require("/storage/\(storage)", ["Datastore.AllocateSpace"], where_)
        for id in ids { try require("/vms/\(id)", ["VM.Backup"], where_) }
        guard let target = seed.storage(storage), target.contents.contains("backup"), target.isAvailable(on: node) else {
            throw ProxmoxAPIError(status: 500, reason: "storage '\(storage)' does not support backups or is not available on \(node)", request: where_)
        }
        // Only guests on this node are backed up here; none at all: "OK", and no task.
        guard let vmid = ids.first(where: { guests[$0]?.node == node }), let guest = guests[vmid] else { return Self.str("OK") }
        let notes = request.parameters["notes-template"].map { t -> String in
            t.text.replacingOccurrences(of: "{{guestname}}", with: guest.name).replacingOccurrences(of: "{{vmid}}", with: String(vmid.rawValue))
        }
        let mode = request.parameters["mode"]?.text ?? "snapshot"
        let busy = tasks.values.contains { $0.isRunning && !$0.queued && $0.type == "vzdump" && $0.node == node }
        let upid = startTask("vzdump", node: node, vmid: vmid, effect: .backup(storage: storage, wasRunning: guest.status == "running" && mode == "stop", notes: notes),
                             seconds: 5 + Double(diskBytes(vmid, localOnly: false)) / 200e6, queued: true)
        transfer(upid, bytes: Double(diskBytes(vmid, localOnly: false)), links: ["out:\(node)"], fixed: 0)
        if !busy { beginBackup(upid.stringValue ?? "") } else {
            tasks[upid.stringValue ?? ""]?.log.append("INFO: trying to get global lock - waiting...")
        }
        return upid
    }

    /// The node's vzdump lock is free: the backup of this guest starts (or fails on its lock).
    func beginBackup(_ upid: String) {
        guard var task = tasks[upid] else { return }
        task.queued = false
        task.startedAt = clock.now
        task.began = now
        if task.log.last == "INFO: trying to get global lock - waiting..." { task.log.append("INFO: got global lock") }
        task.log.append("INFO: starting new backup job: vzdump \(task.vmid)")
        let what = guests[task.vmid]?.kind == .lxc ? "CT" : "VM"
        if guests[task.vmid]?.node != task.node {
            task.log.append("ERROR: Backup of VM \(task.vmid) failed - unable to find VM \(task.vmid) on node \(task.node)")
            task.exitStatus = "job errors"
        } else if let lock = guests[task.vmid]?.lock {
            task.log.append("ERROR: Backup of VM \(task.vmid) failed - \(what) is locked (\(lock))")
            task.exitStatus = "job errors"
            if case .backup(let s, _, let n) = task.effect { task.effect = .backup(storage: s, wasRunning: false, notes: n) }
        } else {
            task.log.append("INFO: Starting Backup of VM \(task.vmid) (\(guests[task.vmid]?.kind.rawValue ?? "qemu"))")
            guests[task.vmid]?.lock = "backup"
            if case .backup(_, true, _) = task.effect { guests[task.vmid]?.status = "stopped" }
            if task.exitStatus != "OK" && !task.exitStatus.hasPrefix("WARNINGS") {
                task.log.append("ERROR: Backup of VM \(task.vmid) failed - \(task.exitStatus)")
            }
        }
        tasks[upid] = task
    }

    func finishBackup(_ task: PendingTask, storage: String, wasRunning: Bool, notes: String?) {
        let vmid = task.vmid
        guard let guest = guests[vmid] else { return }
        let ext = guest.kind == .qemu ? "vma.zst" : "tar.zst"
        let config = configText(vmid).map { GuestConfigParser.parse($0, kind: guest.kind, vmid: vmid, file: "") }.map(Self.configText) ?? ""
        // vzdump names the archive by the second the guest's backup started.
        var stamp = task.began
        func volid(_ t: Int) -> String { "\(storage):backup/vzdump-\(guest.kind.rawValue)-\(vmid)-\(Self.stamp(t)).\(ext)" }
        while archives[storage, default: []].contains(where: { $0.volid == volid(stamp) }) { stamp += 1 }
        archives[storage, default: []].append(Archive(volid: volid(stamp), vmid: vmid, kind: guest.kind, ctime: stamp,
                                                      size: Int(max(diskBytes(vmid, localOnly: false) / 4, 64 << 20)), notes: notes, config: config))
        guests[vmid]?.lock = nil
        // Stop mode starts a guest that was running again once the backup is taken.
        if wasRunning { guests[vmid]?.status = "running" }
    }

    func storageContent(_ request: ProxmoxRequest) -> JSONValue {
        let storage = request.pathParameters["storage"]?.text ?? ""
        let vmid = Self.int(request.parameters["vmid"])
        return .array((archives[storage] ?? []).filter { vmid == nil || $0.vmid.rawValue == vmid }.map { a in
            Self.object([("volid", Self.str(a.volid)), ("format", Self.str(a.kind == .qemu ? "vma.zst" : "tar.zst")), ("content", Self.str("backup")),
                         ("size", Self.num(a.size)), ("ctime", Self.num(a.ctime)), ("vmid", Self.num(a.vmid.rawValue)),
                         ("subtype", Self.str(a.kind.rawValue)), ("protected", Self.num(1))] + (a.notes.map { [("notes", Self.str($0))] } ?? []))
        }, line: 0)
    }

    func extractConfig(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        guard let volid = request.parameters["volume"]?.text, let a = archives.values.joined().first(where: { $0.volid == volid }) else {
            throw ProxmoxAPIError(status: 500, reason: "unable to parse volume ID '\(request.parameters["volume"]?.text ?? "")'", request: where_)
        }
        try require("/vms/\(a.vmid)", ["VM.Backup"], where_)
        try require("/storage/\(volid.split(separator: ":").first ?? "")", ["Datastore.AllocateSpace"], where_)
        return Self.str(a.config)
    }

    /// Restore (`archive` for VMs, `ostemplate` + `restore=1` for CTs).
    func restore(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let kind: GuestKind = request.template.hasSuffix("/qemu") ? .qemu : .lxc
        let source = kind == .qemu ? request.parameters["archive"] : request.parameters["ostemplate"]
        guard case .string(let nodeName)? = request.pathParameters["node"], let id = Self.int(request.parameters["vmid"]), let volid = source?.text else {
            throw ProxmoxAPIError(status: 501, reason: "creating guests other than by restoring a backup is not simulated", request: where_)
        }
        let node = NodeName(nodeName), vmid = VMID(id)
        try requireQuorum(where_)
        let storage = request.parameters["storage"]?.text ?? "local"
        try require("/vms/\(vmid)", ["VM.Allocate"], where_)
        try require("/storage/\(storage)", ["Datastore.AllocateSpace"], where_)
        if kind == .lxc && !Self.flag(request.parameters["restore"]) {
            throw ProxmoxAPIError(status: 501, reason: "creating containers from templates is not simulated", request: where_)
        }
        if let existing = guests[vmid] {
            let what = existing.kind == .qemu ? "VM" : "CT"
            throw ProxmoxAPIError(status: 500, reason: "unable to create \(kind == .qemu ? "VM" : "CT") \(vmid) - \(what) \(vmid) already exists on node '\(existing.node)'", request: where_)
        }
        guard let archive = archives.values.joined().first(where: { $0.volid == volid }), archive.kind == kind else {
            throw ProxmoxAPIError(status: 500, reason: "unable to restore - no such archive '\(volid)'", request: where_)
        }
        guard let s = seed.storage(storage), s.isAvailable(on: node), s.contents.contains(kind == .qemu ? "images" : "rootdir") else {
            throw ProxmoxAPIError(status: 500, reason: "storage '\(storage)' does not exist or cannot hold \(kind == .qemu ? "images" : "rootdir") on \(node)", request: where_)
        }
        let config = GuestConfigParser.parse(archive.config, kind: kind, vmid: vmid, file: "")
        // A privileged container needs more than the VM privileges.
        if kind == .lxc && config.current["unprivileged"] != "1" { try require("/", ["Sys.Modify"], where_) }
        let name = config.current[kind == .qemu ? "name" : "hostname"] ?? "\(kind == .qemu ? "VM" : "CT")\(vmid)"
        guests[vmid] = Guest(kind: kind, name: name, node: node, status: "stopped", lock: "create", haManaged: false, template: config.current["template"] == "1")
        configs[vmid] = archive.config
        let upid = startTask(kind == .qemu ? "qmrestore" : "vzrestore", node: node, vmid: vmid, effect: .restore(start: Self.flag(request.parameters["start"])),
                             seconds: 5 + Double(archive.size) / 200e6)
        transfer(upid, bytes: Double(archive.size), links: ["in:\(node)"], fixed: 0)
        return upid
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
}
