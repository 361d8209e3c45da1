import Foundation
import GRDB
import PVE2NixCore
import PVE2NixRuntime

/// The drain journal in SQLite: one append-only table, its schema versioned with migrations.
/// Every record is committed before the call returns, so a crash loses nothing written.
public final class SQLiteDrainJournal: DrainJournal, Sendable {
    private let queue: DatabaseQueue
    public let path: String

    public init(path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        self.path = path
        try Self.migrator.migrate(queue)
    }

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
        return m
    }

    private static let columns = "vmid, phase, step, target, upid, archive, copy_vmid, detail"

    private static func record(_ row: Row) -> DrainRecord? {
        guard let phase = DrainRecord.Phase(rawValue: row["phase"]), let step = DrainRecord.Step(rawValue: row["step"]) else { return nil }
        let target: String? = row["target"]
        let copy: Int? = row["copy_vmid"]
        return DrainRecord(vmid: VMID(row["vmid"] as Int), phase: phase, step: step, target: target.map { NodeName($0) }, upid: row["upid"],
                           archive: row["archive"], copy: copy.map { VMID($0) }, detail: row["detail"])
    }

    /// Applied migrations, newest last: the journal's schema version.
    public func schemaVersions() throws -> [String] {
        try queue.read { db in try Self.migrator.appliedMigrations(db) }
    }

    public func records() async throws -> [DrainRecord] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM drain_record ORDER BY id").compactMap(Self.record)
        }
    }

    public func append(_ record: DrainRecord) async throws {
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO drain_record (\(Self.columns), recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           arguments: [record.vmid.rawValue, record.phase.rawValue, record.step.rawValue, record.target?.rawValue, record.upid,
                                       record.archive, record.copy?.rawValue, record.detail, Date()])
        }
    }

    /// Every record with its time, for `pve2nix status`.
    public func history() throws -> [(record: DrainRecord, at: Date)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.columns), recorded_at FROM drain_record ORDER BY id").compactMap { row in
                Self.record(row).map { ($0, row["recorded_at"]) }
            }
        }
    }
}

/// One run at a time per node: an exclusive `flock` on `<journal>.lock`, which the kernel drops
/// when the holder exits, even by SIGKILL, so a crashed run never blocks the next.
public final class DrainLock: Sendable {
    private let fd: Int32
    public let path: String

    public enum LockError: Error, LocalizedError, Sendable {
        case held(String)
        case cannotOpen(String, Int32)
        public var errorDescription: String? {
            switch self {
            case .held(let p): "another pve2nix run holds \(p): only one drain of a node may run at a time. Wait for it to finish (or stop it); the journal lets the next run resume."
            case .cannotOpen(let p, let e): "cannot open the lock file \(p) (errno \(e))"
            }
        }
    }

    public init(journalPath: String) throws {
        path = journalPath + ".lock"
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LockError.cannotOpen(path, errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw LockError.held(path)
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
