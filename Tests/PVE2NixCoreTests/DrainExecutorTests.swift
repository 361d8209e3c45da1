import Foundation
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

struct SimulatedCrash: Error {}

/// Crashes (throws) right after the k-th record is written: like SIGKILL after that write.
actor CrashingJournal: DrainJournal {
    let inner: InMemoryDrainJournal
    let crashAfter: Int
    var written = 0
    init(_ inner: InMemoryDrainJournal, crashAfter: Int) { self.inner = inner; self.crashAfter = crashAfter }
    func records() async throws -> [DrainRecord] { await inner.records() }
    func append(_ record: DrainRecord) async throws {
        await inner.append(record)
        written += 1
        if written == crashAfter { throw SimulatedCrash() }
    }
}

/// Sends the k-th migration request, then crashes before its answer (the UPID) is seen.
actor CrashingAPI: ProxmoxAPI {
    let inner: FakeProxmoxCluster
    let crashOnPost: Int
    var posts = 0
    init(_ inner: FakeProxmoxCluster, crashOnPost: Int) { self.inner = inner; self.crashOnPost = crashOnPost }
    func send(_ request: ProxmoxRequest) async throws -> JSONValue {
        let answer = try await inner.send(request)
        if request.method == .post { posts += 1; if posts == crashOnPost { throw SimulatedCrash() } }
        return answer
    }
}

@Suite struct DrainExecutorTests {
    static let site = Fixtures.loadSite(Fixtures.villa)
    static let plan = Planner(site: site).plan(node: "villa-pve-01")
    static let movable = plan.drain.moves.filter { $0.method.movesGuest && $0.method != .backupRestore }

    static func executor(_ api: any ProxmoxAPI, _ journal: any DrainJournal, _ clock: ImmediateClock = ImmediateClock()) -> DrainExecutor {
        var e = DrainExecutor(api: api, journal: journal, clock: clock)
        e.limits.taskTimeout = .seconds(120)
        e.limits.haTimeout = .seconds(60)
        return e
    }

    /// Each guest on exactly one node (its planned target), in its original run state, asked to move once.
    static func expectDrained(_ cluster: FakeProxmoxCluster) async {
        let guests = await cluster.guests
        let requests = await cluster.migrationRequests
        for move in movable {
            let g = guests[move.vmid]
            #expect(g?.node == move.to, "\(move.vmid) is on \(g?.node.rawValue ?? "nowhere"), planned \(move.to?.rawValue ?? "-")")
            #expect(g?.status == move.status, "\(move.vmid) was \(move.status), is \(g?.status ?? "?")")
            #expect(g?.lock == nil)
            #expect(requests[move.vmid] == 1, "\(move.vmid) was asked to migrate \(requests[move.vmid] ?? 0) times")
        }
        #expect(guests.count == site.resources.count)
    }

    @Test func drainsVillaThroughTheAPI() async throws {
        let cluster = FakeProxmoxCluster(site: Self.site)
        let journal = InMemoryDrainJournal()
        let outcome = try await Self.executor(cluster, journal).run(Self.plan.drain)
        await Self.expectDrained(cluster)
        #expect(Set(outcome.moved) == Set(Self.movable.map(\.vmid)))
        // The backup-restore guest is left, and said so.
        #expect(outcome.left.keys.sorted() == [VMID(105)])
        #expect(await cluster.guests(on: "villa-pve-01") == [VMID(105)])
        let phases = await journal.records().filter { $0.vmid == VMID(101) }.map(\.phase)
        #expect(phases == [.planned, .requested, .verified, .done])
        // A second run has nothing to do and asks for nothing.
        let again = try await Self.executor(cluster, journal).run(Self.plan.drain)
        #expect(Set(again.alreadyDone) == Set(Self.movable.map(\.vmid)))
        await Self.expectDrained(cluster)
    }

    @Test func resumesAfterACrashAtEveryJournalStep() async throws {
        let counting = InMemoryDrainJournal()
        _ = try await Self.executor(FakeProxmoxCluster(site: Self.site), counting).run(Self.plan.drain)
        let steps = await counting.records().count
        #expect(steps > 20)
        for k in 1...steps {
            let cluster = FakeProxmoxCluster(site: Self.site)
            let journal = InMemoryDrainJournal()
            await #expect(throws: SimulatedCrash.self, "crash after record \(k)") {
                _ = try await Self.executor(cluster, CrashingJournal(journal, crashAfter: k)).run(Self.plan.drain)
            }
            _ = try await Self.executor(cluster, journal).run(Self.plan.drain)
            await Self.expectDrained(cluster)
        }
    }

    @Test func resumesAfterACrashBetweenRequestAndUPID() async throws {
        for k in 1...Self.movable.count {
            let cluster = FakeProxmoxCluster(site: Self.site)
            let journal = InMemoryDrainJournal()
            await #expect(throws: SimulatedCrash.self) {
                _ = try await Self.executor(CrashingAPI(cluster, crashOnPost: k), journal).run(Self.plan.drain)
            }
            _ = try await Self.executor(cluster, journal).run(Self.plan.drain)
            await Self.expectDrained(cluster)
        }
    }

    @Test func aFailedMigrationStopsWithTheGuestInPlace() async throws {
        let cluster = FakeProxmoxCluster(site: Self.site)
        await cluster.failMigration(VMID(101), with: "migration aborted")
        let journal = InMemoryDrainJournal()
        await #expect(throws: DrainError.taskFailed(VMID(101), upid: "UPID:villa-pve-01:00001001:00ABCDEF:6745A1B2:vzmigrate:101:root@pam:", exitStatus: "migration aborted")) {
            _ = try await Self.executor(cluster, journal).run(Self.plan.drain)
        }
        let guest = await cluster.guests[VMID(101)]
        #expect(guest?.node == "villa-pve-01" && guest?.status == "running" && guest?.lock == nil)
        #expect(try await journal.latest()[VMID(101)]?.phase == .failed)
    }

    @Test func aTaskThatNeverEndsIsBounded() async throws {
        let cluster = FakeProxmoxCluster(site: Self.site)
        let first = Self.plan.drain.moves.first { $0.method.movesGuest }!.vmid
        await cluster.neverFinish(first)
        let clock = ImmediateClock()
        let journal = InMemoryDrainJournal()
        await #expect(throws: DrainError.self) { _ = try await Self.executor(cluster, journal, clock).run(Self.plan.drain) }
        #expect(clock.elapsed >= .seconds(120))
        #expect(try await journal.latest()[first]?.phase == .requested)
        // Running again waits for the same task; it never starts a second migration.
        await #expect(throws: DrainError.self) { _ = try await Self.executor(cluster, journal, clock).run(Self.plan.drain) }
        #expect(await cluster.migrationRequests[first] == 1)
    }

    @Test func quorumLossOrAnOfflinePeerStopsBeforeMovingAnything() async throws {
        let cluster = FakeProxmoxCluster(site: Self.site)
        await cluster.setQuorate(false)
        await #expect(throws: DrainError.quorumLost) { _ = try await Self.executor(cluster, InMemoryDrainJournal()).run(Self.plan.drain) }
        #expect(await cluster.migrationRequests.isEmpty)

        let offline = FakeProxmoxCluster(site: Self.site)
        let firstTarget = Self.plan.drain.moves.first { $0.method.movesGuest }!.to!
        await offline.setOnline(firstTarget, false)
        await #expect(throws: DrainError.self) { _ = try await Self.executor(offline, InMemoryDrainJournal()).run(Self.plan.drain) }
        #expect(await offline.migrationRequests.isEmpty)
    }

    @Test func transientErrorsOnReadsAreRetried() async throws {
        let cluster = FakeProxmoxCluster(site: Self.site)
        await cluster.failNextReads(2)
        _ = try await Self.executor(cluster, InMemoryDrainJournal()).run(Self.plan.drain)
        await Self.expectDrained(cluster)
    }
}
