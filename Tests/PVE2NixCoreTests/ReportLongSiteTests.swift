import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixTesting
import PVE2NixViews
import Testing

/// A long site stays readable: 50 guests and 8 NICs (two bonds, three bridges) on the node.
@Suite struct ReportLongSiteTests {
    static func longSite() throws -> Site {
        var files = Fixtures.villaFiles()
        let node = "nodes/villa-pve-01"
        var interfaces = "auto lo\niface lo inet loopback\n\n"
        var links: [[String: Any]] = [["ifname": "lo", "link_type": "loopback", "address": "00:00:00:00:00:00"]]
        for i in 0..<8 {
            interfaces += "iface nic\(i) inet manual\n\n"
            links.append(["ifname": "nic\(i)", "link_type": "ether", "address": String(format: "58:47:ca:71:2e:%02x", 0x10 + i), "operstate": "UP"])
        }
        interfaces += """
        auto bond0
        iface bond0 inet manual
        \tbond-slaves nic2 nic3
        \tbond-mode 802.3ad

        auto bond1
        iface bond1 inet manual
        \tbond-slaves nic4 nic5
        \tbond-mode active-backup

        auto vmbr0
        iface vmbr0 inet manual
        \tbridge-ports nic0
        \tbridge-vlan-aware yes
        \tbridge-vids 2-4094

        auto vmbr0.10
        iface vmbr0.10 inet static
        \taddress 10.1.10.11/24
        \tgateway 10.1.10.1

        auto vmbr1
        iface vmbr1 inet static
        \taddress 10.9.1.11/24
        \tbridge-ports bond0

        auto vmbr2
        iface vmbr2 inet manual
        \tbridge-ports bond1

        """
        files["\(node)/interfaces"] = interfaces
        files["\(node)/interfaces.d/mgmt-ipv6"] = nil
        for (name, kind) in [("bond0", "bond"), ("bond1", "bond"), ("vmbr0", "bridge"), ("vmbr1", "bridge"), ("vmbr2", "bridge")] {
            links.append(["ifname": name, "link_type": "ether", "address": "58:47:ca:71:2e:10", "linkinfo": ["info_kind": kind]])
        }
        files["\(node)/ip-link.json"] = String(decoding: try JSONSerialization.data(withJSONObject: links), as: UTF8.self)
        var resources = try #require(JSONSerialization.jsonObject(with: Data(files["cluster/resources.json"]!.utf8)) as? [[String: Any]])
        for i in 0..<50 {
            let vmid = 2000 + i
            let bridge = ["vmbr0", "vmbr1", "vmbr2"][i % 3]
            files["\(node)/lxc/\(vmid).conf"] = """
            arch: amd64
            cores: 1
            hostname: service-\(i)
            memory: 128
            net0: name=eth0,bridge=\(bridge),ip=10.1.\(40 + i % 3).\(100 + i)/24,\(bridge == "vmbr0" ? "tag=40," : "")type=veth
            ostype: debian
            rootfs: local-lvm:vm-\(vmid)-disk-0,size=2G
            unprivileged: 1

            """
            resources.append(["id": "lxc/\(vmid)", "type": "lxc", "vmid": vmid, "name": "service-\(i)", "node": "villa-pve-01", "status": "running",
                              "maxmem": 134_217_728, "maxcpu": 1, "maxdisk": 2_147_483_648, "template": 0])
        }
        files["cluster/resources.json"] = String(decoding: try JSONSerialization.data(withJSONObject: resources), as: UTF8.self)
        return SiteLoader(tree: InMemoryFileTree(files)).load()
    }

    @Test func fiftyGuestsAndEightNICsRender() throws {
        let site = try Self.longSite()
        #expect(site.node("villa-pve-01")?.guests.count == 59)
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        let document = ReportDocument(plan: plan, planHash: "feedbeef", site: site, bundle: "long", plannedAt: "now", generatedAt: "now")
        #expect(document.before.devices.filter { $0.kind == .nic }.count == 8)
        #expect(document.timeline.slots.count + document.timeline.unscheduled.count == 59)
        let html = ReportHTMLView(document: document).render()
        for i in 0..<8 { #expect(html.contains("nic\(i) · nic"), "nic\(i)") }
        for i in 0..<50 { #expect(html.contains("service-\(i)"), "service-\(i)") }
        // Each diagram stays a sensible size: guests are grouped per bridge and VLAN, one line each.
        let heights = html.matches(of: /<svg class="net"[^>]* height="([0-9.]+)"/).map { Double($0.output.1)! }
        #expect(heights.count == 2)
        #expect(heights.allSatisfy { $0 < 1600 }, "\(heights)")
        #expect(html.utf8.count < 1_500_000)
    }

    @Test func theReportFileIsWrittenWholeAndNeverReplacedWithoutForce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.html").path
        try ReportFile.write("one", to: path, force: false)
        #expect(throws: ReportFileError.exists(path)) { try ReportFile.write("two", to: path, force: false) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "one")
        try ReportFile.write("three", to: path, force: true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "three")
        #expect(throws: ReportFileError.noDirectory(dir.appendingPathComponent("missing").path)) {
            try ReportFile.write("x", to: dir.appendingPathComponent("missing/r.html").path, force: false)
        }
        #expect(throws: ReportFileError.isDirectory(dir.path)) { try ReportFile.write("x", to: dir.path, force: true) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["r.html"], "no temporary file left")
    }
}
