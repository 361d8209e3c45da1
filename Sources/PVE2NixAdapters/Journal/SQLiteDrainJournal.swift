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

    private init(queue: DatabaseQueue, path: String) {
        self.queue = queue
        self.path = path
    }

    /// Opens an existing journal without writing to it: `status` only reads. A journal of an
    /// older schema is read through an in-memory copy brought up to date; the file stays as it is.
    public static func openForReading(path: String) throws -> SQLiteDrainJournal {
        guard FileManager.default.fileExists(atPath: path) else { throw JournalReadError.missing(path) }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        do {
            let file = try DatabaseQueue(path: path, configuration: configuration)
            let applied = try file.read { db -> [String] in
                guard try db.tableExists("grdb_migrations"), try db.tableExists("drain_record") else { return [] }
                return try Self.migrator.appliedMigrations(db)
            }
            guard applied.contains("v1: drain records") else { throw JournalReadError.notAJournal(path, "it holds no pve2nix journal tables") }
            if try file.read({ db in try Self.migrator.hasCompletedMigrations(db) }) { return SQLiteDrainJournal(queue: file, path: path) }
            let copy = try DatabaseQueue()
            try file.backup(to: copy)
            try Self.migrator.migrate(copy)
            return SQLiteDrainJournal(queue: copy, path: path)
        } catch let error as JournalReadError {
            throw error
        } catch let error as DatabaseError {
            throw JournalReadError.notAJournal(path, error.message ?? "\(error.resultCode)")
        }
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

/// Why a journal could not be read.
public enum JournalReadError: Error, LocalizedError, Sendable {
    case missing(String)
    case notAJournal(String, String)

    public var errorDescription: String? {
        switch self {
        case .missing(let path): "no journal at \(path)"
        case .notAJournal(let path, let why): "\(path) is not a pve2nix journal (\(why)). Give --journal the file a drain wrote, or move this file away."
        }
    }
}

/// One run at a time per node: an exclusive `flock` on the node's lock file, which the kernel drops
/// when the holder exits, even by SIGKILL, so a crashed run never blocks the next.
public final class DrainLock: Sendable {
    private let fd: Int32
    public let path: String

    public enum LockError: Error, LocalizedError, Sendable {
        case held(String, node: String)
        case cannotOpen(String, String)
        public var errorDescription: String? {
            switch self {
            case .held(let p, let node): "another pve2nix run for \(node) is in progress (it holds \(p)): only one run acts on a node at a time, whatever journal each uses. Wait for it to finish, or stop it; the journal lets the next run resume."
            case .cannotOpen(let p, let why): "cannot create the lock file \(p): \(why). Check that its directory is writable (set XDG_STATE_HOME to use another place)."
            }
        }
    }

    /// Takes the lock at `path`, creating its directory first.
    public init(path: String, node: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LockError.cannotOpen(path, (error as NSError).localizedDescription)
        }
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw LockError.cannotOpen(path, String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw LockError.held(path, node: node)
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
