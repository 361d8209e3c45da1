import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// The rehearsal's checks come from the model (no VM needed for these).
@Suite struct RehearsalScenarioTests {
    static func scenario(site root: URL, node: String, strategy: NetworkStrategy = .vlanAwareBridge, reverse: Bool = false) -> RehearsalScenario {
        let site = Fixtures.loadSite(root)
        let plan = Planner(site: site).plan(node: NodeName(node))
        var options = GenerateOptions()
        options.strategy = strategy
        options.acceptDropping = true
        let host = HostGenerator(site: site, plan: plan, options: options).generate()
        let (scenario, diagnostics) = RehearsalScenarioBuilder(site: site, plan: plan, generated: host, strategy: strategy, reverseNICOrder: reverse).build()
        #expect(!diagnostics.hasErrors)
        return scenario!
    }

    @Test func villaChecksComeFromTheModel() {
        let s = Self.scenario(site: Fixtures.villa, node: "villa-pve-01")
        let ids = Set(s.checks.map(\.id))
        // The management address, on VLAN 10, isolated from VLAN 1 (untagged) and 40, same MAC.
        for id in ["reach-10.1.10.11", "isolated-10.1.10.11-from-1", "isolated-10.1.10.11-from-40", "mac-10.1.10.11", "default-route"] {
            #expect(ids.contains(id), "\(id)")
        }
        // Every returning container with a static address: gateway, neighbour, isolation.
        for vmid in [101, 102, 103, 104, 105] {
            #expect(ids.contains("ct\(vmid)-gateway") && ids.contains("ct\(vmid)-neighbour") && ids.contains("ct\(vmid)-isolated-from-10"))
        }
        // VMs stay on the peers: no checks for them.
        #expect(!ids.contains { $0.hasPrefix("vm") })
        #expect(s.expectedMACs["10.1.10.11"] == "58:47:ca:71:2e:10")
        #expect(s.nics.map(\.name) == ["nic0", "nic1"])
        #expect(s.files["etc-network/interfaces"]?.contains("hwaddress 58:47:ca:71:2e:10") == true)
        #expect(s.files["etc-network/interfaces.d/mgmt-ipv6"] != nil)
        #expect(s.files["scenario.sh"]?.contains("AFTER_103=\"vb-paperless vmbr0 networkd 40\"") == true)
    }

    @Test func bondSiteUsesAnLACPSwitchAndReversesNICs() {
        let s = Self.scenario(site: Fixtures.fixtures.appendingPathComponent("sites/office"), node: "pve1", reverse: true)
        #expect(s.lacp)
        #expect(s.nics.map(\.name) == ["eno2", "eno1"])
        #expect(s.files["scenario.sh"]?.contains("SWITCH_BOND=\"eno1 eno2\"") == true)
        // The management address is untagged on the bridge: native VLAN 1, isolated from nothing else.
        #expect(s.checks.contains { $0.id == "reach-192.168.1.21" })
        #expect(!s.checks.contains { $0.id.hasPrefix("isolated-192.168.1.21") })
    }

    @Test func pointToPointAddressesAreSkippedNotCrashed() {
        var files = Fixtures.villaFiles()
        files["nodes/villa-pve-01/interfaces"] = files["nodes/villa-pve-01/interfaces"]! + "\nauto nic1\niface nic1 inet static\n\taddress 192.0.2.9/32\n"
        let site = SiteLoader(tree: InMemoryFileTree(files)).load()
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        let host = HostGenerator(site: site, plan: plan, options: GenerateOptions()).generate()
        let (scenario, diagnostics) = RehearsalScenarioBuilder(site: site, plan: plan, generated: host, strategy: .vlanAwareBridge, reverseNICOrder: false).build()
        #expect(scenario != nil)
        #expect(diagnostics.contains { $0.message.contains("192.0.2.9/32") })
        #expect(!(scenario?.checks.contains { $0.id.contains("192.0.2.9") } ?? true))
    }

    @Test func reportBlamesOnlyTheGeneratedNetwork() {
        let s = Self.scenario(site: Fixtures.villa, node: "villa-pve-01")
        var lines = s.checks.filter { $0.phase != .compare }.map { "CHECK|\($0.phase.rawValue)|\($0.id)|\($0.expectReach || true ? "PASS" : "FAIL")|ok" }
        lines += ["MAC|before|10.1.10.11|58:47:ca:71:2e:10", "MAC|after|10.1.10.11|58:47:ca:71:2e:10", "END"]
        #expect(RehearsalReport.read(lines.joined(separator: "\n"), scenario: s, variant: "t").passed)
        // The same check failing before and after is the lab's or the capture's, not the conversion's.
        let both = lines.map { $0.hasSuffix("|ct101-neighbour|PASS|ok") ? $0.replacingOccurrences(of: "PASS", with: "FAIL") : $0 }
        let r = RehearsalReport.read(both.joined(separator: "\n"), scenario: s, variant: "t")
        #expect(r.passed)
        #expect(r.results.contains { $0.phase == .after && $0.id == "ct101-neighbour" && $0.status == .notBlamed })
        // Failing only after, or a changed MAC, fails the rehearsal; so does a run that did not end.
        let after = lines.map { $0 == "CHECK|after|reach-10.1.10.11|PASS|ok" ? "CHECK|after|reach-10.1.10.11|FAIL|no answer" : $0 }
        #expect(RehearsalReport.read(after.joined(separator: "\n"), scenario: s, variant: "t").failed.map(\.id) == ["reach-10.1.10.11"])
        let mac = lines.map { $0 == "MAC|after|10.1.10.11|58:47:ca:71:2e:10" ? "MAC|after|10.1.10.11|aa:bb:cc:dd:ee:ff" : $0 }
        #expect(RehearsalReport.read(mac.joined(separator: "\n"), scenario: s, variant: "t").failed.map(\.id) == ["mac-10.1.10.11"])
        #expect(!RehearsalReport.read(lines.dropLast().joined(separator: "\n"), scenario: s, variant: "t").passed)
    }
}

extension RehearsalScenarioTests {
    /// A second, plain bridge on its own NIC is on its own switch segment, with its own probes:
    /// the lab must not let that NIC answer for the management address, as no real site does.
    @Test func aSecondBridgeOnItsOwnNICHasItsOwnSegment() throws {
        let site = Fixtures.loadSite(Fixtures.fixtures.appendingPathComponent("sites/dmz"))
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        #expect(!plan.hasErrors, "\(plan.diagnostics.filter { $0.severity == .error }.map(\.rendered))")
        var options = GenerateOptions()
        options.acceptDropping = true
        let host = HostGenerator(site: site, plan: plan, options: options).generate()
        #expect(!host.hasErrors)
        let (scenario, diagnostics) = RehearsalScenarioBuilder(site: site, plan: plan, generated: host, strategy: .vlanAwareBridge, reverseNICOrder: false).build()
        #expect(!diagnostics.hasErrors)
        let s = try #require(scenario)
        #expect(s.nics.first { $0.name == "nic0" }?.segment == 0)
        #expect(s.nics.first { $0.name == "nic1" }?.segment == 1)
        let script = try #require(s.files["scenario.sh"])
        #expect(script.contains("SWITCH_SEGMENTS=\"nic0=0 nic1=1\""))
        #expect(script.contains("SEG=1 probe adm-192-168-50-2"))
        #expect(script.contains("  probe adm-10-1-10-11"), "the management address stays on segment 0")
    }
}
