import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix cluster-remove` as a user runs it: its own process, the simulator over HTTPS with a
/// root ticket, a real sshd as the peer (its `/etc/pve` a directory here), SIGKILLed after a
/// journal entry and run again.
@Suite(.serialized) struct ClusterRemovalProcessTests {
    @Test(.enabled(if: LocalSSHServer.isAvailable), arguments: [6, 10])
    func removesTheNodeOverSSHAndResumesAfterAKill(_ crashAfter: Int) async throws {
        let binary = try #require(CommandLineTests.binary)
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.addReplicationJob(guest: VMID(102), target: "villa-pve-01")
        let ssh = try await LocalSSHServer.start()
        do {
            try await ClusterRemovalHTTPSTests.serve(w) { server, pki in
                let dir = pki.dir.appendingPathComponent("e2e")
                var bundle = RemovalWorld.withFourthNode(Fixtures.villaFiles())
                bundle["nodes/villa-pve-01/ssh_host_ed25519_key.pub"] = FakeClusterPeer.hostKey("villa-pve-01").description + "\n"
                for (path, text) in bundle { try Self.write(text, dir.appendingPathComponent("bundle/\(path)")) }
                let root = dir.appendingPathComponent("peer/etc/pve")
                for (path, data) in w.peer.state.withLock({ $0.files }) {
                    try Self.write(String(decoding: data, as: UTF8.self), root.appendingPathComponent(String(path.dropFirst("/etc/pve/".count))))
                }
                let knownHosts = dir.appendingPathComponent("known_hosts").path
                try PinnedHostKeys(path: knownHosts).pin(host: "127.0.0.1", port: ssh.port, key: ssh.hostKey())
                let env: [String: String?] = ["XDG_STATE_HOME": dir.appendingPathComponent("state").path, "HOME": dir.path,
                                              "PVE2NIX_USER": "root@pam", "PVE2NIX_PASSWORD": ClusterRemovalHTTPSTests.password,
                                              "PVE2NIX_TOKEN_ID": nil, "PVE2NIX_TEST_PVE_ROOT": root.path]
                let planFile = dir.appendingPathComponent("plan.json").path
                let planned = try await offloaded { try ProcessOutput.capture(binary, ["plan", "villa-pve-01", "--site", dir.appendingPathComponent("bundle").path, "--out", planFile]) }
                #expect(planned.status == 0, "\(planned.err)")
                // The run of this plan shows the disk wiped.
                let journal = dir.appendingPathComponent("j.sqlite").path
                do {
                    let store = try SQLiteRunJournal(path: journal)
                    let run = try store.begin(node: "villa-pve-01", planHash: try PlanFile.read(planFile).planHash, newRun: false)
                    try store.append(RemovalWorld.wiped, run: run.id)
                }
                let args = ["cluster-remove", "villa-pve-01", "--plan", planFile, "--endpoint", "https://127.0.0.1:\(server.port)", "--ca-file", pki.ca,
                            "--journal", journal, "--known-hosts", knownHosts, "--ssh-identity", ssh.clientKey, "--ssh-config", "/dev/null",
                            "--ssh-peer", "villa-pve-02=\(ssh.target)", "--poll-interval", "0.02"]

                let killed = try await offloaded { try ProcessOutput.capture(binary, args, environment: env.merging(["PVE2NIX_TEST_CRASH_AFTER_RECORDS": "\(crashAfter)"]) { a, _ in a }) }
                #expect(killed.status != 0)
                #expect(await w.cluster.delnodeCount == (crashAfter > 6 ? 1 : 0))

                let resumed = try await offloaded { try ProcessOutput.capture(binary, args, environment: env) }
                #expect(resumed.status == 0, "\(resumed.err)")
                #expect(resumed.out.contains("villa-pve-01 is out of the cluster"))
                #expect(await w.cluster.delnodeCount == 1)
                #expect(await w.cluster.nodelist == ["villa-pve-02", "villa-pve-03", "villa-pve-04"])
                #expect(await w.cluster.replicationJobIDs.isEmpty)
                #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("nodes/villa-pve-01").path))
                #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("nodes/villa-pve-02/pve-ssl.pem").path))
                let authorized = try String(contentsOf: root.appendingPathComponent("priv/authorized_keys"), encoding: .utf8)
                let known = try String(contentsOf: root.appendingPathComponent("priv/known_hosts"), encoding: .utf8)
                #expect(!authorized.contains("root@villa-pve-01\n") && authorized.contains("root@villa-pve-02\n") && authorized.hasPrefix("# managed by pve-cluster\n"))
                #expect(!known.contains("villa-pve-01") && !known.contains("10.1.10.11 ") && known.contains("villa-pve-04 ssh-ed25519"))

                // Run again: nothing left, nothing sent.
                let writes = await w.cluster.writes.count
                let again = try await offloaded { try ProcessOutput.capture(binary, args + ["--json"], environment: env) }
                #expect(again.status == 0, "\(again.err)")
                let report = try JSONReader.parse(again.out)
                #expect(report["done"]?.arrayValue?.isEmpty == true)
                #expect(report["removed"]?.boolValue == true)
                #expect(await w.cluster.writes.count == writes)
                let entries = try SQLiteRunJournal.openForReading(path: journal).entries().map(\.entry).filter { $0.stage == .clusterRemove }
                #expect(entries.contains { $0.facts.removalStep == "delnode" && $0.phase == .done })
            }
        } catch {
            await ssh.shutdown()
            throw error
        }
        await ssh.shutdown()
    }

    static func write(_ text: String, _ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
}
