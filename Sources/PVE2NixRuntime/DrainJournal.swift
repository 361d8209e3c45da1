import PVE2NixCore

/// Where one guest's move stands. Written before and after every action, so a resumed drain
/// knows what it may have done: planned → requested (UPID) → verified → done, or failed.
public struct DrainRecord: Sendable, Hashable, Codable {
    public enum Phase: String, Sendable, Hashable, Codable { case planned, requested, verified, done, failed }

    public var vmid: VMID
    public var phase: Phase
    public var target: NodeName?
    public var upid: String?
    public var detail: String

    public init(vmid: VMID, phase: Phase, target: NodeName?, upid: String? = nil, detail: String) {
        self.vmid = vmid
        self.phase = phase
        self.target = target
        self.upid = upid
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
