import PVE2NixCore

/// The stages of a node's conversion, in runbook order.
public enum RunStage: String, Sendable, Hashable, Codable, CaseIterable {
    case capture, drain, generate, rehearse, check, kexec
    /// Install path B: the installer image is built, booted at the rack, and answers.
    case bootImage = "boot-image"
    case build, disko, install, reboot, validate
    case clusterRemove = "cluster-remove"
    case cutover
    case rollback
}

/// What a journal entry is about: the node itself, or one guest.
public enum RunSubject: Sendable, Hashable, Codable, CustomStringConvertible {
    case node
    case guest(VMID)

    public init?(text: String) {
        if text == "node" { self = .node; return }
        guard text.hasPrefix("guest:"), let n = Int(text.dropFirst(6)), n > 0 else { return nil }
        self = .guest(VMID(n))
    }

    public var description: String {
        switch self {
        case .node: "node"
        case .guest(let id): "guest:\(id.rawValue)"
        }
    }
}

/// Where a step stands: planned → requested → verified → done, or failed.
public enum RunPhase: String, Sendable, Hashable, Codable { case planned, requested, verified, done, failed }

/// What a step learned, kept so that a resumed run never asks twice and a later stage can check.
public struct RunFacts: Sendable, Hashable, Codable {
    /// For the drain and a rollback: which of a guest's actions (migrate, shutdown, backup, restore…).
    public var drainStep: String?
    public var target: String?
    public var upid: String?
    public var archive: String?
    public var copyVMID: Int?
    public var bootID: String?
    public var hostKeyFingerprint: String?
    public var storePath: String?
    /// A whole public key (`ssh-ed25519 AAAA…`), where the journal must be able to pin it again.
    public var hostKey: String?
    /// For cluster removal: which step (`ClusterRemovalStep.key`: delnode, replication:ID, …).
    public var removalStep: String?

    public init(drainStep: String? = nil, target: String? = nil, upid: String? = nil, archive: String? = nil, copyVMID: Int? = nil,
                bootID: String? = nil, hostKeyFingerprint: String? = nil, storePath: String? = nil, removalStep: String? = nil, hostKey: String? = nil) {
        self.hostKey = hostKey
        self.drainStep = drainStep
        self.target = target
        self.upid = upid
        self.archive = archive
        self.copyVMID = copyVMID
        self.bootID = bootID
        self.hostKeyFingerprint = hostKeyFingerprint
        self.storePath = storePath
        self.removalStep = removalStep
    }
}

/// One line of a run's journal.
public struct RunEntry: Sendable, Hashable, Codable {
    public var stage: RunStage
    public var subject: RunSubject
    public var phase: RunPhase
    public var facts: RunFacts
    public var detail: String

    public init(stage: RunStage, subject: RunSubject, phase: RunPhase, facts: RunFacts = RunFacts(), detail: String) {
        self.stage = stage
        self.subject = subject
        self.phase = phase
        self.facts = facts
        self.detail = detail
    }
}

/// One conversion of a node, bound to the plan a person reviewed.
public struct RunInfo: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable { case open, finished, abandoned }
    /// The plan hash of a run carried over from a journal older than plan hashes.
    public static let unknownPlan = "unknown"
    public var id: Int64
    public var node: String
    public var planHash: String
    public var startedAt: String
    public var state: State

    public init(id: Int64, node: String, planHash: String, startedAt: String, state: State) {
        self.id = id
        self.node = node
        self.planHash = planHash
        self.startedAt = startedAt
        self.state = state
    }
}

extension DrainRecord {
    /// The drain's record as a line of the run journal.
    public var entry: RunEntry {
        RunEntry(stage: .drain, subject: vmid.rawValue == 0 ? .node : .guest(vmid), phase: RunPhase(rawValue: phase.rawValue) ?? .failed,
                 facts: RunFacts(drainStep: step.rawValue, target: target?.rawValue, upid: upid, archive: archive, copyVMID: copy?.rawValue),
                 detail: detail)
    }

    /// The drain's record from a line of the run journal (nil for other stages).
    public init?(entry: RunEntry) {
        guard entry.stage == .drain, let phase = Phase(rawValue: entry.phase.rawValue), let step = Step(rawValue: entry.facts.drainStep ?? "migrate") else { return nil }
        let vmid: VMID
        switch entry.subject {
        case .node: vmid = VMID(0)
        case .guest(let id): vmid = id
        }
        self.init(vmid: vmid, phase: phase, step: step, target: entry.facts.target.map { NodeName($0) }, upid: entry.facts.upid,
                  archive: entry.facts.archive, copy: entry.facts.copyVMID.map { VMID($0) }, detail: entry.detail)
    }
}
