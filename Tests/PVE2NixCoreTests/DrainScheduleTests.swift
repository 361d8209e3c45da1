import PVE2NixCore
import Testing

/// The placement's search and the drain schedule's model on cases small enough to check by hand.
@Suite struct DrainScheduleTests {
    static let gib: Int64 = 1 << 30

    @Test func placementFindsTheEvenSplitTheGreedyPassMisses() {
        // 3,3,2,2,2 GiB on two 10 GiB peers: greedy gives 7 and 5; the optimum is 6 and 6.
        let peers = [PeerPlacement.Peer(usableBytes: 10 * Self.gib, committedBytes: 0, vcpus: 0, vcpuLimit: 100),
                     PeerPlacement.Peer(usableBytes: 10 * Self.gib, committedBytes: 0, vcpus: 0, vcpuLimit: 100)]
        let guests = [3, 3, 2, 2, 2].map { PeerPlacement.Guest(memoryBytes: Int64($0) * Self.gib, vcpus: 1, eligible: [0, 1], waits: false) }
        let problem = PeerPlacement(peers: peers, guests: guests)
        #expect(problem.peak(problem.greedy()) == 0.7)
        #expect(problem.peak(problem.solve()) == 0.6)
        #expect(problem.isFeasible(problem.solve()))
    }

    @Test func readyGuestsGetTheLastRoomFirst() {
        // Room for one 4 GiB guest: the one that waits on an operator stays behind, even when it comes first.
        let peers = [PeerPlacement.Peer(usableBytes: 4 * Self.gib, committedBytes: 0, vcpus: 0, vcpuLimit: 100)]
        let guests = [PeerPlacement.Guest(memoryBytes: 4 * Self.gib, vcpus: 1, eligible: [0], waits: true),
                      PeerPlacement.Guest(memoryBytes: 4 * Self.gib, vcpus: 1, eligible: [0], waits: false)]
        #expect(PeerPlacement(peers: peers, guests: guests).solve() == [nil, 0])
    }

    @Test func placementPlacesEveryGuestWhenSomeArrangementFitsThem() {
        // Greedy puts the 3 GiB guest on the emptier peer and then cannot fit the 4 GiB one pinned there.
        let peers = [PeerPlacement.Peer(usableBytes: 4 * Self.gib, committedBytes: 0, vcpus: 0, vcpuLimit: 100),
                     PeerPlacement.Peer(usableBytes: 6 * Self.gib, committedBytes: 3 * Self.gib, vcpus: 0, vcpuLimit: 100)]
        let guests = [PeerPlacement.Guest(memoryBytes: 3 * Self.gib, vcpus: 1, eligible: [0, 1], waits: false),
                      PeerPlacement.Guest(memoryBytes: 4 * Self.gib, vcpus: 1, eligible: [0], waits: false)]
        let problem = PeerPlacement(peers: peers, guests: guests)
        #expect(problem.counts(problem.greedy()).all == 1)
        #expect(problem.solve() == [1, 0])
    }

    @Test func uplinkBoundScheduleMeetsTheBound() {
        // Eight 10 GB live moves over a 1 GB/s uplink with 300 MB/s streams: the uplink decides, about 80 s.
        var model = DrainSchedule.LinkModel(uplinkBytesPerSecond: 1e9, peerLinkBytesPerSecond: 1e9, streamBytesPerSecond: 3e8, liveFixedSeconds: 0)
        model.peerLinks = [:]
        let jobs = (0..<8).map { DrainSchedule.Job(vmid: VMID(100 + $0), to: NodeName($0 % 2 == 0 ? "a" : "b"), method: .live, bytes: 10_000_000_000, fixedSeconds: 0, stopsService: false, runsAlone: false) }
        let schedule = DrainSchedule.plan(jobs, model: model)
        #expect(schedule.lowerBoundSeconds == 80)
        #expect(schedule.makespanSeconds <= 80 * 1.10)
        #expect(schedule.entries.count == 8)
        #expect(schedule.entries.allSatisfy { $0.downtimeSeconds == 0 })
    }

    @Test func movesThatRunAloneDoNotOverlapAnything() {
        let model = DrainSchedule.LinkModel()
        var jobs = (0..<4).map { DrainSchedule.Job(vmid: VMID(100 + $0), to: "a", method: .restart, bytes: 1_000_000_000, fixedSeconds: 10, stopsService: true, runsAlone: false) }
        jobs.append(.init(vmid: VMID(200), to: "b", method: .live, bytes: 4_000_000_000, fixedSeconds: 25, stopsService: false, runsAlone: true))
        let schedule = DrainSchedule.plan(jobs, model: model)
        let alone = schedule.entries.first { $0.vmid == VMID(200) }!
        for e in schedule.entries where e.vmid != alone.vmid {
            #expect(e.endSeconds <= alone.startSeconds || e.startSeconds >= alone.endSeconds, "\(e.vmid) overlaps the HA move")
        }
        #expect(schedule.entries.filter { $0.vmid != alone.vmid }.allSatisfy { $0.downtimeSeconds > 0 })
    }
}
