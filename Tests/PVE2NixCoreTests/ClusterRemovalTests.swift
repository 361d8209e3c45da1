import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix cluster-remove` against the strict simulator: delnode's real rules, replication jobs
/// removed in the background, HA rules and groups, and a peer's `/etc/pve` over SSH.
@Suite struct ClusterRemovalTests {
    @Test func removesANodeOfAFourNodeCluster() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.addReplicationJob(guest: VMID(102), target: "villa-pve-01")
        let outcome = try await w.removal().run()

        #expect(await w.cluster.removedNodes == ["villa-pve-01"])
        #expect(await w.cluster.delnodeCount == 1)
        #expect(await w.cluster.nodelist == ["villa-pve-02", "villa-pve-03", "villa-pve-04"])
        #expect(await w.cluster.replicationJobIDs.isEmpty)
        // Kept: the node's disks are gone, there is nothing to clean on it.
        #expect(await w.cluster.writes.contains("DELETE /cluster/replication/102-0"))
        #expect(outcome.peer == "villa-pve-02")
        #expect(outcome.done.contains("delnode"))
        // The HA rule keeps its other nodes and their priorities.
        let rules = try await w.cluster.send(.haRules())
        #expect(rules.arrayValue?.first { $0["rule"]?.stringValue == "dns-prefers-01" }?["nodes"]?.stringValue == "villa-pve-02:1,villa-pve-03:1")
        // The peer: the node's directory gone, the others kept; only its key lines gone.
        #expect(!w.peer.exists(directory: "/etc/pve/nodes/villa-pve-01"))
        #expect(w.peer.exists(directory: "/etc/pve/nodes/villa-pve-02"))
        #expect(!w.authorizedKeys.contains("root@villa-pve-01\n"))
        #expect(w.authorizedKeys.hasPrefix("# managed by pve-cluster\n"))
        for other in ["villa-pve-02", "villa-pve-03", "villa-pve-04"] {
            #expect(w.authorizedKeys.contains("root@\(other)\n"))
            #expect(w.knownHosts.contains("\(other) ssh-ed25519"))
        }
        #expect(!w.knownHosts.contains("villa-pve-01"))
        #expect(!w.knownHosts.contains("10.1.10.11 "))
        #expect(w.knownHosts.contains("10.1.10.12 "))
        #expect(outcome.removedLines["/etc/pve/priv/known_hosts"]?.count == 2)
        let steps = await w.journal.entries().filter { $0.stage == .clusterRemove && $0.phase == .done }.compactMap(\.facts.removalStep)
        #expect(steps == ["replication:102-0", "ha-rule:dns-prefers-01", "delnode", "node-directory", "authorized-keys", "known-hosts"])

        // A second run finds nothing left to do and sends nothing.
        let writes = await w.cluster.writes.count
        let again = try await w.removal().run()
        #expect(again.done.isEmpty)
        #expect(await w.cluster.writes.count == writes)
        #expect(await w.cluster.delnodeCount == 1)
    }

    @Test func aThreeNodeClusterNeedsTheOperatorToAcceptTwoNodes() async throws {
        let w = await RemovalWorld.villa()
        do {
            _ = try await w.removal().run()
            Issue.record("two remaining nodes were accepted silently")
        } catch let error as ClusterRemovalError {
            let text = error.localizedDescription
            #expect(text.contains("two nodes would remain"))
            #expect(text.contains("QDevice"))
            #expect(text.contains("--accept-two-node"))
        }
        #expect(await w.cluster.writes.isEmpty)
        #expect(w.peer.state.withLock { $0.writes.isEmpty && $0.commands.isEmpty })
        let (_, plan) = try await w.removal { $0.options.acceptTwoNode = true }.plan()
        #expect(plan.canProceed)
        #expect(plan.notes.contains { $0.contains("quorum needs both") })
        _ = try await w.removal { $0.options.acceptTwoNode = true }.run()
        #expect(await w.cluster.nodelist == ["villa-pve-02", "villa-pve-03"])
    }

    @Test func aOneNodeResultIsRefusedOutright() async throws {
        let w = await RemovalWorld.villa()
        _ = try await w.removal { $0.options.acceptTwoNode = true }.run()
        // Now remove villa-pve-02 from the two that are left.
        await w.cluster.setOnline("villa-pve-02", false)
        let next = RemovalWorld(cluster: w.cluster, peer: w.peer, journal: InMemoryRunLog([RemovalWorld.wiped]), node: "villa-pve-02", site: w.site)
        let (_, plan) = try await next.removal { $0.options.acceptTwoNode = true }.plan()
        #expect(plan.blockers.contains { $0.contains("one-node cluster") })
    }

    @Test func tokensAndOtherUsersCannotDeleteTheNode() async throws {
        for caller in [ProxmoxCaller(userid: "root@pam!pve2nix"), ProxmoxCaller(userid: "admin@pve")] {
            let w = await RemovalWorld.villa(extraNode: true)
            do {
                _ = try await w.removal(api: CallerAPI(cluster: w.cluster, caller: caller)).run()
                Issue.record("\(caller.userid) deleted a node")
            } catch let error as ClusterRemovalError {
                guard case .delnodeNeedsRoot = error else { Issue.record("\(error)"); continue }
                #expect(error.localizedDescription.contains("root@pam"))
            }
            #expect(await w.cluster.delnodeCount == 0)
            #expect(w.peer.exists(directory: "/etc/pve/nodes/villa-pve-01"))
        }
    }

    @Test func aNodeStillOnlineIsNotDeleted() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.setOnline("villa-pve-01", true)
        await #expect(throws: ClusterRemovalError.self) { _ = try await w.removal().run() }
        let (_, plan) = try await w.removal().plan()
        #expect(plan.blockers.contains { $0.contains("is online in the cluster") })
        #expect(await w.cluster.writes.isEmpty)
        // The simulator itself would have deleted it, as Proxmox would: the check is ours.
        await w.cluster.serve(from: "villa-pve-02")
        _ = try await w.cluster.send(.removeClusterNode("villa-pve-01"))
        #expect(await w.cluster.delnodeCount == 1)
    }

    @Test func noQuorumNoQDeviceNoGuestsLeftAndTheDiskWiped() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.setQuorate(false)
        var (_, plan) = try await w.removal().plan()
        #expect(plan.blockers.contains { $0.contains("no quorum") })
        await w.cluster.setQuorate(true)
        await w.cluster.setQDevice(["State": "Connected", "QNetd host": "10.1.10.5:5403"])
        (_, plan) = try await w.removal().plan()
        #expect(plan.blockers.contains { $0.contains("pvecm qdevice remove") })
        await w.cluster.setQDevice([:])
        await w.cluster.relocate(VMID(102), to: "villa-pve-01")
        (_, plan) = try await w.removal().plan()
        #expect(plan.blockers.contains { $0.contains("102") && $0.contains("still on villa-pve-01") })
        await w.cluster.relocate(VMID(102), to: "villa-pve-02")
        let unwiped = await RemovalWorld.villa(extraNode: true, wiped: false)
        (_, plan) = try await unwiped.removal().plan()
        #expect(plan.blockers.count == 1)
        #expect(plan.blockers[0].contains("disko"))
        (_, plan) = try await unwiped.removal { $0.options.diskWipedElsewhere = true }.plan()
        #expect(plan.canProceed)
        #expect(await w.cluster.writes.isEmpty)
    }

    @Test func delnodeRefusesTheServingNodeAndUnknownNames() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.serve(from: "villa-pve-02")
        await #expect(throws: ProxmoxAPIError.self) { _ = try await w.cluster.send(.removeClusterNode("villa-pve-02")) }
        do { _ = try await w.cluster.send(.removeClusterNode("villa-pve-09")) } catch let e as ProxmoxAPIError { #expect(e.reason.contains("not a known host")) }
        await w.cluster.setQuorate(false)
        do { _ = try await w.cluster.send(.removeClusterNode("villa-pve-01")) } catch let e as ProxmoxAPIError { #expect(e.reason.contains("no quorum")) }
        #expect(await w.cluster.delnodeCount == 0)
    }

    @Test func replicationJobsAreMarkedThenPolledUntilTheRunnerRemovedThem() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.addReplicationJob(guest: VMID(102), target: "villa-pve-01")
        await w.cluster.addReplicationJob(guest: VMID(102), jobnum: 1, target: "villa-pve-03")
        await w.cluster.setReplicationRunnerPolls(5)
        _ = try await w.removal().run()
        // Only the job to the node; the other stays.
        #expect(await w.cluster.replicationJobIDs == ["102-1"])
        #expect(w.clock.elapsed >= .seconds(4))
    }

    @Test func aReplicationJobThatNeverGoesIsABoundedFailureAndResumable() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.addReplicationJob(guest: VMID(102), target: "villa-pve-01")
        await w.cluster.neverRemoveReplicationJob("102-0")
        do {
            _ = try await w.removal().run()
            Issue.record("a stuck replication job went unnoticed")
        } catch let error as ClusterRemovalError {
            guard case .replicationStuck(let id, let mark, _, _) = error else { Issue.record("\(error)"); return }
            #expect(id == "102-0")
            #expect(mark == "local")
            #expect(error.localizedDescription.contains("--force-replication-removal"))
        }
        #expect(w.clock.elapsed <= .seconds(62))
        #expect(await w.cluster.delnodeCount == 0)
        #expect(await w.journal.entries().contains { $0.phase == .failed && $0.facts.removalStep == "replication:102-0" })
        // The operator accepts it: the rerun drops the entry and finishes; the job is not marked twice.
        _ = try await w.removal { $0.options.forceReplicationRemoval = true }.run()
        #expect(await w.cluster.replicationJobIDs.isEmpty)
        #expect(await w.cluster.delnodeCount == 1)
    }

    @Test func haRulesNamingTheNodeAreEditedOrDeleted() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        _ = try await w.cluster.send(ProxmoxRequest(.post, "/cluster/ha/rules", parameters: [
            "rule": .string("only-01"), "type": .string("node-affinity"), "nodes": .string("villa-pve-01"), "resources": .string("vm:120")]))
        _ = try await w.removal().run()
        let rules = try await w.cluster.send(.haRules()).arrayValue ?? []
        #expect(!rules.contains { $0["rule"]?.stringValue == "only-01" })
        #expect(rules.first { $0["rule"]?.stringValue == "dns-prefers-01" }?["nodes"]?.stringValue == "villa-pve-02:1,villa-pve-03:1")
    }

    @Test func pve8GroupsAreEdited() async throws {
        let w = await RemovalWorld.office()
        let outcome = try await w.removal { $0.options.acceptTwoNode = true }.run()
        #expect(outcome.done.contains("ha-group:office-main"))
        let groups = try await w.cluster.send(.haGroups()).arrayValue ?? []
        #expect(groups.first?["nodes"]?.stringValue == "pve3:1")
        #expect(await w.cluster.nodelist == ["pve2", "pve3"])
    }

    @Test func aDryRunChangesNothing() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.addReplicationJob(guest: VMID(102), target: "villa-pve-01")
        let events = RemovalEventLog()
        let outcome = try await w.removal { $0.options.dryRun = true; $0.progress = { events.add($0) } }.run()
        #expect(outcome.dryRun)
        #expect(await w.cluster.writes.isEmpty)
        #expect(await w.cluster.replicationJobIDs == ["102-0"])
        #expect(w.peer.state.withLock { $0.writes.isEmpty && !$0.commands.contains { $0.hasPrefix("rm ") } })
        #expect(await w.journal.entries().count == 1)
        let calls = events.all.compactMap { if case .call(let c) = $0 { c } else { nil } }
        #expect(calls == ["DELETE /cluster/replication/102-0 keep=1", "PUT /cluster/ha/rules/dns-prefers-01 nodes=villa-pve-02:1,villa-pve-03:1 type=node-affinity",
                          "DELETE /cluster/config/nodes/villa-pve-01 (root@pam ticket)"])
        let commands = events.all.compactMap { if case .command(let c) = $0 { c } else { nil } }
        #expect(commands.contains("rm -rf -- /etc/pve/nodes/villa-pve-01"))
        #expect(events.all.contains { if case .removedLine(_, let line) = $0 { line.hasSuffix("root@villa-pve-01") } else { false } })
    }
}

final class RemovalEventLog: @unchecked Sendable {
    private var events: [ClusterRemovalEvent] = []
    private let lock = NSLock()
    func add(_ e: ClusterRemovalEvent) { lock.withLock { events.append(e) } }
    var all: [ClusterRemovalEvent] { lock.withLock { events } }
}
