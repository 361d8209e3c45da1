import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// A removal stopped anywhere resumes to the same end, delnode sent once; the peer's key files
/// lose only the node's lines.
@Suite struct ClusterRemovalResumeTests {
    @Test func aCrashAfterEveryJournalWriteResumesToTheSameEnd() async throws {
        let complete = await RemovalWorld.villa(extraNode: true)
        await complete.cluster.addReplicationJob(guest: VMID(102), target: "villa-pve-01")
        _ = try await complete.removal().run()
        let writes = await complete.journal.entries().count - 1
        #expect(writes >= 12)
        for k in 1...writes {
            let w = await RemovalWorld.villa(extraNode: true)
            await w.cluster.addReplicationJob(guest: VMID(102), target: "villa-pve-01")
            await #expect(throws: SimulatedCrash.self, "crash after write \(k)") {
                _ = try await w.removal(journal: CrashingRunLog(w.journal, crashAfter: k)).run()
            }
            _ = try await w.removal().run()
            #expect(await w.cluster.delnodeCount == 1, "crash after write \(k)")
            #expect(await w.cluster.nodelist == ["villa-pve-02", "villa-pve-03", "villa-pve-04"])
            #expect(await w.cluster.replicationJobIDs.isEmpty)
            #expect(!w.peer.exists(directory: "/etc/pve/nodes/villa-pve-01"))
            #expect(w.authorizedKeys == complete.authorizedKeys, "crash after write \(k)")
            #expect(w.knownHosts == complete.knownHosts, "crash after write \(k)")
            let phases = try await w.journal.removalPhases()
            #expect(phases.values.allSatisfy { $0 == .done }, "crash after write \(k): \(phases)")
            #expect(phases["delnode"] == .done)
        }
    }

    @Test func aFailingDelnodeStopsAndTheRerunSendsItOnce() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.failDelnode(with: "corosync config reload failed")
        do {
            _ = try await w.removal().run()
            Issue.record("a failed delnode went unnoticed")
        } catch let error as ClusterRemovalError {
            guard case .delnodeFailed = error else { Issue.record("\(error)"); return }
            #expect(error.localizedDescription.contains("corosync config reload failed"))
        }
        #expect(w.peer.exists(directory: "/etc/pve/nodes/villa-pve-01"))
        _ = try await w.removal().run()
        #expect(await w.cluster.delnodeCount == 1)
        #expect(await w.cluster.writes.filter { $0.hasPrefix("DELETE /cluster/config/nodes/") }.count == 2)
    }

    @Test func aLostDelnodeAnswerIsSettledByTheNodelistNeverBySendingAgain() async throws {
        // The answer times out: the same run reads the nodelist and goes on.
        let w = await RemovalWorld.villa(extraNode: true)
        _ = try await w.removal(api: LosingAnswerAPI(cluster: w.cluster, template: "/cluster/config/nodes/{node}", crash: false)).run()
        #expect(await w.cluster.delnodeCount == 1)
        #expect(!w.peer.exists(directory: "/etc/pve/nodes/villa-pve-01"))
        // The process dies before the answer: the next run finds the node gone and journals it.
        let v = await RemovalWorld.villa(extraNode: true)
        await #expect(throws: SimulatedCrash.self) {
            _ = try await v.removal(api: LosingAnswerAPI(cluster: v.cluster, template: "/cluster/config/nodes/{node}", crash: true)).run()
        }
        #expect(try await v.journal.removalPhases()["delnode"] == .requested)
        let outcome = try await v.removal().run()
        #expect(outcome.alreadyDone.contains("delnode"))
        #expect(await v.cluster.delnodeCount == 1)
        #expect(await v.cluster.writes.filter { $0.hasPrefix("DELETE /cluster/config/nodes/") }.count == 1)
        #expect(try await v.journal.removalPhases()["delnode"] == .done)
    }

    @Test func guestConfigsInTheNodeDirectoryStopTheCleanup() async throws {
        var w = await RemovalWorld.villa(extraNode: true)
        w = RemovalWorld(cluster: w.cluster, peer: FakeClusterPeer.seeded(site: w.site, target: w.peer.target, guestsOn: ["villa-pve-01": [VMID(777)]]),
                         journal: w.journal, node: w.node, site: w.site)
        await #expect(throws: ClusterRemovalError.guestConfigsLeft("villa-pve-01", ["/etc/pve/nodes/villa-pve-01/qemu-server/777.conf"])) {
            _ = try await w.removal().run()
        }
        #expect(w.peer.exists(directory: "/etc/pve/nodes/villa-pve-01"))
    }

    @Test func onlyTheNodesLinesLeaveTheKeyFiles() throws {
        let host = FakeClusterPeer.hostKey("villa-pve-01"), other = FakeClusterPeer.hostKey("villa-pve-02")
        let install = try SSHPublicKey(parsing: "\(FakeClusterPeer.hostKey("installer").keyText) pve2nix-install")
        let keys = NodeKeyLines(node: "villa-pve-01", addresses: ["10.1.10.11"], hostKeys: [host], extraKeys: [install])
        let authorized = """
            # a comment naming root@villa-pve-01
            ssh-rsa AAAAB3NzaC1yc2E= root@villa-pve-01
            from="10.0.0.0/8" ssh-rsa AAAAB3NzaC1yc2E= root@villa-pve-01
            ssh-rsa AAAAB3NzaC1yc2E= root@villa-pve-010
            ssh-rsa AAAAB3NzaC1yc2E= root@villa-pve-02

            \(install.keyText) operator renamed it
            ssh-ed25519 broken-line root@villa-pve-03

            """
        let a = keys.authorizedKeys(authorized)
        #expect(a.removed.count == 3)
        #expect(a.text == """
            # a comment naming root@villa-pve-01
            ssh-rsa AAAAB3NzaC1yc2E= root@villa-pve-010
            ssh-rsa AAAAB3NzaC1yc2E= root@villa-pve-02

            ssh-ed25519 broken-line root@villa-pve-03

            """)
        let salt = [UInt8](repeating: 7, count: 20)
        let known = """
            villa-pve-01 \(host.keyText)
            10.1.10.11 \(other.keyText)
            villa-pve-02,10.1.10.12 \(other.keyText)
            somealias \(host.keyText)
            \(KnownHostsEntry(hosts: .hashed(salt: salt, hash: MessageDigest.hmacSHA1(key: salt, message: Array("villa-pve-01".utf8))), key: other).line)
            villa-pve-010 \(other.keyText)
            * \(other.keyText)
            """
        let k = keys.knownHosts(known)
        #expect(k.removed.count == 4)
        #expect(k.text == "villa-pve-02,10.1.10.12 \(other.keyText)\nvilla-pve-010 \(other.keyText)\n* \(other.keyText)")
    }
}

/// Sends a write of `template`, then loses its answer: a timeout, or the process dying.
struct LosingAnswerAPI: ProxmoxAPI {
    let cluster: FakeProxmoxCluster
    let template: String
    let crash: Bool
    func send(_ request: ProxmoxRequest) async throws -> JSONValue {
        let answer = try await cluster.send(request)
        guard request.template == template, request.method != .get else { return answer }
        if crash { throw SimulatedCrash() }
        var lost = ProxmoxAPIError(status: 0, reason: "no answer in 30 s", request: "\(request)")
        lost.timedOut = true
        throw lost
    }
}
