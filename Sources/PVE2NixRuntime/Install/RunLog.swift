import PVE2NixCore

/// One run's journal as an executor sees it: what was written so far, and the next line.
/// The live one is the SQLite run journal; tests use the in-memory one.
public protocol RunLog: Sendable {
    func entries() async throws -> [RunEntry]
    func append(_ entry: RunEntry) async throws
}

extension RunLog {
    /// The newest entry of `stage` about the node, if any.
    public func latest(_ stage: RunStage, target: String? = nil) async throws -> RunEntry? {
        try await entries().last { $0.stage == stage && $0.subject == .node && (target == nil || $0.facts.target == target) }
    }
}

/// A run's journal held in memory, shared by the runs of one test.
public actor InMemoryRunLog: RunLog {
    private var stored: [RunEntry] = []
    /// Called after each append with the number of entries so far (tests crash the run there).
    private let afterAppend: @Sendable (Int) throws -> Void

    public init(_ entries: [RunEntry] = [], afterAppend: @escaping @Sendable (Int) throws -> Void = { _ in }) {
        stored = entries
        self.afterAppend = afterAppend
    }

    public func entries() -> [RunEntry] { stored }

    public func append(_ entry: RunEntry) throws {
        stored.append(entry)
        try afterAppend(stored.count)
    }
}
