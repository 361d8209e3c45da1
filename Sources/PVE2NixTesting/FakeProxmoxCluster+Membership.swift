import PVE2NixCore
import PVE2NixRuntime

/// Cluster membership as `pvecm delnode` and the replication runner change it: the corosync
/// nodelist, the node that serves the API, the QDevice, and storage replication jobs.
///
/// delnode follows `pve-cluster` `ClusterConfig.pm`: root@pam only (the schema has no permissions
/// block, so a token gets 403 before the method runs), then quorum, then "Cannot delete myself
/// from cluster!", then the node is looked up by name or ring address. It takes the node out of
/// the nodelist and the cluster status and nothing else: `/etc/pve/nodes/<node>`, HA and the keys
/// stay, as on a real cluster. A replication job deleted without `force` is only marked
/// `remove_job` (`full`, or `local` with `keep`); the runner on the source node removes it later,
/// and cannot while the source is offline or, for `full`, while the target is.
struct MembershipState: Sendable {
    struct ReplicationJob: Sendable {
        var guest: VMID
        var jobnum: Int
        var target: NodeName
        var schedule = "*/15"
        var removeJob: String?
        var disable = false
        var id: String { "\(guest)-\(jobnum)" }
    }

    var removed: Set<NodeName> = []
    /// The node pveproxy answers on (nil: the first online member).
    var serving: NodeName?
    /// `GET /cluster/config/qdevice` as `corosync-qdevice-tool -sv` reads (empty: none set up).
    var qdevice: [String: String] = [:]
    var replication: [String: ReplicationJob] = [:]
    /// Requests a marked job survives before the runner removes it.
    var replicationRunnerPolls = 3
    var countdown: [String: Int] = [:]
    /// Faults: jobs whose removal never completes, and a delnode that fails with this message.
    var stuckReplication: Set<String> = []
    var failingDelnode: String?
    /// How many delnode calls removed a node (a resumed run must not send a second).
    var delnodeCount = 0

    init() {}
}

extension FakeProxmoxCluster {
    /// The node pveproxy answers on: the one set, else the first online member.
    var servingNode: NodeName? { membership.serving ?? online.filter(\.value).keys.sorted().first }

    /// Answer as if the endpoint were this node's API.
    public func serve(from node: NodeName) { membership.serving = node }
    /// A QDevice as `GET /cluster/config/qdevice` shows it (e.g. ["State": "Connected", "QNetd host": "10.1.10.5:5403"]).
    public func setQDevice(_ status: [String: String]) { membership.qdevice = status }
    /// A replication job of `guest` to `target`, as `pvesr create-local-job` makes it.
    public func addReplicationJob(guest: VMID, jobnum: Int = 0, target: NodeName) {
        let job = MembershipState.ReplicationJob(guest: guest, jobnum: jobnum, target: target)
        membership.replication[job.id] = job
    }
    /// Requests a job marked for removal lives on before the runner removes it.
    public func setReplicationRunnerPolls(_ n: Int) { membership.replicationRunnerPolls = n }
    /// The runner never manages to remove this job (a target it cannot reach, a failing storage).
    public func neverRemoveReplicationJob(_ id: String) { membership.stuckReplication.insert(id) }
    /// The next delnode fails with this message, changing nothing.
    public func failDelnode(with message: String?) { membership.failingDelnode = message }

    public var replicationJobIDs: [String] { membership.replication.keys.sorted() }
    public func replicationJobMark(_ id: String) -> String? { membership.replication[id]?.removeJob }
    public var removedNodes: Set<NodeName> { membership.removed }
    public var delnodeCount: Int { membership.delnodeCount }
    public var nodelist: [NodeName] { (seed.corosync?.nodes.map(\.name) ?? seed.memberNames).filter { !membership.removed.contains($0) }.sorted() }

    // MARK: Requests

    func deleteNode(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let name = request.pathParameters["node"]?.text ?? ""
        try requireQuorum(where_)
        if NodeName(name) == servingNode { throw ProxmoxAPIError(status: 500, reason: "Cannot delete myself from cluster!", request: where_) }
        let entries = (seed.corosync?.nodes ?? []).filter { !membership.removed.contains($0.name) }
        guard let entry = entries.first(where: { $0.name.rawValue == name || $0.ringAddresses.contains(name) }) else {
            throw ProxmoxAPIError(status: 500, reason: "Node/IP: \(name) is not a known host of the cluster.", request: where_)
        }
        if let message = membership.failingDelnode {
            membership.failingDelnode = nil
            throw ProxmoxAPIError(status: 500, reason: message, request: where_)
        }
        membership.removed.insert(entry.name)
        membership.delnodeCount += 1
        online[entry.name] = nil
        return .null(line: 0)
    }

    func qdeviceStatus() -> JSONValue { Self.object(membership.qdevice.sorted { $0.key < $1.key }.map { ($0.key, Self.str($0.value)) }) }

    func replicationJSON(_ job: MembershipState.ReplicationJob, digest: Bool = false) -> JSONValue {
        var m: [(String, JSONValue)] = [("id", Self.str(job.id)), ("type", Self.str("local")), ("guest", Self.num(job.guest.rawValue)),
                                        ("jobnum", Self.num(job.jobnum)), ("target", Self.str(job.target.rawValue)), ("schedule", Self.str(job.schedule))]
        if let source = guests[job.guest]?.node { m.append(("source", Self.str(source.rawValue))) }
        if let mark = job.removeJob { m.append(("remove_job", Self.str(mark))) }
        if job.disable { m.append(("disable", Self.num(1))) }
        if digest { m.append(("digest", Self.str(haDigest(Self.object(m))))) }
        return Self.object(m)
    }

    /// Only the jobs of guests the caller may audit, as the API filters them.
    func replicationJobs() -> JSONValue {
        .array(membership.replication.values.sorted { $0.id < $1.id }.filter { audits($0.guest) }.map { replicationJSON($0) }, line: 0)
    }

    func replicationJob(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let id = request.pathParameters["id"]?.text ?? ""
        guard let job = membership.replication[id] else { throw ProxmoxAPIError(status: 500, reason: "no such replication job '\(id)'", request: where_) }
        try require("/vms/\(job.guest)", ["VM.Audit"], where_)
        return replicationJSON(job, digest: true)
    }

    func deleteReplicationJob(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let id = request.pathParameters["id"]?.text ?? ""
        let force = Self.flag(request.parameters["force"]), keep = Self.flag(request.parameters["keep"])
        if force && keep { throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["keep": "conflicts with parameter 'force'"], request: where_) }
        guard var job = membership.replication[id] else { throw ProxmoxAPIError(status: 500, reason: "no such job '\(id)'", request: where_) }
        if (schema?.major ?? 9) >= 9 { try require("/vms/\(job.guest)", ["VM.Replicate"], where_) }
        try requireQuorum(where_)
        if force {
            membership.replication[id] = nil
            return .null(line: 0)
        }
        job.removeJob = keep ? "local" : "full"
        membership.replication[id] = job
        membership.countdown[id] = membership.replicationRunnerPolls
        return .null(line: 0)
    }

    /// The replication runner: a marked job goes once its countdown ends, if the source node runs
    /// the runner and (for `full`) the target is reachable to remove the replicated volumes.
    func replicationTick() {
        for (id, left) in membership.countdown {
            guard let job = membership.replication[id], job.removeJob != nil else { membership.countdown[id] = nil; continue }
            let sourceUp = guests[job.guest].map { online[$0.node] == true } ?? false
            let targetUp = job.removeJob == "local" || online[job.target] == true
            guard !membership.stuckReplication.contains(id), sourceUp, targetUp else { continue }
            if left > 1 { membership.countdown[id] = left - 1; continue }
            membership.replication[id] = nil
            membership.countdown[id] = nil
        }
    }
}
