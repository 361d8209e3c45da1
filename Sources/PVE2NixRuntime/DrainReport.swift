import PVE2NixCore

/// What `pve2nix drain --json` prints.
public struct DrainReport: Sendable, Encodable {
    public struct Left: Sendable, Encodable { public var vmid: VMID; public var why: String }
    public struct Health: Sendable, Encodable { public var vmid: VMID; public var failures: [String] }
    public struct Renumbered: Sendable, Encodable { public var vmid: VMID; public var copy: VMID }
    public var node: String
    public var journal: String
    public var moved: [VMID] = []
    public var alreadyDone: [VMID] = []
    public var left: [Left] = []
    public var healthFailures: [Health] = []
    public var renumbered: [Renumbered] = []
    /// The node carries no guests: read from the cluster after the moves.
    public var empty = false
    public var error: String? = nil

    public init(node: String, journal: String) {
        self.node = node
        self.journal = journal
    }

    public mutating func record(_ o: DrainOutcome) {
        moved = o.moved.sorted()
        alreadyDone = o.alreadyDone.sorted()
        left = o.left.keys.sorted().map { Left(vmid: $0, why: o.left[$0]!) }
        healthFailures = o.healthFailures.keys.sorted().map { Health(vmid: $0, failures: o.healthFailures[$0]!) }
        renumbered = o.renumbered.keys.sorted().map { Renumbered(vmid: $0, copy: o.renumbered[$0]!) }
        empty = o.left.isEmpty
    }
}

