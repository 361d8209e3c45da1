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

    /// How often the cluster got exactly this write ("POST /nodes/N/qemu" is a restore, …).
    static func writes(_ cluster: FakeProxmoxCluster, _ fragment: String) async -> Int {
        await cluster.writes.filter { $0 == fragment }.count
    }

    @Test func aRenumberedGuestComesBackUnderItsOldVMIDAndOnlyThenItsCopyGoes() async throws {
        let (cluster, entries) = try await Self.drained()
        let a = RollbackAssessment.assess(plan: DrainExecutorTests.plan, entries: entries)
        let g = try #require(a.guests.first { $0.restore != nil }, "the villa drain restores a guest under a new VMID")
        #expect(g.automated && g.nowVMID != g.vmid)
        let log = InMemoryRunLog()
        let left = try await Self.rollback(a, cluster, log: log).run()
        #expect(left.isEmpty, "\(left)")
        let view = try await ProxmoxTasks(api: cluster, clock: ImmediateClock()).cluster()
        #expect(view.guests[g.vmid]?.node == Self.node && view.guests[g.vmid]?.name == g.name, "\(g.vmid) is not back")
        #expect(view.guests[g.nowVMID] == nil, "the copy \(g.nowVMID) is still there")
        let steps = try await log.entries().filter { $0.subject == .guest(g.vmid) }.compactMap(\.facts.drainStep)
        #expect(steps.firstIndex(of: "restore")! < steps.firstIndex(of: "delete")!, "the copy went before the guest was back: \(steps)")
        // Run again: nothing restored or removed twice.
        let before = await cluster.writes
        #expect(try await Self.rollback(a, cluster, log: log).run().isEmpty)
        let after = await cluster.writes
        #expect(after == before, "\(after.suffix(after.count - before.count))")
    }

    @Test func aCrashAfterAnyWriteOfTheRestoreBackResumesAndActsOnce() async throws {
        // Every write of a whole rollback (the migrations back, then the restore back) in turn.
        let whole = InMemoryRunLog()
        do {
            let (cluster, entries) = try await Self.drained()
            _ = try await Self.rollback(RollbackAssessment.assess(plan: DrainExecutorTests.plan, entries: entries), cluster, log: whole).run()
        }
        let writes = try await whole.entries().count
        #expect(try await whole.entries().filter { $0.facts.drainStep != nil }.count >= 8, "the restore back journals each action")
        for crashAt in 1...writes {
            let (cluster, entries) = try await Self.drained()
            let a = RollbackAssessment.assess(plan: DrainExecutorTests.plan, entries: entries)
            let g = try #require(a.guests.first { $0.restore != nil })
            struct Crash: Error {}
            let log = InMemoryRunLog { count in if count == crashAt { throw Crash() } }
            // The migrations back come first; a crash in them or in the restore is the same resume.
            _ = try? await Self.rollback(a, cluster, log: log).run()
            let resumed = InMemoryRunLog(try await log.entries())
            let left = try await Self.rollback(a, cluster, log: resumed).run()
            #expect(left.isEmpty, "crash after write \(crashAt): \(left)")
            let view = try await ProxmoxTasks(api: cluster, clock: ImmediateClock()).cluster()
            #expect(view.guests[g.vmid]?.node == Self.node && view.guests[g.nowVMID] == nil, "crash after write \(crashAt)")
            let kind = g.kind == .qemu ? "qemu" : "lxc"
            let restores = await Self.writes(cluster, "POST /nodes/\(Self.node)/\(kind)")
            let removals = await Self.writes(cluster, "DELETE /nodes/\(g.on)/\(kind)/\(g.nowVMID)")
            #expect(restores == 1 && removals == 1, "crash after write \(crashAt): restored \(restores) times, removed the copy \(removals) times")
        }
    }

    @Test func whenItsOldVMIDIsTakenTheCopyStaysAndTheRollbackSaysSo() async throws {
        let (cluster, entries) = try await Self.drained()
        let a = RollbackAssessment.assess(plan: DrainExecutorTests.plan, entries: entries)
        let g = try #require(a.guests.first { $0.restore != nil })
        await cluster.create(g.vmid, kind: g.kind, name: "someone-else", on: "villa-pve-03")
        let left = try await Self.rollback(a, cluster).run()
        #expect(left[g.vmid]?.contains("VMID \(g.vmid) is taken by 'someone-else'") == true, "\(left)")
        let view = try await ProxmoxTasks(api: cluster, clock: ImmediateClock()).cluster()
        #expect(view.guests[g.nowVMID]?.node == g.on && view.guests[g.nowVMID]?.status == "running", "the copy was touched")
    }

    @Test func afterPathBTheProxmoxKeyIsPinnedAgainBeforeWaitingForProxmox() async throws {
        let (cluster, drained) = try await Self.drained()
        let w = try InstallRunPathBTests.world(stickAfter: 0)
        let log = InMemoryRunLog(drained + InstallRunTests.passedChecks)
        // Not confirmed: the installer booted from the stick answers, nothing is wiped.
        await #expect(throws: InstallError.self) { try await InstallRunPathBTests.install(w, log, confirm: false).run() }
        #expect(try w.pins.fingerprint(for: InstallRunTests.target) == InstallRunPathBTests.installerKey.fingerprint)
        let a = RollbackAssessment.assess(plan: InstallRunPathBTests.plan, entries: await log.entries())
        #expect(a.position == .installer && a.steps.contains { $0.what.contains("Proxmox host key again") }, "\(a.steps)")

        let node = w.node, pins = w.pins
        var r = RollbackRun(assessment: a, target: InstallRunTests.target, connect: { _ in try node.connect(checking: pins) },
                            tasks: ProxmoxTasks(api: cluster, clock: ImmediateClock(), pollInterval: .milliseconds(1)), log: log)
        r.limits.poll = .milliseconds(1)
        // Without the captured key it stops before the reboot, saying how to pin it by hand.
        await #expect(throws: RollbackError.nodeKeyUnknown("villa-pve-01", fingerprint: InstallRunPathBTests.proxmoxKey.fingerprint.description)) { try await r.run() }
        #expect(node.state.withLock { $0.system } == .installer, "it rebooted the node without a key to wait for")
        r.pins = pins
        r.nodeKey = InstallRunPathBTests.proxmoxKey
        #expect(try await r.run().isEmpty)
        #expect(try pins.fingerprint(for: InstallRunTests.target) == InstallRunPathBTests.proxmoxKey.fingerprint)
        #expect(node.state.withLock { $0.system } == .proxmox)
        #expect(await log.entries().contains { $0.stage == .rollback && $0.phase == .verified && $0.detail.contains("Proxmox host key") })
    }
}
