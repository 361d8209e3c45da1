import Foundation
import GRDB
import PVE2NixCore

/// A rehearsal as the journal recorded it.
public struct JournalRehearsal: Sendable {
    public var networkHash: String
    public var passed: Bool
    /// What ran (the strategy and its options).
    public var detail: String
    public var at: Date
    /// Each check; nil for a rehearsal recorded before results were kept.
    public var report: RehearsalReport?
}

extension SQLiteRunJournal {
    /// Records a rehearsal of the network units whose hash is `networkHash`, with each check's result.
    public func recordRehearsal(networkHash: String, report: RehearsalReport, detail: String) throws {
        let results = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO rehearsal (network_hash, passed, detail, recorded_at, results) VALUES (?, ?, ?, ?, ?)",
                           arguments: [networkHash, report.passed, detail, Date(), results])
        }
    }

    /// The newest rehearsal of exactly the units whose hash is `networkHash`, passed or not.
    public func rehearsal(networkHash: String) throws -> JournalRehearsal? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT network_hash, passed, detail, recorded_at, results FROM rehearsal WHERE network_hash = ? ORDER BY id DESC LIMIT 1",
                             arguments: [networkHash]).map { row in
                let report = (row["results"] as String?).flatMap { try? JSONDecoder().decode(RehearsalReport.self, from: Data($0.utf8)) }
                return JournalRehearsal(networkHash: row["network_hash"], passed: row["passed"], detail: row["detail"], at: row["recorded_at"], report: report)
            }
        }
    }
}
