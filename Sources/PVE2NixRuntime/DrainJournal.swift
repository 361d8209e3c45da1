import PVE2NixCore

/// Where one guest's move stands. Written before and after every action, so a resumed drain
/// knows what it may have done: planned → requested (UPID) → verified → done, or failed.
/// A migration is one step; a backup-restore is several (shutdown, backup, restore, delete), each
/// planned → requested → verified.
public struct DrainRecord: Sendable, Hashable, Codable {
    public enum Phase: String, Sendable, Hashable, Codable { case planned, requested, verified, done, failed }
    public enum Step: String, Sendable, Hashable, Codable {
        case migrate, shutdown, backup, restore, start, delete
        /// An HA rule or group changed so that HA no longer wants the node (detail: before → after).
        case ha
        /// The drain's marker on the node (its notes) set or cleared.
        case marker
    }

    public var vmid: VMID
    public var phase: Phase
    public var step: Step
    public var target: NodeName?
    public var upid: String?
    /// The backup archive (volid) a backup-restore made and checked.
    public var archive: String?
    /// The VMID the backup-restore restores the guest under on the target.
    public var copy: VMID?
    /// The HA rule or group a step `ha` changed.
    public var ha: HAChange?
    public var detail: String

    public init(vmid: VMID, phase: Phase, step: Step = .migrate, target: NodeName?, upid: String? = nil, archive: String? = nil, copy: VMID? = nil,
                ha: HAChange? = nil, detail: String) {
        self.vmid = vmid
        self.phase = phase
        self.step = step
        self.target = target
        self.upid = upid
        self.archive = archive
        self.copy = copy
        self.ha = ha
        self.detail = detail
    }
}

/// The drain's durable memory. The live one is SQLite; tests use the in-memory one.
public protocol DrainJournal: Sendable {
    func records() async throws -> [DrainRecord]
    func append(_ record: DrainRecord) async throws
}

extension DrainJournal {
    /// The newest record of each guest.
    public func latest() async throws -> [VMID: DrainRecord] {
        var result: [VMID: DrainRecord] = [:]
        for r in try await records() { result[r.vmid] = r }
        return result
    }
}

/// A journal held in memory, shared by the runs of one test.
public actor InMemoryDrainJournal: DrainJournal {
    private var stored: [DrainRecord] = []
    public init() {}
    public func records() -> [DrainRecord] { stored }
    public func append(_ record: DrainRecord) { stored.append(record) }
}
