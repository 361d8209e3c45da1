import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// A site unlike villa: PVE 7-era capture (string-typed lsblk), root on a mirrored ZFS rpool,
/// an LACP bond under an untagged VLAN-aware bridge, a restricted HA group, PCI passthrough.
@Suite struct OfficeSiteTests {
    static let site = Fixtures.loadSite(Fixtures.fixtures.appendingPathComponent("sites/office"))
    static let plan = Planner(site: site).plan(node: "pve1")

    @Test func readsTheOlderCapture() {
        let node = Self.site.node("pve1")!
        #expect(node.status?.pveMajorVersion == 7)
        #expect(node.disks.count == 3)
        #expect(node.disks.allSatisfy { !$0.removable })
        #expect(node.firmware == .bios)
        #expect(Self.site.diagnostics.allSatisfy { $0.severity == .info })
    }

    @Test func mirroredRootMakesBothDisksTargets() {
        let disk = Self.plan.disk!
        #expect(disk.byId.path == "/dev/disk/by-id/ata-INTEL_SSDSC2KB480G8_PHYF1234567X480BGN")
        #expect(disk.mirrors.map(\.byId.path) == ["/dev/disk/by-id/ata-INTEL_SSDSC2KB480G8_PHYF7654321Y480BGN"])
        #expect(disk.destroys.contains { $0.kind == .zfsPool && $0.name == "rpool" && $0.members == ["sda3", "sdb3"] })
        #expect(!Self.plan.diagnostics.contains { $0.severity == .error })
        #expect(disk.untouched.map(\.name) == ["sdc"])
        #expect(disk.destroys.contains { $0.kind == .storage && $0.name == "local-zfs" })
        #expect(disk.destroys.contains { $0.kind == .storage && $0.name == "local" })
    }

    @Test func installingOnOneMirrorHalfIsAHardError() {
        var files = Fixtures.files(under: Fixtures.fixtures.appendingPathComponent("sites/office"))
        files["site.toml"] = (files["site.toml"] ?? "") + "[nodes.pve1]\ninstall_disk = \"/dev/disk/by-id/ata-INTEL_SSDSC2KB480G8_PHYF1234567X480BGN\"\n"
        let plan = Planner(site: SiteLoader(tree: InMemoryFileTree(files)).load()).plan(node: "pve1")
        #expect(plan.diagnostics.contains { $0.severity == .error && $0.message.contains("ZFS pool 'rpool'") && $0.message.contains("sdb") })
        #expect(plan.preflight.first { $0.check == "disk-destroys-only-target" }?.status == .fail)
    }

    @Test func bondUplinksMatchByPermanentMAC() {
        let net = Self.plan.network
        #expect(net.managementInterface == "vmbr0")
        #expect(net.managementVLAN == nil)
        #expect(net.uplinks.map(\.name) == ["eno1", "eno2"])
        #expect(net.uplinks.map(\.mac) == ["3c:ec:ef:10:20:30", "3c:ec:ef:10:20:31"])
    }

    @Test func passthroughBlocksAndRestrictedGroupLimitsTargets() {
        let gpu = Self.plan.drain.moves.first { $0.vmid == VMID(101) }!
        #expect(gpu.method == .none)
        #expect(gpu.to == nil)
        #expect(gpu.blockers.contains { $0.severity == .blocks && $0.line == 2 })
        #expect(Self.plan.drain.moves.first { $0.vmid == VMID(102) }?.to == "pve3")
        #expect(Self.plan.hasErrors)
        #expect(Self.plan.install.path == .kexec)
    }
}
