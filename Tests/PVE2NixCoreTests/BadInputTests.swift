import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// Broken captures give a plan with errors naming file and line, never a crash.
@Suite struct BadInputTests {
    static func plan(_ change: (inout [String: String]) -> Void) -> ConversionPlan {
        var files = Fixtures.villaFiles()
        change(&files)
        return Planner(site: SiteLoader(tree: InMemoryFileTree(files)).load()).plan(node: "villa-pve-01")
    }

    @Test func volumeGroupSpanningAnotherDiskIsAHardError() throws {
        let plan = Self.plan { files in
            // Make the ZFS SSD's first partition a second PV of 'pve'.
            let key = "nodes/villa-pve-01/lsblk.json"
            var text = files[key]!
            text = text.replacingOccurrences(of: "\"fstype\": \"zfs_member\"", with: "\"fstype\": \"LVM2_member\"")
            text = text.replacingOccurrences(of: "\"label\": \"tank\",", with: "\"label\": null, \"children\": [{\"name\": \"pve-data_tdata\", \"kname\": \"dm-30\", \"type\": \"lvm\", \"size\": 1000}],")
            files[key] = text
        }
        #expect(plan.hasErrors)
        let error = plan.diagnostics.first { $0.severity == .error && $0.message.contains("volume group") }
        #expect(error?.file == "nodes/villa-pve-01/lsblk.json")
        #expect(error?.line != nil)
        #expect(error?.message.contains("sda") == true)
        #expect(plan.preflight.first { $0.check == "disk-destroys-only-target" }?.status == .fail)
        // Still a whole plan: the drain is there.
        #expect(plan.drain.moves.count == 9)
    }

    @Test func brokenJSONNamesTheLine() {
        let plan = Self.plan { $0["cluster/resources.json"] = "[\n  {\"vmid\": 101,\n  \"node\" \"x\"}\n]" }
        let d = plan.diagnostics.first { $0.file == "cluster/resources.json" && $0.severity == .error }
        #expect(d?.line == 3)
        #expect(plan.hasErrors)
    }

    @Test func unknownNodeIsReported() {
        let site = SiteLoader(tree: InMemoryFileTree(Fixtures.villaFiles())).load()
        let plan = Planner(site: site).plan(node: "villa-pve-09")
        #expect(plan.hasErrors)
        #expect(plan.diagnostics.contains { $0.message.contains("no node 'villa-pve-09'") })
    }

    @Test func missingFilesAreNamed() {
        let plan = Self.plan { files in
            files["nodes/villa-pve-01/lsblk.json"] = nil
            files["cluster/storage.cfg"] = nil
        }
        #expect(plan.diagnostics.contains { $0.file == "nodes/villa-pve-01/lsblk.json" && $0.severity == .error })
        #expect(plan.diagnostics.contains { $0.file == "cluster/storage.cfg" && $0.severity == .error })
        #expect(plan.disk == nil)
    }

    @Test func usbDiskIsNeverChosen() {
        let plan = Self.plan { files in
            files["site.toml"] = (files["site.toml"] ?? "") + "\n[nodes.villa-pve-01]\ninstall_disk = \"/dev/disk/by-id/usb-SanDisk_Ultra_Fit_4C530001230416115334-0:0\"\n"
        }
        #expect(plan.diagnostics.contains { $0.file == "site.toml" && $0.message.contains("removable") })
        #expect(plan.disk == nil)
    }

    @Test func lostQuorumAndNoRoomFail() {
        let plan = Self.plan { files in
            files["cluster/status.json"] = files["cluster/status.json"]!.replacingOccurrences(of: "\"quorate\": 1", with: "\"quorate\": 0")
            files["nodes/villa-pve-03/status.json"] = nil
        }
        #expect(plan.preflight.first { $0.check == "quorum" }?.status == .fail)
        #expect(plan.drain.moves.contains { $0.method == .none && $0.blockers.contains { $0.kind == .capacity } })
        #expect(plan.preflight.first { $0.check == "drain-placement" }?.status == .fail)
    }

    @Test func strictHARuleLimitsTargets() {
        let plan = Self.plan { files in
            files["cluster/ha-rules.json"] = "[{\"rule\":\"dns-on-02\",\"type\":\"node-affinity\",\"resources\":\"ct:102\",\"nodes\":\"villa-pve-02\",\"strict\":1}]"
        }
        #expect(plan.drain.moves.first { $0.vmid == VMID(102) }?.to == "villa-pve-02")
    }

    @Test func wrongBundleFormatIsAnError() {
        let plan = Self.plan { $0["bundle.toml"] = "format = 7\n" }
        #expect(plan.diagnostics.contains { $0.file == "bundle.toml" && $0.line == 1 && $0.severity == .error })
    }
}
