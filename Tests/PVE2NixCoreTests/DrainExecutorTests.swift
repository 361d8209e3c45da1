import Foundation
import PVE2NixAdapters
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

/// Sends the k-th write (POST or DELETE), then crashes before its answer (the UPID) is seen.
actor CrashingAPI: ProxmoxAPI {
    let inner: FakeProxmoxCluster
    let crashOnWrite: Int
    var writes = 0
    init(_ inner: FakeProxmoxCluster, crashOnWrite: Int) { self.inner = inner; self.crashOnWrite = crashOnWrite }
    func send(_ request: ProxmoxRequest) async throws -> JSONValue {
        let answer = try await inner.send(request)
        if request.method != .get { writes += 1; if writes == crashOnWrite { throw SimulatedCrash() } }
        return answer
    }
}

/// Lets a test change the world right before a request of a given template reaches the cluster:
/// someone else acting on the cluster while the drain runs.
struct MeddlingAPI: ProxmoxAPI {
    let inner: FakeProxmoxCluster
    let template: String
    let meddle: @Sendable (FakeProxmoxCluster) async -> Void
    func send(_ request: ProxmoxRequest) async throws -> JSONValue {
        if request.template == template { await meddle(inner) }
        return try await inner.send(request)
    }
}

@Suite struct DrainExecutorTests {
    static let site = Fixtures.loadSite(Fixtures.villa)
    static let plan = Planner(site: site).plan(node: "villa-pve-01")
    static let movable = plan.drain.moves.filter { $0.method.movesGuest }
    static let migrations = movable.filter { $0.method != .backupRestore }
    static let restores = movable.filter { $0.method == .backupRestore }

    /// The villa cluster as the operator leaves it before the drain: the plan's action blockers done.
    static func cluster() -> FakeProxmoxCluster { .prepared(LocalFileTree(root: Fixtures.villa)) }

    static func executor(_ api: any ProxmoxAPI, _ journal: any DrainJournal, _ clock: ImmediateClock = ImmediateClock()) -> DrainExecutor {
        var e = DrainExecutor(api: api, journal: journal, clock: clock)
        e.limits.taskTimeout = .seconds(120)
        e.limits.haTimeout = .seconds(60)
        return e
    }

    /// Each guest on exactly one node (its planned target), in its original run state, asked to
    /// move once; a backup-restore guest lives on as one copy on its target, its original removed once.
    static func expectDrained(_ cluster: FakeProxmoxCluster, _ context: String = "") async {
        let guests = await cluster.guests
        let requests = await cluster.migrationRequests
        let writes = await cluster.writes
        for move in migrations {
            let g = guests[move.vmid]
            #expect(g?.node == move.to, "\(context) \(move.vmid) is on \(g?.node.rawValue ?? "nowhere"), planned \(move.to?.rawValue ?? "-")")
            #expect(g?.status == move.status, "\(context) \(move.vmid) was \(move.status), is \(g?.status ?? "?")")
            #expect(g?.lock == nil, "\(context)")
            // An HA guest's rule now prefers its target: HA may move it before the drain asks.
            if move.haManaged {
                #expect((requests[move.vmid] ?? 0) <= 1, "\(context) \(move.vmid) was asked to migrate \(requests[move.vmid] ?? 0) times")
            } else {
                #expect(requests[move.vmid] == 1, "\(context) \(move.vmid) was asked to migrate \(requests[move.vmid] ?? 0) times")
            }
        }
        for move in restores {
            #expect(guests[move.vmid] == nil, "\(context) the original \(move.vmid) is still there")
            let copies = guests.filter { $0.value.name == move.name && $0.value.kind == move.kind }
            #expect(copies.count == 1, "\(context) \(move.vmid) has \(copies.count) copies")
            let copy = copies.first?.value
            #expect(copy?.node == move.to && copy?.status == move.status && copy?.lock == nil, "\(context) \(move.vmid)'s copy: \(String(describing: copy))")
            let deletes = writes.filter { $0 == "DELETE /nodes/\(move.from)/\(move.kind.apiSegment)/\(move.vmid)" }
            #expect(deletes.count == 1, "\(context) \(move.vmid) removed \(deletes.count) times")
        }
        #expect(guests.count == site.resources.count, "\(context)")
        #expect(await cluster.guests(on: "villa-pve-01") == [], "\(context)")
    }

    @Test func drainsVillaThroughTheAPI() async throws {
        let cluster = Self.cluster()
        let journal = InMemoryDrainJournal()
        let outcome = try await Self.executor(cluster, journal).run(Self.plan.drain)
        await Self.expectDrained(cluster)
        #expect(Set(outcome.moved) == Set(Self.movable.map(\.vmid)))
        #expect(outcome.left.isEmpty)
        let phases = await journal.records().filter { $0.vmid == VMID(101) }.map(\.phase)
        #expect(phases == [.planned, .requested, .verified, .done])
        // CT 105 (local snapshots): shut down, backed up, restored under a free id, and only then removed.
        let steps = await journal.records().filter { $0.vmid == VMID(105) }.map { "\($0.step.rawValue) \($0.phase.rawValue)" }
        #expect(steps == ["shutdown planned", "shutdown requested", "backup planned", "backup requested", "backup verified",
                          "restore planned", "restore requested", "restore verified", "delete planned", "delete requested", "delete done"])
        let copy = try #require(outcome.renumbered[VMID(105)])
        let copyNode = await cluster.guests[copy]?.node
        #expect(copyNode == Self.restores[0].to)
        let archive = try #require(await cluster.archives["nas-backup"]?.first)
        #expect(archive.vmid == VMID(105) && archive.notes == "pve2nix drain of wiki (105) from villa-pve-01")
        // The backup pruned nothing and is protected; the original went only after the copy ran.
        let writes = await cluster.writes
        #expect(writes.firstIndex { $0.hasPrefix("DELETE") }! > writes.firstIndex { $0 == "POST /nodes/\(Self.restores[0].to!)/lxc" }!)
        // A second run has nothing to do and asks for nothing.
        let before = await cluster.writes.count
        let again = try await Self.executor(cluster, journal).run(Self.plan.drain)
        #expect(Set(again.alreadyDone) == Set(Self.movable.map(\.vmid)))
        #expect(await cluster.writes.count == before)
        await Self.expectDrained(cluster)
    }

    @Test(arguments: [1, 3]) func resumesAfterACrashAtEveryJournalStep(concurrency: Int) async throws {
        let counting = InMemoryDrainJournal()
        _ = try await Self.executor(Self.cluster(), counting).run(Self.plan.drain)
        let steps = await counting.records().count
        #expect(steps > 20)
        for k in 1...steps {
            let cluster = Self.cluster()
            let journal = InMemoryDrainJournal()
            var crashing = Self.executor(cluster, CrashingJournal(journal, crashAfter: k))
            crashing.limits.concurrency = concurrency
            // Moves in flight at once, and HA moving a guest on its own, make a run write a few
            // records more or less than the counting run: the last k may not be reached.
            do { _ = try await crashing.run(Self.plan.drain) } catch is SimulatedCrash {}
            var resumed = Self.executor(cluster, journal)
            resumed.limits.concurrency = concurrency
            _ = try await resumed.run(Self.plan.drain)
            await Self.expectDrained(cluster, "concurrency \(concurrency), record \(k):")
        }
    }

    @Test func resumesAfterACrashBetweenRequestAndUPID() async throws {
        let counting = Self.cluster()
        _ = try await Self.executor(counting, InMemoryDrainJournal()).run(Self.plan.drain)
        let writes = await counting.writes.count
        // Migrations, the HA rule change, 120's shutdown and start, and 105's backup-restore writes.
        #expect(writes >= Self.migrations.count + 4)
        for k in 1...writes {
            let cluster = Self.cluster()
            let journal = InMemoryDrainJournal()
            await #expect(throws: SimulatedCrash.self) {
                _ = try await Self.executor(CrashingAPI(cluster, crashOnWrite: k), journal).run(Self.plan.drain)
            }
            _ = try await Self.executor(cluster, journal).run(Self.plan.drain)
            await Self.expectDrained(cluster, "write \(k):")
        }
    }

    @Test func aFailedMigrationStopsWithTheGuestInPlace() async throws {
        let cluster = Self.cluster()
        await cluster.failMigration(VMID(101), with: "migration aborted")
        let journal = InMemoryDrainJournal()
        let error = await #expect(throws: DrainError.self) { _ = try await Self.executor(cluster, journal).run(Self.plan.drain) }
        guard case .taskFailed(VMID(101), let upid, "migration aborted")? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(upid.contains(":vzmigrate:101:"))
        let guest = await cluster.guests[VMID(101)]
        #expect(guest?.node == "villa-pve-01" && guest?.status == "running" && guest?.lock == nil)
        #expect(try await journal.latest()[VMID(101)]?.phase == .failed)
    }

    @Test func aTaskThatNeverEndsIsBounded() async throws {
        let cluster = Self.cluster()
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
        let cluster = Self.cluster()
        await cluster.setQuorate(false)
        await #expect(throws: DrainError.quorumLost) { _ = try await Self.executor(cluster, InMemoryDrainJournal()).run(Self.plan.drain) }
        #expect(await cluster.migrationRequests.isEmpty)

        let offline = Self.cluster()
        let firstTarget = Self.plan.drain.moves.first { $0.method.movesGuest }!.to!
        await offline.setOnline(firstTarget, false)
        await #expect(throws: DrainError.self) { _ = try await Self.executor(offline, InMemoryDrainJournal()).run(Self.plan.drain) }
        #expect(await offline.migrationRequests.isEmpty)
    }

    @Test func tasksEndingWithWarningsAreSuccesses() async throws {
        let cluster = Self.cluster()
        await cluster.warnTask("vzmigrate", of: VMID(101), count: 2)
        await cluster.warnTask("vzdump", of: VMID(105))
        _ = try await Self.executor(cluster, InMemoryDrainJournal()).run(Self.plan.drain)
        await Self.expectDrained(cluster)
    }

    @Test func anOlderProxmoxGetsABackupWithoutProtection() async throws {
        let cluster = Self.cluster()
        await cluster.setLegacyVzdump(true)
        _ = try await Self.executor(cluster, InMemoryDrainJournal()).run(Self.plan.drain)
        await Self.expectDrained(cluster)
        #expect(await cluster.archives["nas-backup"]?.first?.notes == nil)
        #expect(await cluster.writes.filter { $0.hasSuffix("/vzdump") }.count == 2)
    }

    @Test func aVMMovesByBackupAndRestoreToo() async throws {
        // VM 121 gets a snapshot on local LVM-thin, which cannot migrate: it moves by backup and restore.
        var files = Fixtures.villaFiles()
        let path = "nodes/villa-pve-01/qemu-server/121.conf"
        files[path] = files[path]!.replacingOccurrences(of: "[PENDING]", with: "parent: clean\n\n[clean]\nname: win11-test\nmemory: 4096\nscsi0: local-lvm:vm-121-disk-1,size=64G\nsnaptime: 1761900000\n\n[PENDING]")
        let site = SiteLoader(tree: InMemoryFileTree(files)).load()
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        let vm = try #require(plan.drain.moves.first { $0.vmid == VMID(121) })
        #expect(vm.method == .backupRestore, "\(vm.reason)")
        let cluster = FakeProxmoxCluster.prepared(InMemoryFileTree(files))
        let outcome = try await Self.executor(cluster, InMemoryDrainJournal()).run(plan.drain)
        let copy = try #require(outcome.renumbered[VMID(121)])
        let guest = await cluster.guests[copy]
        #expect(guest?.kind == .qemu && guest?.name == "win11-test" && guest?.node == vm.to && guest?.status == "stopped")
        #expect(await cluster.guests[VMID(121)] == nil)
        // It was stopped: nothing shut it down, and the copy is not started.
        #expect(await cluster.writes.allSatisfy { !$0.contains("/121/status/") })
        #expect(await cluster.writes.contains("POST /nodes/\(vm.to!)/qemu"))
        #expect(await cluster.guests(on: "villa-pve-01").isEmpty)
    }

    @Test func quorumLostMidDrainStopsBeforeTheNextMove() async throws {
        let cluster = Self.cluster()
        // Quorum goes right after the first migration request reaches the cluster.
        let losing = MeddlingAPI(inner: cluster, template: "/nodes/{node}/tasks/{upid}/status") { c in await c.setQuorate(false) }
        await #expect(throws: DrainError.quorumLost) { _ = try await Self.executor(losing, InMemoryDrainJournal()).run(Self.plan.drain) }
        let requests = await cluster.migrationRequests
        #expect(requests.count == 1 && requests.values.allSatisfy { $0 == 1 }, "\(requests)")
    }

    @Test func transientErrorsOnReadsAreRetried() async throws {
        let cluster = Self.cluster()
        await cluster.failNextReads(2)
        _ = try await Self.executor(cluster, InMemoryDrainJournal()).run(Self.plan.drain)
        await Self.expectDrained(cluster)
    }

    // MARK: Backup and restore

    /// Collects progress events, for checking what the drain said.
    final class Events: @unchecked Sendable {
        private var list: [DrainEvent] = []
        private let lock = NSLock()
        func add(_ e: DrainEvent) { lock.withLock { list.append(e) } }
        var attention: [String] { lock.withLock { list.compactMap { if case .attention(_, let s) = $0 { s } else { nil } } } }
    }

    static func watched(_ api: any ProxmoxAPI, _ journal: any DrainJournal, _ events: Events) -> DrainExecutor {
        var e = executor(api, journal)
        e.progress = { events.add($0) }
        return e
    }

    @Test func aFailedRestoreKeepsTheOriginalAndSaysItIsStopped() async throws {
        let cluster = Self.cluster()
        await cluster.failTask("vzrestore", of: nil, with: "unable to restore CT - no space left on device")
        let journal = InMemoryDrainJournal(), events = Events()
        let error = await #expect(throws: DrainError.self) { _ = try await Self.watched(cluster, journal, events).run(Self.plan.drain) }
        guard case .taskFailed(VMID(105), _, let status)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(status.contains("no space left"))
        let original = await cluster.guests[VMID(105)]
        #expect(original?.node == "villa-pve-01" && original?.status == "stopped")
        #expect(await cluster.guests.values.filter { $0.name == "wiki" }.count == 1)
        #expect(events.attention.contains { $0.contains("STOPPED on villa-pve-01") && $0.contains("pct start 105") })
        let last = try await journal.latest()[VMID(105)]
        #expect(last?.phase == .failed && last?.step == .restore)
        // Run again: the same archive is restored, then the original goes.
        _ = try await Self.executor(cluster, journal).run(Self.plan.drain)
        await Self.expectDrained(cluster)
        #expect(await cluster.archives["nas-backup"]?.count == 1)
    }

    @Test func aCopyThatDidNotStartIsStartedNotRestoredTwice() async throws {
        let cluster = Self.cluster()
        await cluster.failTask("vzstart", of: nil, with: "startup for container failed")
        let journal = InMemoryDrainJournal()
        _ = try await Self.executor(cluster, journal).run(Self.plan.drain)
        await Self.expectDrained(cluster)
        #expect(await cluster.writes.filter { $0.hasSuffix("/lxc") }.count == 1)
        #expect(await cluster.writes.contains { $0.hasSuffix("/status/start") })
        #expect(await journal.records().contains { $0.vmid == VMID(105) && $0.step == .start && $0.phase == .requested })
    }

    @Test func aFailedBackupTouchesNothingElse() async throws {
        let cluster = Self.cluster()
        await cluster.failTask("vzdump", of: VMID(105), with: "command 'lxc-freeze' failed")
        let journal = InMemoryDrainJournal(), events = Events()
        await #expect(throws: DrainError.self) { _ = try await Self.watched(cluster, journal, events).run(Self.plan.drain) }
        #expect(await cluster.guests[VMID(105)]?.node == "villa-pve-01")
        #expect(await cluster.writes.allSatisfy { !$0.hasPrefix("DELETE") && !$0.hasSuffix("/lxc") })
        #expect(!events.attention.isEmpty)
        _ = try await Self.executor(cluster, journal).run(Self.plan.drain)
        await Self.expectDrained(cluster)
    }

    @Test func aVMIDTakenMeanwhileIsNotOverwritten() async throws {
        let cluster = Self.cluster()
        // Someone creates a guest under the id the drain just got from /cluster/nextid.
        let squat = MeddlingAPI(inner: cluster, template: "/nodes/{node}/lxc") { c in
            guard await c.guests.values.allSatisfy({ $0.name != "squatter" }) else { return }
            var id = 100
            while await c.guests[VMID(id)] != nil { id += 1 }
            await c.create(VMID(id), kind: .qemu, name: "squatter", on: "villa-pve-02")
        }
        let journal = InMemoryDrainJournal()
        let error = await #expect(throws: DrainError.self) { _ = try await Self.executor(squat, journal).run(Self.plan.drain) }
        guard case .vmidTaken(VMID(105), let taken)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(await cluster.guests[taken]?.name == "squatter")
        #expect(await cluster.guests[VMID(105)]?.node == "villa-pve-01")
        let outcome = try await Self.executor(cluster, journal).run(Self.plan.drain)
        let copy = try #require(outcome.renumbered[VMID(105)])
        #expect(copy != taken)
        let names = await (cluster.guests[copy]?.name, cluster.guests[taken]?.name)
        #expect(names.0 == "wiki" && names.1 == "squatter")
        #expect(await cluster.guests[VMID(105)] == nil)
    }

    @Test func vzdumpsOKQuirkIsNotTakenForABackup() async throws {
        let cluster = Self.cluster()
        // The guest moves away between the drain's check and the backup: vzdump answers "OK", no task.
        let moved = MeddlingAPI(inner: cluster, template: "/nodes/{node}/vzdump") { c in await c.relocate(VMID(105), to: "villa-pve-02") }
        let error = await #expect(throws: DrainError.self) { _ = try await Self.executor(moved, InMemoryDrainJournal()).run(Self.plan.drain) }
        guard case .unexpectedAnswer(let text)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(text.contains("'OK'") && text.contains("Nothing was backed up"))
        #expect(await cluster.writes.allSatisfy { !$0.hasPrefix("DELETE") && !$0.hasSuffix("/lxc") })
        #expect(await cluster.archives.isEmpty)
    }

    @Test func anOriginalStartedAgainIsNeverRemoved() async throws {
        let cluster = Self.cluster()
        let started = MeddlingAPI(inner: cluster, template: "/nodes/{node}/lxc") { c in await c.setStatus(VMID(105), "running") }
        let error = await #expect(throws: DrainError.self) { _ = try await Self.executor(started, InMemoryDrainJournal()).run(Self.plan.drain) }
        guard case .stateChanged(VMID(105), _, let found)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(found.contains("not removed"))
        #expect(await cluster.guests[VMID(105)]?.status == "running")
        #expect(await cluster.writes.allSatisfy { !$0.hasPrefix("DELETE") })
    }

    @Test func anUnhealthyCopyKeepsTheOriginal() async throws {
        let cluster = Self.cluster()
        let journal = InMemoryDrainJournal(), events = Events()
        var sick = Self.watched(cluster, journal, events)
        sick.healthCheck = { move in move.vmid == VMID(105) ? ["tcp 10.1.40.25:3000: connection refused"] : [] }
        let outcome = try await sick.run(Self.plan.drain)
        #expect(outcome.left[VMID(105)]?.contains("the original 105 is kept") == true)
        #expect(await cluster.guests[VMID(105)]?.status == "stopped")
        #expect(events.attention.contains { $0.contains("health probes fail") })
        // Healthy now: the next run only removes the original.
        _ = try await Self.executor(cluster, journal).run(Self.plan.drain)
        await Self.expectDrained(cluster)
    }

    @Test func aGuestTheCaptureDidNotSeeIsReportedAsLeft() async throws {
        let cluster = Self.cluster()
        await cluster.create(VMID(150), kind: .lxc, name: "newcomer", on: "villa-pve-01")
        let outcome = try await Self.executor(cluster, InMemoryDrainJournal()).run(Self.plan.drain)
        #expect(outcome.left.keys.sorted() == [VMID(150)])
        #expect(outcome.left[VMID(150)]?.contains("not in the plan") == true)
        #expect(await cluster.guests(on: "villa-pve-01") == [VMID(150)])
    }

    @Test func theConcurrencyLimitHolds() async throws {
        for limit in [1, 3] {
            let cluster = Self.cluster()
            // Tasks long enough that moves overlap whenever the limit lets them.
            await cluster.setTaskPolls(40)
            var e = Self.executor(cluster, InMemoryDrainJournal())
            e.limits.concurrency = limit
            _ = try await e.run(Self.plan.drain)
            await Self.expectDrained(cluster, "limit \(limit):")
            let most = await cluster.mostMovesAtOnce
            #expect(most <= limit && (limit == 1 || most > 1), "limit \(limit): \(most) at once")
        }
    }
}
