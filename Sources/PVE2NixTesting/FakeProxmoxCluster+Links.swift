import PVE2NixCore

/// Link timing, a test knob and no part of the API: with a time scale, a migration, backup or
/// restore lasts the bytes it sends over the links it crosses, shared max-min fairly among the
/// transfers in flight and capped per stream, then a fixed cost. A migration sends the guest's local
/// disks (and its memory when live) out of its node and into its target; a backup sends the archive
/// out of the node; a restore brings it into the target. The drain schedule plans with the same
/// model, so a drain run against it measures the makespan the plan promised.
extension FakeProxmoxCluster {
    public struct LinkTiming: Sendable {
        /// Each node's link, by name; `defaultLink` for the rest.
        public var nodeLinks: [NodeName: Double]
        public var defaultLink: Double
        public var streamBytesPerSecond: Double
        /// Fixed seconds after the bytes: a live migration's switch-over, any other migration's
        /// task overhead, a container's restart on its target.
        public var liveFixedSeconds: Double
        public var moveFixedSeconds: Double
        public var restartFixedSeconds: Double

        /// The drain schedule's model, with `node` (the one drained) on its uplink.
        public init(_ model: DrainSchedule.LinkModel, drained node: NodeName) {
            var links = Dictionary(uniqueKeysWithValues: model.peerLinks.map { (NodeName($0.key), $0.value) })
            links[node] = model.uplinkBytesPerSecond
            nodeLinks = links
            defaultLink = model.peerLinkBytesPerSecond
            streamBytesPerSecond = model.streamBytesPerSecond
            liveFixedSeconds = model.liveFixedSeconds
            moveFixedSeconds = model.moveFixedSeconds
            restartFixedSeconds = model.restartFixedSeconds
        }

        func capacity(_ link: String) -> Double {
            nodeLinks[NodeName(String(link.split(separator: ":", maxSplits: 1).last ?? ""))] ?? defaultLink
        }
    }

    /// Time transfers by their bytes over `timing` (needs a time scale; nil: by size at a fixed rate).
    public func setLinkTiming(_ timing: LinkTiming?) {
        advanceTransfers()
        linkTiming = timing
    }

    /// Makes a task just started send `bytes` over `links`, then last `fixed` seconds.
    func transfer(_ upid: JSONValue, bytes: Double, links: [String], fixed: Double) {
        guard linkTiming != nil, timeScale != nil, let id = upid.stringValue, var task = tasks[id] else { return }
        task.bytesLeft = bytes
        task.links = links
        task.seconds = fixed
        tasks[id] = task
    }

    /// Gives every transfer in flight its share of the links from the last advance until now,
    /// stepping from one transfer's end to the next so that shares change when they should.
    func advanceTransfers() {
        let instant = clock.now
        defer { transfersAdvancedAt = instant }
        guard let timing = linkTiming, let scale = timeScale, scale > 0, var at = transfersAdvancedAt else { return }
        while at < instant {
            let active = taskOrder.filter { tasks[$0].map { $0.isRunning && !$0.queued && !$0.neverEnds && $0.bytesLeft > 0 } ?? false }
            guard !active.isEmpty else { return }
            let rates = Self.fairShares(active.map { tasks[$0]!.links }, timing: timing)
            let window = Self.seconds(instant - at) / scale
            let step = min(window, active.indices.map { tasks[active[$0]]!.bytesLeft / max(rates[$0], 1) }.min() ?? window)
            let stepEnd = step >= window ? instant : at.advanced(by: .seconds(step * scale))
            for (k, upid) in active.enumerated() {
                tasks[upid]!.bytesLeft -= rates[k] * step
                if tasks[upid]!.bytesLeft <= 1 {
                    tasks[upid]!.bytesLeft = 0
                    // Its fixed cost starts when its last byte arrived.
                    tasks[upid]!.startedAt = stepEnd
                }
            }
            at = stepEnd
        }
    }

    /// Max-min fair rates for flows over shared links, each capped at the stream limit.
    static func fairShares(_ flows: [[String]], timing: LinkTiming) -> [Double] {
        var rate = Array(repeating: 0.0, count: flows.count)
        var open = Set(flows.indices)
        while !open.isEmpty {
            var limit = timing.streamBytesPerSecond, bottleneck: String?
            var used: [String: Double] = [:], count: [String: Int] = [:]
            for f in flows.indices {
                for link in flows[f] { if open.contains(f) { count[link, default: 0] += 1 } else { used[link, default: 0] += rate[f] } }
            }
            for (link, n) in count {
                let fair = (timing.capacity(link) - used[link, default: 0]) / Double(n)
                if fair < limit { limit = fair; bottleneck = link }
            }
            limit = max(limit, 1)
            for f in open where bottleneck == nil || flows[f].contains(bottleneck!) {
                rate[f] = limit
                open.remove(f)
            }
        }
        return rate
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
