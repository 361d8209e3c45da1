import Foundation
import GRDB
import PVE2NixCore
import PVE2NixRuntime

/// The journal of a node's whole conversion in SQLite: runs, each bound to a plan hash, and their
/// steps, stage by stage. Append-only; every entry is committed before the call returns, so a
/// crash loses nothing written. The schema is versioned with migrations.
public final class SQLiteRunJournal: Sendable {
    let queue: DatabaseQueue
    public let path: String

    public init(path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        self.path = path
        try Self.migrator.migrate(queue)
    }

    private init(queue: DatabaseQueue, path: String) {
        self.queue = queue
        self.path = path
    }

    /// Opens an existing journal without writing to it: `status` only reads. A journal of an
    /// older schema is read through an in-memory copy brought up to date; the file stays as it is.
    public static func openForReading(path: String) throws -> SQLiteRunJournal {
        guard FileManager.default.fileExists(atPath: path) else { throw JournalReadError.missing(path) }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        do {
            let file = try DatabaseQueue(path: path, configuration: configuration)
            let applied = try file.read { db -> [String] in
                guard try db.tableExists("grdb_migrations") else { return [] }
                return try Self.migrator.appliedMigrations(db)
            }
            guard applied.contains("v1: drain records") else { throw JournalReadError.notAJournal(path, "it holds no pve2nix journal tables") }
            if try file.read({ db in try Self.migrator.hasCompletedMigrations(db) }) { return SQLiteRunJournal(queue: file, path: path) }
            let copy = try DatabaseQueue()
            try file.backup(to: copy)
            try Self.migrator.migrate(copy)
            return SQLiteRunJournal(queue: copy, path: path)
        } catch let error as JournalReadError {
            throw error
        } catch let error as DatabaseError {
            throw JournalReadError.notAJournal(path, error.message ?? "\(error.resultCode)")
        }
    }

    /// Applied migrations, newest last: the journal's schema version.
    public func schemaVersions() throws -> [String] {
        try queue.read { db in try Self.migrator.appliedMigrations(db) }
    }

    // MARK: Runs

    public func runs() throws -> [RunInfo] {
        try queue.read { db in try Row.fetchAll(db, sql: "SELECT id, node, plan_hash, started_at, state FROM run ORDER BY id").map(Self.run) }
    }

    /// The runs of `node` (and a run carried over from a drain journal, which has no node yet).
    public func runs(of node: String) throws -> [RunInfo] {
        try runs().filter { $0.node == node || $0.node.isEmpty }
    }

    /// The run to act in for `planHash`: the node's open run of that plan (resumed), or a new one.
    /// An open run of another plan is refused unless `newRun`, which marks it abandoned first.
    /// A run carried over from a journal older than plan hashes takes on the first plan given.
    public func begin(node: String, planHash: String, newRun: Bool) throws -> RunInfo {
        try queue.write { db in
            // A run carried over from a drain journal has no node yet ('').
            let open = try Row.fetchAll(db, sql: "SELECT id, node, plan_hash, started_at, state FROM run WHERE state = 'open' AND node IN (?, '') ORDER BY id",
                                        arguments: [node]).map(Self.run)
            if let current = open.last {
                if current.planHash == planHash && !newRun { return current }
                if current.planHash == RunInfo.unknownPlan && !newRun {
                    try db.execute(sql: "UPDATE run SET plan_hash = ?, node = ? WHERE id = ?", arguments: [planHash, node, current.id])
                    return RunInfo(id: current.id, node: node, planHash: planHash, startedAt: current.startedAt, state: .open)
                }
                guard newRun else { throw RunJournalError.otherPlanRunning(node: node, running: current.planHash, given: planHash, since: current.startedAt) }
                for run in open { try db.execute(sql: "UPDATE run SET state = 'abandoned', ended_at = ? WHERE id = ?", arguments: [Date(), run.id]) }
            }
            let now = ISO8601DateFormatter().string(from: Date())
            try db.execute(sql: "INSERT INTO run (node, plan_hash, started_at, state) VALUES (?, ?, ?, 'open')", arguments: [node, planHash, now])
            return RunInfo(id: db.lastInsertedRowID, node: node, planHash: planHash, startedAt: now, state: .open)
        }
    }

    /// Closes a run: `finished` when its last stage is done, `abandoned` when a person gives it up.
    public func end(run: Int64, as state: RunInfo.State) throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE run SET state = ?, ended_at = ? WHERE id = ?", arguments: [state.rawValue, Date(), run])
        }
    }

    // MARK: Entries

    public func append(_ entry: RunEntry, run: Int64) throws {
        let facts = String(decoding: try JSONEncoder().encode(entry.facts), as: UTF8.self)
        let novel = try queue.write { db in
            #if DEBUG
            let seen = Self.crashAfterNewStep
                ? try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM step WHERE stage = ? AND subject = ? AND phase = ?)",
                                    arguments: [entry.stage.rawValue, entry.subject.description, entry.phase.rawValue]) ?? false
                : true
            #else
            let seen = true
            #endif
            try db.execute(sql: "INSERT INTO step (run_id, stage, subject, phase, facts, detail, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [run, entry.stage.rawValue, entry.subject.description, entry.phase.rawValue, facts, entry.detail, Date()])
            return !seen
        }
        #if DEBUG
        // Committed: the kill lands right after the write, as a crash or power loss would.
        if novel { kill(getpid(), SIGKILL) }
        #else
        _ = novel
        #endif
    }

    #if DEBUG
    /// Test hook (debug builds only): with `PVE2NIX_TEST_CRASH_AFTER_NEW_STEP=1` the process is
    /// SIGKILLed right after it commits a step the journal has not seen before (by stage, subject
    /// and phase), whichever command writes it. Running a command again and again until it exits
    /// kills it once after each step of the whole run in turn, and a resumed run that writes a
    /// step again (a request repeated) goes on to its next new one.
    static let crashAfterNewStep = ProcessInfo.processInfo.environment["PVE2NIX_TEST_CRASH_AFTER_NEW_STEP"] == "1"
    #endif

    /// The entries of one run (or of every run), oldest first, with their times.
    public func entries(run: Int64? = nil) throws -> [(entry: RunEntry, at: Date, run: Int64)] {
        try queue.read { db in
            let sql = "SELECT run_id, stage, subject, phase, facts, detail, recorded_at FROM step" + (run == nil ? "" : " WHERE run_id = ?") + " ORDER BY id"
            return try Row.fetchAll(db, sql: sql, arguments: run.map { [$0] } ?? []).compactMap { row in
                guard let stage = RunStage(rawValue: row["stage"]), let subject = RunSubject(text: row["subject"]),
                      let phase = RunPhase(rawValue: row["phase"]) else { return nil }
                let facts = (row["facts"] as String?).flatMap { try? JSONDecoder().decode(RunFacts.self, from: Data($0.utf8)) } ?? RunFacts()
                return (RunEntry(stage: stage, subject: subject, phase: phase, facts: facts, detail: row["detail"]), row["recorded_at"], row["run_id"])
            }
        }
    }

    // MARK: Rehearsals

    /// Records a rehearsal of the network units whose hash is `networkHash`.
    public func recordRehearsal(networkHash: String, passed: Bool, detail: String) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO rehearsal (network_hash, passed, detail, recorded_at) VALUES (?, ?, ?, ?)",
                           arguments: [networkHash, passed, detail, Date()])
        }
    }

    /// The newest rehearsal that passed: its units' hash, what ran and when.
    public func lastPassingRehearsal() throws -> (networkHash: String, detail: String, at: Date)? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT network_hash, detail, recorded_at FROM rehearsal WHERE passed ORDER BY id DESC LIMIT 1").map {
                ($0["network_hash"], $0["detail"], $0["recorded_at"])
            }
        }
    }

    private static func run(_ row: Row) -> RunInfo {
        RunInfo(id: row["id"], node: row["node"], planHash: row["plan_hash"], startedAt: row["started_at"],
                state: RunInfo.State(rawValue: row["state"]) ?? .open)
    }
}

/// Why a run cannot start or go on.
public enum RunJournalError: Error, LocalizedError, Sendable {
    case otherPlanRunning(node: String, running: String, given: String, since: String)

    public var errorDescription: String? {
        switch self {
        case .otherPlanRunning(let node, let running, let given, let since):
            "\(node) has an unfinished run of plan \(running) (started \(since)); this command was given plan \(given). Nothing was done. Finish that run with its plan, or start a new run on purpose with --new-run (the old run stays in the journal, marked abandoned; 'pve2nix status \(node)' shows where it stopped)."
        }
    }
}
