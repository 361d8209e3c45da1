/// One run's journal as a stage reads and writes it: every entry of the run (other stages too,
/// e.g. whether disko ended), and appending. The live one is the SQLite run journal.
public protocol StageJournal: Sendable {
    func entries() async throws -> [RunEntry]
    func append(_ entry: RunEntry) async throws
}

extension StageJournal {
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

/// A run journal in memory, shared by the runs of one test.
public actor InMemoryStageJournal: StageJournal {
    private var stored: [RunEntry]
    public init(_ entries: [RunEntry] = []) { stored = entries }
    public func entries() -> [RunEntry] { stored }
    public func append(_ entry: RunEntry) { stored.append(entry) }
}

/// Reads through to another journal and keeps nothing: a dry run writes no journal.
public struct ReadOnlyStageJournal: StageJournal {
    public let inner: (any StageJournal)?
    public init(_ inner: (any StageJournal)?) { self.inner = inner }
    public func entries() async throws -> [RunEntry] { try await inner?.entries() ?? [] }
    public func append(_ entry: RunEntry) async throws {}
}
