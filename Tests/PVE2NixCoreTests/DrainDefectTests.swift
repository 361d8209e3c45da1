import Foundation
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// Defects a real cluster would expose and a lenient simulator hid: each has its test here.
@Suite struct DrainDefectTests {
    static let site = DrainExecutorTests.site
    static let plan = DrainExecutorTests.plan

    /// The cluster as the operator leaves it before the drain: the plan's `action` blockers done
    /// (VM 120's USB stick taken off, as the plan says), everything else as captured.
    static func preparedCluster() -> FakeProxmoxCluster { DrainExecutorTests.cluster() }

    static var passthrough: DrainMove { plan.drain.moves.first { $0.vmid == VMID(120) }! }

    /// A running VM with passthrough is shut down, migrated offline and started on its target,
    /// each step journaled; never "offline"-migrated while it runs.
    @Test func aRunningPassthroughVMIsShutDownMovedAndStarted() async throws {
        #expect(Self.passthrough.method == .offline && Self.passthrough.status == "running")
        let cluster = Self.preparedCluster()
        let journal = InMemoryDrainJournal()
        _ = try await DrainExecutorTests.executor(cluster, journal).run(Self.plan.drain)
        let guest = await cluster.guests[VMID(120)]
        #expect(guest?.node == Self.passthrough.to && guest?.status == "running")
        let writes = await cluster.writes.filter { $0.contains("/120/") }
        let target = Self.passthrough.to!
        #expect(writes == ["POST /nodes/villa-pve-01/qemu/120/status/shutdown", "POST /nodes/villa-pve-01/qemu/120/migrate", "POST /nodes/\(target)/qemu/120/status/start"], "\(writes)")
        let steps = await journal.records().filter { $0.vmid == VMID(120) }.map { "\($0.step.rawValue) \($0.phase.rawValue)" }
        #expect(steps.first == "shutdown planned", "\(steps)")
        #expect(steps.contains("shutdown verified") && steps.contains("migrate verified") && steps.contains("start verified"), "\(steps)")
        #expect(steps.last == "migrate done", "\(steps)")
    }

    /// Killed after every journal write of that move in turn: the resumed drain ends with the VM
    /// running on its target, asked to migrate once.
    @Test func aPassthroughMoveResumesAfterACrashAtEveryStep() async throws {
        let counting = InMemoryDrainJournal()
        _ = try await DrainExecutorTests.executor(Self.preparedCluster(), counting).run(Self.plan.drain)
        let total = await counting.records().count
        for k in 1...total {
            let cluster = Self.preparedCluster()
            let journal = InMemoryDrainJournal()
            await #expect(throws: SimulatedCrash.self) {
                _ = try await DrainExecutorTests.executor(cluster, CrashingJournal(journal, crashAfter: k)).run(Self.plan.drain)
            }
            _ = try await DrainExecutorTests.executor(cluster, journal).run(Self.plan.drain)
            let guest = await cluster.guests[VMID(120)]
            #expect(guest?.node == Self.passthrough.to && guest?.status == "running", "record \(k): \(String(describing: guest))")
            #expect(await cluster.migrationRequests[VMID(120)] == 1, "record \(k)")
        }
    }

    /// The migration fails after the shutdown: the VM is started again where it is, and the report says so.
    @Test func aFailedPassthroughMigrationStartsTheVMWhereItIs() async throws {
        let cluster = Self.preparedCluster()
        await cluster.failMigration(VMID(120), with: "migration aborted")
        let events = EventLog()
        var executor = DrainExecutorTests.executor(cluster, InMemoryDrainJournal())
        executor.progress = { events.add($0) }
        await #expect(throws: DrainError.self) { _ = try await executor.run(Self.plan.drain) }
        let guest = await cluster.guests[VMID(120)]
        #expect(guest?.node == "villa-pve-01" && guest?.status == "running")
        #expect(events.attention.contains { $0.contains("started again on villa-pve-01") }, "\(events.attention)")
    }

    /// The DNS container's HA rule prefers villa-pve-01 and failback is on: the drain takes the
    /// node out of the rule first, journals the change, and HA then keeps the guest on its peer.
    @Test func haNoLongerWantsTheNodeAndKeepsTheGuestOnItsPeer() async throws {
        let cluster = Self.preparedCluster()
        let journal = InMemoryDrainJournal()
        _ = try await DrainExecutorTests.executor(cluster, journal).run(Self.plan.drain)
        let dns = Self.plan.drain.moves.first { $0.vmid == VMID(102) }!
        // Let the HA manager run for a while: failback would have taken it home by now.
        for _ in 0..<20 { _ = try await cluster.send(.clusterResources()) }
        #expect(await cluster.guests[VMID(102)]?.node == dns.to)
        let rules = try await cluster.send(.haRules())
        let nodes = rules.arrayValue?.first { $0["rule"]?.stringValue == "dns-prefers-01" }?["nodes"]?.stringValue ?? ""
        #expect(!nodes.contains("villa-pve-01"), "\(nodes)")
        let change = await journal.records().first { $0.vmid == VMID(102) && $0.step == .ha && $0.phase == .done }
        #expect(change?.detail.contains("'villa-pve-01:2,villa-pve-02:1,villa-pve-03:1'") == true, "\(String(describing: change))")
    }

    /// A rerun of a finished drain that finds a guest back on the node moves it again.
    @Test func aGuestFoundBackOnTheNodeIsMovedAgain() async throws {
        let cluster = Self.preparedCluster()
        let journal = InMemoryDrainJournal()
        _ = try await DrainExecutorTests.executor(cluster, journal).run(Self.plan.drain)
        await cluster.relocate(VMID(101), to: "villa-pve-01")
        let events = EventLog()
        var executor = DrainExecutorTests.executor(cluster, journal)
        executor.progress = { events.add($0) }
        let outcome = try await executor.run(Self.plan.drain)
        #expect(outcome.moved == [VMID(101)])
        #expect(outcome.left.isEmpty)
        #expect(await cluster.guests(on: "villa-pve-01") == [])
        // One progress line per guest of the plan, never more.
        #expect(events.counted <= Self.plan.drain.moves.count)
    }

    /// A second pve2nix (another machine, another journal) sees the first one's marker on the
    /// node and stops before moving anything; the first resumes and clears its marker at the end.
    @Test func aMarkerOnTheNodeStopsASecondRun() async throws {
        let cluster = Self.preparedCluster()
        let first = InMemoryDrainJournal()
        var a = DrainExecutorTests.executor(cluster, CrashingJournal(first, crashAfter: 6))
        a.marker = DrainMarker(owner: "alice@laptop (journal /a)", since: "2026-11-29T10:00:00Z")
        await #expect(throws: SimulatedCrash.self) { _ = try await a.run(Self.plan.drain) }
        let notes = try await cluster.send(.nodeConfig("villa-pve-01"))["description"]?.stringValue ?? ""
        #expect(notes.contains("pve2nix-drain: in progress by alice@laptop (journal /a)"))

        var b = DrainExecutorTests.executor(cluster, InMemoryDrainJournal())
        b.marker = DrainMarker(owner: "bob@desktop (journal /b)", since: "2026-11-29T10:05:00Z")
        let before = await cluster.writes.count
        await #expect(throws: DrainError.self) { _ = try await b.run(Self.plan.drain) }
        #expect(await cluster.writes.count == before, "the second run changed something")

        var resumed = DrainExecutorTests.executor(cluster, first)
        resumed.marker = a.marker
        _ = try await resumed.run(Self.plan.drain)
        let after = try await cluster.send(.nodeConfig("villa-pve-01"))["description"]?.stringValue ?? ""
        #expect(!after.contains("pve2nix-drain"))
    }

    @Test func markerLinesAreFoundAndRemovedAlone() {
        let m = DrainMarker(owner: "root@a (journal /x)", since: "t")
        let notes = "Rack 2, shelf 3\n\n\(m.line)"
        #expect(DrainMarker.markers(in: notes).map(\.owner) == ["root@a (journal /x)"])
        #expect(DrainMarker.removing("root@a (journal /x)", from: notes) == "Rack 2, shelf 3")
        #expect(DrainExecutor.nodes("villa-pve-01:2,villa-pve-02:1,villa-pve-03:1", without: "villa-pve-01", preferring: "villa-pve-03") == "villa-pve-03:2,villa-pve-02:1")
        #expect(DrainExecutor.nodes("villa-pve-01", without: "villa-pve-01", preferring: "villa-pve-03") == "villa-pve-03:1")
    }
}

/// Progress events a test looks at.
final class EventLog: @unchecked Sendable {
    private var events: [DrainEvent] = []
    private let lock = NSLock()
    func add(_ e: DrainEvent) { lock.withLock { events.append(e) } }
    var attention: [String] { lock.withLock { events.compactMap { if case .attention(_, let s) = $0 { s } else { nil } } } }
    /// The events the CLI numbers `[k/N]`: one per guest of the plan.
    var counted: Int { lock.withLock { events.filter { if case .starting = $0 { true } else if case .skipped = $0 { true } else if case .left = $0 { true } else { false } }.count } }
}
