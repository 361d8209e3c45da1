import Foundation
import PVE2NixCore

/// Section 4: the planner's placement (PeerPlacement.solve, what DrainPlanner uses) against the
/// optimum from exhaustive search, on seeded instances of at most 12 guests and 2-4 peers.
func runPlacementBenchmark(instances: Int) {
    var rng = SyntheticSite.Generator(state: 4242)
    let gib: Int64 = 1 << 30
    var worst = 1.0, worstGreedy = 1.0, within = 0, overCapacity = 0, leftBehind = 0, readyBehind = 0, greedyLeftBehind = 0, compared = 0
    var competing = 0
    let start = Date()
    for _ in 0..<instances {
        let peerCount = 2 + rng.below(3), guestCount = 1 + rng.below(12)
        let peers = (0..<peerCount).map { _ -> PeerPlacement.Peer in
            let usable = [16, 32, 48, 64][rng.below(4)] * gib
            let cpus = [8, 16, 32][rng.below(3)]
            return PeerPlacement.Peer(usableBytes: usable, committedBytes: usable * Int64(rng.below(70)) / 100, vcpus: rng.below(cpus * 2), vcpuLimit: cpus * 4)
        }
        let guests = (0..<guestCount).map { _ -> PeerPlacement.Guest in
            let memory = [gib / 2, gib, 2 * gib, 4 * gib, 8 * gib, 16 * gib][rng.below(6)]
            var eligible = Array(0..<peerCount)
            if rng.below(5) == 0 { eligible = eligible.filter { _ in rng.below(2) == 0 } } // HA rules, storage, pins
            return PeerPlacement.Guest(memoryBytes: memory, vcpus: 1 + rng.below(8), eligible: eligible, waits: rng.below(5) == 0)
        }
        let problem = PeerPlacement(peers: peers, guests: guests)
        let planned = problem.solve()
        let greedy = problem.greedy()
        let optimum = exhaustiveOptimum(problem)
        if !problem.isFeasible(planned) { overCapacity += 1 }
        let (cp, co, cg) = (problem.counts(planned), problem.counts(optimum), problem.counts(greedy))
        if co.all < guestCount { competing += 1 }
        if cp.ready < co.ready { readyBehind += 1 }
        if cp.all < co.all || cp.ready < co.ready { leftBehind += 1; continue }
        if cg.all < co.all || cg.ready < co.ready { greedyLeftBehind += 1 } else { worstGreedy = max(worstGreedy, problem.peak(greedy) / problem.peak(optimum)) }
        compared += 1
        let ratio = problem.peak(planned) / problem.peak(optimum)
        worst = max(worst, ratio)
        if ratio <= 1.02 { within += 1 }
    }
    let elapsed = Date().timeIntervalSince(start)
    print("placement (peak memory use over the peers after the drain, planner / exhaustive optimum; \(instances) seeded instances, 1-12 guests, 2-4 peers; \(competing) where not every guest fits)")
    print(String(format: "  within 2%% of the optimum: %d of %d; worst ratio %.4f (target <= 1.02 on every instance) %@", within, compared, worst, worst <= 1.02 && compared == instances ? "(meets)" : "(MISSES)"))
    print("  over capacity: \(overCapacity) (target 0) \(overCapacity == 0 ? "(meets)" : "(MISSES)"); a guest left behind that some placement fits: \(leftBehind) (target 0) \(leftBehind == 0 ? "(meets)" : "(MISSES)"); a ready guest left behind for one that waits on an operator: \(readyBehind) (target 0) \(readyBehind == 0 ? "(meets)" : "(MISSES)")")
    print(String(format: "  for comparison, the greedy pass alone (the planner before this change): worst ratio %.4f, a guest left behind on %d instances; search took %.2f s in all", worstGreedy, greedyLeftBehind, elapsed))
}

/// The best placement by exhaustive search: every guest on every eligible peer with room, or left
/// behind. Written apart from the planner's search; it prunes only branches that cannot beat the best
/// found (the peak only grows as guests are added).
func exhaustiveOptimum(_ problem: PeerPlacement) -> [Int?] {
    let guests = problem.guests
    var committed = problem.peers.map(\.committedBytes), vcpus = problem.peers.map(\.vcpus)
    var current = Array<Int?>(repeating: nil, count: guests.count)
    var best = current
    var bestKey = (ready: 0, all: 0, peak: problem.peak(best))
    let readyAfter = (0...guests.count).map { k in guests[k...].filter { !$0.waits }.count }
    func search(_ k: Int, ready: Int, all: Int, peak: Double) {
        if ready + readyAfter[k] < bestKey.ready { return }
        if ready + readyAfter[k] == bestKey.ready && all + (guests.count - k) < bestKey.all { return }
        if ready + readyAfter[k] == bestKey.ready && all + (guests.count - k) == bestKey.all && peak >= bestKey.peak - 1e-9 { return }
        if k == guests.count {
            best = current
            bestKey = (ready, all, peak)
            return
        }
        let g = guests[k]
        for p in g.eligible where committed[p] + g.memoryBytes <= problem.peers[p].usableBytes && vcpus[p] + g.vcpus <= problem.peers[p].vcpuLimit {
            committed[p] += g.memoryBytes; vcpus[p] += g.vcpus; current[k] = p
            search(k + 1, ready: ready + (g.waits ? 0 : 1), all: all + 1, peak: max(peak, Double(committed[p]) / Double(problem.peers[p].usableBytes)))
            committed[p] -= g.memoryBytes; vcpus[p] -= g.vcpus; current[k] = nil
        }
        search(k + 1, ready: ready, all: all, peak: peak)
    }
    search(0, ready: 0, all: 0, peak: problem.peak(best))
    return best
}
