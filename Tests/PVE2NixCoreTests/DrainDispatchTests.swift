import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// The executor follows the plan's schedule: its order, its grouping, and its moves that run alone.
@Suite struct DrainDispatchTests {
    static let gib: Int64 = 1 << 30

    /// One HA move that runs alone, then six live moves over two streams' worth of uplink.
    static func schedule() -> DrainSchedule {
        let model = DrainSchedule.LinkModel(uplinkBytesPerSecond: 6e8, peerLinkBytesPerSecond: 6e8, streamBytesPerSecond: 3e8, liveFixedSeconds: 5)
        var jobs = [DrainSchedule.Job(vmid: VMID(100), to: "b", method: .live, bytes: 2 * gib, fixedSeconds: 25, stopsService: false, runsAlone: true)]
        for i in 1...6 {
            jobs.append(.init(vmid: VMID(100 + i), to: i % 2 == 0 ? "b" : "c", method: .live, bytes: Int64(i) * gib, fixedSeconds: 5, stopsService: false, runsAlone: false))
        }
        return DrainSchedule.plan(jobs, model: model)
    }

    @Test func aMoveStartsOnceTheMovesItWasPlannedToFollowHaveEnded() {
        let schedule = Self.schedule()
        let dispatch = DrainDispatch(schedule: schedule)
        for e in schedule.entries {
            let before = Set(schedule.entries.filter { $0.endSeconds <= e.startSeconds }.map(\.vmid))
            let beside = Set(schedule.entries.filter { $0.vmid != e.vmid && $0.startSeconds <= e.startSeconds && $0.endSeconds > e.startSeconds }.map(\.vmid))
            #expect(dispatch.mayStart(e.vmid, ended: before, inFlight: beside), "\(e.vmid) at its planned start")
            for missing in before {
                #expect(!dispatch.mayStart(e.vmid, ended: before.subtracting([missing]), inFlight: beside.union([missing])), "\(e.vmid) before \(missing) ended")
            }
        }
    }

    @Test func aMoveThatRunsAloneRunsBesideNothing() {
        let dispatch = DrainDispatch(schedule: Self.schedule())
        #expect(dispatch.mayStart(VMID(100), ended: [], inFlight: []))
        #expect(!dispatch.mayStart(VMID(100), ended: [], inFlight: [VMID(106)]))
        #expect(!dispatch.mayStart(VMID(106), ended: [VMID(100)], inFlight: [VMID(100)]))
    }

    @Test func theCapHoldsBelowTheSchedule() {
        let schedule = Self.schedule()
        let first = schedule.entries.filter { !$0.runsAlone }.map(\.vmid)
        #expect(schedule.concurrency >= 2)
        #expect(DrainDispatch(schedule: schedule).mayStart(first[1], ended: [VMID(100)], inFlight: [first[0]]))
        #expect(!DrainDispatch(schedule: schedule, cap: 1).mayStart(first[1], ended: [VMID(100)], inFlight: [first[0]]))
    }

    /// Progress events in the order they came.
    final class EventLog: @unchecked Sendable {
        private var events: [DrainEvent] = []
        private let lock = NSLock()
        func add(_ e: DrainEvent) { lock.withLock { events.append(e) } }
        var all: [DrainEvent] { lock.withLock { events } }
    }

    static func vmid(of event: DrainEvent) -> VMID? {
        switch event {
        case .starting(let v, _), .requested(let v, _), .waiting(let v, _), .moved(let v, _), .checked(let v, _),
             .renumbered(let v, _), .skipped(let v, _), .left(let v, _), .attention(let v, _), .remaining(let v, _): return v
        }
    }

    @Test func theVillaDrainFollowsItsSchedule() async throws {
        let plan = DrainExecutorTests.plan
        let schedule = try #require(plan.drain.schedule)
        let cluster = DrainExecutorTests.cluster()
        await cluster.setTaskPolls(6)
        var e = DrainExecutorTests.executor(cluster, InMemoryDrainJournal())
        let log = EventLog()
        e.progress = { log.add($0) }
        _ = try await e.run(plan.drain)
        await DrainExecutorTests.expectDrained(cluster)
        let events = log.all
        var first: [VMID: Int] = [:], last: [VMID: Int] = [:]
        for (i, event) in events.enumerated() {
            guard let v = Self.vmid(of: event) else { continue }
            if first[v] == nil { first[v] = i }
            last[v] = i
        }
        for e in schedule.entries {
            let start = try #require(first[e.vmid])
            for before in schedule.entries where before.endSeconds <= e.startSeconds {
                #expect(last[before.vmid]! < start, "\(e.vmid) started before \(before.vmid), planned to end first, had ended")
            }
            if e.runsAlone {
                for other in schedule.entries where other.vmid != e.vmid {
                    let (s, l) = (first[other.vmid]!, last[other.vmid]!)
                    #expect(l < start || s > last[e.vmid]!, "\(other.vmid) ran beside \(e.vmid), which runs alone")
                }
            }
        }
        #expect(await cluster.mostMovesAtOnce > 1)
    }
}
