import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// The gate right before the wipe, on fixtures from `Tests/Fixtures/disk-gate/` (see its README):
/// a plan made from a node as captured, judged against what the installer sees afterwards.
@Suite struct DiskGateTests {
    typealias Rule = DiskGateFinding.Rule

    struct Case: Sendable, CustomTestStringConvertible {
        /// The capture the plan was made from, and the one taken right before the wipe.
        var planned: String
        var now: String
        var failing: Set<Rule>
        var warned: Set<Rule> = []
        /// Words every failing finding together must contain: device names, the command to run.
        var says: [String] = []
        var testDescription: String { "\(now) against the plan of \(planned)" }
    }

    static let cases: [Case] = [
        // Benign: all proceed.
        Case(planned: "pve-node", now: "pve-installer", failing: []),
        Case(planned: "pve-node", now: "pve-renamed", failing: []),
        Case(planned: "pve-node", now: "pve-new-disks", failing: []),
        Case(planned: "pve-node", now: "pve-lvs-inactive", failing: []),
        Case(planned: "pve-node", now: "pve-newer-udev", failing: []),
        Case(planned: "zfs-mirror-node", now: "zfs-mirror-installer", failing: []),
        Case(planned: "zfs-mirror-node", now: "zfs-mirror-swapped", failing: []),
        Case(planned: "md-node", now: "md-installer", failing: []),
        Case(planned: "md-node", now: "md-not-assembled", failing: []),
        Case(planned: "no-serial-node", now: "no-serial-installer", failing: [], warned: [.identityMatches, .identityIsUnique]),
        // Rule 1.
        Case(planned: "pve-node", now: "pve-missing-disk", failing: [.byIDNamesWholeDisk],
             says: ["/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0T512345A", "does not exist"]),
        Case(planned: "pve-node", now: "pve-byid-to-partition", failing: [.byIDNamesWholeDisk], says: ["nvme0n1p3", "a partition"]),
        // Rule 2.
        Case(planned: "pve-node", now: "pve-size-changed", failing: [.identityMatches], says: ["960197124096", "1000204886016"]),
        Case(planned: "pve-node", now: "pve-serial-changed", failing: [.identityMatches], says: ["S5GXNF0T999999Z", "S5GXNF0T512345A"]),
        // Rule 3.
        Case(planned: "pve-node", now: "pve-duplicate-serial", failing: [.identityIsUnique], says: ["nvme1n1", "model and serial"]),
        Case(planned: "md-node", now: "md-duplicate-serial", failing: [.identityIsUnique], says: ["sdc", "50026B7784A1B2C3"]),
        Case(planned: "zfs-mirror-node", now: "zfs-mirror-dual-path", failing: [.identityIsUnique],
             says: ["(sdc): sda (no /dev/disk/by-id link) carries the same WWN 0x5000c500a1b2c3d4", "(sdd): sdb"]),
        Case(planned: "zfs-mirror-node", now: "zfs-mirror-multipath", failing: [.identityIsUnique], says: ["mpatha (dm-0)", "multipath -F"]),
        // Rule 4.
        Case(planned: "pve-node", now: "pve-ptuuid-changed", failing: [.partitionTableUnchanged],
             says: ["PTUUID 0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "PARTUUID"]),
        Case(planned: "pve-node", now: "pve-partition-changed", failing: [.partitionTableUnchanged],
             says: ["sector 2099200 has 499565034496 bytes", "a new partition at sector"]),
        // Rule 5.
        Case(planned: "pve-node", now: "pve-swap-in-use", failing: [.nothingInUse], says: ["pve-swap (dm-0) is in use as swap", "swapoff /dev/mapper/pve-swap"]),
        Case(planned: "pve-node", now: "pve-mounted-deep", failing: [.nothingInUse], says: ["pve-vm--100--disk--0 (dm-6) is mounted at /mnt/ct100", "umount /mnt/ct100"]),
        Case(planned: "md-node", now: "md-mounted-deep", failing: [.nothingInUse], says: ["vg0-root (dm-1) is mounted at /mnt"]),
        // Rule 6.
        Case(planned: "pve-node", now: "pve-vg-extended", failing: [.groupsStayOnPlannedDisks],
             says: ["LVM volume group 'pve'", "sdb1 on sdb (/dev/disk/by-id/ata-CT1000MX500SSD1_2304E6A1B2C3)", "vgremove -f pve"]),
        Case(planned: "pve-node", now: "pve-vg-extended-inactive", failing: [.groupsStayOnPlannedDisks], says: ["sdb1", "vgchange -ay"]),
        Case(planned: "zfs-mirror-node", now: "zfs-mirror-member-outside", failing: [.groupsStayOnPlannedDisks],
             says: ["ZFS pool 'rpool'", "sdc3 on sdc", "zpool destroy -f rpool"]),
        Case(planned: "md-node", now: "md-member-outside", failing: [.groupsStayOnPlannedDisks], says: ["md array pve3:0", "sdc2 on sdc"]),
    ]

    @Test(arguments: cases)
    func judge(_ c: Case) throws {
        let planned = try #require(Self.plan(c.planned, installDisk: c.planned == "no-serial-node" ? Self.qemuDisk : nil).disk,
                                   "the plan of \(c.planned) has no disk")
        let (devices, links) = try Self.now(c.now)
        let verdict = DiskGate.judge(planned: planned.installTargets, now: devices, links: links)
        let rendered = verdict.findings.map { "\($0.outcome.rawValue) \($0.rule.rawValue): \($0.message)" }.joined(separator: "\n")
        #expect(Set(verdict.failures.map(\.rule)) == c.failing, "\(rendered)")
        #expect(verdict.decision == (c.failing.isEmpty ? .proceed : .refuse))
        #expect(Set(verdict.findings.filter { $0.outcome == .warn }.map(\.rule)) == c.warned, "\(rendered)")
        let failures = verdict.failures.map(\.message).joined(separator: "\n")
        for word in c.says { #expect(failures.contains(word), "'\(word)' missing from:\n\(failures)") }
        // Every failure says what to do.
        for failure in verdict.failures {
            #expect(["capture", "Capture", "check again", "find out", "do not install"].contains { failure.message.contains($0) }, "\(failure.message)")
        }
        // Every rule ran on every planned disk whose link resolved.
        if !c.failing.contains(.byIDNamesWholeDisk) {
            #expect(verdict.findings.count == Rule.allCases.count * planned.installTargets.count)
        }
    }

    @Test func theMirrorIsCheckedDiskByDisk() throws {
        let planned = try #require(Self.plan("zfs-mirror-node").disk)
        #expect(planned.installTargets.map(\.byId.linkName) == ["scsi-SSEAGATE_ST4000NM0025_ZC1ABCDE", "scsi-SSEAGATE_ST4000NM0025_ZC1ABCDF"])
        let (devices, links) = try Self.now("zfs-mirror-swapped")
        let verdict = DiskGate.judge(planned: planned.installTargets, now: devices, links: links)
        #expect(verdict.proceeds)
        // The kernel names swapped; the findings name each disk as it is now.
        let first = verdict.findings.first { $0.rule == .byIDNamesWholeDisk }
        #expect(first?.kernelName == "sdb")
        #expect(first?.message.contains("sda when planned") == true)
    }

    @Test func thePlanRecordsThePartitionTable() throws {
        let table = try #require(Self.plan("pve-node").disk?.partitionTable)
        #expect(table.ptuuid == "a7f3c2e1-5b6d-4c8e-9f0a-1b2c3d4e5f60")
        #expect(table.pttype == "gpt")
        #expect(table.partitions.map(\.startSector) == [34, 2048, 2099200])
        #expect(table.partitions.map(\.partitionType) == ["21686148-6449-6e6f-744e-656564454649", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "e6d6d379-f507-44c2-a23c-238f2a3df928"])
        #expect(table.partitions.last?.partitionUUID == "6b1c3e2f-0a3b-4c5d-8e9f-000000000003")
        #expect(Self.plan("zfs-mirror-node").disk?.mirrors.first?.partitionTable?.partitions.count == 3)
    }

    /// A plan without the install disk's partition table still decodes, but the gate refuses: it
    /// could not tell whether the disk changed since.
    @Test func aPlanWithoutATableIsRefused() throws {
        let plan = Self.plan("pve-node")
        let json = try JSONReader.parse(String(decoding: try JSONEncoder().encode(plan), as: UTF8.self))
        #expect(json["disk"]?["partitionTable"] != nil)
        var object = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(plan)) as? [String: Any])
        var disk = try #require(object["disk"] as? [String: Any])
        disk.removeValue(forKey: "partitionTable")
        object["disk"] = disk
        let decoded = try JSONDecoder().decode(ConversionPlan.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(decoded.disk?.partitionTable == nil)
        let (devices, links) = try Self.now("pve-partition-changed")
        let verdict = DiskGate.judge(planned: try #require(decoded.disk).installTargets, now: devices, links: links)
        #expect(!verdict.proceeds)
        let note = verdict.findings.first { $0.rule == .partitionTableUnchanged }
        #expect(note?.outcome == .fail)
        #expect(note?.message.contains("recorded no partition table") == true)
    }

    @Test func aPlanWithoutADiskIsRefused() {
        let verdict = DiskGate.judge(planned: [], now: [], links: [])
        #expect(verdict.decision == .refuse)
        #expect(verdict.findings.first?.message.contains("no install disk") == true)
    }

    @Test func theVerdictJSONNamesEveryRule() throws {
        let (devices, links) = try Self.now("pve-swap-in-use")
        let verdict = DiskGate.judge(planned: try #require(Self.plan("pve-node").disk).installTargets, now: devices, links: links)
        let json = try JSONReader.parse(String(decoding: try JSONEncoder().encode(verdict), as: UTF8.self))
        #expect(json["decision"]?.stringValue == "refuse")
        #expect(json["schemaVersion"]?.intValue == 1)
        let failed = json["findings"]?.arrayValue?.first { $0["outcome"]?.stringValue == "fail" }
        #expect(failed?["rule"]?.intValue == 5)
        #expect(failed?["ruleName"]?.stringValue == "nothing mounted or used as swap")
        #expect(failed?["disk"]?.stringValue == "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0T512345A")
        #expect(try JSONDecoder().decode(DiskGateVerdict.self, from: JSONEncoder().encode(verdict)) == verdict)
    }
}

// MARK: The plan-time rule and the decoder

extension DiskGateTests {
    /// A disk without serial and WWN is chosen only when site.toml names it, and then with a warning.
    @Test func aDiskWithoutSerialOrWWNMustBeNamedInSiteToml() throws {
        let unnamed = Self.plan("no-serial-node")
        #expect(unnamed.disk == nil)
        #expect(unnamed.diagnostics.contains { $0.severity == .error && $0.message.contains("neither a serial nor a WWN") && $0.message.contains("install_disk") })
        let named = Self.plan("no-serial-node", installDisk: Self.qemuDisk)
        #expect(named.disk?.byId.linkName == "scsi-0QEMU_QEMU_HARDDISK_drive-scsi0")
        let warning = named.diagnostics.first { $0.file == "site.toml" && $0.message.contains("neither a serial nor a WWN") }
        #expect(warning?.severity == .warning)
        #expect(warning?.message.contains("only its size and partitions") == true)
    }

    @Test func lsblkPartitionColumnsAreReadAndAbsentOnesAreNil() throws {
        let (devices, _) = try Self.now("pve-installer")
        let p3 = try #require(devices.first { $0.kernelName == "nvme0n1" }?.children.last)
        #expect(p3.startSector == 2099200)
        #expect(p3.partitionType == "e6d6d379-f507-44c2-a23c-238f2a3df928")
        #expect(p3.partitionUUID == "6b1c3e2f-0a3b-4c5d-8e9f-000000000003")
        #expect(p3.ptuuid == "a7f3c2e1-5b6d-4c8e-9f0a-1b2c3d4e5f60" && p3.pttype == "gpt")
        let bare = #"{"blockdevices": [{"name": "sda", "type": "disk", "size": 1000}]}"#
        let (old, diagnostics) = CaptureDecoders.lsblk(bare, file: "lsblk.json")
        #expect(diagnostics.isEmpty)
        #expect(old.first?.startSector == nil && old.first?.ptuuid == nil && old.first?.partitionType == nil)
    }

    @Test(arguments: ["-1", "2251799813685249", "1.5", "\"unknown\"", "1e30"])
    func aDamagedStartIsAnErrorOnItsLine(_ start: String) {
        let text = "{\"blockdevices\": [\n {\"name\": \"sda\", \"type\": \"disk\", \"size\": 1000, \"children\": [\n  {\"name\": \"sda1\", \"type\": \"part\", \"size\": 500,\n   \"start\": \(start)}]}]}"
        let (_, diagnostics) = CaptureDecoders.lsblk(text, file: "now/lsblk.json")
        let error = diagnostics.first { $0.severity == .error }
        #expect(error?.file == "now/lsblk.json")
        #expect(error?.line == 4)
        #expect(error?.message.contains("'start'") == true)
    }
}

// MARK: Fixtures

extension DiskGateTests {
    static let directory = Fixtures.fixtures.appendingPathComponent("disk-gate")
    static let qemuDisk = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0"

    /// The villa bundle with villa-pve-01's disks replaced by those of `scenario`.
    static func plan(_ scenario: String, installDisk: String? = nil) -> ConversionPlan {
        var files = Fixtures.villaFiles()
        for leaf in ["lsblk.json", "disk-by-id.txt"] {
            files["nodes/villa-pve-01/\(leaf)"] = try? String(contentsOf: directory.appendingPathComponent("\(scenario)/\(leaf)"), encoding: .utf8)
        }
        if let installDisk {
            files["site.toml"]! += "\n[nodes.villa-pve-01]\ninstall_disk = \"\(installDisk)\"\n"
        }
        return Planner(site: SiteLoader(tree: InMemoryFileTree(files)).load()).plan(node: "villa-pve-01")
    }

    static func now(_ scenario: String) throws -> ([BlockDevice], [DiskIDLink]) {
        let dir = directory.appendingPathComponent(scenario)
        let (devices, d1) = CaptureDecoders.lsblk(try String(contentsOf: dir.appendingPathComponent("lsblk.json"), encoding: .utf8), file: "\(scenario)/lsblk.json")
        let (links, d2) = CaptureDecoders.diskByID(try String(contentsOf: dir.appendingPathComponent("disk-by-id.txt"), encoding: .utf8), file: "\(scenario)/disk-by-id.txt")
        #expect(d1 + d2 == [], "\(scenario)")
        return (devices, links)
    }
}

extension DiskGateTests {
    /// The office capture came from an older lsblk without PTUUID and START; the installer's lsblk
    /// shows both. What the plan did not record cannot differ.
    @Test func columnsTheOldCaptureLackedDoNotRefuse() throws {
        let office = Fixtures.fixtures.appendingPathComponent("sites/office")
        let site = Fixtures.loadSite(office)
        let planned = try #require(Planner(site: site).plan(node: "pve1").disk)
        #expect(planned.partitionTable?.ptuuid == nil && planned.partitionTable?.pttype == "gpt")
        let capture = try #require(site.nodes.first { $0.name == "pve1" })
        let now = capture.disks.enumerated().map { i, disk in
            var disk = disk
            disk.ptuuid = "5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8\(i)"
            var start: Int64 = 34
            disk.children = disk.children.map { part in
                var part = part
                part.startSector = start
                start += part.sizeBytes / 512
                part.mountpoints = []
                return part
            }
            return disk
        }
        let verdict = DiskGate.judge(planned: planned.installTargets, now: now, links: capture.diskLinks)
        #expect(verdict.proceeds, "\(verdict.findings.map(\.message))")
        #expect(planned.installTargets.count == 2)
    }
}
