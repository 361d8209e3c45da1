import Foundation
import PVE2NixRuntime

/// One run of the SQLite run journal as a stage sees it: that run's entries, and appends to it.
public final class SQLiteStageJournal: StageJournal, Sendable {
    public let store: SQLiteRunJournal
    public let run: Int64

    public init(store: SQLiteRunJournal, run: Int64) {
        self.store = store
        self.run = run
    }

    public func entries() async throws -> [RunEntry] { try store.entries(run: run).map(\.entry) }
    public func append(_ entry: RunEntry) async throws { try store.append(entry, run: run) }
}
