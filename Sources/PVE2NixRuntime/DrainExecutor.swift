import PVE2NixCore

/// Bounds for every wait of a drain, and how many moves run at once.
public struct DrainLimits: Sendable {
    public var pollInterval: Duration = .seconds(2)
    public var taskTimeout: Duration = .seconds(3600)
    public var haTimeout: Duration = .seconds(600)
    public var readRetries = 3
    /// Polls after an HA guest arrived during which it must stay where it is (failback shows here).
    public var haSettlePolls = 3
    /// At most this many moves in flight at once (each waits for its own tasks). nil: as the plan's
    /// schedule groups them, or one at a time for a plan without a schedule.
    public var concurrency: Int? = nil

    public init() {}

    func polls(_ limit: Duration) -> Int {
        guard pollInterval > .zero else { return 1 }
        let n = (limit / pollInterval).rounded(.up)
        return n.isFinite ? max(1, Int(min(n, 10_000_000))) : 1
    }
}

/// Progress of a drain, for the CLI to show.
public enum DrainEvent: Sendable, Equatable {
    case starting(VMID, String)
    case requested(VMID, String)
    case waiting(VMID, String)
    case moved(VMID, NodeName)
    /// What the health probes found for a guest at its new home.
    case checked(VMID, String)
    /// A guest moved by backup and restore lives on under a new VMID; its original is removed.
    case renumbered(VMID, VMID)
    case skipped(VMID, String)
    case left(VMID, String)
    /// A guest needs a person's attention (e.g. it was stopped for a backup and the drain stopped).
    case attention(VMID, String)
    /// Found on the node after every move ended (not one of the plan's moves, or moved back).
    case remaining(VMID, String)
}

/// What a drain achieved.
public struct DrainOutcome: Sendable, Equatable {
    public var moved: [VMID] = []
    public var alreadyDone: [VMID] = []
    public var left: [VMID: String] = [:]
    public var healthFailures: [VMID: [String]] = [:]
    /// Guests moved by backup and restore live on under a new VMID.
    public var renumbered: [VMID: VMID] = [:]
}

/// Carries out a plan's drain through the Proxmox API, journaling before and after every action.
/// Run it again after any crash: it asks the cluster where each guest is and never starts a
/// migration twice.
public struct DrainExecutor: Sendable {
    public let api: any ProxmoxAPI
    public let journal: any DrainJournal
    public let clock: any Clock<Duration>
    public var limits = DrainLimits()
    /// The site's probes for a guest: the failures, empty when healthy.
    public var healthCheck: @Sendable (DrainMove) async -> [String] = { _ in [] }
    /// How many probes `healthCheck` runs for a guest (0: none; nil: probes were switched off).
    public var probeCount: @Sendable (DrainMove) -> Int? = { _ in 0 }
    public var progress: @Sendable (DrainEvent) -> Void = { _ in }
    /// When set, the drain marks the node in its notes while it runs and stops if another run's
    /// marker is there (a pve2nix on another machine).
    public var marker: DrainMarker? = nil

    public init(api: any ProxmoxAPI, journal: any DrainJournal, clock: any Clock<Duration>) {
        self.api = api
        self.journal = journal
        self.clock = clock
    }

    /// A finished move as a child task hands it back.
    struct MoveCompletion: Sendable {
        var vmid: VMID
        var result: Result<MoveResult, any Error>
    }

    /// What one move ended with.
    enum MoveResult: Sendable {
        case moved(healthFailures: [String], copy: VMID?)
        case alreadyDone(copy: VMID?)
        case left(String)
    }

    /// Moves every guest of the plan, then reads the cluster once more: whatever is still on
    /// `node` (by default the node the moves leave) is reported as left, with why.
    public func run(_ drain: DrainPlan, node: NodeName? = nil) async throws -> DrainOutcome {
        var history = try await journal.records()
        // A guest whose move ended but that is on the node again (HA failback, someone moved it
        // back) is moved again: its earlier records no longer describe where it is.
        var restarted: [VMID: DrainRecord] = [:]
        let finished = drain.moves.filter { m in
            m.method.movesGuest && m.method != .backupRestore && history.last { $0.vmid == m.vmid }?.phase == .done
        }
        if !finished.isEmpty {
            let view = try await readCluster()
            for m in finished where view.guests[m.vmid]?.node == m.from {
                let again = DrainRecord(vmid: m.vmid, phase: .planned, target: m.to, detail: "found on \(m.from) again after its move ended; moving it again")
                try await journal.append(again)
                restarted[m.vmid] = again
            }
            if !restarted.isEmpty { history = try await journal.records() }
        }
        let pending = drain.moves.filter { move in history.last { $0.vmid == move.vmid }?.phase != .done }
        // Before anything moves: quorum, and every target that still receives a guest is up.
        let drained = node ?? drain.moves.first?.from
        if pending.contains(where: { $0.method.movesGuest }) {
            let view = try await readCluster()
            guard view.quorate else { throw DrainError.quorumLost }
            if let move = pending.first(where: { $0.to.map { !view.online.contains($0) } ?? false }) { throw DrainError.targetOffline(move.vmid, move.to!) }
            if let marker, let drained { try await claim(drained, as: marker) }
        }
        var outcome = DrainOutcome()
        var firstError: (any Error)? = nil
        // Each child returns a named struct, never a tuple: an optimised build once read the
        // (VMID, Result) tuple out of `group.next()` as garbage (raw string bits in `moved`).
        try await withThrowingTaskGroup(of: MoveCompletion.self) { group in
            // The schedule decides which moves run together and when each may start; without one
            // (a plan saved before it was planned), plan order, one at a time or --concurrency.
            let dispatch = drain.schedule.map { DrainDispatch(schedule: $0, cap: limits.concurrency) }
            var queue = (dispatch?.order(drain.moves) ?? drain.moves)[...]
            var inFlight: Set<VMID> = [], ended: Set<VMID> = []
            func mayStart(_ move: DrainMove) -> Bool {
                // Nothing in flight: start the next one whatever the schedule says, never stall.
                guard !inFlight.isEmpty else { return true }
                if let dispatch { return dispatch.mayStart(move.vmid, ended: ended, inFlight: inFlight) }
                return inFlight.count < max(1, limits.concurrency ?? 1)
            }
            func startReady() {
                while firstError == nil, let move = queue.first, mayStart(move) {
                    queue.removeFirst()
                    inFlight.insert(move.vmid)
                    let records = restarted[move.vmid].map { [$0] } ?? history.filter { $0.vmid == move.vmid }
                    group.addTask {
                        do {
                            return MoveCompletion(vmid: move.vmid, result: .success(try await self.drive(move, records: records, backupStorage: drain.backupStorage)))
                        } catch {
                            return MoveCompletion(vmid: move.vmid, result: .failure(error))
                        }
                    }
                }
            }
            startReady()
            while !inFlight.isEmpty, let completion = try await group.next() {
                let vmid = completion.vmid, result = completion.result
                inFlight.remove(vmid)
                ended.insert(vmid)
                switch result {
                case .success(.moved(let failures, let copy)):
                    outcome.moved.append(vmid)
                    if !failures.isEmpty { outcome.healthFailures[vmid] = failures }
                    if let copy { outcome.renumbered[vmid] = copy }
                case .success(.alreadyDone(let copy)):
                    outcome.alreadyDone.append(vmid)
                    if let copy { outcome.renumbered[vmid] = copy }
                case .success(.left(let why)):
                    outcome.left[vmid] = why
                case .failure(let error):
                    // No new move starts; the ones in flight finish their step.
                    if firstError == nil { firstError = error }
                }
                startReady()
            }
        }
        if let firstError { throw firstError }
        // The node must be empty, running, stopped and templates alike: the plan only knew the capture.
        if let node = drained {
            let planned = Set(drain.moves.map(\.vmid))
            for (vmid, guest) in try await readCluster().guests where guest.node == node && outcome.left[vmid] == nil {
                let why = planned.contains(vmid)
                    ? "still on \(node) although its move ended: someone moved it back? Look, then run the drain again"
                    : "\(guest.name) (\(guest.status)) is on \(node) but not in the plan (created after the capture?): capture and plan again, then drain"
                outcome.left[vmid] = why
                progress(.remaining(vmid, why))
            }
        }
        if let marker, let drained, outcome.left.isEmpty { try await release(drained, as: marker) }
        return outcome
    }

    private func drive(_ move: DrainMove, records: [DrainRecord], backupStorage: String?) async throws -> MoveResult {
        let record = records.last
        if record?.phase == .done {
            progress(.skipped(move.vmid, "already done"))
            return .alreadyDone(copy: record?.copy)
        }
        guard move.method.movesGuest, let target = move.to else {
            if record?.phase != .failed { try await journal.append(DrainRecord(vmid: move.vmid, phase: .failed, target: nil, detail: move.reason)) }
            progress(.left(move.vmid, move.reason))
            return .left(move.reason)
        }
        progress(.starting(move.vmid, "\(move.kind.shortName) \(move.vmid) \(move.name) → \(target) (\(move.method.rawValue))"))
        if move.method == .backupRestore {
            guard let backupStorage, let restoreStorage = move.restoreStorage else {
                let why = "the plan names no shared backup storage or no storage on \(target) to restore into: re-plan"
                if record?.phase != .failed { try await journal.append(DrainRecord(vmid: move.vmid, phase: .failed, target: target, detail: why)) }
                progress(.left(move.vmid, why))
                return .left(why)
            }
            var run = BackupRestoreRun(executor: self, move: move, target: target, backupStorage: backupStorage, restoreStorage: restoreStorage, history: records)
            return try await run.carryOut()
        }
        if move.haManaged {
            _ = try await checkedView(move, target)
            try await releaseHA(for: move, target: target)
        }
        if move.method == .offline && move.status == "running" && !move.template {
            // Passthrough: shut down, migrate offline, start on the target, each step journaled.
            var run = ShutdownMoveRun(executor: self, move: move, target: target, history: records)
            try await run.carryOut()
        } else {
            try await moveGuest(move, to: target, record: records.last { $0.step == .migrate }, expectedStatus: move.template ? nil : move.status)
        }
        if move.haManaged { try await verifyHAKeeps(move, on: target) }
        progress(.moved(move.vmid, target))
        let failures = await healthCheck(move)
        progress(.checked(move.vmid, healthSummary(move, failures)))
        try await journal.append(DrainRecord(vmid: move.vmid, phase: .done, target: target, detail: "on \(target); \(healthSummary(move, failures))"))
        return .moved(healthFailures: failures, copy: nil)
    }

    /// Migrates the guest (resuming a migration an earlier run asked for) and waits until it is on
    /// `target`, unlocked and, when given, in `expectedStatus`.
    func moveGuest(_ move: DrainMove, to target: NodeName, record: DrainRecord?, expectedStatus: String?) async throws {
        // Right before acting, the world must still be as the plan saw it.
        let view = try await checkedView(move, target)
        guard let guest = view.guests[move.vmid] else { throw DrainError.guestMissing(move.vmid) }

        if guest.node == target {
            // An earlier run moved it (its records may end before 'verified').
        } else if guest.node != move.from {
            throw DrainError.guestElsewhere(move.vmid, guest.node)
        } else if let upid = record?.upid.flatMap(UPID.init), record?.phase == .requested {
            progress(.waiting(move.vmid, "resuming: waiting for \(upid)"))
            try await waitForTask(upid, vmid: move.vmid, step: .migrate, target: target)
        } else if record?.phase == .planned, guest.lock == "migrate" {
            // The request went out but its UPID was never recorded: wait, never ask twice.
            progress(.waiting(move.vmid, "resuming: a migration is already under way"))
        } else if move.haManaged, guest.lock == "migrate" {
            // HA moves it already (its rule now prefers the target): wait, never ask on top.
            progress(.waiting(move.vmid, "HA is already moving it"))
        } else {
            if let lock = guest.lock { throw DrainError.locked(move.vmid, lock) }
            try await journal.append(DrainRecord(vmid: move.vmid, phase: .planned, target: target, detail: "requesting \(move.method.rawValue) migration"))
            do {
                let upid = try await requestTask(request(for: move, target: target), what: "migrate")
                try await journal.append(DrainRecord(vmid: move.vmid, phase: .requested, target: target, upid: upid.rawValue, detail: "task \(upid)"))
                progress(.requested(move.vmid, upid.rawValue))
                try await waitForTask(upid, vmid: move.vmid, step: .migrate, target: target)
            } catch let error as ProxmoxAPIError where move.haManaged && error.status == 500 {
                // HA, whose rule now prefers the target, may have started the move between our look
                // and our request: then the request is refused, and the guest is on its way.
                guard let now = try await readCluster().guests[move.vmid], now.node == target || now.lock == "migrate" else { throw error }
                progress(.waiting(move.vmid, "HA is already moving it"))
            }
        }
        // HA-managed guests move after their task ends; everyone must show up on the target.
        if move.haManaged { progress(.waiting(move.vmid, "waiting for HA to show it on \(target)")) }
        guard let arrived = try await waitForGuest(move.vmid, limit: move.haManaged ? limits.haTimeout : limits.taskTimeout, until: { $0.node == target && $0.lock == nil }) else {
            // HA moves nothing without quorum: say that, not that the guest is late.
            if move.haManaged, try await !readCluster().quorate { throw DrainError.quorumLost }
            throw DrainError.notOnTarget(move.vmid, target)
        }
        if let expected = expectedStatus, expected != arrived.status {
            try await journal.append(DrainRecord(vmid: move.vmid, phase: .failed, target: target, detail: "was \(expected), is \(arrived.status) on \(target)"))
            throw DrainError.stateChanged(move.vmid, expected: "\(expected) on \(target)", found: arrived.status)
        }
        try await journal.append(DrainRecord(vmid: move.vmid, phase: .verified, target: target, detail: "\(arrived.status) on \(target)"))
    }

    private func request(for move: DrainMove, target: NodeName) -> ProxmoxRequest {
        switch move.kind {
        case .qemu:
            return .migrateVM(node: move.from, vmid: move.vmid, target: target, online: move.method == .live,
                              withLocalDisks: move.withLocalDisks, targetStorage: move.targetStorage)
        case .lxc:
            return .migrateCT(node: move.from, vmid: move.vmid, target: target, restart: move.method == .restart, targetStorage: move.targetStorage)
        }
    }

    // MARK: Shared steps

    func healthSummary(_ move: DrainMove, _ failures: [String]) -> String {
        if !failures.isEmpty { return "health: \(failures.joined(separator: "; "))" }
        guard let n = probeCount(move) else { return "health probes skipped" }
        return n == 0 ? "no health probes for it in site.toml" : n == 1 ? "its health probe passes" : "its \(n) health probes pass"
    }

    /// Shuts a running guest down on its node, or waits for the shutdown an earlier run asked for
    /// (`resuming`), journaling through `record` (`planned`, then `requested` with the UPID), then
    /// waits, bounded, until the cluster shows it stopped (and, with `untilUnlocked`, unlocked).
    func shutDown(_ move: DrainMove, lock: String?, resuming: DrainRecord?, target: NodeName, why: String, untilUnlocked: Bool,
                  record: (DrainRecord.Phase, UPID?, String) async throws -> Void) async throws {
        let vmid = move.vmid
        if let r = resuming, r.phase == .requested, let upid = r.upid.flatMap(UPID.init) {
            progress(.waiting(vmid, "resuming: waiting for the shutdown \(upid)"))
            try await waitForTask(upid, vmid: vmid, step: .shutdown, target: target)
        } else {
            if let lock { throw DrainError.locked(vmid, lock) }
            try await record(.planned, nil, "shutting down \(why)")
            let upid = try await requestTask(.shutdownGuest(move.kind, node: move.from, vmid: vmid), what: "shutdown")
            try await record(.requested, upid, "task \(upid)")
            progress(.requested(vmid, upid.rawValue))
            try await waitForTask(upid, vmid: vmid, step: .shutdown, target: target)
        }
        guard try await waitForGuest(vmid, limit: limits.taskTimeout, until: { $0.status == "stopped" && (!untilUnlocked || $0.lock == nil) }) != nil else {
            throw DrainError.stateChanged(vmid, expected: "stopped after its shutdown", found: "still running")
        }
    }

    /// Sends a request that starts a task and returns its UPID.
    func requestTask(_ request: ProxmoxRequest, what: String) async throws -> UPID {
        do {
            return try await tasks.start(request, what: what)
        } catch let error as ProxmoxTaskError {
            throw DrainError.unexpectedAnswer(error.localizedDescription)
        }
    }

    /// Waits for a task to stop, bounded; a failed task is journaled (as `step`) and thrown.
    func waitForTask(_ upid: UPID, vmid: VMID, step: DrainRecord.Step, target: NodeName?) async throws {
        switch try await tasks.wait(for: upid, limit: limits.taskTimeout) {
        case .ok: return
        case .failed(let exit):
            try await journal.append(DrainRecord(vmid: vmid, phase: .failed, step: step, target: target, upid: upid.rawValue, detail: exit))
            throw DrainError.taskFailed(vmid, upid: upid.rawValue, exitStatus: exit)
        case .timedOut:
            throw DrainError.taskTimedOut(vmid, upid: upid.rawValue)
        }
    }

    /// Polls the resource list until the guest exists and `until` holds for it, bounded by `limit`.
    func waitForGuest(_ vmid: VMID, limit: Duration, until: (ClusterView.Guest) -> Bool) async throws -> ClusterView.Guest? {
        try await tasks.poll(limit: limit) {
            guard let now = try await readCluster().guests[vmid], until(now) else { return nil }
            return now
        }
    }

    /// Polls the resource list until the guest is gone, bounded by `limit`.
    func waitUntilGone(_ vmid: VMID, limit: Duration) async throws -> Bool {
        try await tasks.poll(limit: limit) { try await readCluster().guests[vmid] == nil ? true : nil } ?? false
    }

    /// The cluster, checked right before an action: quorate and the target online.
    func checkedView(_ move: DrainMove, _ target: NodeName) async throws -> ClusterView {
        let view = try await readCluster()
        guard view.quorate else { throw DrainError.quorumLost }
        guard view.online.contains(target) else { throw DrainError.targetOffline(move.vmid, target) }
        return view
    }
}
