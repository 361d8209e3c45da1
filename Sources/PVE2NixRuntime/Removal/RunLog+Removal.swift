/// What the cluster removal reads from its run's journal.
extension RunLog {
    /// Whether the run shows the disk wiped: stage `disko` ended.
    public func diskWiped() async throws -> Bool {
        try await entries().contains { $0.stage == .disko && $0.phase == .done }
    }

    /// The newest phase of each cluster-removal step, by `ClusterRemovalStep.key`.
    public func removalPhases() async throws -> [String: RunPhase] {
        var phases: [String: RunPhase] = [:]
        for e in try await entries() where e.stage == .clusterRemove {
            if let key = e.facts.removalStep { phases[key] = e.phase }
        }
        return phases
    }
}

/// Reads through to another journal and keeps nothing: a dry run writes no journal.
public struct ReadOnlyRunLog: RunLog {
    public let inner: (any RunLog)?
    public init(_ inner: (any RunLog)?) { self.inner = inner }
    public func entries() async throws -> [RunEntry] { try await inner?.entries() ?? [] }
    public func append(_ entry: RunEntry) async throws {}
}
