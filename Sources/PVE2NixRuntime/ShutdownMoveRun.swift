import PVE2NixCore

/// A running guest that can only move offline (host device passthrough, after the operator took
/// the device off): shut it down, migrate it offline, start it on the target. Proxmox refuses to
/// migrate a running VM without `online`, so the shutdown is not optional. Each step is journaled
/// before and after it acts; a resumed run carries on from where the guest is. When the migration
/// fails after the shutdown, the guest is started again where it is, and the report says so.
struct ShutdownMoveRun {
    let executor: DrainExecutor
    let move: DrainMove
    let target: NodeName
    /// This guest's journal, kept current as the run writes.
    var history: [DrainRecord]

    private var vmid: VMID { move.vmid }
    private var cmd: String { move.kind == .qemu ? "qm" : "pct" }

    private func last(_ step: DrainRecord.Step) -> DrainRecord? { history.last { $0.step == step } }

    private mutating func record(_ phase: DrainRecord.Phase, _ step: DrainRecord.Step, on node: NodeName? = nil, upid: UPID? = nil, _ detail: String) async throws {
        let r = DrainRecord(vmid: vmid, phase: phase, step: step, target: node ?? target, upid: upid?.rawValue, detail: detail)
        try await executor.journal.append(r)
        history.append(r)
    }

    mutating func carryOut() async throws {
        // An earlier run got it to its target (and maybe started it): only the start is left.
        if let there = try await executor.readCluster().guests[vmid], there.node == target, there.lock == nil {
            try await start(on: target)
            return
        }
        try await shutDownOnSource()
        do {
            try await executor.moveGuest(move, to: target, record: last(.migrate), expectedStatus: "stopped")
        } catch {
            try? await startWhereItIs(after: error)
            throw error
        }
        try await start(on: target)
    }

    /// Step 1: the guest stopped on its node, unless an earlier run already got it further.
    private mutating func shutDownOnSource() async throws {
        let view = try await executor.checkedView(move, target)
        guard let guest = view.guests[vmid] else { throw DrainError.guestMissing(vmid) }
        if guest.node == target { return }
        guard guest.node == move.from else { throw DrainError.guestElsewhere(vmid, guest.node) }
        guard guest.status == "running" else { return }
        try await executor.shutDown(move, lock: guest.lock, resuming: last(.shutdown), target: target, why: "to migrate offline (host device passthrough)",
                                    untilUnlocked: true) { phase, upid, detail in try await record(phase, .shutdown, upid: upid, detail) }
        try await record(.verified, .shutdown, on: move.from, "stopped on \(move.from)")
    }

    /// Step 3: started on `node`, waiting (bounded) until the cluster shows it running there.
    private mutating func start(on node: NodeName) async throws {
        guard let now = try await executor.readCluster().guests[vmid] else { throw DrainError.guestMissing(vmid) }
        guard now.node == node else { throw DrainError.guestElsewhere(vmid, now.node) }
        if now.status != "running" {
            if let r = last(.start), r.phase == .requested, r.target == node, let upid = r.upid.flatMap(UPID.init) {
                executor.progress(.waiting(vmid, "resuming: waiting for the start \(upid)"))
                try await executor.waitForTask(upid, vmid: vmid, step: .start, target: node)
            } else {
                if let lock = now.lock { throw DrainError.locked(vmid, lock) }
                try await record(.planned, .start, on: node, "starting on \(node)")
                let upid = try await executor.requestTask(.startGuest(move.kind, node: node, vmid: vmid), what: "start")
                try await record(.requested, .start, on: node, upid: upid, "task \(upid)")
                executor.progress(.requested(vmid, upid.rawValue))
                try await executor.waitForTask(upid, vmid: vmid, step: .start, target: node)
            }
            guard try await executor.waitForGuest(vmid, limit: executor.limits.taskTimeout, until: { $0.node == node && $0.status == "running" }) != nil else {
                throw DrainError.stateChanged(vmid, expected: "running on \(node)", found: "not running")
            }
        }
        try await record(.verified, .start, on: node, "running on \(node)")
    }

    /// The move failed with the guest shut down: start it where it is, so its service comes back.
    private mutating func startWhereItIs(after error: any Error) async throws {
        guard let now = try await executor.readCluster().guests[vmid], now.status == "stopped", now.lock == nil,
              history.contains(where: { $0.step == .shutdown && $0.phase == .verified }) else { return }
        let here = now.node
        try await start(on: here)
        executor.progress(.attention(vmid, "\(move.kind.shortName) \(vmid) \(move.name) was shut down for its move, which failed; it was started again on \(here). Fix the cause, then run the drain again."))
    }
}
