import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// Cluster removal through the live HTTPS client against the simulator server (tickets with CSRF,
/// tokens, the schema's routing), and the `pve2nix cluster-remove` executable against it.
@Suite struct ClusterRemovalHTTPSTests {
    static let password = "root-password-456"

    static func serve(_ w: RemovalWorld, _ body: (ProxmoxSimulatorServer, LiveClientSimulatorTests.TestPKI) async throws -> Void) async throws {
        let pki = try LiveClientSimulatorTests.makePKI()
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        let accounts = ProxmoxSimulatorServer.Accounts(tokens: ["pve2nix@pve!drain": "token-secret-123"], users: ["root@pam": password])
        let server = try await ProxmoxSimulatorServer.start(cluster: w.cluster, certificate: pki.cert, key: pki.key, accounts: accounts)
        do {
            try await body(server, pki)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func removesTheNodeWithARootTicketOverHTTPS() async throws {
        let w = await RemovalWorld.villa(extraNode: true)
        await w.cluster.addReplicationJob(guest: VMID(102), target: "villa-pve-01")
        try await Self.serve(w) { server, pki in
            let token = try LiveProxmoxClient(endpoint: LiveClientSimulatorTests.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"), trust: .caFile(pki.ca))
            await #expect(throws: ClusterRemovalError.delnodeNeedsRoot("villa-pve-01", "403 Permission check failed (user != root@pam)")) {
                _ = try await w.removal(api: token).run()
            }
            try await token.shutdown()
            #expect(await w.cluster.delnodeCount == 0)

            let root = try LiveProxmoxClient(endpoint: LiveClientSimulatorTests.endpoint(server), credentials: .password(username: "root@pam", password: Self.password), trust: .caFile(pki.ca))
            let outcome = try await w.removal(api: root).run()
            try await root.shutdown()
            #expect(outcome.done.contains("delnode"))
            #expect(await w.cluster.nodelist == ["villa-pve-02", "villa-pve-03", "villa-pve-04"])
            #expect(await w.cluster.replicationJobIDs.isEmpty)
            #expect(!w.peer.exists(directory: "/etc/pve/nodes/villa-pve-01"))
        }
    }

    @Test func theExecutableRefusesTokensAndExplainsWhatStopsIt() async throws {
        let binary = try #require(CommandLineTests.binary)
        let w = await RemovalWorld.villa()
        try await Self.serve(w) { server, pki in
            let dir = pki.dir.appendingPathComponent("run")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let base = ["cluster-remove", "villa-pve-01", "--site", Fixtures.villa.path, "--endpoint", "https://127.0.0.1:\(server.port)", "--ca-file", pki.ca,
                        "--journal", dir.appendingPathComponent("j.sqlite").path, "--known-hosts", dir.appendingPathComponent("known_hosts").path]
            let state: [String: String?] = ["XDG_STATE_HOME": dir.appendingPathComponent("state").path]
            let tokenEnv = state.merging(["PVE2NIX_TOKEN_ID": "pve2nix@pve!drain", "PVE2NIX_TOKEN_SECRET": "token-secret-123"]) { a, _ in a }
            let ticketEnv = state.merging(["PVE2NIX_USER": "root@pam", "PVE2NIX_PASSWORD": Self.password, "PVE2NIX_TOKEN_ID": nil]) { a, _ in a }

            let token = try await offloaded { try ProcessOutput.capture(binary, base, environment: tokenEnv) }
            #expect(token.status == 2)
            #expect(token.err.contains("root@pam only"))

            let refused = try await offloaded { try ProcessOutput.capture(binary, base, environment: ticketEnv) }
            #expect(refused.status == 1)
            #expect(refused.out.contains("refused: the journal does not show villa-pve-01's disk wiped"))
            #expect(refused.err.contains("two nodes would remain"))
            #expect(refused.err.contains("--accept-two-node"))

            // Past the checks, the peer's host key must be pinned before anything is sent.
            let unpinned = try await offloaded { try ProcessOutput.capture(binary, base + ["--accept-two-node", "--disk-wiped-elsewhere"], environment: ticketEnv) }
            #expect(unpinned.status == 2)
            #expect(unpinned.err.contains("no host key is pinned for root@10.1.10.12"))
            #expect(unpinned.out.contains("2. delete the node from the corosync nodelist"))
            #expect(unpinned.out.contains("3. remove its directory /etc/pve/nodes/villa-pve-01 on a peer"))
        }
        #expect(await w.cluster.writes.isEmpty)
        #expect(await w.cluster.delnodeCount == 0)
    }

    @Test(arguments: ["9.1", "8.3"]) func removalReadsMatchTheSchemaReturns(_ release: String) async throws {
        let schema = try ProxmoxSchemaTests.load("pve-api-schema-\(release).json")
        let w = release == "9.1" ? await RemovalWorld.villa(extraNode: true) : await RemovalWorld.office()
        let guest = VMID(102)
        await w.cluster.addReplicationJob(guest: guest, target: w.node)
        await w.cluster.setQDevice(["State": "Connected"])
        for request in [ProxmoxRequest.replicationJobs(), .qdeviceStatus(), .clusterNodes(), .clusterStatus(),
                        ProxmoxRequest(.get, "/cluster/replication/{id}", path: ["id": .string("\(guest)-0")])] {
            let answer = try await w.cluster.send(request)
            let returns = schema[request.template]?["info"]?[request.method.rawValue]?["returns"]
            #expect(returns != nil, "\(request.template) has no returns in the \(release) schema")
            let problems = SimulatorSchemaTests.violations(answer, returns, at: request.template)
            #expect(problems.isEmpty, "\(release): \(problems)")
        }
        // A replication DELETE with both keep and force is refused as Proxmox refuses it.
        await #expect(throws: ProxmoxAPIError.self) {
            _ = try await w.cluster.send(ProxmoxRequest(.delete, "/cluster/replication/{id}", path: ["id": .string("\(guest)-0")], parameters: ["keep": .boolean(true), "force": .boolean(true)]))
        }
    }
}
