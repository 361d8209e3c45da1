import PVE2NixCore
import PVE2NixRuntime

/// One run of the SQLite run journal, as the install and validation read and write it.
public final class SQLiteRunLog: RunLog, Sendable {
    public let store: SQLiteRunJournal
    public let run: Int64

    public init(store: SQLiteRunJournal, run: Int64) {
        self.store = store
        self.run = run
    }

    public func entries() async throws -> [RunEntry] { try store.entries(run: run).map(\.entry) }
    public func append(_ entry: RunEntry) async throws { try store.append(entry, run: run) }
}
