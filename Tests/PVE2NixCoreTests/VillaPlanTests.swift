import Foundation
import PVE2NixCore
import PVE2NixTesting
import PVE2NixViews
import Testing

/// The issue's acceptance points for the bundled villa example, and golden files of its plan.
@Suite struct VillaPlanTests {
    static let plan = Planner(site: Fixtures.loadSite(Fixtures.villa)).plan(node: "villa-pve-01")

    @Test func everyGuestHasAPeerOrAReason() {
        let guests = Fixtures.loadSite(Fixtures.villa).node("villa-pve-01")!.guests
        #expect(Self.plan.drain.moves.map(\.vmid) == guests.map(\.vmid))
        #expect(Self.plan.drain.moves.count == 9)
        for move in Self.plan.drain.moves {
            #expect(move.to != nil || (move.method == .none && !move.reason.isEmpty), "\(move.vmid)")
        }
        // Both peers are needed: villa-pve-02 is nearly full.
        #expect(Set(Self.plan.drain.moves.compactMap(\.to)) == ["villa-pve-02", "villa-pve-03"])
        for peer in Self.plan.drain.peers {
            #expect(peer.memoryCommittedAfterBytes <= peer.memoryUsableBytes)
            #expect(peer.vcpusAfter <= peer.vcpuLimit)
        }
    }

    @Test func flagsTheDevContainerAndThePassthroughVM() {
        let ct = Self.plan.drain.moves.first { $0.vmid == VMID(104) }!
        #expect(ct.blockers.contains { $0.kind == .containerDevice && $0.severity == .action && $0.line == 4 })
        #expect(ct.blockers.contains { $0.kind == .rawLXC })
        let vm = Self.plan.drain.moves.first { $0.vmid == VMID(120) }!
        #expect(vm.blockers.contains { $0.kind == .passthrough && $0.message.contains("usb0") })
        #expect(vm.method == .offline)
        #expect(vm.withLocalDisks)
    }

    @Test func methodsFollowTheGuests() {
        func move(_ id: Int) -> DrainMove { Self.plan.drain.moves.first { $0.vmid == VMID(id) }! }
        #expect(move(101).method == .restart)
        #expect(move(102).haManaged)
        #expect(move(103).blockers.contains { $0.kind == .bindMount && $0.severity == .action })
        #expect(move(103).blockers.contains { $0.kind == .pendingChanges })
        #expect(move(105).method == .backupRestore)
        #expect(move(105).restoreStorage == "local-lvm")
        #expect(move(121).method == .offline)
        #expect(move(121).blockers.contains { $0.kind == .localISO })
        #expect(move(122).method == .live)
        #expect(move(122).targetStorage == "local-lvm")
        #expect(move(9000).method == .offline)
        #expect(!move(9000).blockers.contains { $0.kind == .localISO })
    }

    @Test func anHAManagedGuestIsNotMovedByBackupAndRestore() throws {
        var files = Fixtures.villaFiles()
        files["cluster/ha-resources.json"] = #"[{"sid": "ct:102", "state": "started", "type": "ct"}, {"sid": "ct:105", "state": "started", "type": "ct"}]"#
        let plan = Planner(site: SiteLoader(tree: InMemoryFileTree(files)).load()).plan(node: "villa-pve-01")
        let wiki = try #require(plan.drain.moves.first { $0.vmid == VMID(105) })
        #expect(wiki.method == .none && wiki.to == nil)
        #expect(wiki.blockers.contains { $0.kind == .haManaged && $0.severity == .blocks && $0.message.contains("ha-manager remove ct:105") })
    }

    @Test func aRestoreThroughATokenWouldDropRawLXCLines() throws {
        var files = Fixtures.villaFiles()
        let path = "nodes/villa-pve-01/lxc/105.conf"
        files[path] = files[path]!.replacingOccurrences(of: "unprivileged: 1\n\n[before-upgrade]", with: "unprivileged: 1\nlxc.cgroup2.devices.allow: c 189:* rwm\n\n[before-upgrade]")
        let plan = Planner(site: SiteLoader(tree: InMemoryFileTree(files)).load()).plan(node: "villa-pve-01")
        let wiki = try #require(plan.drain.moves.first { $0.vmid == VMID(105) })
        #expect(wiki.method == .backupRestore)
        #expect(wiki.blockers.contains { $0.kind == .rawLXC && $0.message.contains("root@pam") && $0.line == 15 })
    }

    @Test func picksTheNVMeByIDAndListsTheVolumeGroup() {
        let disk = Self.plan.disk!
        #expect(disk.byId.path == "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0T512345A")
        #expect(disk.serial == "S5GXNF0T512345A")
        #expect(disk.sizeBytes == 1_000_204_886_016)
        #expect(disk.wwn == "eui.002538b511a2c3d4")
        #expect(disk.destroys.contains { $0.kind == .volumeGroup && $0.name == "pve" && $0.members == ["nvme0n1p3"] })
        #expect(disk.untouched.map(\.name).sorted() == ["sda", "sdb"])
        #expect(disk.untouched.first { $0.name == "sda" }!.detail.contains("zfs-pool tank"))
    }

    @Test func recommendsTheBootImageAndSeesTheNetwork() {
        #expect(Self.plan.install.path == .bootImage)
        #expect(!Self.plan.install.reasons.isEmpty)
        let net = Self.plan.network
        #expect(net.managementAddress == "10.1.10.11")
        #expect(net.managementInterface == "vmbr0.10")
        #expect(net.managementVLAN == 10)
        #expect(net.uplinks.map(\.mac) == ["58:47:ca:71:2e:10"])
        #expect(net.hooks.isEmpty)
        #expect(net.translatedHooks.map(\.command) == ["/usr/sbin/ethtool -s nic0 wol g"])
        #expect(net.files == ["nodes/villa-pve-01/interfaces", "nodes/villa-pve-01/interfaces.d/mgmt-ipv6"])
        #expect(!Self.plan.hasErrors)
    }

    @Test func guestsAfterConversion() {
        let byID = Dictionary(uniqueKeysWithValues: Self.plan.guests.map { ($0.vmid.rawValue, $0.rehome) })
        #expect(byID == [101: .incus, 102: .incus, 103: .nspawn, 104: .incus, 105: .nspawn, 120: .stay, 121: .stay, 122: .stay, 9000: .stay])
    }

    @Test func jsonHasTheDocumentedKeys() throws {
        let data = try JSONEncoder().encode(Self.plan)
        let json = try JSONReader.parse(String(decoding: data, as: UTF8.self))
        for key in ["schemaVersion", "node", "drain", "disk", "network", "guests", "install", "preflight", "diagnostics"] {
            #expect(json[key] != nil, "\(key)")
        }
        let move = json["drain"]?["moves"]?.arrayValue?.first
        for key in ["vmid", "kind", "name", "from", "to", "method", "blockers"] { #expect(move?[key] != nil, "\(key)") }
        for key in ["byId", "serial", "sizeBytes", "destroys"] { #expect(json["disk"]?[key] != nil, "\(key)") }
        for key in ["path", "reasons"] { #expect(json["install"]?[key] != nil, "\(key)") }
        for key in ["check", "status", "detail"] { #expect(json["preflight"]?.arrayValue?.first?[key] != nil, "\(key)") }
    }

    /// Re-record with `PVE2NIX_RECORD=1 swift test --filter goldenOutput`.
    @Test(arguments: [("villa", "villa-pve-01"), ("office", "pve1")], ["txt", "json"])
    func goldenOutput(_ site: (String, String), _ format: String) throws {
        let root = site.0 == "villa" ? Fixtures.villa : Fixtures.fixtures.appendingPathComponent("sites/\(site.0)")
        let plan = Planner(site: Fixtures.loadSite(root)).plan(node: NodeName(site.1))
        let actual: String
        if format == "json" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            actual = String(decoding: try encoder.encode(plan), as: UTF8.self) + "\n"
        } else {
            actual = PlanTextView(plan: plan).render()
        }
        let url = Fixtures.fixtures.appendingPathComponent("golden/\(site.1).plan.\(format)")
        if ProcessInfo.processInfo.environment["PVE2NIX_RECORD"] == "1" {
            try actual.write(to: url, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(actual == expected, "golden \(url.lastPathComponent) differs; re-record with PVE2NIX_RECORD=1 if the change is intended")
    }
}
