/// The planned drain schedule: which moves run together, in which order, over which links, with each
/// move's start and end and each guest's downtime, under a stated link model.
///
/// What decides a drain's length: the bytes each move sends (memory for a live migration, disks for
/// local-disk moves, the archive for backup and restore, twice: to the backup storage and from it),
/// the node's uplink and each peer's link shared fairly among the streams that use them, a rate limit
/// per stream, a fixed cost per move, and moves that must run alone (HA-managed moves; backup and
/// restore, one at a time per backup storage).
public struct DrainSchedule: Sendable, Hashable, Codable {
    /// What the schedule assumes about the links and fixed costs.
    public struct LinkModel: Sendable, Hashable, Codable {
        public var uplinkBytesPerSecond: Double
        /// Every peer's link, unless `peerLinks` names it.
        public var peerLinkBytesPerSecond: Double
        /// By node name.
        public var peerLinks: [String: Double]
        /// One migration stream's limit (Proxmox migrates one guest over one encrypted stream).
        public var streamBytesPerSecond: Double
        /// A live migration's switch-over and task overhead.
        public var liveFixedSeconds: Double
        /// Shutting down and starting again (restart, offline and backup-restore of a running guest).
        public var restartFixedSeconds: Double
        /// Task overhead of any other move.
        public var moveFixedSeconds: Double
        /// Waiting for the HA manager to report the guest on its target.
        public var haFixedSeconds: Double

        /// 10 GbE uplink and peers, 300 MB/s per stream (an SSH-tunnelled migration on a current CPU).
        public init(uplinkBytesPerSecond: Double = 1.25e9, peerLinkBytesPerSecond: Double = 1.25e9, peerLinks: [String: Double] = [:],
                    streamBytesPerSecond: Double = 3e8, liveFixedSeconds: Double = 5, restartFixedSeconds: Double = 30,
                    moveFixedSeconds: Double = 5, haFixedSeconds: Double = 20) {
            self.uplinkBytesPerSecond = uplinkBytesPerSecond
            self.peerLinkBytesPerSecond = peerLinkBytesPerSecond
            self.peerLinks = peerLinks
            self.streamBytesPerSecond = streamBytesPerSecond
            self.liveFixedSeconds = liveFixedSeconds
            self.restartFixedSeconds = restartFixedSeconds
            self.moveFixedSeconds = moveFixedSeconds
            self.haFixedSeconds = haFixedSeconds
        }

        public func peerLink(_ node: NodeName) -> Double { peerLinks[node.rawValue] ?? peerLinkBytesPerSecond }
    }

    /// One move to schedule: what it sends, where, and what it must not run beside.
    public struct Job: Sendable, Hashable, Codable {
        public var vmid: VMID
        public var to: NodeName
        public var method: MigrationMethod
        /// Bytes sent from the node to the peer (memory and/or local disks); for backup-restore, the archive.
        public var bytes: Int64
        public var fixedSeconds: Double
        /// The guest's service stops for the whole move (restart, offline, backup-restore of a running guest).
        public var stopsService: Bool
        /// Nothing else may run beside it.
        public var runsAlone: Bool
        /// At most one move with the same key at a time (backup-restore through one backup storage).
        public var exclusiveKey: String?

        public init(vmid: VMID, to: NodeName, method: MigrationMethod, bytes: Int64, fixedSeconds: Double, stopsService: Bool, runsAlone: Bool, exclusiveKey: String? = nil) {
            self.vmid = vmid
            self.to = to
            self.method = method
            self.bytes = bytes
            self.fixedSeconds = fixedSeconds
            self.stopsService = stopsService
            self.runsAlone = runsAlone
            self.exclusiveKey = exclusiveKey
        }

        /// Bytes that leave the node over its uplink (a backup's archive once: its restore reads from the backup storage).
        public var uplinkBytes: Int64 { bytes }
    }

    public struct Entry: Sendable, Hashable, Codable {
        public var vmid: VMID
        public var to: NodeName
        public var method: MigrationMethod
        public var bytes: Int64
        /// Seconds from the drain's start.
        public var startSeconds: Double
        public var endSeconds: Double
        /// Seconds the guest's service is down during the move (0 for a live move or a stopped guest).
        public var downtimeSeconds: Double
        public var runsAlone: Bool
    }

    /// In start order.
    public var entries: [Entry]
    public var makespanSeconds: Double
    /// The bytes that must leave the node over its uplink, over the uplink, but never less than the
    /// longest single move on its own.
    public var lowerBoundSeconds: Double
    /// Most moves in flight at once: what `drain --concurrency` should allow.
    public var concurrency: Int
    public var model: LinkModel

    /// Makespan over the lower bound (1.0 is the physical limit).
    public var boundRatio: Double { lowerBoundSeconds > 0 ? makespanSeconds / lowerBoundSeconds : 1 }
}

extension DrainSchedule {
    /// The jobs for a drain plan's moves that go somewhere. `diskBytes`: each guest's local disk bytes.
    public static func jobs(for drain: DrainPlan, diskBytes: [VMID: Int64], model: LinkModel = LinkModel()) -> [Job] {
        drain.moves.compactMap { move in
            guard move.method.movesGuest, let to = move.to else { return nil }
            let running = move.status == "running" && !move.template
            let disks = max(0, diskBytes[move.vmid] ?? 0)
            var fixed = model.moveFixedSeconds
            let bytes: Int64
            switch move.method {
            case .live:
                bytes = move.memoryBytes.saturatingAdd(move.withLocalDisks ? disks : 0)
                fixed = model.liveFixedSeconds
            case .restart, .offline:
                bytes = move.withLocalDisks ? disks : 0
                if running { fixed += model.restartFixedSeconds }
            case .backupRestore:
                bytes = disks
                if running { fixed += model.restartFixedSeconds }
            case .none:
                return nil
            }
            if move.haManaged { fixed += model.haFixedSeconds }
            return Job(vmid: move.vmid, to: to, method: move.method, bytes: bytes, fixedSeconds: fixed,
                       stopsService: running && move.method != .live, runsAlone: move.haManaged,
                       exclusiveKey: move.method == .backupRestore ? "backup:\(drain.backupStorage ?? "")" : nil)
        }
    }

    /// The issue's physical bound: uplink bytes over the uplink, never less than the longest move alone.
    public static func lowerBound(_ jobs: [Job], model: LinkModel) -> Double {
        let bytes = jobs.reduce(Int64(0)) { $0.saturatingAdd($1.uplinkBytes) }
        let longest = jobs.map { aloneSeconds($0, model: model) }.max() ?? 0
        return max(Double(bytes) / model.uplinkBytesPerSecond, longest)
    }

    /// A bound that also counts what the model forbids running together: moves that run alone one
    /// after another beside nothing, moves sharing a backup storage one after another, and each
    /// peer's link. The schedule can reach this one; the gap from `lowerBound` to it is the price of
    /// the rules, not of the scheduler.
    public static func constrainedLowerBound(_ jobs: [Job], model: LinkModel) -> Double {
        var bound = lowerBound(jobs, model: model)
        let alone = jobs.filter(\.runsAlone)
        let rest = jobs.filter { !$0.runsAlone }
        // Nothing runs beside a move that runs alone, so the rest fits in the time left over.
        bound = max(bound, alone.map { aloneSeconds($0, model: model) }.reduce(0, +)
                    + max(Double(rest.reduce(Int64(0)) { $0.saturatingAdd($1.uplinkBytes) }) / model.uplinkBytesPerSecond,
                          rest.map { aloneSeconds($0, model: model) }.max() ?? 0))
        for key in Set(jobs.compactMap(\.exclusiveKey)) {
            bound = max(bound, jobs.filter { $0.exclusiveKey == key }.map { aloneSeconds($0, model: model) }.reduce(0, +))
        }
        for peer in Set(jobs.map(\.to)) {
            let bytes = jobs.filter { $0.to == peer }.reduce(Int64(0)) { $0.saturatingAdd($1.bytes) }
            bound = max(bound, Double(bytes) / model.peerLink(peer))
        }
        return bound
    }

    /// One job's length with the links to itself.
    public static func aloneSeconds(_ job: Job, model: LinkModel) -> Double {
        let rate = min(model.streamBytesPerSecond, model.uplinkBytesPerSecond, model.peerLink(job.to))
        let legs = job.method == .backupRestore ? 2.0 : 1.0
        return job.fixedSeconds + legs * Double(job.bytes) / rate
    }

    /// The planned schedule: moves that run alone first, one after another; then the rest longest
    /// first, starting a move whenever the uplink and its peer's link have a stream's worth of room.
    public static func plan(_ jobs: [Job], model: LinkModel = LinkModel()) -> DrainSchedule {
        // Moves that share a backup storage form a chain: start it early, it is the critical path.
        let order = jobs.indices.sorted { a, b in
            if jobs[a].runsAlone != jobs[b].runsAlone { return jobs[a].runsAlone }
            if (jobs[a].exclusiveKey != nil) != (jobs[b].exclusiveKey != nil) { return jobs[a].exclusiveKey != nil }
            let (la, lb) = (aloneSeconds(jobs[a], model: model), aloneSeconds(jobs[b], model: model))
            if la != lb { return la > lb }
            return jobs[a].vmid < jobs[b].vmid
        }
        let streams = max(1, Int((model.uplinkBytesPerSecond / model.streamBytesPerSecond).rounded(.up)))
        let simulation = FluidSimulation(jobs: jobs, model: model)
        let times = simulation.run(order: order, uplinkStreams: streams, peerStreams: { node in
            max(1, Int((model.peerLink(node) / model.streamBytesPerSecond).rounded(.up)))
        }, moveLimit: nil, honourAlone: true)
        return DrainSchedule(jobs: jobs, times: times, model: model)
    }

    /// Proxmox's `migrateall`: every guest to `target`, `maxWorkers` at a time, in VMID order, with no
    /// regard for HA or a shared backup storage (for comparison only).
    public static func migrateAll(_ jobs: [Job], to target: NodeName, maxWorkers: Int, model: LinkModel = LinkModel()) -> DrainSchedule {
        let retargeted = jobs.map { job -> Job in var j = job; j.to = target; return j }
        let order = retargeted.indices.sorted { retargeted[$0].vmid < retargeted[$1].vmid }
        let simulation = FluidSimulation(jobs: retargeted, model: model)
        let times = simulation.run(order: order, uplinkStreams: Int.max, peerStreams: { _ in Int.max }, moveLimit: max(1, maxWorkers), honourAlone: false)
        return DrainSchedule(jobs: retargeted, times: times, model: model)
    }

    init(jobs: [Job], times: [(start: Double, end: Double)], model: LinkModel) {
        var entries: [Entry] = []
        for (i, job) in jobs.enumerated() {
            // Tenths of a second: the plan is reviewed and diffed, and the model is no finer than that.
            let start = (times[i].start * 10).rounded() / 10, end = (times[i].end * 10).rounded() / 10
            entries.append(Entry(vmid: job.vmid, to: job.to, method: job.method, bytes: job.bytes, startSeconds: start, endSeconds: end,
                                 downtimeSeconds: job.stopsService ? end - start : 0, runsAlone: job.runsAlone))
        }
        entries.sort { ($0.startSeconds, $0.vmid) < ($1.startSeconds, $1.vmid) }
        var most = 0
        for e in entries { most = max(most, entries.filter { $0.startSeconds <= e.startSeconds + 1e-9 && $0.endSeconds > e.startSeconds + 1e-9 }.count) }
        self.init(entries: entries, makespanSeconds: entries.map(\.endSeconds).max() ?? 0,
                  lowerBoundSeconds: (Self.lowerBound(jobs, model: model) * 10).rounded() / 10, concurrency: max(most, entries.isEmpty ? 0 : 1), model: model)
    }
}
