import Foundation
import GRDB
import PVE2NixRuntime

extension SQLiteRunJournal {
    /// Schema history. Add a migration; never edit a shipped one.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: drain records") { db in
            try db.create(table: "drain_record") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("vmid", .integer).notNull()
                t.column("phase", .text).notNull()
                t.column("target", .text)
                t.column("upid", .text)
                t.column("detail", .text).notNull()
                t.column("recorded_at", .datetime).notNull()
            }
        }
        m.registerMigration("v2: backup-restore steps") { db in
            try db.alter(table: "drain_record") { t in
                t.add(column: "step", .text).notNull().defaults(to: "migrate")
                t.add(column: "archive", .text)
                t.add(column: "copy_vmid", .integer)
            }
        }
        // One journal for the whole runbook: runs bound to a plan hash, and steps of every stage.
        // A drain journal's records become the drain stage of one run whose plan is unknown; the
        // next acting command adopts that run for its plan.
        m.registerMigration("v3: runs and stages") { db in
            try db.create(table: "run") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("node", .text).notNull()
                t.column("plan_hash", .text).notNull()
                t.column("started_at", .text).notNull()
                t.column("state", .text).notNull()
                t.column("ended_at", .datetime)
            }
            try db.create(table: "step") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).notNull().references("run")
                t.column("stage", .text).notNull()
                t.column("subject", .text).notNull()
                t.column("phase", .text).notNull()
                t.column("facts", .text).notNull()
                t.column("detail", .text).notNull()
                t.column("recorded_at", .datetime).notNull()
            }
            // Rehearsals, by the hash of the network units they ran: check compares the units about
            // to be installed with the last passing one.
            try db.create(table: "rehearsal") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("network_hash", .text).notNull()
                t.column("passed", .boolean).notNull()
                t.column("detail", .text).notNull()
                t.column("recorded_at", .datetime).notNull()
            }
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM drain_record") ?? 0 > 0 {
                let started = try String.fetchOne(db, sql: "SELECT MIN(recorded_at) FROM drain_record") ?? ""
                try db.execute(sql: "INSERT INTO run (node, plan_hash, started_at, state) VALUES ('', ?, ?, 'open')",
                               arguments: [RunInfo.unknownPlan, started])
                let run = db.lastInsertedRowID
                try db.execute(sql: """
                    INSERT INTO step (run_id, stage, subject, phase, facts, detail, recorded_at)
                    SELECT ?, 'drain', CASE WHEN vmid = 0 THEN 'node' ELSE 'guest:' || vmid END, phase,
                           json_object('drainStep', step, 'target', target, 'upid', upid, 'archive', archive, 'copyVMID', copy_vmid),
                           detail, recorded_at
                    FROM drain_record ORDER BY id
                    """, arguments: [run])
            }
            try db.drop(table: "drain_record")
        }
        // A rehearsal's checks, one by one (the RehearsalReport as JSON), for the report.
        m.registerMigration("v4: rehearsal results") { db in
            try db.alter(table: "rehearsal") { t in t.add(column: "results", .text) }
        }
        return m
    }
}
