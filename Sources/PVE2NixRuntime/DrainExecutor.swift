import PVE2NixCore

/// Bounds for every wait of a drain.
public struct DrainLimits: Sendable {
    public var pollInterval: Duration = .seconds(2)
    public var taskTimeout: Duration = .seconds(3600)
    public var haTimeout: Duration = .seconds(600)
    public var readRetries = 3

    public init() {}

    func polls(_ limit: Duration) -> Int { max(1, Int((limit / pollInterval).rounded(.up))) }
}

/// Progress of a drain, for the CLI to show.
public enum DrainEvent: Sendable, Equatable {
    case starting(VMID, String)
    case requested(VMID, String)
    case waiting(VMID, String)
    case moved(VMID, NodeName)
    case skipped(VMID, String)
    case left(VMID, String)
}

/// Why a drain stopped. Each says what happened, where things stand and what to do.
public enum DrainError: Error, Sendable, Equatable, CustomStringConvertible {
    case quorumLost
    case targetOffline(VMID, NodeName)
    case guestMissing(VMID)
    case guestElsewhere(VMID, NodeName)
    case locked(VMID, String)
    case taskFailed(VMID, upid: String, exitStatus: String)
    case taskTimedOut(VMID, upid: String)
    case notOnTarget(VMID, NodeName)
    case stateChanged(VMID, expected: String, found: String)
    case unexpectedAnswer(String)

    public var description: String {
        switch self {
        case .quorumLost: "the cluster has lost quorum: nothing more is moved. Restore quorum, then run the drain again; it resumes from the journal."
        case .targetOffline(let id, let n): "\(id)'s target \(n) is offline: nothing more is moved. Bring \(n) back or re-plan, then run the drain again."
        case .guestMissing(let id): "guest \(id) is no longer in the cluster's resource list: the drain stops so a person can look."
        case .guestElsewhere(let id, let n): "guest \(id) is on \(n), which the plan did not expect: someone else moved it. Re-plan."
        case .locked(let id, let l): "guest \(id) is locked (\(l)); it was not moved. Wait for the lock to clear, then run the drain again."
        case .taskFailed(let id, let upid, let s): "moving \(id) failed: task \(upid) ended with '\(s)'. The guest was not moved; the journal records the failure."
        case .taskTimedOut(let id, let upid): "task \(upid) moving \(id) did not finish in time; it may still be running. Run the drain again to keep waiting for it (it is never started twice)."
        case .notOnTarget(let id, let n): "guest \(id) did not show up on \(n) in time (HA may still be moving it). Run the drain again to keep waiting."
        case .stateChanged(let id, let e, let f): "guest \(id) was \(e) before the move and is \(f) after it: check it on its new node."
        case .unexpectedAnswer(let s): "the API answered something unexpected: \(s)"
        }
    }
}

/// What a drain achieved.
public struct DrainOutcome: Sendable, Equatable {
    public var moved: [VMID] = []
    public var alreadyDone: [VMID] = []
    public var left: [VMID: String] = [:]
    public var healthFailures: [VMID: [String]] = [:]
}

/// Carries out a plan's drain through the Proxmox API, one guest at a time, journaling before and
/// after every action. Run it again after any crash: it asks the cluster where each guest is and
/// never starts a migration twice.
public struct DrainExecutor: Sendable {
    public let api: any ProxmoxAPI
    public let journal: any DrainJournal
    public let clock: any Clock<Duration>
    public var limits = DrainLimits()
    public var healthCheck: @Sendable (DrainMove) async -> [String] = { _ in [] }
    public var progress: @Sendable (DrainEvent) -> Void = { _ in }

    public init(api: any ProxmoxAPI, journal: any DrainJournal, clock: any Clock<Duration>) {
        self.api = api
        self.journal = journal
        self.clock = clock
    }

    public func run(_ drain: DrainPlan) async throws -> DrainOutcome {
        var outcome = DrainOutcome()
        let latest = try await journal.latest()
        for move in drain.moves {
            let record = latest[move.vmid]
            if record?.phase == .done {
                outcome.alreadyDone.append(move.vmid)
                progress(.skipped(move.vmid, "already done"))
                continue
            }
            guard move.method.movesGuest, let target = move.to else {
                if record?.phase != .failed { try await journal.append(DrainRecord(vmid: move.vmid, phase: .failed, target: nil, detail: move.reason)) }
                outcome.left[move.vmid] = move.reason
                progress(.left(move.vmid, move.reason))
                continue
            }
            if move.method == .backupRestore {
                let why = "backup-restore moves are not carried out by this version: move it by hand (vzdump to shared storage, restore on \(target), remove the original after checking)"
                if record?.phase != .failed { try await journal.append(DrainRecord(vmid: move.vmid, phase: .failed, target: target, detail: why)) }
                outcome.left[move.vmid] = why
                progress(.left(move.vmid, why))
                continue
            }
            progress(.starting(move.vmid, "\(move.kind.shortName) \(move.vmid) \(move.name) → \(target) (\(move.method.rawValue))"))
            try await moveGuest(move, to: target, record: record)
            let failures = await healthCheck(move)
            if !failures.isEmpty { outcome.healthFailures[move.vmid] = failures }
            try await journal.append(DrainRecord(vmid: move.vmid, phase: .done, target: target,
                                                 detail: failures.isEmpty ? "on \(target), healthy" : "on \(target); health: \(failures.joined(separator: "; "))"))
            outcome.moved.append(move.vmid)
            progress(.moved(move.vmid, target))
        }
        return outcome
    }

    private func moveGuest(_ move: DrainMove, to target: NodeName, record: DrainRecord?) async throws {
        // Right before acting, the world must still be as the plan saw it.
        let view = try await readCluster()
        guard view.quorate else { throw DrainError.quorumLost }
        guard view.online.contains(target) else { throw DrainError.targetOffline(move.vmid, target) }
        guard let guest = view.guests[move.vmid] else { throw DrainError.guestMissing(move.vmid) }

        if guest.node == target {
            // An earlier run moved it (its records may end before 'verified').
        } else if guest.node != move.from {
            throw DrainError.guestElsewhere(move.vmid, guest.node)
        } else if let upid = record?.upid.flatMap(UPID.init), record?.phase == .requested {
            progress(.waiting(move.vmid, "resuming: waiting for \(upid)"))
            try await waitForTask(upid, vmid: move.vmid, target: target)
        } else if record?.phase == .planned, guest.lock == "migrate" {
            // The request went out but its UPID was never recorded: wait, never ask twice.
            progress(.waiting(move.vmid, "resuming: a migration is already under way"))
        } else {
            if let lock = guest.lock { throw DrainError.locked(move.vmid, lock) }
            try await journal.append(DrainRecord(vmid: move.vmid, phase: .planned, target: target, detail: "requesting \(move.method.rawValue) migration"))
            let answer = try await api.send(request(for: move, target: target))
            guard let text = answer.stringValue, let upid = UPID(text) else { throw DrainError.unexpectedAnswer("migrate returned \(answer.description), not a UPID") }
            try await journal.append(DrainRecord(vmid: move.vmid, phase: .requested, target: target, upid: upid.rawValue, detail: "task \(upid)"))
            progress(.requested(move.vmid, upid.rawValue))
            try await waitForTask(upid, vmid: move.vmid, target: target)
        }
        // HA-managed guests move after their task ends; everyone must show up on the target.
        let polls = limits.polls(move.haManaged ? limits.haTimeout : limits.taskTimeout)
        var arrived: ClusterView.Guest? = nil
        for attempt in 0..<polls {
            let now = try await readCluster().guests[move.vmid]
            if let now, now.node == target, now.lock == nil { arrived = now; break }
            if attempt == 0 && move.haManaged { progress(.waiting(move.vmid, "waiting for HA to show it on \(target)")) }
            try await clock.sleep(for: limits.pollInterval)
        }
        guard let arrived else { throw DrainError.notOnTarget(move.vmid, target) }
        let expected = move.template ? nil : move.status
        if let expected, expected != arrived.status {
            try await journal.append(DrainRecord(vmid: move.vmid, phase: .failed, target: target, detail: "was \(expected), is \(arrived.status) on \(target)"))
            throw DrainError.stateChanged(move.vmid, expected: expected, found: arrived.status)
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

    private func waitForTask(_ upid: UPID, vmid: VMID, target: NodeName) async throws {
        for _ in 0..<limits.polls(limits.taskTimeout) {
            let status = try await read(.taskStatus(node: upid.node, upid: upid.rawValue))
            if status["status"]?.stringValue == "stopped" {
                let exit = status["exitstatus"]?.stringValue ?? "unknown"
                // "OK" and "WARNINGS: N" are success.
                guard exit == "OK" || exit.hasPrefix("WARNINGS") else {
                    try await journal.append(DrainRecord(vmid: vmid, phase: .failed, target: target, upid: upid.rawValue, detail: exit))
                    throw DrainError.taskFailed(vmid, upid: upid.rawValue, exitStatus: exit)
                }
                return
            }
            try await clock.sleep(for: limits.pollInterval)
        }
        throw DrainError.taskTimedOut(vmid, upid: upid.rawValue)
    }

    // MARK: Reading the cluster

    struct ClusterView {
        struct Guest { var node: NodeName; var status: String; var lock: String? }
        var quorate: Bool
        var online: Set<NodeName>
        var guests: [VMID: Guest]
    }

    private func readCluster() async throws -> ClusterView {
        let status = try await read(.clusterStatus())
        let resources = try await read(.clusterResources())
        var view = ClusterView(quorate: false, online: [], guests: [:])
        for entry in status.arrayValue ?? [] {
            if entry["type"]?.stringValue == "cluster" { view.quorate = entry["quorate"]?.boolValue ?? false }
            if entry["type"]?.stringValue == "node", entry["online"]?.boolValue == true, let n = entry["name"]?.stringValue { view.online.insert(NodeName(n)) }
        }
        for entry in resources.arrayValue ?? [] {
            guard let id = entry["vmid"]?.intValue, let node = entry["node"]?.stringValue else { continue }
            let lock = entry["lock"]?.stringValue
            view.guests[VMID(id)] = .init(node: NodeName(node), status: entry["status"]?.stringValue ?? "unknown", lock: lock?.isEmpty == true ? nil : lock)
        }
        return view
    }

    /// Reads are idempotent: transient failures (5xx) are retried a bounded number of times.
    private func read(_ request: ProxmoxRequest) async throws -> JSONValue {
        var attempt = 0
        while true {
            do {
                return try await api.send(request)
            } catch let error as ProxmoxAPIError where error.isTransient && attempt < limits.readRetries {
                attempt += 1
                try await clock.sleep(for: limits.pollInterval * attempt)
            }
        }
    }
}
