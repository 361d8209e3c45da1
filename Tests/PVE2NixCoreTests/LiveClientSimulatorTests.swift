import Foundation
import NIOSSL
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// The live HTTPS client against the simulator on loopback, with a test CA: the same drain runs
/// over real TLS, the client cannot tell it from a node.
@Suite struct LiveClientSimulatorTests {
    struct TestPKI {
        let dir: URL
        var ca: String { dir.appendingPathComponent("ca.pem").path }
        var otherCA: String { dir.appendingPathComponent("other-ca.pem").path }
        var cert: String { dir.appendingPathComponent("server.pem").path }
        var key: String { dir.appendingPathComponent("server.key").path }
    }

    static func makePKI() throws -> TestPKI {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(to: dir.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        let script = """
        set -e
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=pve2nix test CA' 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj '/CN=another CA' 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost' 2>/dev/null
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null
        """
        let (status, _) = try ProcessOutput.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script], in: dir)
        #expect(status == 0)
        return TestPKI(dir: dir)
    }

    static let site = Fixtures.loadSite(Fixtures.villa)
    static let accounts = ProxmoxSimulatorServer.Accounts(tokens: ["pve2nix@pve!drain": "token-secret-123"], users: ["root@pam": "root-password-456"])

    static func withSimulator(prepared: Bool = true, _ body: (FakeProxmoxCluster, ProxmoxSimulatorServer, TestPKI) async throws -> Void) async throws {
        let pki = try makePKI()
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        // As the operator leaves it before a drain; a capture only reads, the same either way but for the fixed configs.
        let cluster = prepared ? DrainExecutorTests.cluster() : FakeProxmoxCluster(site: site, bundle: LocalFileTree(root: Fixtures.villa))
        let server = try await ProxmoxSimulatorServer.start(cluster: cluster, certificate: pki.cert, key: pki.key, accounts: accounts)
        do {
            try await body(cluster, server, pki)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    static func endpoint(_ server: ProxmoxSimulatorServer) -> URL { URL(string: "https://127.0.0.1:\(server.port)")! }

    @Test func drainsVillaOverHTTPS() async throws {
        try await Self.withSimulator { cluster, server, pki in
            let client = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"), trust: .caFile(pki.ca))
            let plan = Planner(site: Self.site).plan(node: "villa-pve-01")
            var executor = DrainExecutor(api: client, journal: InMemoryDrainJournal(), clock: ImmediateClock())
            executor.limits.taskTimeout = .seconds(120)
            let outcome = try await executor.run(plan.drain)
            #expect(Set(outcome.moved) == Set(plan.drain.moves.map(\.vmid)))
            await DrainExecutorTests.expectDrained(cluster)
            try await client.shutdown()
        }
    }

    static func slowClient(_ server: ProxmoxSimulatorServer, _ pki: TestPKI) throws -> LiveProxmoxClient {
        try LiveProxmoxClient(endpoint: endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"),
                              trust: .caFile(pki.ca), requestTimeout: .milliseconds(700))
    }

    @Test func slowAnswersAreBoundedAndRetried() async throws {
        try await Self.withSimulator { cluster, server, pki in
            let client = try Self.slowClient(server, pki)
            // A late answer is an error that says so once the timeout passes, never a hang.
            await cluster.slowDown(1, by: .milliseconds(1500))
            do {
                _ = try await client.send(.clusterStatus())
                Issue.record("a late answer was waited for")
            } catch let e as ProxmoxAPIError {
                #expect(e.timedOut && e.isTransient)
                #expect(e.description.contains("no answer in time"))
            }
            // During a drain, late reads are retried.
            await cluster.slowDown(2, by: .milliseconds(1500))
            var executor = DrainExecutor(api: client, journal: InMemoryDrainJournal(), clock: ImmediateClock())
            executor.limits.taskTimeout = .seconds(120)
            _ = try await executor.run(Planner(site: Self.site).plan(node: "villa-pve-01").drain)
            await DrainExecutorTests.expectDrained(cluster)
            try await client.shutdown()
        }
    }

    @Test func aLateAnswerToAWriteIsResumedWithoutAskingTwice() async throws {
        try await Self.withSimulator { cluster, server, pki in
            let client = try Self.slowClient(server, pki)
            let plan = Planner(site: Self.site).plan(node: "villa-pve-01")
            let journal = InMemoryDrainJournal()
            var executor = DrainExecutor(api: client, journal: journal, clock: ImmediateClock())
            executor.limits.taskTimeout = .seconds(120)
            // The first migration request is carried out, but its answer (the UPID) comes too late.
            await cluster.slowDown(1, by: .milliseconds(1500), writesOnly: true)
            do {
                _ = try await executor.run(plan.drain)
                Issue.record("a write without an answer passed")
            } catch let e as ProxmoxAPIError {
                #expect(e.timedOut)
            }
            // The schedule's first move (the drain follows the schedule, not plan order).
            let schedule = try #require(plan.drain.schedule)
            let first = try #require(DrainDispatch(schedule: schedule).order(plan.drain.moves).first { $0.method.movesGuest })
            #expect(try await journal.latest()[first.vmid]?.phase == .planned)
            try await Task.sleep(for: .milliseconds(1200))
            _ = try await executor.run(plan.drain)
            await DrainExecutorTests.expectDrained(cluster)
            try await client.shutdown()
        }
    }

    @Test func proxmoxsMessageComesInTheReasonPhrase() async throws {
        try await Self.withSimulator { _, server, pki in
            let client = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"), trust: .caFile(pki.ca))
            do {
                _ = try await client.send(.restoreCT(node: "villa-pve-02", vmid: VMID(105), archive: "nas-backup:backup/x.tar.zst", storage: "local-lvm", start: false))
                Issue.record("a restore over an existing VMID was accepted")
            } catch let e as ProxmoxAPIError {
                #expect(e.status == 500)
                #expect(e.reason == "unable to create CT 105 - CT 105 already exists on node 'villa-pve-01'", "\(e.reason)")
            }
        }
    }

    @Test func aPinnedFingerprintIsTrustedAndAWrongOneRefused() async throws {
        try await Self.withSimulator { _, server, pki in
            let certificate = try #require(try NIOSSLCertificate.fromPEMFile(pki.cert).first)
            let pin = try CertificateFingerprint(of: certificate)
            #expect(CertificateFingerprint(pin.description) == pin)
            #expect(CertificateFingerprint(pin.description.replacingOccurrences(of: ":", with: "").lowercased()) == pin)
            let pinned = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"), trust: .fingerprint(pin))
            #expect(try await pinned.send(.clusterStatus()).arrayValue?.isEmpty == false)
            let other = try #require(CertificateFingerprint(String(repeating: "AB", count: 32)))
            let wrong = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"), trust: .fingerprint(other))
            do {
                _ = try await wrong.send(.clusterStatus())
                Issue.record("a wrong pin was accepted")
            } catch let e as ProxmoxClientError {
                #expect(e.localizedDescription.contains(pin.description) && e.localizedDescription.contains("not the pinned"), "\(e.localizedDescription)")
            }
        }
    }

    @Test func refusesPlainHTTPAndUntrustedCertificates() async throws {
        #expect(throws: ProxmoxClientError.self) {
            _ = try LiveProxmoxClient(endpoint: URL(string: "http://127.0.0.1:8006")!, credentials: .token(id: "a@pve!b", secret: "c"), trust: .insecureSkipVerification)
        }
        try await Self.withSimulator { _, server, pki in
            let client = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"), trust: .caFile(pki.otherCA))
            await #expect(throws: (any Error).self) { _ = try await client.send(.clusterStatus()) }
            try await client.shutdown()
        }
    }

    @Test func authenticationErrorsAndRootOnlyCalls() async throws {
        try await Self.withSimulator { _, server, pki in
            let wrong = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "wrong-secret"), trust: .caFile(pki.ca))
            do {
                _ = try await wrong.send(.clusterStatus())
                Issue.record("a wrong token was accepted")
            } catch let e as ProxmoxAPIError {
                #expect(e.status == 401)
                #expect(!e.description.contains("wrong-secret"))
            }
            try await wrong.shutdown()

            let token = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"), trust: .caFile(pki.ca))
            do {
                _ = try await token.send(.removeClusterNode("villa-pve-01"))
                Issue.record("a token passed a root-only call")
            } catch let e as ProxmoxAPIError {
                #expect(e.status == 403)
            }
            // Parameter errors come back per parameter.
            do {
                _ = try await token.send(ProxmoxRequest(.post, "/nodes/{node}/qemu/{vmid}/migrate", path: ["node": .string("villa-pve-01"), "vmid": .integer(120)]))
                Issue.record("a migration without target was accepted")
            } catch let e as ProxmoxAPIError {
                #expect(e.status == 400)
                #expect(e.parameterErrors["target"] != nil)
            }
            try await token.shutdown()

            // A ticket (username/password) gets past the root-only check; CSRF goes with writes.
            let root = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .password(username: "root@pam", password: "root-password-456"), trust: .caFile(pki.ca))
            let status = try await root.send(.clusterStatus())
            #expect(status.arrayValue?.isEmpty == false)
            // Past the root-only check, delnode's own rule: the endpoint is villa-pve-01 itself.
            do {
                _ = try await root.send(.removeClusterNode("villa-pve-01"))
                Issue.record("a node deleted itself")
            } catch let e as ProxmoxAPIError {
                #expect(e.status == 500)
                #expect(e.reason == "Cannot delete myself from cluster!")
                #expect(!e.description.contains("root-password-456"))
            }
            try await root.shutdown()
        }
    }

    @Test func captureThroughTheAPIPlansTheSame() async throws {
        try await Self.withSimulator(prepared: false) { _, server, pki in
            let client = try LiveProxmoxClient(endpoint: Self.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"), trust: .caFile(pki.ca))
            let (captured, notes) = try await SiteCapturer(api: client).capture(capturedAt: "2026-11-27T00:00:00Z", endpoint: "test")
            try await client.shutdown()
            #expect(notes.isEmpty, "\(notes)")
            // The API parts from the capture, the SSH parts (and nothing else) from the original bundle.
            var files = Fixtures.villaFiles().filter { path, _ in
                path.hasPrefix("nodes/") && !path.hasSuffix("status.json") && !path.contains("/lxc/") && !path.contains("/qemu-server/")
            }
            files["site.toml"] = Fixtures.villaFiles()["site.toml"]
            files.merge(captured) { _, new in new }
            let site = SiteLoader(tree: InMemoryFileTree(files)).load()
            #expect(!site.diagnostics.contains { $0.severity == .error }, "\(site.diagnostics.map(\.rendered))")
            let original = Planner(site: Self.site).plan(node: "villa-pve-01")
            let replanned = Planner(site: site).plan(node: "villa-pve-01")
            func summary(_ p: ConversionPlan) -> [String] { p.drain.moves.map { "\($0.vmid) \($0.to?.rawValue ?? "-") \($0.method.rawValue) \($0.blockers.map(\.kind.rawValue).sorted())" } }
            #expect(summary(replanned) == summary(original))
            #expect(replanned.disk?.byId == original.disk?.byId)
            #expect(captured["nodes/villa-pve-01/lxc/103.conf"]?.contains("mp0: /mnt/pve/nas-data/paperless,mp=/data") == true)
        }
    }
}
