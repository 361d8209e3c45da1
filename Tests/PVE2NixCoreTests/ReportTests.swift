import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import PVE2NixViews
import Testing

/// The HTML report as a value: every part present, everything escaped, the disk and network
/// states marked in words as well as colour, and a long site still rendered.
@Suite struct ReportTests {
    static let villa = Fixtures.loadSite(Fixtures.villa)
    static let branch = Fixtures.loadSite(Fixtures.fixtures.appendingPathComponent("sites/branch"))

    static func document(_ site: Site, _ node: NodeName, strategy: NetworkStrategy = .vlanAwareBridge, plan edit: (inout ConversionPlan) -> Void = { _ in },
                         rehearsal: ReportDocument.RecordedRehearsal? = nil, run: ReportDocument.ReportRun? = nil) -> ReportDocument {
        var plan = Planner(site: site).plan(node: node)
        edit(&plan)
        return ReportDocument(plan: plan, planHash: "0123abcd", site: site, bundle: "/bundles/test", plannedAt: "2026-11-29T21:00:00Z",
                              generatedAt: "2026-11-29T21:05:00Z", strategy: strategy, rehearsalFor: { _ in rehearsal }, run: run)
    }

    @Test func villaHasEverySection() {
        let html = ReportHTMLView(document: Self.document(Self.villa, "villa-pve-01")).render()
        for id in ReportHTMLView.sectionIDs { #expect(html.contains("id=\"\(id)\""), "section \(id)") }
        for text in ["0123abcd", "/bundles/test", "2026-11-29T21:00:00Z", "network-before", "network-after", "nic0", "58:47:ca:71:2e:10",
                     "vmbr0.10", "10.1.10.11/24", "nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0T512345A", "S5GXNF0T512345A", "paperless", "Estimated",
                     "villa-pve-02", "Blockers", "B (boot image, then install)", "disko", "reinstall Proxmox"] {
            #expect(html.contains(text), "\(text)")
        }
        #expect(!html.contains("<script"))
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
    }

    @Test func hostileNamesAreEscaped() {
        let hostile = "<script>alert(1)</script>"
        var site = Self.villa
        let n = site.nodes.firstIndex { $0.name == "villa-pve-01" }!
        site.nodes[n].guests[0].name = hostile
        site.nodes[n].interfaces[1].name = "nic0\"><img src=x onerror=alert(2)>"
        let html = ReportHTMLView(document: Self.document(site, "villa-pve-01") { plan in
            plan.drain.moves[0].name = hostile
            plan.guests[0].name = hostile
            let i = plan.drain.moves.firstIndex { !$0.blockers.isEmpty }!
            plan.drain.moves[i].blockers[0].message = "lxc.hook: </td><b>x"
            plan.drain.moves[i].blockers[0].file = "a&b"
            plan.install.reasons.append("\u{1B}[31m & <b>")
        }).render()
        #expect(!html.contains(hostile))
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(!html.contains("</td><b>"))
        #expect(!html.contains("\u{1B}"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("a&amp;b"))
    }

    @Test func destroyedAndKeptDisksAreMarkedInWords() throws {
        let document = Self.document(Self.villa, "villa-pve-01")
        let disks = document.disks
        #expect(disks.disks.first { $0.kernelName == "nvme0n1" }?.fate == .destroyed)
        #expect(disks.disks.first { $0.kernelName == "sda" }?.fate == .kept)
        #expect(disks.disks.first { $0.kernelName == "sdb" }?.fate == .kept)
        #expect(disks.groups.contains { $0.name == "pve" && $0.fate == .destroyed })
        #expect(disks.groups.contains { $0.name == "tank" && $0.fate == .kept })
        let html = ReportHTMLView(document: document).render()
        let section = try #require(html.range(of: "id=\"disks\"")).upperBound
        let end = try #require(html.range(of: "id=\"drain\"")).lowerBound
        let disksHTML = String(html[section..<end])
        #expect(disksHTML.contains("class=\"destroyed-row\""))
        #expect(disksHTML.contains("DESTROYED") && disksHTML.contains("kept"))
        #expect(disksHTML.contains("url(#hatch)") || html.contains("url(#hatch)"))
    }

    /// A ZFS mirror spans two disks, both wiped; the LVM volume group on the third disk stays.
    @Test func branchGroupsSpanDisks() {
        let document = Self.document(Self.branch, "pve1")
        let rpool = document.disks.groups.first { $0.name == "rpool" }
        #expect(rpool?.disks.sorted() == ["sda", "sdb"])
        #expect(rpool?.fate == .destroyed)
        #expect(document.disks.groups.first { $0.name == "data" }?.fate == .kept)
    }

    @Test func branchNetworkHasTheBondAndPerVLANBridges() {
        let document = Self.document(Self.branch, "pve1")
        let before = document.before
        #expect(before.device("bond0")?.kind == .bond)
        #expect(Set(before.device("bond0")?.lower ?? []) == ["eno1", "eno2"])
        #expect(before.device("vmbr40")?.lower == ["bond0.40"])
        #expect(before.device("vmbr10")?.carriesManagement == true)
        #expect(before.device("eno2")?.mac == "3c:ec:ef:20:40:11")
        #expect(before.guests.contains { $0.name == "pihole" && $0.bridge == "vmbr40" })
        #expect(document.after.device("eno1")?.notes.contains("matched by permanent MAC") == true)
        let html = ReportHTMLView(document: document).render()
        for text in ["bond0", "eno1", "eno2", "eno3", "vmbr10", "vmbr40", "vmbr50", "bond 802.3ad", "iot-gateway", "3c:ec:ef:20:40:12"] {
            #expect(html.contains(text), "\(text)")
        }
    }

    @Test func changedNetworkPartsAreHighlighted() {
        let document = Self.document(Self.villa, "villa-pve-01", strategy: .perVLANBridges)
        #expect(document.after.device("br10")?.change == .added)
        #expect(document.before.device("vmbr0")?.change == .removed)
        #expect(document.after.device("nic0")?.change == .changed)
        let html = ReportHTMLView(document: document).render()
        #expect(html.contains("class=\"dev bridge added\""))
        #expect(html.contains("class=\"dev bridge removed\""))
        #expect(html.contains("+ new") && html.contains("− removed") && html.contains("~ changed"))
        let same = Self.document(Self.villa, "villa-pve-01")
        #expect(same.after.device("vmbr0.10")?.change == .same)
    }

    @Test func rehearsalChecksAndTheRunAreShown() throws {
        let json = """
        {"node":"villa-pve-01","variant":"vlan-aware-bridge","completed":true,"notes":["lab note"],"results":[
         {"phase":"after","id":"mgmt-ping","description":"the admin PC reaches 10.1.10.11","status":"PASS","detail":"ok"},
         {"phase":"after","id":"vlan-leak","description":"nothing leaks from VLAN 40 to VLAN 10","status":"FAIL","detail":"leaked <b>"}]}
        """
        let report = try JSONDecoder().decode(RehearsalReport.self, from: Data(json.utf8))
        let run = ReportDocument.ReportRun(info: RunInfo(id: 3, node: "villa-pve-01", planHash: "0123abcd", startedAt: "2026-11-29T20:00:00Z", state: .open),
                                           journal: "/tmp/j.sqlite", entries: [
            .init(entry: RunEntry(stage: .drain, subject: .guest(VMID(101)), phase: .requested, detail: "migrate"), seconds: 0, at: "t0"),
            .init(entry: RunEntry(stage: .drain, subject: .guest(VMID(101)), phase: .done, detail: "done"), seconds: 75, at: "t1"),
            .init(entry: RunEntry(stage: .drain, subject: .guest(VMID(122)), phase: .failed, detail: "timeout"), seconds: 90, at: "t2"),
        ])
        let document = Self.document(Self.villa, "villa-pve-01", rehearsal: .init(passed: false, variant: "vlan-aware-bridge", at: "2026-11-28", report: report), run: run)
        let html = ReportHTMLView(document: document).render()
        #expect(html.contains("the admin PC reaches 10.1.10.11"))
        #expect(html.contains("✗ FAIL") && html.contains("leaked &lt;b&gt;"))
        #expect(html.contains("id=\"run\""))
        #expect(html.contains("actual 1 min · done") || html.contains("actual 75 s · done"))
        #expect(html.contains("class=\"actual failed\""))
        let none = ReportHTMLView(document: Self.document(Self.villa, "villa-pve-01")).render()
        #expect(none.contains("not rehearsed"))
    }

    @Test func timelineRunsInLanesWithoutOverlap() {
        let plan = Planner(site: Self.villa).plan(node: "villa-pve-01")
        let bytes = DrainTimeline.localDiskBytes(of: Self.villa.node("villa-pve-01")!.guests, storages: Self.villa.storages)
        let one = DrainTimeline.estimate(plan.drain, diskBytes: bytes)
        let two = DrainTimeline.estimate(plan.drain, diskBytes: bytes, assumptions: .init(concurrency: 2))
        #expect(one.slots.count == plan.drain.moves.filter { $0.method.movesGuest }.count)
        #expect(two.totalSeconds < one.totalSeconds)
        for lane in 0..<2 {
            let slots = two.slots.filter { $0.lane == lane }.sorted { $0.start < $1.start }
            for (a, b) in zip(slots, slots.dropFirst()) { #expect(a.end <= b.start + 0.0001) }
        }
        let live = one.slots.first { $0.method == .live }
        #expect(live?.downtimeSeconds == 0)
        #expect(one.slots.first { $0.method == .backupRestore }.map { $0.downtimeSeconds == $0.duration } == true)
        #expect(one.slots.first { $0.vmid == VMID(121) }?.downtimeSeconds == 0, "a stopped guest has no downtime")
    }

    @Test func rollbackCoversEveryStage() {
        let guide = RollbackGuide.standard
        #expect(guide.steps.map(\.stage) == RunStage.allCases)
        #expect(guide.steps.filter(\.afterWipe).first?.stage == .disko)
        #expect(guide.steps.first { $0.stage == .kexec }?.afterWipe == false)
    }
}
