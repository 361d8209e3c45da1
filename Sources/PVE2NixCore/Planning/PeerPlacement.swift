/// Which peer takes which guest: the drain's placement as a small assignment problem, so that the
/// planner and the benchmark judge the same thing.
///
/// A placement is better when more guests that move without an operator's action are placed, then
/// when more guests are placed in all, then when the peak memory use (committed over usable, the
/// fullest peer) is lower. No peer is filled past its usable memory or its vCPU limit.
public struct PeerPlacement: Sendable, Hashable {
    public struct Peer: Sendable, Hashable {
        public var usableBytes: Int64
        public var committedBytes: Int64
        public var vcpus: Int
        public var vcpuLimit: Int
        public init(usableBytes: Int64, committedBytes: Int64, vcpus: Int, vcpuLimit: Int) {
            self.usableBytes = usableBytes
            self.committedBytes = committedBytes
            self.vcpus = vcpus
            self.vcpuLimit = vcpuLimit
        }
    }

    public struct Guest: Sendable, Hashable {
        public var memoryBytes: Int64
        public var vcpus: Int
        /// Peers (indices into `peers`) that pass every check other than room.
        public var eligible: [Int]
        /// Waits on an operator's action before it can move: gets room only after those that do not.
        public var waits: Bool
        public init(memoryBytes: Int64, vcpus: Int, eligible: [Int], waits: Bool) {
            self.memoryBytes = memoryBytes
            self.vcpus = vcpus
            self.eligible = eligible
            self.waits = waits
        }
    }

    public var peers: [Peer]
    /// In the planner's order of preference: the greedy pass places them in this order.
    public var guests: [Guest]

    public init(peers: [Peer], guests: [Guest]) {
        self.peers = peers
        self.guests = guests
    }

    /// Exact search runs when the instance is this small; above it, the greedy pass and local search.
    public static let exactGuestLimit = 16
    public static let exactPeerLimit = 8

    /// The planner's placement: greedy, improved by moves and swaps, and made exact on small instances.
    public func solve(searchBudget: Int = 2_000_000) -> [Int?] {
        var best = improved(greedy())
        if guests.count <= Self.exactGuestLimit && peers.count <= Self.exactPeerLimit {
            if let exact = exactSearch(incumbent: best, budget: searchBudget) { best = exact }
        }
        return best
    }

    /// Peak use over the peers for an assignment: the largest committed / usable.
    public func peak(_ assignment: [Int?]) -> Double {
        var committed = peers.map(\.committedBytes)
        for (g, p) in assignment.enumerated() { if let p { committed[p] += guests[g].memoryBytes } }
        return peers.indices.map { Self.fraction(committed[$0], peers[$0].usableBytes) }.max() ?? 0
    }

    /// Placed guests that do not wait, and placed guests in all.
    public func counts(_ assignment: [Int?]) -> (ready: Int, all: Int) {
        let placed = assignment.indices.filter { assignment[$0] != nil }
        return (placed.filter { !guests[$0].waits }.count, placed.count)
    }

    /// True when `a` is strictly better than `b`.
    public func isBetter(_ a: [Int?], than b: [Int?]) -> Bool {
        let (ca, cb) = (counts(a), counts(b))
        if ca.ready != cb.ready { return ca.ready > cb.ready }
        if ca.all != cb.all { return ca.all > cb.all }
        return peak(a) < peak(b) - 1e-9
    }

    /// Whether the assignment keeps every peer within its memory and vCPU limits and uses only eligible peers.
    public func isFeasible(_ assignment: [Int?]) -> Bool {
        var state = peers
        for (g, p) in assignment.enumerated() {
            guard let p else { continue }
            guard guests[g].eligible.contains(p), fits(g, state[p]) else { return false }
            state[p].committedBytes += guests[g].memoryBytes
            state[p].vcpus += guests[g].vcpus
        }
        return true
    }

    static func fraction(_ committed: Int64, _ usable: Int64) -> Double { Double(committed) / Double(max(usable, 1)) }

    func fits(_ g: Int, _ peer: Peer) -> Bool {
        let guest = guests[g]
        return peer.committedBytes.saturatingAdd(guest.memoryBytes) <= peer.usableBytes
            && (guest.vcpus == 0 || peer.vcpus.saturatingAdd(guest.vcpus) <= peer.vcpuLimit)
    }

    /// The greedy pass alone (each guest in order to the eligible peer least full after taking it):
    /// the planner's placement before local search and exact search were added, for comparison.
    public func greedy() -> [Int?] {
        var state = peers
        return guests.indices.map { g in
            var best: (peer: Int, score: Double)? = nil
            for p in guests[g].eligible where fits(g, state[p]) {
                let score = Self.fraction(state[p].committedBytes + guests[g].memoryBytes, state[p].usableBytes)
                if best == nil || score < best!.score - 1e-9 { best = (p, score) }
            }
            guard let best else { return nil }
            state[best.peer].committedBytes += guests[g].memoryBytes
            state[best.peer].vcpus += guests[g].vcpus
            return best.peer
        }
    }
}
