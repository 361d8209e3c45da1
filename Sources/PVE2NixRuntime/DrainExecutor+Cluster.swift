import PVE2NixCore

/// What the drain reads of the cluster before and after every action, through `ProxmoxTasks`.
extension DrainExecutor {
    typealias ClusterView = ProxmoxTasks.ClusterView

    var tasks: ProxmoxTasks { ProxmoxTasks(api: api, clock: clock, pollInterval: limits.pollInterval, readRetries: limits.readRetries) }

    func readCluster() async throws -> ClusterView { try await tasks.cluster() }

    /// A read, retried with a growing pause while the failure is transient (timeouts, 5xx, 595).
    func read(_ request: ProxmoxRequest) async throws -> JSONValue { try await tasks.read(request) }
}
