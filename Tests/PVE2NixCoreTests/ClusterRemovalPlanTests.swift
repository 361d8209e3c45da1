import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// The pure plan: what it refuses, and what it will do, from a survey alone.
@Suite struct ClusterRemovalPlanTests {
    static func survey(_ members: [String], online: [String], node: String = "a") -> ClusterSurvey {
        let up: Set<NodeName> = Set(online.map { NodeName($0) })
        let all: [ClusterSurvey.Member] = members.map { ClusterSurvey.Member(name: NodeName($0)) }
        return ClusterSurvey(node: NodeName(node), members: all, online: up, quorate: true, servingNode: NodeName("b"))
    }

    @Test func quorumAfterCountsTheVotesOfThePeersThatAreOnline() {
        // Five nodes, a leaves, c and d are down: 2 of 4 votes online is no majority.
        let s = Self.survey(["a", "b", "c", "d", "e"], online: ["b", "e"])
        let plan = ClusterRemovalPlan(survey: s, decisions: .init(diskWiped: true))
        #expect(plan.expectedVotesAfter == 4 && plan.onlineVotesAfter == 2)
        #expect(plan.blockers.contains { $0.contains("only 2 of 4 votes would be online") })
        let fine = ClusterRemovalPlan(survey: Self.survey(["a", "b", "c", "d", "e"], online: ["b", "c", "e"]), decisions: .init(diskWiped: true))
        #expect(fine.canProceed)
    }

    @Test func refusesTheServingNodeAOneNodeResultAndAJobRunningFromTheNode() {
        var s = Self.survey(["a", "b"], online: ["b"])
        s.servingNode = "a"
        s.replication = [ClusterSurvey.ReplicationJob(id: "100-0", guest: VMID(100), source: "a", target: "b")]
        let plan = ClusterRemovalPlan(survey: s, decisions: .init(diskWiped: true, acceptTwoNode: true))
        #expect(plan.blockers.contains { $0.contains("Cannot delete myself") })
        #expect(plan.blockers.contains { $0.contains("one-node cluster") })
        #expect(plan.blockers.contains { $0.contains("replication job 100-0 runs from a") })
    }

    @Test func groupsAndRulesLoseOnlyTheNode() {
        var s = Self.survey(["a", "b", "c", "d"], online: ["b", "c", "d"])
        s.haRules = [.init(name: "r1", nodes: "a:3,b:2, c"), .init(name: "r2", nodes: "a"), .init(name: "r3", nodes: "ab,b")]
        s.haGroups = [.init(name: "g1", nodes: "a", resources: ["vm:100"]), .init(name: "g2", nodes: "a")]
        let plan = ClusterRemovalPlan(survey: s, decisions: .init(diskWiped: true))
        #expect(plan.steps.contains(.haRule(rule: "r1", before: "a:3,b:2, c", after: "b:2,c")))
        #expect(plan.steps.contains(.haRule(rule: "r2", before: "a", after: nil)))
        #expect(!plan.steps.contains { $0.key == "ha-rule:r3" })
        #expect(plan.steps.contains(.haGroup(group: "g2", before: "a", after: nil)))
        #expect(plan.blockers == ["HA group 'g1' names only a and vm:100 use it: give them another group ('ha-manager set SID --group GROUP'), then run again."])
        #expect(plan.steps.last == .knownHosts)
    }

    @Test func anOddNodeNameIsRefusedBeforeAnythingIsSent() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        let odd = RemovalWorld(cluster: w.cluster, peer: w.peer, journal: w.journal, node: "villa.pve-01", site: w.site)
        await #expect(throws: ClusterRemovalError.oddNodeName("villa.pve-01")) { _ = try await odd.removal().run() }
        #expect(await w.cluster.writes.isEmpty)
        #expect(w.peer.state.withLock { $0.commands.isEmpty })
    }
}
