/// Runs a set of moves over shared links as fluids: every stream in flight gets a max-min fair share
/// of the links it crosses, capped at the stream limit. Moves start in the given order as soon as
/// the rules allow; each move is its transfer legs, then its fixed cost (which holds no link).
struct FluidSimulation {
    let jobs: [DrainSchedule.Job]
    let model: DrainSchedule.LinkModel

    enum Leg { case transfer(bytes: Double, uplink: Bool, peer: Bool), wait(Double) }

    init(jobs: [DrainSchedule.Job], model: DrainSchedule.LinkModel) {
        self.jobs = jobs
        self.model = model
    }

    func legs(_ job: DrainSchedule.Job) -> [Leg] {
        var legs: [Leg] = []
        if job.bytes > 0 {
            if job.method == .backupRestore {
                legs.append(.transfer(bytes: Double(job.bytes), uplink: true, peer: false))
                legs.append(.transfer(bytes: Double(job.bytes), uplink: false, peer: true))
            } else {
                legs.append(.transfer(bytes: Double(job.bytes), uplink: true, peer: true))
            }
        }
        legs.append(.wait(job.fixedSeconds))
        return legs
    }

    func run(order: [Int], uplinkStreams: Int, peerStreams: (NodeName) -> Int, moveLimit: Int?, honourAlone: Bool) -> [(start: Double, end: Double)] {
        var times = Array(repeating: (start: 0.0, end: 0.0), count: jobs.count)
        var pending = order
        var active: [(job: Int, legs: [Leg])] = []
        var now = 0.0
        func uses(_ leg: Leg?) -> (uplink: Bool, peer: Bool) {
            if case .transfer(_, let u, let p)? = leg { return (u, p) }
            return (false, false)
        }
        while !pending.isEmpty || !active.isEmpty {
            // Start what the rules allow, in order.
            var i = 0
            while i < pending.count {
                let j = pending[i], job = jobs[j]
                if honourAlone && active.contains(where: { jobs[$0.job].runsAlone }) { break }
                if honourAlone && job.runsAlone {
                    if !active.isEmpty { break }
                } else {
                    if let moveLimit, active.count >= moveLimit { break }
                    let first = uses(legs(job).first)
                    if first.uplink && active.filter({ uses($0.legs.first).uplink }).count >= uplinkStreams { i += 1; continue }
                    if first.peer && active.filter({ jobs[$0.job].to == job.to && uses($0.legs.first).peer }).count >= peerStreams(job.to) { i += 1; continue }
                    if let key = job.exclusiveKey, active.contains(where: { jobs[$0.job].exclusiveKey == key }) { i += 1; continue }
                }
                times[j].start = now
                active.append((j, legs(job)))
                pending.remove(at: i)
            }
            guard !active.isEmpty else { break }
            let rates = shares(active.map { (uses($0.legs.first), jobs[$0.job].to) })
            // The next leg to finish.
            var step = Double.infinity
            for (k, a) in active.enumerated() {
                switch a.legs.first! {
                case .transfer(let bytes, _, _): step = min(step, bytes / rates[k])
                case .wait(let s): step = min(step, s)
                }
            }
            now += step
            for k in active.indices.reversed() {
                switch active[k].legs.first! {
                case .transfer(let bytes, let u, let p):
                    let left = bytes - rates[k] * step
                    if left <= max(1, bytes * 1e-9) { active[k].legs.removeFirst() } else { active[k].legs[0] = .transfer(bytes: left, uplink: u, peer: p) }
                case .wait(let s):
                    if s - step <= 1e-9 { active[k].legs.removeFirst() } else { active[k].legs[0] = .wait(s - step) }
                }
                // Zero-length waits end at once.
                while case .wait(let s)? = active[k].legs.first, s <= 1e-9 { active[k].legs.removeFirst() }
                if active[k].legs.isEmpty {
                    times[active[k].job].end = now
                    active.remove(at: k)
                }
            }
        }
        return times
    }

    /// Max-min fair rates for flows over the uplink and the peers' links, each capped at the stream limit.
    /// A flow in its fixed cost (no link) gets rate 0, which it does not use.
    func shares(_ flows: [(uses: (uplink: Bool, peer: Bool), to: NodeName)]) -> [Double] {
        var rate = Array(repeating: 0.0, count: flows.count)
        var open = Set(flows.indices.filter { flows[$0].uses.uplink || flows[$0].uses.peer })
        while !open.isEmpty {
            // Each link's room per open flow, above the current level.
            var limit = model.streamBytesPerSecond
            var bottleneck: String? = nil
            var resources: [String: (cap: Double, used: Double, open: Int)] = [:]
            for f in flows.indices {
                var keys: [String] = []
                if flows[f].uses.uplink { keys.append("uplink") }
                if flows[f].uses.peer { keys.append("peer:\(flows[f].to.rawValue)") }
                for key in keys {
                    let cap = key == "uplink" ? model.uplinkBytesPerSecond : model.peerLink(flows[f].to)
                    var r = resources[key] ?? (cap, 0, 0)
                    if open.contains(f) { r.open += 1 } else { r.used += rate[f] }
                    resources[key] = r
                }
            }
            for (key, r) in resources where r.open > 0 {
                let fair = (r.cap - r.used) / Double(r.open)
                if fair < limit { limit = fair; bottleneck = key }
            }
            limit = max(limit, 1)
            if let bottleneck {
                for f in open where (bottleneck == "uplink" && flows[f].uses.uplink) || (bottleneck == "peer:\(flows[f].to.rawValue)" && flows[f].uses.peer) {
                    rate[f] = limit
                    open.remove(f)
                }
            } else {
                for f in open { rate[f] = limit }
                open.removeAll()
            }
        }
        return rate
    }
}
