import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixTesting
import Testing

/// Real rehearsals in the QEMU lab: real ifupdown2 before, real systemd-networkd after. They run
/// where the lab can (root, QEMU, debootstrap: what scripts/setup installs; CI runs them), one
/// after another, and build the lab image on first use. PVE2NIX_LAB=0 skips them.
enum LabAvailability {
    static var canRun: Bool {
        if ProcessInfo.processInfo.environment["PVE2NIX_LAB"] == "0" { return false }
        return getuid() == 0 && ["/usr/bin/qemu-system-x86_64", "/usr/sbin/debootstrap"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

@Suite(.serialized, .enabled(if: LabAvailability.canRun, "the lab needs root, qemu-system-x86_64 and debootstrap (scripts/setup)"))
struct LabRehearsalTests {

    struct Scenario: Sendable, CustomStringConvertible {
        var site: String
        var node: String
        var strategy: NetworkStrategy
        var reverse: Bool
        var description: String { "\(site) \(strategy.rawValue)\(reverse ? " reversed NICs" : "")" }
    }

    /// The villa node (a pinned `nic0` under the kernel name eth0), a LACP bond carrying the
    /// VLAN-aware bridge, per-VLAN bridges; each also with the NICs enumerated in reverse. And a
    /// node with a second, plain DMZ bridge on its own NIC, which the lab's switch keeps on its own
    /// segment as a real site does.
    static let scenarios: [Scenario] = [false, true].flatMap { reverse in [
        Scenario(site: "villa", node: "villa-pve-01", strategy: .vlanAwareBridge, reverse: reverse),
        Scenario(site: "office", node: "pve1", strategy: .vlanAwareBridge, reverse: reverse),
        Scenario(site: "villa", node: "villa-pve-01", strategy: .perVLANBridges, reverse: reverse),
    ] } + [Scenario(site: "dmz", node: "villa-pve-01", strategy: .vlanAwareBridge, reverse: false)]

    static func root(_ site: String) -> URL { site == "villa" ? Fixtures.villa : Fixtures.fixtures.appendingPathComponent("sites/\(site)") }

    static func rehearse(_ s: Scenario, mutate: (@Sendable (inout [String: String]) -> Void)? = nil) async throws -> RehearsalReport {
        try await VMSlot.shared.run { try await offloaded { try rehearseBlocking(s, mutate: mutate) } }
    }

    static func rehearseBlocking(_ s: Scenario, mutate: (@Sendable (inout [String: String]) -> Void)?) throws -> RehearsalReport {
        let image = LabImage.cached()
        try image.build { print($0) }
        let site = Fixtures.loadSite(root(s.site))
        let plan = Planner(site: site).plan(node: NodeName(s.node))
        var options = GenerateOptions()
        options.strategy = s.strategy
        options.acceptDropping = true
        let host = HostGenerator(site: site, plan: plan, options: options).generate()
        var units = Dictionary(uniqueKeysWithValues: host.files.filter { $0.path.hasPrefix("networkd/") }.map { (String($0.path.dropFirst(9)), $0.contents) })
        mutate?(&units)
        let (scenario, diagnostics) = RehearsalScenarioBuilder(site: site, plan: plan, generated: host, units: units, strategy: s.strategy, reverseNICOrder: s.reverse).build()
        #expect(!diagnostics.hasErrors)
        let (report, console) = try QEMURehearsal(image: image).run(scenario!, variant: s.description) { _ in }
        if !report.passed && mutate == nil { print(report.rendered()); print(console) }
        return report
    }

    @Test(.timeLimit(.minutes(10)), arguments: scenarios)
    func generatedNetworkPasses(_ s: Scenario) async throws {
        let report = try await Self.rehearse(s)
        #expect(report.completed)
        #expect(report.passed, "\(report.failed.map(\.id))")
        #expect(report.results.filter { $0.phase == .before }.allSatisfy { $0.status == .pass }, "the Proxmox network itself failed checks in the lab")
    }

    /// A deliberately wrong configuration: the bridge's own port loses VLAN 10 and the uplink no
    /// longer trunks VLAN 40. The rehearsal must fail, naming the broken checks.
    @Test(.timeLimit(.minutes(10)))
    func negativeControlFails() async throws {
        let report = try await Self.rehearse(Scenario(site: "villa", node: "villa-pve-01", strategy: .vlanAwareBridge, reverse: false)) { units in
            units["30-vmbr0.network"] = units["30-vmbr0.network"]!.replacingOccurrences(of: "\n[BridgeVLAN]\nVLAN=10\n", with: "")
            units["10-nic0.network"] = units["10-nic0.network"]!.replacingOccurrences(of: "VLAN=2-4094", with: "VLAN=2-39")
        }
        #expect(!report.passed)
        let failed = Set(report.failed.map(\.id))
        #expect(failed.contains("reach-10.1.10.11"))
        #expect(failed.contains("ct103-gateway") && failed.contains("ct103-neighbour"))
        // The Proxmox network was fine: the failures are the conversion's.
        #expect(report.results.filter { $0.phase == .before }.allSatisfy { $0.status == .pass })
    }
}
