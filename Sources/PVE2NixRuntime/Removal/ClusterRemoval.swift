import Foundation
import PVE2NixCore

/// Progress of a cluster removal, for the CLI to show. In a dry run, `call` and `command` are
/// what would be sent; nothing is.
public enum ClusterRemovalEvent: Sendable, Equatable {
    case peer(NodeName, String)
    case starting(ClusterRemovalStep)
    /// An API request that changes something (`METHOD path params`).
    case call(String)
    /// A command on the peer, or a file written there.
    case command(String)
    case waiting(String)
    case removedLine(file: String, line: String)
    case done(ClusterRemovalStep, String)
    case skipped(ClusterRemovalStep, String)
}

/// What a removal did.
public struct ClusterRemovalOutcome: Sendable, Equatable {
    public var plan: ClusterRemovalPlan
    public var peer: NodeName?
    public var done: [String] = []
    public var alreadyDone: [String] = []
    public var removedLines: [String: [String]] = [:]
    public var dryRun: Bool
}

/// Removes a node from its cluster once its disk was wiped: from a peer, through the API (a
/// root@pam ticket for delnode) and over SSH to that peer for `/etc/pve` files no API reaches.
/// Every step is journaled (stage `cluster-remove`); run it again after any crash and it plans
/// again from what the cluster says now, so nothing done is done twice (delnode never).
public struct ClusterRemoval: Sendable {
    /// Bounds for every wait.
    public struct Limits: Sendable {
        public var pollInterval: Duration = .seconds(2)
        public var replicationTimeout: Duration = .seconds(900)
        public var delnodeTimeout: Duration = .seconds(60)
        public var commandTimeout: Duration = .seconds(60)
        public init() {}
    }

    /// What the operator decided.
    public struct Options: Sendable {
        public var acceptTwoNode = false
        /// The disk was wiped by other means than a journaled install.
        public var diskWipedElsewhere = false
        /// Drop replication entries without cleanup (`force=1`).
        public var forceReplicationRemoval = false
        public var dryRun = false
        public init() {}
    }

    public let node: NodeName
    public let api: any ProxmoxAPI
    public let journal: any RunLog
    public let clock: any Clock<Duration>
    /// Opens a shell on a peer, given its name and address.
    public let peerShell: @Sendable (NodeName, String?) async throws -> any RemoteShell
    public var preferredPeer: NodeName?
    public var keys: NodeKeyLines
    /// Where the cluster file system is mounted on the peer (elsewhere only in tests).
    public var pveRoot = "/etc/pve"
    public var limits = Limits()
    public var options = Options()
    public var progress: @Sendable (ClusterRemovalEvent) -> Void = { _ in }

    public init(node: NodeName, api: any ProxmoxAPI, journal: any RunLog, clock: any Clock<Duration>,
                peerShell: @escaping @Sendable (NodeName, String?) async throws -> any RemoteShell) {
        self.node = node
        self.api = api
        self.journal = journal
        self.clock = clock
        self.peerShell = peerShell
        keys = NodeKeyLines(node: node)
    }

    /// Surveys the cluster and plans; nothing is changed.
    public func plan() async throws -> (ClusterSurvey, ClusterRemovalPlan) {
        let survey = try await self.survey()
        let wiped = try await journal.diskWiped() || options.diskWipedElsewhere
        return (survey, ClusterRemovalPlan(survey: survey, decisions: .init(diskWiped: wiped, acceptTwoNode: options.acceptTwoNode)))
    }

    public func run() async throws -> ClusterRemovalOutcome {
        // Checked before anything is sent: the name becomes a path on the peer.
        guard Self.isPlainNodeName(node.rawValue) else { throw ClusterRemovalError.oddNodeName(node) }
        let (survey, plan) = try await self.plan()
        guard plan.canProceed else { throw ClusterRemovalError.refused(node, plan.blockers) }
        var outcome = ClusterRemovalOutcome(plan: plan, dryRun: options.dryRun)
        let phases = try await journal.removalPhases()
        // Asked for before a crash or a failure, and the cluster shows it happened since (the
        // nodelist no longer lists the node, the runner removed the job): the journal says so.
        let planned = Set(plan.steps.map(\.key))
        for (key, phase) in phases.sorted(by: { $0.key < $1.key }) where phase != .done && !planned.contains(key) {
            try await record(key: key, .done, "the cluster shows it done")
        }
        if !survey.isMember { outcome.alreadyDone.append(ClusterRemovalStep.delnode.key) }
        let peer = try choosePeer(survey)
        outcome.peer = peer
        let address = survey.members.first { $0.name == peer }?.address
        let shell = try await peerShell(peer, address)
        progress(.peer(peer, shell.target.description))
        do {
            try await perform(plan, survey: survey, shell: shell, phases: phases, outcome: &outcome)
        } catch {
            try? await shell.close()
            throw error
        }
        try? await shell.close()
        return outcome
    }

    func perform(_ plan: ClusterRemovalPlan, survey: ClusterSurvey, shell: any RemoteShell, phases: [String: RunPhase], outcome: inout ClusterRemovalOutcome) async throws {
        for step in plan.steps {
            if phases[step.key] == .done, step.isAPIStep {
                // The survey still shows work for it: someone changed it back. Say so and redo it.
                progress(.waiting("\(step.key) was done before but the cluster shows it again: doing it again"))
            }
            progress(.starting(step))
            let result: StepResult
            switch step {
            case .replicationJob(let id, let keep): result = try await removeReplication(id, keep: keep, survey: survey)
            case .haRule(let rule, _, let after): result = try await change(step, after.map { .updateHARule(rule, nodes: $0) } ?? .deleteHARule(rule))
            case .haGroup(let group, _, let after): result = try await change(step, after.map { .updateHAGroup(group, nodes: $0) } ?? .deleteHAGroup(group))
            case .delnode: result = try await delnode()
            case .nodeDirectory: result = try await removeNodeDirectory(shell)
            case .authorizedKeys, .knownHosts:
                result = try await editKeyFile(step, shell)
                outcome.removedLines[keyFile(step) ?? ""] = result.removed
            }
            if result.alreadyDone { outcome.alreadyDone.append(step.key) } else { outcome.done.append(step.key) }
            progress(result.alreadyDone ? .skipped(step, result.detail) : .done(step, result.detail))
        }
    }

    // MARK: API steps

    func record(_ step: ClusterRemovalStep, _ phase: RunPhase, _ detail: String) async throws {
        try await record(key: step.key, phase, detail)
    }

    func record(key: String, _ phase: RunPhase, _ detail: String) async throws {
        guard !options.dryRun else { return }
        try await journal.append(RunEntry(stage: .clusterRemove, subject: .node, phase: phase, facts: RunFacts(removalStep: key), detail: detail))
    }

    func describe(_ r: ProxmoxRequest) -> String {
        let params = r.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.text)" }.joined(separator: " ")
        return "\(r)\(params.isEmpty ? "" : " " + params)"
    }

    /// An HA rule or group change: one request, journaled before and after.
    func change(_ step: ClusterRemovalStep, _ request: ProxmoxRequest) async throws -> StepResult {
        progress(.call(describe(request)))
        if options.dryRun { return StepResult("would: \(step.text(for: node))") }
        try await record(step, .planned, step.text(for: node))
        _ = try await api.send(request)
        try await record(step, .done, step.text(for: node))
        return StepResult(step.text(for: node))
    }

    func removeReplication(_ id: String, keep: Bool, survey: ClusterSurvey) async throws -> StepResult {
        let step = ClusterRemovalStep.replicationJob(id: id, keep: keep)
        let job = survey.replication.first { $0.id == id }
        let force = options.forceReplicationRemoval
        let request = ProxmoxRequest.deleteReplicationJob(id, keep: keep && !force, force: force)
        let waitText = "poll GET /cluster/replication until \(id) is gone (at most \(limits.replicationTimeout))"
        if options.dryRun {
            if job?.removeJob == nil || force { progress(.call(describe(request))) }
            progress(.waiting(waitText))
            return StepResult("would: \(step.text(for: node))")
        }
        try await record(step, .planned, step.text(for: node))
        if job?.removeJob == nil || force {
            progress(.call(describe(request)))
            _ = try await api.send(request)
            try await record(step, .requested, "marked for removal")
        }
        progress(.waiting(waitText))
        let tasks = ProxmoxTasks(api: api, clock: clock, pollInterval: limits.pollInterval)
        var last: ClusterSurvey.ReplicationJob? = job
        let gone: Bool? = try await tasks.poll(limit: limits.replicationTimeout) {
            let jobs = try await tasks.read(.replicationJobs()).arrayValue ?? []
            guard let entry = jobs.first(where: { $0["id"]?.stringValue == id }) else { return true }
            last?.removeJob = entry["remove_job"]?.stringValue
            return nil
        }
        guard gone == true else {
            let waited = Int(limits.replicationTimeout.components.seconds)
            try await record(step, .failed, "still there after \(waited) s (remove_job=\(last?.removeJob ?? "unset"))")
            throw ClusterRemovalError.replicationStuck(id: id, mark: last?.removeJob, source: job?.source, waited: waited)
        }
        try await record(step, .done, "replication job \(id) removed")
        return StepResult("replication job \(id) removed")
    }

    func delnode() async throws -> StepResult {
        let step = ClusterRemovalStep.delnode
        let request = ProxmoxRequest.removeClusterNode(node)
        progress(.call(describe(request) + " (root@pam ticket)"))
        if options.dryRun { return StepResult("would: \(step.text(for: node))") }
        // Right before acting: the world may have changed while the earlier steps ran.
        let tasks = ProxmoxTasks(api: api, clock: clock, pollInterval: limits.pollInterval)
        let view = try await tasks.cluster()
        guard view.quorate else { throw ClusterRemovalError.quorumLost("right before delnode") }
        guard !view.online.contains(node) else { throw ClusterRemovalError.nodeOnline(node) }
        try await record(step, .requested, "DELETE /cluster/config/nodes/\(node)")
        do {
            _ = try await api.send(request)
        } catch let error as ProxmoxAPIError where !error.timedOut {
            try await record(step, .failed, "\(error)")
            if error.status == 401 || error.status == 403 { throw ClusterRemovalError.delnodeNeedsRoot(node, "\(error.status) \(error.reason)") }
            throw ClusterRemovalError.delnodeFailed(node, "\(error.status) \(error.reason)")
        } catch let error as ProxmoxAPIError {
            // No answer in time: it may have happened. The nodelist says.
            progress(.waiting("no answer to delnode (\(error.reason)): reading the nodelist"))
        }
        let gone: Bool? = try await tasks.poll(limit: limits.delnodeTimeout) {
            let members = try await tasks.read(.clusterNodes()).arrayValue ?? []
            return members.contains { ($0["node"] ?? $0["name"])?.stringValue == node.rawValue } ? nil : true
        }
        guard gone == true else { throw ClusterRemovalError.delnodeUnverified(node, waited: Int(limits.delnodeTimeout.components.seconds)) }
        guard try await tasks.cluster().quorate else { throw ClusterRemovalError.quorumLost("after delnode (\(node) is out of the nodelist)") }
        try await record(step, .done, "\(node) is no longer in the nodelist; the cluster is quorate")
        return StepResult("\(node) is no longer in the corosync nodelist; the cluster is quorate")
    }
}

/// How one step ended: what it did (or, in a dry run, would do), or that it was done already.
struct StepResult: Sendable {
    var detail: String
    var alreadyDone = false
    /// Lines taken out of a key file.
    var removed: [String] = []
    init(_ detail: String, alreadyDone: Bool = false, removed: [String] = []) {
        self.detail = detail
        self.alreadyDone = alreadyDone
        self.removed = removed
    }
}

extension ClusterRemovalStep {
    var isAPIStep: Bool {
        switch self {
        case .replicationJob, .haRule, .haGroup, .delnode: true
        case .nodeDirectory, .authorizedKeys, .knownHosts: false
        }
    }

}
