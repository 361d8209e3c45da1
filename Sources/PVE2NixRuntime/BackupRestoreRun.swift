import PVE2NixCore

/// One backup-restore move: shut the guest down, back it up (mode stop) to the shared backup
/// storage, check the archive, restore it on the target under a free VMID (VMIDs are unique
/// cluster-wide, and the original stays until the copy is proven), verify and probe the copy, and
/// only then remove the original. Each step is journaled before and after it acts; a resumed run
/// reads the journal and the cluster and carries on from where things stand.
struct BackupRestoreRun {
    let executor: DrainExecutor
    let move: DrainMove
    let target: NodeName
    let backupStorage: String
    let restoreStorage: String
    /// This guest's journal, kept current as the run writes.
    var history: [DrainRecord]

    private var vmid: VMID { move.vmid }
    private var wasRunning: Bool { move.status == "running" && !move.template }
    private var cmd: String { move.kind == .qemu ? "qm" : "pct" }

    init(executor: DrainExecutor, move: DrainMove, target: NodeName, backupStorage: String, restoreStorage: String, history: [DrainRecord]) {
        self.executor = executor
        self.move = move
        self.target = target
        self.backupStorage = backupStorage
        self.restoreStorage = restoreStorage
        self.history = history
    }

    private func last(_ step: DrainRecord.Step) -> DrainRecord? { history.last { $0.step == step } }

    private mutating func record(_ phase: DrainRecord.Phase, _ step: DrainRecord.Step, upid: UPID? = nil, archive: String? = nil, copy: VMID? = nil, _ detail: String) async throws {
        let r = DrainRecord(vmid: vmid, phase: phase, step: step, target: target, upid: upid?.rawValue, archive: archive, copy: copy, detail: detail)
        try await executor.journal.append(r)
        history.append(r)
    }

    mutating func carryOut() async throws -> DrainExecutor.MoveResult {
        do {
            let archive = try await archiveOfStoppedGuest()
            let copy = try await restoredCopy(from: archive)
            executor.progress(.moved(copy, target))
            let failures = await executor.healthCheck(move)
            executor.progress(.checked(vmid, executor.healthSummary(move, failures)))
            guard failures.isEmpty else {
                let why = "its copy \(copy) runs on \(target) but its health probes fail (\(failures.joined(separator: "; "))); the original \(vmid) is kept, stopped, on \(move.from). Fix the copy and run the drain again (it then removes the original), or remove the copy and start the original ('\(cmd) start \(vmid)')."
                executor.progress(.attention(vmid, why))
                return .left(why)
            }
            try await removeOriginal(copy: copy)
            try await record(.done, .delete, archive: archive, copy: copy, "restored as \(copy) on \(target) from \(archive) (\(executor.healthSummary(move, []))); original removed")
            executor.progress(.renumbered(vmid, copy))
            return .moved(healthFailures: [], copy: copy)
        } catch {
            if wasRunning, let state = try? await executor.readCluster(), state.guests[vmid]?.status == "stopped",
               !(history.last.map { $0.step == .restore && $0.phase == .verified } ?? false) {
                executor.progress(.attention(vmid, "\(move.kind.shortName) \(vmid) \(move.name) is STOPPED on \(state.guests[vmid]!.node) (shut down for its backup). Run the drain again to finish the move, or start it where it is: '\(cmd) start \(vmid)'."))
            }
            throw error
        }
    }

    // MARK: 1. Shut down and back up

    private mutating func archiveOfStoppedGuest() async throws -> String {
        if let done = history.last(where: { $0.step == .backup && $0.phase == .verified }), let archive = done.archive { return archive }
        var view = try await executor.checkedView(move, target)
        guard let original = view.guests[vmid] else { throw DrainError.guestMissing(vmid) }
        guard original.node == move.from else { throw DrainError.guestElsewhere(vmid, original.node) }

        // The backup is taken with the guest shut down, so nothing changes after it.
        if original.status == "running" {
            try await executor.shutDown(move, lock: original.lock, resuming: last(.shutdown), target: target, why: "for the backup",
                                        untilUnlocked: false) { phase, upid, detail in try await record(phase, .shutdown, upid: upid, detail) }
            view = try await executor.checkedView(move, target)
        }

        let task: UPID
        if let r = last(.backup), r.phase == .requested, let upid = r.upid.flatMap(UPID.init) {
            executor.progress(.waiting(vmid, "resuming: waiting for the backup \(upid)"))
            task = upid
        } else {
            if view.guests[vmid]?.lock == "backup" {
                // A backup went out but its UPID was never recorded: let it end, then take a fresh one.
                executor.progress(.waiting(vmid, "resuming: an earlier backup is still running; waiting for it to end"))
                guard try await executor.waitForGuest(vmid, limit: executor.limits.taskTimeout, until: { $0.lock == nil }) != nil else {
                    throw DrainError.locked(vmid, "backup")
                }
            } else if let lock = view.guests[vmid]?.lock {
                throw DrainError.locked(vmid, lock)
            }
            guard view.guests[vmid]?.status != "running" else { throw DrainError.stateChanged(vmid, expected: "stopped for its backup", found: "running") }
            try await record(.planned, .backup, "backing up to \(backupStorage) (mode stop)")
            let notes = "pve2nix drain of {{guestname}} ({{vmid}}) from \(move.from)"
            let answer: JSONValue
            do {
                answer = try await executor.api.send(.vzdump(node: move.from, vmid: vmid, storage: backupStorage, mode: "stop", notes: notes))
            } catch let error as ProxmoxAPIError where error.status == 400 && !Set(error.parameterErrors.keys).isDisjoint(with: ["protected", "notes-template"]) {
                // An older Proxmox VE refused the parameters (nothing started): back up without them.
                executor.progress(.waiting(vmid, "this Proxmox VE knows no protected backups: the archive is not protected against pruning until the drain ends"))
                answer = try await executor.api.send(.vzdump(node: move.from, vmid: vmid, storage: backupStorage, mode: "stop", legacy: true))
            }
            // vzdump answers the literal "OK", not a task, when the guest is not on that node.
            guard let text = answer.stringValue, let upid = UPID(text) else {
                throw DrainError.unexpectedAnswer("vzdump of \(vmid) on \(move.from) answered '\(answer.stringValue ?? answer.description)' instead of a task: the guest is not on \(move.from) (any more). Nothing was backed up; re-plan.")
            }
            try await record(.requested, .backup, upid: upid, "task \(upid)")
            executor.progress(.requested(vmid, upid.rawValue))
            task = upid
        }
        try await executor.waitForTask(task, vmid: vmid, step: .backup, target: target)

        // The archive: the newest of this guest on the storage, made by this task.
        let content = try await executor.read(.storageContent(node: move.from, storage: backupStorage, vmid: vmid))
        let made = (content.arrayValue ?? []).filter { entry in
            entry["vmid"]?.intValue == vmid.rawValue && (entry["ctime"]?.intValue ?? 0) >= (task.startTime ?? 0) && (entry["size"]?.intValue ?? 0) > 0
        }.max { ($0["ctime"]?.intValue ?? 0) < ($1["ctime"]?.intValue ?? 0) }
        guard let archive = made?["volid"]?.stringValue else { throw DrainError.archiveMissing(vmid, storage: backupStorage, upid: task.rawValue) }
        // Read back from the target: the archive is reachable there and holds this guest's config.
        let config = try await executor.read(.extractConfig(node: target, volume: archive)).stringValue ?? ""
        let nameKey = move.kind == .qemu ? "name" : "hostname"
        let named = config.split(separator: "\n").first { $0.hasPrefix("\(nameKey):") }.map { $0.dropFirst(nameKey.count + 1).trimmingCharacters(in: .whitespaces) }
        guard named == move.name else { throw DrainError.archiveMismatch(vmid, archive: archive, found: named ?? "no \(nameKey)") }
        try await record(.verified, .backup, upid: task, archive: archive, "archive \(archive) (\(made?["size"]?.intValue ?? 0) bytes), readable from \(target)")
        return archive
    }

    // MARK: 2. Restore on the target under a free VMID

    private mutating func restoredCopy(from archive: String) async throws -> VMID {
        if let done = history.last(where: { $0.step == .restore && $0.phase == .verified }), let copy = done.copy { return copy }
        let view = try await executor.checkedView(move, target)
        let last = last(.restore)
        var copy: VMID
        if let r = last, r.phase == .requested, let upid = r.upid.flatMap(UPID.init), let id = r.copy {
            executor.progress(.waiting(vmid, "resuming: waiting for the restore \(upid)"))
            copy = id
            try await executor.waitForTask(upid, vmid: vmid, step: .restore, target: target)
        } else if let id = history.last(where: { $0.step == .restore && $0.copy != nil })?.copy, let g = view.guests[id], g.node == target, g.name == move.name {
            // An earlier run's restore went out (its UPID may be lost, or the copy did not start):
            // the copy is there or coming. It is used, never restored twice.
            executor.progress(.waiting(vmid, "resuming: the copy \(id) is already on \(target)"))
            copy = id
        } else {
            if let original = view.guests[vmid], original.node == move.from, original.status == "running" {
                throw DrainError.stateChanged(vmid, expected: "stopped since its backup", found: "running again on \(move.from): its data may have changed; nothing was restored")
            }
            // Reuse the id this move chose before if it is still free; otherwise ask for one.
            if let r = last, r.phase != .failed, let id = r.copy, view.guests[id] == nil {
                copy = id
            } else {
                guard let id = try await executor.read(.nextID()).intValue else { throw DrainError.unexpectedAnswer("GET /cluster/nextid gave no number") }
                copy = VMID(id)
            }
            try await record(.planned, .restore, archive: archive, copy: copy, "restoring \(archive) as \(copy) on \(target) (storage \(restoreStorage))")
            let request: ProxmoxRequest = move.kind == .qemu
                ? .restoreVM(node: target, vmid: copy, archive: archive, storage: restoreStorage, start: wasRunning)
                : .restoreCT(node: target, vmid: copy, archive: archive, storage: restoreStorage, start: wasRunning)
            let upid: UPID
            do {
                upid = try await executor.requestTask(request, what: "restore")
            } catch let error as ProxmoxAPIError where error.reason.contains("already exists") {
                try await record(.failed, .restore, archive: archive, copy: copy, "\(copy) is taken: \(error.reason)")
                throw DrainError.vmidTaken(vmid, copy: copy)
            }
            try await record(.requested, .restore, upid: upid, archive: archive, copy: copy, "task \(upid)")
            executor.progress(.requested(vmid, upid.rawValue))
            try await executor.waitForTask(upid, vmid: vmid, step: .restore, target: target)
        }
        guard var arrived = try await executor.waitForGuest(copy, limit: executor.limits.taskTimeout, until: { $0.node == target && $0.lock == nil }) else {
            throw DrainError.notOnTarget(copy, target)
        }
        if wasRunning && arrived.status == "stopped" {
            // Restored, but its start failed or never came: start it (a start is harmless to repeat).
            try await record(.planned, .start, copy: copy, "starting the copy \(copy) on \(target)")
            let upid = try await executor.requestTask(.startGuest(move.kind, node: target, vmid: copy), what: "start")
            try await record(.requested, .start, upid: upid, copy: copy, "task \(upid)")
            executor.progress(.requested(vmid, upid.rawValue))
            try await executor.waitForTask(upid, vmid: vmid, step: .start, target: target)
            arrived = try await executor.waitForGuest(copy, limit: executor.limits.taskTimeout, until: { $0.status != "stopped" && $0.lock == nil }) ?? arrived
        }
        let expected = wasRunning ? "running" : "stopped"
        if arrived.status != expected {
            try await record(.failed, .restore, archive: archive, copy: copy, "the copy \(copy) is \(arrived.status) on \(target), expected \(expected); the original \(vmid) is kept on \(move.from)")
            throw DrainError.stateChanged(copy, expected: "\(expected) on \(target) (restored copy of \(vmid); the original is kept, stopped, on \(move.from))", found: arrived.status)
        }
        try await record(.verified, .restore, archive: archive, copy: copy, "\(copy) is \(arrived.status) on \(target)")
        return copy
    }

    // MARK: 3. Remove the original, only now

    private mutating func removeOriginal(copy: VMID) async throws {
        // Right before destroying: the copy is still there, the original is where and as the backup left it.
        let view = try await executor.checkedView(move, target)
        guard let original = view.guests[vmid] else { return }  // an earlier run removed it
        guard original.node == move.from else { throw DrainError.guestElsewhere(vmid, original.node) }
        guard let c = view.guests[copy], c.node == target, c.name == move.name else { throw DrainError.copyMissing(vmid, copy: copy, target) }
        if let r = last(.delete), r.phase == .requested, let upid = r.upid.flatMap(UPID.init) {
            executor.progress(.waiting(vmid, "resuming: waiting for the removal \(upid)"))
            try await executor.waitForTask(upid, vmid: vmid, step: .delete, target: target)
        } else if last(.delete)?.phase == .planned, original.lock == "destroyed" {
            executor.progress(.waiting(vmid, "resuming: the removal is already under way"))
        } else {
            guard original.status == "stopped" else {
                throw DrainError.stateChanged(vmid, expected: "stopped (its copy \(copy) runs on \(target))", found: "\(original.status) on \(move.from): it was not removed; stop it and run the drain again")
            }
            if let lock = original.lock { throw DrainError.locked(vmid, lock) }
            try await record(.planned, .delete, copy: copy, "removing the original from \(move.from) (purge)")
            let upid = try await executor.requestTask(.deleteGuest(move.kind, node: move.from, vmid: vmid), what: "delete")
            try await record(.requested, .delete, upid: upid, copy: copy, "task \(upid)")
            executor.progress(.requested(vmid, upid.rawValue))
            try await executor.waitForTask(upid, vmid: vmid, step: .delete, target: target)
        }
        guard try await executor.waitUntilGone(vmid, limit: executor.limits.taskTimeout) else {
            throw DrainError.stateChanged(vmid, expected: "removed from \(move.from)", found: "still there")
        }
    }
}
