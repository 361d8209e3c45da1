import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// site.toml's probes against real sockets on loopback: TCP connect, HTTP GET, and a Traefik route
/// asked for by its Host header.
@Suite struct HealthProbeTests {
    @Test func probesPassAndFailForTheRightReasons() async throws {
        let server = try await StandInHTTPServer.start(hosts: ["wiki.villa.lan": 200, "paperless.villa.lan": 502], paths: ["/ping": 200, "/broken": 503])
        let base = "127.0.0.1:\(server.port)"
        var prober = NetworkHealthProber()
        prober.timeout = .seconds(2)
        let good = [
            HealthProbe(kind: .tcp, guest: nil, target: base),
            HealthProbe(kind: .http, guest: nil, target: "http://\(base)/ping"),
            HealthProbe(kind: .traefikRoute, guest: nil, target: "wiki.villa.lan", via: "http://\(base)"),
            // Without a Traefik to ask, a route probe is skipped (plan warned about it).
            HealthProbe(kind: .traefikRoute, guest: nil, target: "wiki.villa.lan"),
        ]
        #expect(await prober.failures(of: good).isEmpty)

        let bad = [
            HealthProbe(kind: .tcp, guest: nil, target: "127.0.0.1:1"),
            HealthProbe(kind: .http, guest: nil, target: "http://\(base)/broken"),
            HealthProbe(kind: .traefikRoute, guest: nil, target: "paperless.villa.lan", via: "http://\(base)"),
            HealthProbe(kind: .traefikRoute, guest: nil, target: "nothing.villa.lan", via: "http://\(base)"),
        ]
        let failures = await prober.failures(of: bad)
        #expect(failures.count == 4, "\(failures)")
        #expect(failures.contains { $0.hasPrefix("tcp 127.0.0.1:1") })
        #expect(failures.contains { $0.contains("/broken") && $0.contains("503") })
        #expect(failures.contains { $0.contains("paperless.villa.lan") && $0.contains("502") })
        #expect(failures.contains { $0.contains("nothing.villa.lan") && $0.contains("no route") })
        await server.stop()
    }

    @Test func traefikRoutesNeedATraefikToAsk() {
        let (intent, diagnostics) = SiteIntentParser.parse("""
            [[probes]]
            guest = 105
            type = "traefik-route"
            host = "wiki.villa.lan"
            """, file: "site.toml")
        #expect(intent.probes.first?.via == nil)
        #expect(diagnostics.contains { $0.severity == .warning && $0.line == 1 && $0.message.contains("[traefik] url") })
        let (withURL, none) = SiteIntentParser.parse("[traefik]\nurl = \"http://10.1.40.10\"\n[[probes]]\ntype = \"traefik-route\"\nhost = \"a.lan\"\n", file: "site.toml")
        #expect(none.isEmpty)
        #expect(withURL.probes.first?.via == "http://10.1.40.10")
    }
}

extension HealthProbeTests {
    /// The drain probes each guest at its new home: villa with its probes pointed at a loopback
    /// server standing in for the VLAN-40 services and Traefik.
    @Test func theDrainProbesEveryMovedGuest() async throws {
        let server = try await StandInHTTPServer.start(hosts: ["paperless.villa.lan": 200, "wiki.villa.lan": 200], paths: ["/ping": 200, "/": 503])
        var files = Fixtures.villaFiles()
        let local = "127.0.0.1:\(server.port)"
        files["site.toml"] = files["site.toml"]!
            .replacingOccurrences(of: "10.1.40.10:8082", with: local).replacingOccurrences(of: "http://10.1.40.10\"", with: "http://\(local)\"")
            .replacingOccurrences(of: "10.1.40.53:53", with: local).replacingOccurrences(of: "10.1.40.30:8123", with: local)
        let site = SiteLoader(tree: InMemoryFileTree(files)).load()
        #expect(site.intent.probes.allSatisfy { $0.target.contains("127.0.0.1") || $0.via?.contains("127.0.0.1") == true }, "\(site.intent.probes)")
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        let cluster = DrainExecutorTests.cluster()
        let journal = InMemoryDrainJournal()
        var executor = DrainExecutor(api: cluster, journal: journal, clock: ImmediateClock())
        executor.limits.taskTimeout = .seconds(120)
        var prober = NetworkHealthProber()
        prober.timeout = .seconds(2)
        executor.probe(site.intent.probes, with: prober)
        let outcome = try await executor.run(plan.drain)
        let latest = try await journal.latest()
        #expect(latest[VMID(101)]?.detail == "on villa-pve-03; its health probe passes")
        #expect(latest[VMID(103)]?.detail.hasSuffix("its health probe passes") == true)
        #expect(latest[VMID(105)]?.detail.contains("its health probe passes") == true)
        #expect(latest[VMID(121)]?.detail.hasSuffix("no health probes for it in site.toml") == true)
        // Home Assistant's probe gets a 503: the move stands, and the drain says so.
        #expect(outcome.healthFailures.keys.sorted() == [VMID(120)])
        #expect(latest[VMID(120)]?.detail.contains("503") == true)
        await server.stop()
    }
}
