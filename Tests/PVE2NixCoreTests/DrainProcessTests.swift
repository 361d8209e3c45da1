import Foundation
import GRDB
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix drain` as a separate process against the simulator over HTTPS: SIGKILLed right after
/// each journal write in turn, then run again; every time each guest ends on exactly one node, in
/// its run state, asked to move once.
nonisolated(unsafe) var lastErrors = ""

@Suite(.serialized) struct DrainProcessTests {
    /// Runs `pve2nix drain`, bounded: a run that hangs is killed after two minutes.
    static func drain(_ binary: URL, port: Int, pki: LiveClientSimulatorTests.TestPKI, journal: String, crashAfter: Int?, concurrency: Int) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["drain", "villa-pve-01", "--site", Fixtures.villa.path, "--endpoint", "https://127.0.0.1:\(port)", "--ca-file", pki.ca,
                             "--journal", journal, "--poll-interval", "0.02", "--no-health-checks", "--concurrency", String(concurrency)]
        var env = ProcessInfo.processInfo.environment
        env["PVE2NIX_TOKEN_ID"] = "pve2nix@pve!drain"
        env["PVE2NIX_TOKEN_SECRET"] = "token-secret-123"
        env["PVE2NIX_TEST_CRASH_AFTER_RECORDS"] = crashAfter.map(String.init)
        // Node locks live in the state directory: one per test, as tests drain the same node at once.
        env["XDG_STATE_HOME"] = (journal as NSString).deletingLastPathComponent + "/state"
        process.environment = env
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-drain-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: errors.path, contents: nil)
        let handle = try FileHandle(forWritingTo: errors)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? handle.close()
        lastErrors = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: errors)
        return process
    }

    @Test(.timeLimit(.minutes(5)), arguments: [1, 2])
    func killedAtEveryJournalStepAndResumed(concurrency: Int) async throws {
        #if !DEBUG
        // The crash hook exists in debug builds only; in release the executor's crash tests cover this.
        return
        #endif
        guard let binary = CommandLineTests.binary else { Issue.record("no pve2nix binary"); return }
        let plan = Planner(site: LiveClientSimulatorTests.site).plan(node: "villa-pve-01")
        #expect(plan.drain.moves.contains { $0.method == .backupRestore })
        let pki = try LiveClientSimulatorTests.makePKI()
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        var k = 1
        while true {
            let cluster = DrainExecutorTests.cluster()
            let server = try await ProxmoxSimulatorServer.start(cluster: cluster, certificate: pki.cert, key: pki.key, accounts: LiveClientSimulatorTests.accounts)
            let journal = pki.dir.appendingPathComponent("journal-\(k).sqlite").path
            let port = server.port, step = k
            let crashed = try await offloaded { try Self.drain(binary, port: port, pki: pki, journal: journal, crashAfter: step, concurrency: concurrency) }
            let killed = crashed.terminationReason == .uncaughtSignal && crashed.terminationStatus == SIGKILL
            let resumed = try await offloaded { try Self.drain(binary, port: port, pki: pki, journal: journal, crashAfter: nil, concurrency: concurrency) }
            #expect(resumed.terminationStatus == 0, "concurrency \(concurrency), step \(k): \(lastErrors)")
            await DrainExecutorTests.expectDrained(cluster, "concurrency \(concurrency), step \(k):")
            await server.stop()
            if !killed { break }  // the run finished before record k: every step has been covered
            k += 1
        }
        #expect(k > 20)
    }

    @Test func oneRunAtATimeAndAVersionedJournal() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("n.sqlite").path
        let store = try SQLiteDrainJournal(path: path)
        #expect(try store.schemaVersions() == ["v1: drain records", "v2: backup-restore steps", "v3: runs and stages", "v4: rehearsal results"])
        let lockPath = dir.appendingPathComponent("locks/n.lock").path
        let first = try DrainLock(path: lockPath, node: "n")
        #expect(throws: DrainLock.LockError.self) { _ = try DrainLock(path: lockPath, node: "n") }
        _ = first
    }

    /// A journal written by the first schema (before backup-restore steps) opens, migrates and reads.
    @Test func aVersionOneJournalIsMigrated() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-v1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("old.sqlite").path
        do {
            let old = try DatabaseQueue(path: path)
            try await old.write { db in
                try db.execute(sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('v1: drain records');
                    CREATE TABLE drain_record (id INTEGER PRIMARY KEY AUTOINCREMENT, vmid INTEGER NOT NULL, phase TEXT NOT NULL, target TEXT, upid TEXT, detail TEXT NOT NULL, recorded_at DATETIME NOT NULL);
                    INSERT INTO drain_record (vmid, phase, target, upid, detail, recorded_at) VALUES (101, 'requested', 'villa-pve-03', 'UPID:villa-pve-01:00001001:00ABCDEF:6745A1B2:vzmigrate:101:root@pam:', 'task', '2026-11-01 10:00:00');
                    """)
            }
            try old.close()
        }
        let store = try SQLiteDrainJournal(path: path)
        #expect(try store.schemaVersions() == ["v1: drain records", "v2: backup-restore steps", "v3: runs and stages", "v4: rehearsal results"])
        let records = try await store.records()
        #expect(records.count == 1)
        #expect(records.first?.step == .migrate && records.first?.phase == .requested && records.first?.upid?.hasPrefix("UPID:villa-pve-01") == true)
    }
}
