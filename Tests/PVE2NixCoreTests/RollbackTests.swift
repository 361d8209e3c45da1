import Foundation
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix rollback` from each position: drained, in the installer, wiped.
@Suite struct RollbackTests {
    static let node = NodeName("villa-pve-01")

    /// A drained cluster and the run's journal as the drain wrote it.
    static func drained() async throws -> (FakeProxmoxCluster, [RunEntry]) {
        let cluster = DrainExecutorTests.cluster()
        let journal = InMemoryDrainJournal()
        _ = try await DrainExecutorTests.executor(cluster, journal).run(DrainExecutorTests.plan.drain)
        return (cluster, try await journal.records().map(\.entry))
    }

    static func rollback(_ a: RollbackAssessment, _ cluster: FakeProxmoxCluster, _ node: FakeInstallNode? = nil, log: any RunLog = InMemoryRunLog()) -> RollbackRun {
        var r = RollbackRun(assessment: a, target: InstallRunTests.target, connect: { _ in
            guard let node else { throw RemoteShellError.connectionFailed(host: "node", detail: "no SSH in this test") }
            return try node.connect()
        }, tasks: ProxmoxTasks(api: cluster, clock: ImmediateClock(), pollInterval: .milliseconds(1)), log: log)
        r.limits.poll = .milliseconds(1)
        return r
    }

    @Test func afterTheDrainTheMigratedGuestsComeBackAndTheRestIsListed() async throws {
        let (cluster, entries) = try await Self.drained()
        let a = RollbackAssessment.assess(plan: DrainExecutorTests.plan, entries: entries)
        #expect(a.position == .drained)
        let automated = a.guests.filter(\.automated).map(\.vmid)
        #expect(!automated.isEmpty)
        for g in a.guests where !g.automated { #expect(g.command != nil, "\(g.vmid) has no command") }
        let left = try await Self.rollback(a, cluster).run()
        #expect(left.isEmpty, "\(left)")
        let view = try await ProxmoxTasks(api: cluster, clock: ImmediateClock()).cluster()
        for id in automated { #expect(view.guests[id]?.node == Self.node, "\(id) is on \(view.guests[id]?.node.rawValue ?? "nowhere")") }
        // Run again: nothing left to move, nothing moved twice.
        let again = try await Self.rollback(a, cluster).run()
        #expect(again.isEmpty)
    }

    @Test func fromTheInstallerTheNodeRebootsIntoProxmoxFirst() async throws {
        let (cluster, drained) = try await Self.drained()
        let entries = drained + [RunEntry(stage: .kexec, subject: .node, phase: .done, detail: "the installer answers")]
        let a = RollbackAssessment.assess(plan: DrainExecutorTests.plan, entries: entries)
        #expect(a.position == .installer && a.steps.first?.command == "reboot")
        let node = try InstallRunTests.node()
        node.state.withLock { $0.system = .installer }
        let log = InMemoryRunLog()
        _ = try await Self.rollback(a, cluster, node, log: log).run()
        #expect(node.state.withLock { $0.system } == .proxmox)
        #expect(try await log.entries().contains { $0.stage == .rollback && $0.subject == .node && $0.phase == .done })
    }

    @Test func afterTheWipeOnlyTheRunbookIsGivenAndNothingRuns() async throws {
        let (cluster, drained) = try await Self.drained()
        let entries = drained + [RunEntry(stage: .disko, subject: .node, phase: .requested, detail: "wiping")]
        let a = RollbackAssessment.assess(plan: DrainExecutorTests.plan, entries: entries)
        #expect(a.position == .wiped && a.steps.allSatisfy { !$0.automated })
        #expect(a.steps.contains { $0.command?.contains("pvecm add") == true })
        await #expect(throws: RollbackError.wiped(Self.node)) { try await Self.rollback(a, cluster).run() }
    }

    @Test func aRunThatChangedNothingHasNothingToUndo() {
        let a = RollbackAssessment.assess(plan: DrainExecutorTests.plan, entries: [])
        #expect(a.position == .untouched && a.steps.isEmpty)
    }
}
