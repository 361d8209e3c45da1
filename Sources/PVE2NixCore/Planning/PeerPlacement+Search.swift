extension PeerPlacement {
    func committedState(_ assignment: [Int?]) -> [Peer] {
        var state = peers
        for (g, p) in assignment.enumerated() {
            guard let p else { continue }
            state[p].committedBytes += guests[g].memoryBytes
            state[p].vcpus += guests[g].vcpus
        }
        return state
    }

    /// Local search from `start`: place what now fits, then move or swap guests off the fullest peers
    /// while that lowers the fuller of the two peers involved. Each step lowers the sorted vector of
    /// peer uses, so it ends; the step cap bounds it on very large sites.
    func improved(_ start: [Int?]) -> [Int?] {
        var a = start
        var state = committedState(a)
        func use(_ p: Int) -> Double { Self.fraction(state[p].committedBytes, state[p].usableBytes) }
        func assign(_ g: Int, to p: Int?) {
            if let old = a[g] { state[old].committedBytes -= guests[g].memoryBytes; state[old].vcpus -= guests[g].vcpus }
            if let p { state[p].committedBytes += guests[g].memoryBytes; state[p].vcpus += guests[g].vcpus }
            a[g] = p
        }
        for g in guests.indices where a[g] == nil {
            if let p = guests[g].eligible.filter({ fits(g, state[$0]) }).min(by: { use($0) < use($1) }) { assign(g, to: p) }
        }
        var byPeer = Array(repeating: [Int](), count: peers.count)
        for (g, p) in a.enumerated() { if let p { byPeer[p].append(g) } }
        let maxSteps = 50 * max(guests.count, 1)
        for _ in 0..<maxSteps {
            guard let peak = peers.indices.map(use).max() else { break }
            var step: (g: Int, to: Int, swap: Int?)? = nil
            search: for p in peers.indices where use(p) >= peak - 1e-12 {
                for g in byPeer[p] {
                    for q in guests[g].eligible where q != p {
                        var target = state[q]
                        if fits(g, target) {
                            target.committedBytes += guests[g].memoryBytes
                            if Self.fraction(target.committedBytes, target.usableBytes) < peak - 1e-9 { step = (g, q, nil); break search }
                            continue
                        }
                        // A swap with a smaller guest on q that may go to p.
                        for h in byPeer[q] where guests[h].memoryBytes < guests[g].memoryBytes && guests[h].eligible.contains(p) {
                            var pp = state[p], qq = state[q]
                            pp.committedBytes -= guests[g].memoryBytes; pp.vcpus -= guests[g].vcpus
                            qq.committedBytes -= guests[h].memoryBytes; qq.vcpus -= guests[h].vcpus
                            guard fitsGuest(h, pp), fitsGuest(g, qq) else { continue }
                            pp.committedBytes += guests[h].memoryBytes
                            qq.committedBytes += guests[g].memoryBytes
                            if max(Self.fraction(pp.committedBytes, pp.usableBytes), Self.fraction(qq.committedBytes, qq.usableBytes)) < peak - 1e-9 {
                                step = (g, q, h); break search
                            }
                        }
                    }
                }
            }
            guard let step else { break }
            let from = a[step.g]!
            if let h = step.swap {
                assign(h, to: from)
                byPeer[step.to].removeAll { $0 == h }
                byPeer[from].append(h)
            }
            assign(step.g, to: step.to)
            byPeer[from].removeAll { $0 == step.g }
            byPeer[step.to].append(step.g)
        }
        return a
    }

    private func fitsGuest(_ g: Int, _ peer: Peer) -> Bool { fits(g, peer) }

    /// Branch and bound over every placement (a guest may also stay behind), starting from `incumbent`.
    /// Returns a strictly better placement, or nil when there is none or the budget ran out first
    /// without finding one.
    func exactSearch(incumbent: [Int?], budget: Int) -> [Int?]? {
        // Ready guests first, big ones first: good placements early, tight bounds sooner.
        let order = guests.indices.sorted { a, b in
            if guests[a].waits != guests[b].waits { return !guests[a].waits }
            if guests[a].memoryBytes != guests[b].memoryBytes { return guests[a].memoryBytes > guests[b].memoryBytes }
            return a < b
        }
        var readyLeft = Array(repeating: 0, count: order.count + 1), allLeft = Array(repeating: 0, count: order.count + 1)
        for k in stride(from: order.count - 1, through: 0, by: -1) {
            readyLeft[k] = readyLeft[k + 1] + (guests[order[k]].waits ? 0 : 1)
            allLeft[k] = allLeft[k + 1] + 1
        }
        // Peers that every guest sees alike are interchangeable while they hold the same load.
        let signature = peers.indices.map { p in guests.indices.filter { guests[$0].eligible.contains(p) } }
        var best = incumbent
        var bestCounts = counts(incumbent), bestPeak = peak(incumbent)
        var found = false
        var state = peers
        var current = Array<Int?>(repeating: nil, count: guests.count)
        var nodes = 0
        let basePeak = peers.indices.map { Self.fraction(peers[$0].committedBytes, peers[$0].usableBytes) }.max() ?? 0

        func visit(_ k: Int, ready: Int, all: Int, peak: Double) {
            nodes += 1
            if nodes > budget { return }
            if ready + readyLeft[k] < bestCounts.ready { return }
            if ready + readyLeft[k] == bestCounts.ready {
                if all + allLeft[k] < bestCounts.all { return }
                if all + allLeft[k] == bestCounts.all && peak >= bestPeak - 1e-9 { return }
            }
            if k == order.count {
                best = current
                bestCounts = (ready, all)
                bestPeak = peak
                found = true
                return
            }
            let g = order[k]
            let guest = guests[g]
            var options: [(p: Int, use: Double)] = []
            for p in guest.eligible where fits(g, state[p]) {
                if options.contains(where: { signature[$0.p] == signature[p] && state[$0.p] == state[p] }) { continue }
                options.append((p, Self.fraction(state[p].committedBytes + guest.memoryBytes, state[p].usableBytes)))
            }
            for option in options.sorted(by: { $0.use < $1.use }) {
                state[option.p].committedBytes += guest.memoryBytes
                state[option.p].vcpus += guest.vcpus
                current[g] = option.p
                visit(k + 1, ready: ready + (guest.waits ? 0 : 1), all: all + 1, peak: max(peak, option.use))
                current[g] = nil
                state[option.p].committedBytes -= guest.memoryBytes
                state[option.p].vcpus -= guest.vcpus
            }
            visit(k + 1, ready: ready, all: all, peak: peak)
        }
        visit(0, ready: 0, all: 0, peak: basePeak)
        return found ? best : nil
    }
}
