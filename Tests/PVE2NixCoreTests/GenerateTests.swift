import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixTesting
import Testing

/// `pve2nix generate`: golden trees, real Nix parsing and evaluation, and the network round trip.
@Suite struct GenerateTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var site: String
        var node: String
        var strategy: NetworkStrategy
        var description: String { name }
    }

    static let cases = [
        Case(name: "villa", site: "villa", node: "villa-pve-01", strategy: .vlanAwareBridge),
        Case(name: "villa-per-vlan-bridges", site: "villa", node: "villa-pve-01", strategy: .perVLANBridges),
        Case(name: "office-bond", site: "office", node: "pve1", strategy: .vlanAwareBridge),
    ]

    static func generate(_ c: Case) -> GeneratedHost {
        let root = c.site == "villa" ? Fixtures.villa : Fixtures.fixtures.appendingPathComponent("sites/\(c.site)")
        let site = Fixtures.loadSite(root)
        var plan = Planner(site: site).plan(node: NodeName(c.node))
        // The office plan has a guest that cannot move; generation only needs the network and disk.
        plan.diagnostics.removeAll { $0.severity == .error }
        var options = GenerateOptions()
        options.strategy = c.strategy
        options.sshKeys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYFORTESTSONLY admin@villa"]
        return HostGenerator(site: site, plan: plan, options: options).generate()
    }

    static func writeToTemporary(_ host: GeneratedHost) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-gen-\(UUID().uuidString)")
        try GeneratedTreeWriter(directory: dir).write(host.files)
        return dir
    }

    @Test(arguments: cases)
    func generatesWithoutErrors(_ c: Case) {
        let host = Self.generate(c)
        #expect(!host.hasErrors, "\(host.diagnostics.map(\.rendered))")
        for path in ["flake.nix", "configuration.nix", "disko.nix", "network.nix", "containers.nix", "incus.nix"] {
            #expect(host.file(path) != nil, "\(path)")
        }
        #expect(host.files.contains { $0.path.hasPrefix("networkd/") })
    }

    /// Re-record with `PVE2NIX_RECORD=1 swift test --filter GenerateTests`.
    @Test(arguments: cases)
    func goldenTree(_ c: Case) throws {
        let host = Self.generate(c)
        let golden = Fixtures.fixtures.appendingPathComponent("golden/generate/\(c.name)")
        if ProcessInfo.processInfo.environment["PVE2NIX_RECORD"] == "1" {
            try? FileManager.default.removeItem(at: golden)
            for f in host.files {
                let url = golden.appendingPathComponent(f.path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try f.contents.write(to: url, atomically: true, encoding: .utf8)
            }
        }
        let expected = Fixtures.files(under: golden)
        #expect(Set(expected.keys) == Set(host.files.map(\.path)))
        for f in host.files {
            #expect(f.contents == expected[f.path], "golden \(c.name)/\(f.path) differs; re-record with PVE2NIX_RECORD=1 if intended")
        }
    }

    @Test(arguments: cases)
    func everyNixFileParses(_ c: Case) throws {
        let dir = try Self.writeToTemporary(Self.generate(c))
        defer { try? FileManager.default.removeItem(at: dir) }
        for f in Self.generate(c).files where f.path.hasSuffix(".nix") {
            let result = try NixTool.run(["--parse", dir.appendingPathComponent(f.path).path])
            #expect(result.status == 0, "\(f.path): \(result.err)")
        }
    }

    /// network.nix (and the containers' vb- networks) evaluated by real Nix, rendered by NixOS's rules,
    /// must be exactly the files in networkd/.
    @Test(arguments: cases)
    func networkRoundTripsThroughNix(_ c: Case) throws {
        let host = Self.generate(c)
        let dir = try Self.writeToTemporary(host)
        defer { try? FileManager.default.removeItem(at: dir) }
        let expression = """
        let n = (import ./network.nix { }).systemd.network;
            c = (import ./containers.nix { }).systemd.network or { };
        in { netdevs = n.netdevs; networks = n.networks // (c.networks or { }); links = n.links or { }; }
        """
        let result = try NixTool.run(["--eval", "--strict", "--json", "-E", expression], in: dir)
        #expect(result.status == 0, "\(result.err)")
        let json = try JSONReader.parse(result.out)
        var rendered: [String: String] = [:]
        for (kind, suffix) in [("netdevs", "netdev"), ("networks", "network"), ("links", "link")] {
            for (name, unit) in json[kind]?.objectMembers ?? [] {
                rendered["networkd/\(name).\(suffix)"] = NixOSUnitRendering.render(unit, kind: suffix)
            }
        }
        let files = Dictionary(uniqueKeysWithValues: host.files.filter { $0.path.hasPrefix("networkd/") }.map { ($0.path, $0.contents) })
        #expect(Set(rendered.keys) == Set(files.keys))
        for (path, text) in rendered { #expect(text == files[path], "\(path)") }
    }

    @Test func villaNetworkFacts() throws {
        let host = Self.generate(Self.cases[0])
        let units = host.files.filter { $0.path.hasPrefix("networkd/") }.map(\.contents)
        // Never a wildcard match, the NIC by its permanent MAC, the bridge keeps the NIC's MAC.
        #expect(!units.contains { $0.contains("Name=*") || $0.contains("Name=en*") || $0.contains("Name=eth*") })
        #expect(host.file("networkd/10-nic0.network")?.contents.contains("PermanentMACAddress=58:47:ca:71:2e:10") == true)
        #expect(host.file("networkd/10-vmbr0.netdev")?.contents.contains("MACAddress=58:47:ca:71:2e:10") == true)
        #expect(host.file("networkd/30-vmbr0.network")?.contents.contains("[BridgeVLAN]\nVLAN=10\n") == true)
        #expect(host.file("networkd/45-vb-paperless.network")?.contents.contains("PVID=40") == true)
        let network = try #require(host.file("network.nix")?.contents)
        #expect(network.contains("networking.useNetworkd = true;"))
        #expect(network.contains("networking.useDHCP = false;"))
        let code = network.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }.joined(separator: "\n")
        #expect(!code.contains("pkgs") && !code.contains("lib."))
        let disko = try #require(host.file("disko.nix")?.contents)
        #expect(disko.contains("/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0T512345A"))
        #expect(!disko.contains("sda") && !disko.contains("S6PNNJ0W123456B"))
        let containers = try #require(host.file("containers.nix")?.contents)
        #expect(containers.contains("localAddress = \"10.1.40.21/24\";"))
        #expect(containers.contains("isReadOnly = false;"))
        #expect(host.file("installer.nix") != nil)
    }

    @Test func untranslatableHookStopsGeneration() {
        var files = Fixtures.villaFiles()
        files["nodes/villa-pve-01/interfaces"] = files["nodes/villa-pve-01/interfaces"]!
            .replacingOccurrences(of: "\tbridge-vids 2-4094\n", with: "\tbridge-vids 2-4094\n\tpost-up /usr/local/bin/fix-routes.sh\n")
        let site = SiteLoader(tree: InMemoryFileTree(files)).load()
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        let host = HostGenerator(site: site, plan: plan, options: GenerateOptions()).generate()
        #expect(host.hasErrors)
        #expect(host.diagnostics.contains { $0.severity == .error && $0.file == "nodes/villa-pve-01/interfaces" && $0.line == 27 })
        var accepting = GenerateOptions()
        accepting.acceptDropping = true
        #expect(!HostGenerator(site: site, plan: plan, options: accepting).generate().hasErrors)
    }

    @Test func writerNeverOverwritesAUsersChange() throws {
        let host = Self.generate(Self.cases[0])
        let dir = try Self.writeToTemporary(host)
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = GeneratedTreeWriter(directory: dir)
        #expect(writer.conflicts(host.files).isEmpty)
        let network = dir.appendingPathComponent("network.nix")
        try (try String(contentsOf: network, encoding: .utf8) + "# my change\n").write(to: network, atomically: true, encoding: .utf8)
        // The user's edit is a conflict whether or not pve2nix's own output changed.
        #expect(writer.conflicts(host.files).map(\.path) == ["network.nix"])
        var changed = host.files
        let i = changed.firstIndex { $0.path == "network.nix" }!
        changed[i].contents += "\n"
        let conflicts = writer.conflicts(changed)
        #expect(conflicts.map(\.path) == ["network.nix"])
        #expect(conflicts.first?.diff.contains("-# my change") == true)
        // Files pve2nix wrote and nobody touched are rewritten freely; the changed one, which this
        // write would no longer generate, is a conflict rather than silently removed.
        #expect(throws: GeneratedTreeError.self) { try GeneratedTreeWriter(directory: dir).write(changed.filter { $0.path != "network.nix" }) }
        try FileManager.default.removeItem(at: network)
        try GeneratedTreeWriter(directory: dir).write(changed.filter { $0.path != "network.nix" })
    }

    @Test(arguments: [
        ("Paperless_NGX-Production", "paperless-n"),
        ("wiki", "wiki"),
        ("123abc", "ct123abc"),
        ("a--b", "a-b"),
    ])
    func containerNames(_ input: String, _ expected: String) {
        let guest = Guest(vmid: VMID(101), kind: .lxc, name: input, node: "n", status: "running", template: false, memoryBytes: 0, vcpus: 1,
                          ostype: "nixos", nameservers: [], nics: [], volumes: [], devices: [], pendingKeys: [], snapshots: [], lock: nil,
                          haState: nil, tags: [], description: "", file: nil)
        #expect(ContainerNamesForTests.assign([guest])[VMID(101)] == expected)
    }
}

/// NixOS's rendering of `systemd.network` attribute sets into unit files, written independently of
/// the generator from the evaluated JSON: one section per attribute group in NixOS's order, keys
/// sorted, lists as repeated keys, booleans as true/false, one [BridgeVLAN] per list element.
enum NixOSUnitRendering {
    static let order: [String: [(String, String)]] = [
        "netdev": [("matchConfig", "Match"), ("netdevConfig", "NetDev"), ("vlanConfig", "VLAN"), ("bridgeConfig", "Bridge"), ("bondConfig", "Bond")],
        "network": [("matchConfig", "Match"), ("linkConfig", "Link"), ("networkConfig", "Network"), ("bridgeVLANs", "BridgeVLAN")],
        "link": [("matchConfig", "Match"), ("linkConfig", "Link")],
    ]

    static func render(_ unit: JSONValue, kind: String) -> String {
        var blocks: [String] = []
        for (attribute, section) in order[kind]! {
            guard let value = unit[attribute] else { continue }
            let groups = value.arrayValue ?? [value]
            for group in groups {
                var text = "[\(section)]\n"
                for (key, v) in (group.objectMembers ?? []).sorted(by: { $0.key < $1.key }) {
                    for item in v.arrayValue ?? [v] {
                        let s: String
                        switch item {
                        case .bool(let b, _): s = b ? "true" : "false"
                        default: s = item.stringValue ?? ""
                        }
                        text += "\(key)=\(s)\n"
                    }
                }
                blocks.append(text)
            }
        }
        return blocks.joined(separator: "\n")
    }
}
