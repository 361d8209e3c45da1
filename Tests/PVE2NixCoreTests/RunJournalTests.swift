import Foundation
import GRDB
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import Testing

/// The journal of the whole runbook: runs bound to a plan hash, stages, and old drain journals.
@Suite struct RunJournalTests {
    static func temporaryJournal() throws -> (URL, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-runs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return (dir, dir.appendingPathComponent("n.journal.sqlite").path)
    }

    @Test func aRunIsBoundToItsPlanAndANewRunIsOnPurpose() throws {
        let (dir, path) = try Self.temporaryJournal()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteRunJournal(path: path)
        let first = try store.begin(node: "n", planHash: "aaaa1111", newRun: false)
        #expect(try store.begin(node: "n", planHash: "aaaa1111", newRun: false).id == first.id)
        let error = #expect(throws: RunJournalError.self) { _ = try store.begin(node: "n", planHash: "bbbb2222", newRun: false) }
        let message = error?.localizedDescription ?? ""
        #expect(message.contains("aaaa1111") && message.contains("bbbb2222") && message.contains("--new-run"))
        let second = try store.begin(node: "n", planHash: "bbbb2222", newRun: true)
        #expect(second.id != first.id)
        #expect(try store.runs().map(\.state) == [.abandoned, .open])
        try store.end(run: second.id, as: .finished)
        // With no open run, any plan starts a new one.
        #expect(try store.begin(node: "n", planHash: "cccc3333", newRun: false).id > second.id)
    }

    /// A run started anew on purpose still knows what the drain of an earlier run asked for: a copy
    /// restored there is never restored a second time.
    @Test func aNewRunSeesTheDrainOfEarlierRuns() async throws {
        let (dir, path) = try Self.temporaryJournal()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteRunJournal(path: path)
        let first = try store.begin(node: "n", planHash: "aaaa1111", newRun: false)
        try await SQLiteDrainJournal(store: store, run: first.id).append(DrainRecord(vmid: VMID(105), phase: .verified, step: .restore, target: "p", copy: VMID(130), detail: "restored"))
        let second = try store.begin(node: "n", planHash: "bbbb2222", newRun: true)
        let records = try await SQLiteDrainJournal(store: store, run: second.id).records()
        #expect(records.map(\.vmid) == [VMID(105)] && records.first?.copy == VMID(130))
    }

    /// Two nodes sharing one --journal file: one node's run neither blocks nor is abandoned by the other's.
    @Test func runsOfTwoNodesInOneFileStayApart() throws {
        let (dir, path) = try Self.temporaryJournal()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteRunJournal(path: path)
        let a = try store.begin(node: "a", planHash: "aaaa1111", newRun: false)
        let b = try store.begin(node: "b", planHash: "bbbb2222", newRun: false)
        _ = try store.begin(node: "b", planHash: "cccc3333", newRun: true)
        #expect(try store.runs().first { $0.id == a.id }?.state == .open)
        #expect(try store.runs().first { $0.id == b.id }?.state == .abandoned)
        #expect(try store.begin(node: "a", planHash: "aaaa1111", newRun: false).id == a.id)
    }

    @Test func stagesAndFactsAreKeptPerRun() throws {
        let (dir, path) = try Self.temporaryJournal()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteRunJournal(path: path)
        let run = try store.begin(node: "n", planHash: "aaaa1111", newRun: false)
        try store.append(RunEntry(stage: .check, subject: .node, phase: .done, facts: RunFacts(hostKeyFingerprint: "SHA256:abc"), detail: "host key"), run: run.id)
        try store.append(RunEntry(stage: .reboot, subject: .node, phase: .verified, facts: RunFacts(bootID: "b-1", storePath: "/nix/store/x-nixos"), detail: "booted"), run: run.id)
        let entries = try store.entries(run: run.id)
        #expect(entries.map(\.entry.stage) == [.check, .reboot])
        #expect(entries[0].entry.facts.hostKeyFingerprint == "SHA256:abc" && entries[1].entry.facts.bootID == "b-1")
        let report = try RunStatusReport(node: "n", journal: SQLiteRunJournal.openForReading(path: path))
        #expect(report.stages.map(\.stage) == [.check, .reboot])
        #expect(report.current?.planHash == "aaaa1111")
    }

    /// A journal a drain wrote before runs existed (schema v2) opens; its records become the drain
    /// stage of one run, which the next acting command adopts for its plan.
    @Test func aVersionTwoDrainJournalBecomesARun() async throws {
        let (dir, path) = try Self.temporaryJournal()
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let old = try DatabaseQueue(path: path)
            try await old.write { db in
                try db.execute(sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('v1: drain records');
                    INSERT INTO grdb_migrations VALUES ('v2: backup-restore steps');
                    CREATE TABLE drain_record (id INTEGER PRIMARY KEY AUTOINCREMENT, vmid INTEGER NOT NULL, phase TEXT NOT NULL, target TEXT, upid TEXT, detail TEXT NOT NULL, recorded_at DATETIME NOT NULL, step TEXT NOT NULL DEFAULT 'migrate', archive TEXT, copy_vmid INTEGER);
                    INSERT INTO drain_record (vmid, phase, target, upid, detail, recorded_at, step, archive, copy_vmid) VALUES (0, 'done', NULL, NULL, 'marker set', '2026-11-01 09:59:00', 'marker', NULL, NULL);
                    INSERT INTO drain_record (vmid, phase, target, upid, detail, recorded_at, step, archive, copy_vmid) VALUES (103, 'verified', 'villa-pve-02', 'UPID:villa-pve-02:1:2:3:qmrestore:105:root@pam:', 'restored', '2026-11-01 10:00:00', 'restore', 'pbs:backup/vm/103/2026-11-01T09:59:00Z', 105);
                    """)
            }
            try old.close()
        }
        // status reads it without changing the file.
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let report = try RunStatusReport(node: "n", journal: SQLiteRunJournal.openForReading(path: path))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(report.current?.planHash == RunInfo.unknownPlan)
        #expect(report.marker == "marker set")
        #expect(report.guests.map(\.vmid) == [VMID(103)])
        let restored = try #require(report.guests.first)
        #expect(restored.step == .restore && restored.copy == VMID(105) && restored.archive?.hasPrefix("pbs:") == true && restored.target == NodeName("villa-pve-02"))
        // The next drain adopts the old run for its plan and resumes from its records.
        let store = try SQLiteRunJournal(path: path)
        let run = try store.begin(node: "n", planHash: "aaaa1111", newRun: false)
        #expect(try store.runs().count == 1 && run.planHash == "aaaa1111")
        let drain = SQLiteDrainJournal(store: store, run: run.id)
        #expect(try await drain.records().map(\.vmid) == [VMID(0), VMID(103)])
    }
}
