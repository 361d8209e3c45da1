import PVE2NixCore

/// Brings back a guest the drain restored on a peer under a new VMID: shut the copy down, back
/// it up (mode stop), restore the archive on the node under the guest's old VMID (only when that
/// VMID is free), check it arrived, and only then remove the copy. Every action is journaled
/// (stage `rollback`, the guest's old VMID, the action in `drainStep`) before and after; a resumed
/// run reads the journal and the cluster and carries on, never restoring or removing twice.
struct RestoreBack {
    let run: RollbackRun
    let guest: RollbackAssessment.GuestBack
    let way: RollbackAssessment.GuestBack.Restore

    private var node: NodeName { run.assessment.node }
    private var copy: VMID { guest.nowVMID }
    private var vmid: VMID { guest.vmid }
    private var tasks: ProxmoxTasks { run.tasks }
    private var limit: Duration { run.limits.migration }

    func carryOut() async throws {
        let mine = try await run.log.entries().filter { $0.stage == .rollback && $0.subject == .guest(vmid) }
        func last(_ action: String) -> RunEntry? { mine.last { $0.facts.drainStep == action } }
        if mine.last?.phase == .done && mine.last?.facts.drainStep == nil { return }
        // Back already (an earlier run, or by hand): the guest on the node under its own VMID, no copy.
        let view = try await tasks.cluster()
        if let g = view.guests[vmid], g.node == node, g.name == guest.name, view.guests[copy] == nil {
            try await run.record(.guest(vmid), .done, "\(vmid) is on \(node) and its copy \(copy) is gone")
            return
        }

        let archive: String
        if let done = last("backup"), done.phase == .verified, let a = done.facts.archive {
            archive = a
        } else {
            archive = try await backUpCopy(resuming: last("backup"), shutdown: last("shutdown"))
        }
        if last("restore")?.phase != .verified { try await restore(archive, resuming: last("restore")) }
        try await removeCopy(resuming: last("delete"))
        try await run.record(.guest(vmid), .done, "\(vmid) is back on \(node) from the archive of its copy \(copy); the copy is removed",
                             facts: RunFacts(target: node.rawValue, archive: archive, copyVMID: copy.rawValue))
    }

    private func note(_ action: String, _ phase: RunPhase, _ detail: String, upid: UPID? = nil, archive: String? = nil) async throws {
        var facts = RunFacts(target: node.rawValue, upid: upid?.rawValue, archive: archive, copyVMID: copy.rawValue)
        facts.drainStep = action
        try await run.record(.guest(vmid), phase, detail, facts: facts)
    }

    /// Starts a task (or resumes the one the journal names) and waits for it, bounded.
    private func task(_ action: String, resuming: RunEntry?, _ request: @autoclosure () -> ProxmoxRequest, _ detail: String) async throws -> UPID {
        let upid: UPID
        if let r = resuming, r.phase == .requested, let id = r.facts.upid.flatMap(UPID.init) {
            run.progress("resuming: waiting for the \(action) of \(copy) (\(id))")
            upid = id
        } else {
            try await note(action, .planned, detail)
            upid = try await tasks.start(request(), what: "\(action) of \(copy)")
            try await note(action, .requested, "task \(upid)", upid: upid)
        }
        switch try await tasks.wait(for: upid, limit: limit) {
        case .ok:
            return upid
        case .failed(let status):
            try await note(action, .failed, "\(action) failed: \(status)", upid: upid)
            throw RollbackError.taskFailed(vmid, action, status)
        case .timedOut:
            throw RollbackError.taskFailed(vmid, action, "did not end within \(limit.components.seconds) s; its task may still run: look at it in the task log before running again")
        }
    }

    private func backUpCopy(resuming backup: RunEntry?, shutdown: RunEntry?) async throws -> String {
        let view = try await tasks.cluster()
        guard let c = view.guests[copy] else { throw RollbackError.guestGone(copy) }
        guard c.node == guest.on, c.name == guest.name else { throw RollbackError.copyChanged(vmid, copy: copy, "is now '\(c.name)' on \(c.node), not '\(guest.name)' on \(guest.on)") }
        try checkVMIDFree(view)
        if c.status == "running" || shutdown?.phase == .requested {
            run.progress("shutting down \(copy) (\(guest.name)) on \(guest.on) for its backup")
            _ = try await task("shutdown", resuming: shutdown, .shutdownGuest(guest.kind, node: guest.on, vmid: copy), "shutting down \(copy) on \(guest.on)")
        }
        run.progress("backing up \(copy) to \(way.backupStorage)")
        let upid = try await task("backup", resuming: backup, .vzdump(node: guest.on, vmid: copy, storage: way.backupStorage, mode: "stop"),
                                  "backing up \(copy) to \(way.backupStorage) (mode stop)")
        let content = try await tasks.read(.storageContent(node: guest.on, storage: way.backupStorage, vmid: copy))
        let made = (content.arrayValue ?? []).filter { entry in
            entry["vmid"]?.intValue == copy.rawValue && (entry["ctime"]?.intValue ?? 0) >= (upid.startTime ?? 0) && (entry["size"]?.intValue ?? 0) > 0
        }.max { ($0["ctime"]?.intValue ?? 0) < ($1["ctime"]?.intValue ?? 0) }
        guard let archive = made?["volid"]?.stringValue else { throw RollbackError.archiveMissing(vmid, copy: copy, storage: way.backupStorage) }
        try await note("backup", .verified, "archive \(archive)", upid: upid, archive: archive)
        return archive
    }

    private func checkVMIDFree(_ view: ProxmoxTasks.ClusterView) throws {
        if let other = view.guests[vmid] { throw RollbackError.vmidTaken(vmid, by: other.name, node: other.node) }
    }

    private func restore(_ archive: String, resuming restore: RunEntry?) async throws {
        let view = try await tasks.cluster()
        if view.guests[vmid] == nil || restore?.phase == .requested {
            if restore?.phase != .requested { try checkVMIDFree(view) }
            run.progress("restoring \(archive) on \(node) as \(vmid)")
            let request: ProxmoxRequest = guest.kind == .qemu
                ? .restoreVM(node: node, vmid: vmid, archive: archive, storage: way.storage, start: way.start)
                : .restoreCT(node: node, vmid: vmid, archive: archive, storage: way.storage, start: way.start)
            _ = try await task("restore", resuming: restore, request, "restoring \(archive) as \(vmid) on \(node) (storage \(way.storage))")
        }
        let expected = way.start ? "running" : "stopped"
        let arrived = try await tasks.poll(limit: limit) { () -> ProxmoxTasks.ClusterView.Guest? in
            guard let g = try await tasks.cluster().guests[vmid], g.node == node, g.lock == nil, g.status == expected else { return nil }
            return g
        }
        guard let arrived, arrived.name == guest.name else {
            throw RollbackError.copyChanged(vmid, copy: copy, "was restored, but \(vmid) is not \(expected) on \(node) as '\(guest.name)': the copy is kept")
        }
        try await note("restore", .verified, "\(vmid) is \(expected) on \(node)")
    }

    private func removeCopy(resuming delete: RunEntry?) async throws {
        // Right before destroying: the guest is back under its own VMID, and the copy is the stopped one the backup saw.
        let view = try await tasks.cluster()
        guard let back = view.guests[vmid], back.node == node, back.name == guest.name else {
            throw RollbackError.copyChanged(vmid, copy: copy, "is kept: \(vmid) is not on \(node) as '\(guest.name)' any more")
        }
        guard let c = view.guests[copy] else { return }
        guard c.node == guest.on, c.name == guest.name, c.status == "stopped", c.lock == nil || delete?.phase == .requested else {
            throw RollbackError.copyChanged(vmid, copy: copy, "is \(c.status) on \(c.node) as '\(c.name)'\(c.lock.map { ", locked (\($0))" } ?? ""): it changed since its backup")
        }
        run.progress("removing the copy \(copy) from \(guest.on)")
        _ = try await task("delete", resuming: delete, .deleteGuest(guest.kind, node: guest.on, vmid: copy), "removing the copy \(copy) from \(guest.on)")
    }
}
