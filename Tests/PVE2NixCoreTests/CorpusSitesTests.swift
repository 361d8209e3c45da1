import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixTesting
import Testing

/// Every interfaces file of the differential corpus, dropped into the villa capture as villa-pve-01's
/// network: plan, generate and the rehearsal scenario must cope with each (other bridge layouts,
/// bonds, VLANs on NICs and bonds, QinQ, DHCP, IPv6), and the generated network must round-trip
/// through real Nix. OVS and unknown hooks must stop generation with file:line, never crash.
@Suite struct CorpusSitesTests {
    static let corpus = IfqueryDifferentialTests.corpus.filter { !$0.hasPrefix("14-") && !$0.hasPrefix("15-") }

    static func site(for name: String) throws -> Site {
        var files = Fixtures.villaFiles()
        let text = try String(contentsOf: IfqueryDifferentialTests.corpusDirectory.appendingPathComponent(name), encoding: .utf8)
        files["nodes/villa-pve-01/interfaces"] = text
        files["nodes/villa-pve-01/interfaces.d/mgmt-ipv6"] = nil
        // ip-link.json: every NIC-like name in the file gets a MAC, as a capture would show.
        let doc = InterfacesParser().parse(text, file: "interfaces")
        let (ifaces, _) = NetworkInterface.build(from: doc)
        var links: [String] = []
        for (i, iface) in ifaces.enumerated() where iface.kind == .physical || iface.kind == .bridge || iface.kind == .bond {
            let mac = "02:00:00:00:00:" + String(i + 16, radix: 16)
            let info = iface.kind == .physical ? "" : ",\"linkinfo\":{\"info_kind\":\"\(iface.kind == .bond ? "bond" : "bridge")\"}"
            links.append("{\"ifname\":\"\(iface.name)\",\"address\":\"\(mac)\",\"link_type\":\"ether\"\(info)}")
        }
        files["nodes/villa-pve-01/ip-link.json"] = "[" + links.joined(separator: ",") + "]"
        files["nodes/villa-pve-01/ip-addr.json"] = "[{\"ifname\":\"lo\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8}]}]"
        return SiteLoader(tree: InMemoryFileTree(files)).load()
    }

    @Test(arguments: corpus)
    func planGenerateAndRehearsalScenario(_ name: String) throws {
        let site = try Self.site(for: name)
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        #expect(plan.drain.moves.count == 9)
        let host = HostGenerator(site: site, plan: plan, options: GenerateOptions()).generate()
        // OVS, hooks without an exact networkd equivalent (a route, a rule), and bad input.
        let untranslatable = name.contains("ovs") || name.contains("hooks") || name.contains("continuation") || name.contains("bad")
        if untranslatable {
            #expect(host.diagnostics.contains { $0.severity == .error && $0.line != nil && $0.file == "nodes/villa-pve-01/interfaces" })
            return
        }
        // The corpus sites lack the cluster's management address and villa's vmbr0 (which the
        // returning containers use): only those may be errors.
        let errors = host.diagnostics.filter { $0.severity == .error && !$0.message.contains("10.1.10.11") && !$0.message.contains("is not part of the generated network") }
        #expect(errors.isEmpty, "\(errors.map(\.rendered))")
        var options = GenerateOptions()
        options.acceptDropping = true
        let accepted = HostGenerator(site: site, plan: plan, options: options).generate()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-corpus-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try GeneratedTreeWriter(directory: dir).write(accepted.files)
        let result = try NixTool.run(["--eval", "--strict", "--json", "-E", "(import ./network.nix { }).systemd.network"], in: dir)
        #expect(result.status == 0, "\(result.err)")
        let json = try JSONReader.parse(result.out)
        for (kind, suffix) in [("netdevs", "netdev"), ("networks", "network"), ("links", "link")] {
            for (unit, value) in json[kind]?.objectMembers ?? [] {
                #expect(NixOSUnitRendering.render(value, kind: suffix) == accepted.file("networkd/\(unit).\(suffix)")?.contents, "\(name): \(unit)")
            }
        }
        let (scenario, _) = RehearsalScenarioBuilder(site: site, plan: plan, generated: accepted, strategy: .vlanAwareBridge, reverseNICOrder: true).build()
        #expect(scenario != nil)
    }
}
