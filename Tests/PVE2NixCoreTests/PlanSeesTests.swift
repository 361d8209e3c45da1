import Foundation
import PVE2NixCore
import PVE2NixTesting
import PVE2NixViews
import Testing

/// The plan says what it sees: what generate would refuse, guests whose state is unknown, guests
/// that cannot all fit, disks the gate could not verify, CRLF files, files that are missing or empty.
@Suite struct PlanSeesTests {
    static func plan(_ change: (inout [String: String]) -> Void) -> ConversionPlan {
        var files = Fixtures.villaFiles()
        change(&files)
        return Planner(site: SiteLoader(tree: InMemoryFileTree(files)).load()).plan(node: "villa-pve-01")
    }

    static let interfaces = "nodes/villa-pve-01/interfaces"

    @Test func whatGenerateWouldRefuseIsAnErrorInThePlanWithItsLine() {
        let plan = Self.plan { files in
            files[Self.interfaces] = files[Self.interfaces]!.replacingOccurrences(of: "bridge-ports nic0", with: #"bridge-ports nic0 ${builtins.abort"x"} a"b"#)
        }
        #expect(plan.hasErrors)
        let error = plan.diagnostics.first { $0.severity == .error && $0.file == Self.interfaces }
        #expect(error != nil, "\(plan.diagnostics.map(\.rendered))")
        #expect(error?.line != nil)
        #expect(plan.preflight.first { $0.check == "input-diagnostics" }?.status == .fail)
    }

    @Test func aTruncatedResourcesFileLeavesGuestsUnknownNotStopped() throws {
        let plan = Self.plan { files in
            let text = files["cluster/resources.json"]!
            files["cluster/resources.json"] = String(text.prefix(text.count / 3))
        }
        #expect(plan.hasErrors)
        #expect(plan.diagnostics.contains { $0.file == "cluster/resources.json" && $0.severity == .error })
        let unknown = plan.drain.moves.filter { $0.status == "unknown" }
        #expect(!unknown.isEmpty)
        for move in unknown where !move.template {
            #expect(move.method == .none, "\(move.vmid) planned as \(move.method)")
            #expect(move.downtime != .notRunning, "\(move.vmid) planned as not running")
            #expect(move.to == nil)
            #expect(move.blockers.contains { $0.kind == .unknownState && $0.severity == .blocks })
        }
        // The JSON says "to": null for a guest that cannot move, as documented.
        let json = try JSONReader.parse(String(decoding: try JSONEncoder().encode(plan), as: UTF8.self))
        let first = json["drain"]?["moves"]?.arrayValue?.first { $0["status"]?.stringValue == "unknown" && $0["template"]?.boolValue != true }
        #expect(first?.objectMembers?.contains { $0.key == "to" && $0.value.isNull } == true)
    }

    @Test func guestsThatNeedNoActionGetTheRoomFirstAndTheMissingRoomIsNamed() {
        let plan = Self.plan { files in
            // villa-pve-03 shrinks to 16 GiB: the peers cannot take every guest any more.
            for node in ["villa-pve-02", "villa-pve-03"] {
                let key = "nodes/\(node)/status.json"
                files[key] = files[key]!.replacingOccurrences(of: #""total": 33481228288"#, with: #""total": 17179869184"#)
            }
        }
        let left = plan.drain.moves.filter { $0.method == .none && $0.blockers.contains { $0.kind == .capacity } }
        #expect(!left.isEmpty)
        // A guest that waits on an operator (104: a USB stick to move) never takes the place of one that could go now.
        let needsAction = Set(plan.drain.moves.filter { m in m.blockers.contains { $0.severity == .action } }.map(\.vmid))
        let placedWithoutAction = plan.drain.moves.filter { $0.to != nil && !needsAction.contains($0.vmid) }
        let leftWithoutAction = left.filter { !needsAction.contains($0.vmid) }
        if !leftWithoutAction.isEmpty {
            #expect(plan.drain.moves.filter { $0.to != nil && needsAction.contains($0.vmid) }.isEmpty, "an action-bound guest was placed while \(leftWithoutAction.map(\.vmid)) was left")
        }
        #expect(!placedWithoutAction.isEmpty)
        let summary = plan.diagnostics.first { $0.message.hasPrefix("the peers cannot take every guest") }
        #expect(summary?.severity == .error)
        for move in left { #expect(summary?.message.contains("\(move.vmid.rawValue)") == true) }
        #expect(summary?.message.contains("more memory than the peers have free") == true, "\(summary?.message ?? "")")
    }

    @Test func aDiskWithoutSerialOrWWNIsChosenOnlyWhenNamed() {
        func stripIdentity(_ files: inout [String: String]) {
            let key = "nodes/villa-pve-01/lsblk.json"
            files[key] = files[key]!.replacingOccurrences(of: #""S5GXNF0T512345A""#, with: "null")
                .replacingOccurrences(of: #""eui.002538b511a2c3d4""#, with: "null")
        }
        let refused = Self.plan(stripIdentity)
        #expect(refused.disk == nil)
        #expect(refused.diagnostics.contains { $0.severity == .error && $0.message.contains("neither a serial nor a WWN") && $0.file == "nodes/villa-pve-01/lsblk.json" })
        let named = Self.plan { files in
            stripIdentity(&files)
            files["site.toml"] = files["site.toml"]! + "\n[nodes.villa-pve-01]\ninstall_disk = \"/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0T512345A\"\n"
        }
        #expect(named.disk?.kernelName == "nvme0n1")
        #expect(named.diagnostics.contains { $0.severity == .warning && $0.file == "site.toml" && $0.message.contains("only its size and partitions") })
    }

    @Test func aCRLFSiteFileIsReadAndNamed() throws {
        let plain = Self.plan { _ in }
        let crlf = Self.plan { files in files["site.toml"] = files["site.toml"]!.replacingOccurrences(of: "\n", with: "\r\n") }
        #expect(crlf.diagnostics.contains { $0.file == "site.toml" && $0.message.contains("CRLF") })
        // Everything site.toml says still counts: probes, VLANs, per-guest choices.
        #expect(crlf.guests == plain.guests)
        #expect(crlf.drain == plain.drain)
        #expect(crlf.network == plain.network)
    }

    @Test(arguments: ["status.json", "meminfo", "interfaces", "lsblk.json", "ip-addr.json"])
    func anEmptyRequiredFileIsAnErrorThatNamesIt(_ leaf: String) {
        let plan = Self.plan { files in files["nodes/villa-pve-01/\(leaf)"] = "" }
        #expect(plan.hasErrors)
        #expect(plan.diagnostics.contains { $0.severity == .error && $0.file == "nodes/villa-pve-01/\(leaf)" }, "\(plan.diagnostics.filter { $0.severity == .error }.map(\.rendered))")
        #expect(!plan.diagnostics.contains { $0.severity == .error && $0.file == nil && !$0.message.hasPrefix("the peers") })
    }

    @Test func controlCharactersFromCapturesAreShownNotSent() {
        #expect(TerminalText.safe("web\u{1B}[2Jx\r\nok\tfine") == "web\\u{1B}[2Jx\\u{D}\nok\tfine")
        let plan = Self.plan { files in
            let key = "nodes/villa-pve-01/lxc/101.conf"
            files[key] = files[key]!.replacingOccurrences(of: "hostname: traefik", with: "hostname: traefik\u{1B}]0;owned\u{07}")
        }
        let text = TerminalText.safe(PlanTextView(plan: plan).render())
        #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
    }
}

extension PlanSeesTests {
    /// A line inside a stanza that is no option ifupdown2 knows is named, with its line.
    @Test func aJunkLineInsideAStanzaIsAWarning() {
        let plan = Self.plan { files in
            files[Self.interfaces] = files[Self.interfaces]!.replacingOccurrences(of: "\tbridge-stp off\n", with: "\tbridge-stp off\n\tthis was meant as a comment\n")
        }
        let warning = plan.diagnostics.first { $0.file == Self.interfaces && $0.message.contains("'this' is no option ifupdown2 knows") }
        #expect(warning?.severity == .warning)
        #expect(warning?.line != nil)
        #expect(!Self.plan { _ in }.diagnostics.contains { $0.message.contains("is no option ifupdown2 knows") })
    }
}
