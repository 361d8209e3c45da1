import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// The drain's view of the run journal: it writes into one run, and reads the drain records of
/// every run of the node, so that a new run started on purpose still knows what an earlier one
/// asked for (a migration in flight, a copy already restored) and never asks twice.
public final class SQLiteDrainJournal: DrainJournal, Sendable {
    public let store: SQLiteRunJournal
    public let run: Int64
    public var path: String { store.path }

    public init(store: SQLiteRunJournal, run: Int64) {
        self.store = store
        self.run = run
    }

    /// Opens the journal at `path` and the node's newest run (a new one when there is none):
    /// for tests and tools that only read or write drain records.
    public convenience init(path: String) throws {
        let store = try SQLiteRunJournal(path: path)
        let run = try store.runs().last ?? store.begin(node: "", planHash: RunInfo.unknownPlan, newRun: false)
        self.init(store: store, run: run.id)
    }

    public func schemaVersions() throws -> [String] { try store.schemaVersions() }

    public func records() async throws -> [DrainRecord] {
        try history().map(\.record)
    }

    public func append(_ record: DrainRecord) async throws {
        try store.append(record.entry, run: run)
    }

    /// Every record with its time, for `pve2nix status`.
    public func history() throws -> [(record: DrainRecord, at: Date)] {
        let node = try store.runs().first { $0.id == run }?.node ?? ""
        let runs = Set(try store.runs().filter { $0.id == run || $0.node == node || $0.node.isEmpty }.map(\.id))
        return try store.entries().filter { runs.contains($0.run) }.compactMap { e in DrainRecord(entry: e.entry).map { ($0, e.at) } }
    }
}

/// Why a journal could not be read.
public enum JournalReadError: Error, LocalizedError, Sendable {
    case missing(String)
    case notAJournal(String, String)

    public var errorDescription: String? {
        switch self {
        case .missing(let path): "no journal at \(path)"
        case .notAJournal(let path, let why): "\(path) is not a pve2nix journal (\(why)). Give --journal the file a run wrote, or move this file away."
        }
    }
}
