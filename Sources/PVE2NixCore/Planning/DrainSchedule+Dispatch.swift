/// How an executor follows a planned schedule: moves start in the schedule's order, a move only once
/// every move the schedule planned to end before it started has ended (the slot it was planned into
/// has freed), a move that runs alone only with nothing else in flight, and nothing beside it.
///
/// The rule is on events, not on the clock: when a move takes longer than planned, the moves
/// planned after it wait for it rather than crowd its links; when it is quicker, they start early.
public struct DrainDispatch: Sendable {
    /// Planned start, planned end and whether it runs alone, by guest.
    struct Slot: Sendable { var start: Double; var end: Double; var runsAlone: Bool }
    let slots: [VMID: Slot]
    /// Most moves in flight: the schedule's most at once, or `cap` below it.
    public let cap: Int

    /// `cap`: at most this many moves at once whatever the schedule allows (`drain --concurrency`).
    /// A move planned to start when another's bytes are sent (its fixed cost still running) has no
    /// end to wait for; the schedule's most-at-once keeps it from starting before its slot frees.
    public init(schedule: DrainSchedule, cap: Int? = nil) {
        var slots: [VMID: Slot] = [:]
        for e in schedule.entries { slots[e.vmid] = Slot(start: e.startSeconds, end: e.endSeconds, runsAlone: e.runsAlone) }
        self.slots = slots
        self.cap = max(1, min(cap ?? Int.max, schedule.concurrency))
    }

    /// The moves in the order they start: the schedule's, then moves it does not hold (moves that
    /// stay, or a plan whose schedule predates them) in plan order.
    public func order(_ moves: [DrainMove]) -> [DrainMove] {
        let planned = moves.enumerated().sorted { a, b in
            switch (slots[a.element.vmid], slots[b.element.vmid]) {
            case let (x?, y?): return (x.start, x.end, a.element.vmid) < (y.start, y.end, b.element.vmid)
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.offset < b.offset
            }
        }
        return planned.map(\.element)
    }

    /// Whether `vmid`, the next move in `order`, may start now. `ended`: moves that have ended (or
    /// were done before this run); `inFlight`: moves running now.
    public func mayStart(_ vmid: VMID, ended: Set<VMID>, inFlight: Set<VMID>) -> Bool {
        if inFlight.count >= cap { return false }
        guard let slot = slots[vmid] else { return true }
        if inFlight.contains(where: { slots[$0]?.runsAlone == true }) { return false }
        if slot.runsAlone && inFlight.contains(where: { slots[$0] != nil }) { return false }
        // Tenths of a second, as the schedule is rounded.
        return slots.allSatisfy { other in other.key == vmid || other.value.end > slot.start + 0.05 || ended.contains(other.key) }
    }
}
