/// An estimated timeline of the drain: each move's duration from the bytes it moves over an assumed
/// link rate, run `concurrency` at a time in plan order. An honest guess for review, not a
/// schedule: a planned schedule can replace it without changing what draws it.
public struct DrainTimeline: Sendable, Hashable {
    /// What the estimate assumes, printed next to it.
    public struct Assumptions: Sendable, Hashable {
        /// Bytes per second a migration, backup or restore moves.
        public var linkBytesPerSecond: Double
        /// Moves run at the same time.
        public var concurrency: Int
        /// Shutting a guest down and starting it again.
        public var restartSeconds: Double
        /// Fixed cost of any move (task start, locks, checks).
        public var overheadSeconds: Double

        public init(linkBytesPerSecond: Double = 110_000_000, concurrency: Int = 1, restartSeconds: Double = 45, overheadSeconds: Double = 15) {
            self.linkBytesPerSecond = linkBytesPerSecond
            self.concurrency = concurrency
            self.restartSeconds = restartSeconds
            self.overheadSeconds = overheadSeconds
        }
    }

    public struct Slot: Sendable, Hashable {
        public var vmid: VMID
        public var kind: GuestKind
        public var name: String
        public var to: NodeName
        public var method: MigrationMethod
        public var downtime: DowntimeClass
        /// Seconds from the drain's start.
        public var start: Double
        public var duration: Double
        /// Seconds the guest's service is down (0 for a live move, or a guest that is not running).
        public var downtimeSeconds: Double
        public var bytesMoved: Int64
        /// Which of the `concurrency` lanes it runs in.
        public var lane: Int

        public var end: Double { start + duration }
    }

    public var slots: [Slot]
    /// Moves that do not happen (`none`): nothing to time.
    public var unscheduled: [VMID]
    public var assumptions: Assumptions

    public var totalSeconds: Double { slots.map(\.end).max() ?? 0 }

    public init(slots: [Slot], unscheduled: [VMID], assumptions: Assumptions) {
        self.slots = slots
        self.unscheduled = unscheduled
        self.assumptions = assumptions
    }

    /// The estimate for `drain`. `diskBytes` gives each guest's local disk bytes (what a move with
    /// local disks, or a backup and restore, copies).
    public static func estimate(_ drain: DrainPlan, diskBytes: [VMID: Int64], assumptions: Assumptions = Assumptions()) -> DrainTimeline {
        let lanes = max(1, assumptions.concurrency)
        var free = Array(repeating: 0.0, count: lanes)
        var slots: [Slot] = []
        var unscheduled: [VMID] = []
        for move in drain.moves {
            guard move.method.movesGuest, let to = move.to else { unscheduled.append(move.vmid); continue }
            let disks = diskBytes[move.vmid] ?? 0
            let running = move.status == "running" && !move.template
            let bytes: Int64
            var fixed = assumptions.overheadSeconds
            switch move.method {
            case .live: bytes = move.memoryBytes + (move.withLocalDisks ? disks : 0)
            case .restart:
                bytes = move.withLocalDisks ? disks : 0
                fixed += running ? assumptions.restartSeconds : 0
            case .offline:
                bytes = move.withLocalDisks ? disks : 0
                fixed += running ? assumptions.restartSeconds : 0
            case .backupRestore:
                // Written to the backup storage, then read back onto the target.
                bytes = disks.multipliedReportingOverflow(by: 2).overflow ? Int64.max : disks * 2
                fixed += running ? assumptions.restartSeconds : 0
            case .none: bytes = 0
            }
            let duration = fixed + Double(bytes) / max(1, assumptions.linkBytesPerSecond)
            let lane = free.indices.min { free[$0] < free[$1] }!
            let start = free[lane]
            free[lane] = start + duration
            let down: Double = !running ? 0 : move.method == .live ? 0 : duration
            slots.append(Slot(vmid: move.vmid, kind: move.kind, name: move.name, to: to, method: move.method, downtime: move.downtime,
                              start: start, duration: duration, downtimeSeconds: down, bytesMoved: bytes, lane: lane))
        }
        return DrainTimeline(slots: slots, unscheduled: unscheduled, assumptions: assumptions)
    }

    /// Each guest's local disk bytes (volumes that are not CD-ROMs on storage that is not shared).
    public static func localDiskBytes(of guests: [Guest], storages: [StorageDefinition]) -> [VMID: Int64] {
        var out: [VMID: Int64] = [:]
        for guest in guests {
            var total: Int64 = 0
            for volume in guest.volumes where !volume.isCDROM {
                // Bind mounts and shared storage stay where they are.
                guard case .storage(let id, _) = volume.source, storages.first(where: { $0.id == id })?.shared != true else { continue }
                total = total &+ max(0, volume.sizeBytes ?? 0)
            }
            out[guest.vmid] = total
        }
        return out
    }
}

/// Seconds as a person reads a duration: `45 s`, `3 min`, `1 h 20 min`.
public enum DurationText {
    public static func string(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 90 { return "\(s) s" }
        let minutes = Int((Double(s) / 60).rounded())
        if minutes < 90 { return "\(minutes) min" }
        return "\(minutes / 60) h \(minutes % 60) min"
    }
}
