import Foundation
import PVE2NixAdapters
import PVE2NixCore

/// Section 5: the villa node's rehearsal in the QEMU lab, wall time against 30 s, with where the
/// time went (the guest's timeline, phase by phase, median over the runs) and the load the shared
/// machine was under. `--negative` adds one run of the deliberately broken units (the lab test's
/// negative control): a failing rehearsal must not take much longer than a passing one.
func runRehearsalBenchmark(site: Site, node: NodeName, runs: Int, negative: Bool) throws {
    let image = LabImage.cached()
    guard image.isBuilt else {
        print("rehearsal: no lab image; run 'pve2nix lab build' first")
        exit(1)
    }
    let plan = Planner(site: site).plan(node: node)
    var options = GenerateOptions()
    options.acceptDropping = true
    let host = HostGenerator(site: site, plan: plan, options: options).generate()
    func scenario(broken: Bool) -> RehearsalScenario {
        var units = Dictionary(uniqueKeysWithValues: host.files.filter { $0.path.hasPrefix("networkd/") }.map { (String($0.path.dropFirst(9)), $0.contents) })
        if broken {
            units["30-vmbr0.network"] = units["30-vmbr0.network"]?.replacingOccurrences(of: "\n[BridgeVLAN]\nVLAN=10\n", with: "")
            units["10-nic0.network"] = units["10-nic0.network"]?.replacingOccurrences(of: "VLAN=2-4094", with: "VLAN=2-39")
        }
        return RehearsalScenarioBuilder(site: site, plan: plan, generated: host, units: units, strategy: .vlanAwareBridge, reverseNICOrder: false).build().0!
    }
    let passing = scenario(broken: false)
    var times: [Double] = []
    var timelines: [RehearsalTimeline] = []
    for i in 0..<runs {
        let load = loadAverage()
        let start = Date()
        let (result, _) = try QEMURehearsal(image: image).run(passing, variant: "bench") { _ in }
        let seconds = Date().timeIntervalSince(start)
        times.append(seconds)
        if let t = result.timeline { timelines.append(t) }
        print(String(format: "rehearsal run %d: %.1f s, %@; load average %@ at start, %@ at end", i + 1, seconds,
                     result.passed ? "passed" : "FAILED \(result.failed.map(\.id))", load, loadAverage()))
    }
    report("rehearsal \(node) (wall, QEMU start to exit)", times, target: 30)
    printPhases(timelines)
    if negative {
        let load = loadAverage()
        let start = Date()
        let (result, _) = try QEMURehearsal(image: image).run(scenario(broken: true), variant: "bench, broken units") { _ in }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "rehearsal of broken units (negative control): %.1f s, %d check(s) failed, ratio to the passing median %.2f; load average %@ at start, %@ at end",
                     seconds, result.failed.count, seconds / median(times), load, loadAverage()))
        if let t = result.timeline { printPhases([t]) }
    }
}

/// The phases' medians over the runs (the machine is shared: a median is steadier than a mean).
private func printPhases(_ timelines: [RehearsalTimeline]) {
    guard let first = timelines.first else { print("  (the guest reported no timeline)"); return }
    for phase in first.phases {
        let values = timelines.compactMap { t in t.phases.first { $0.name == phase.name }?.seconds }
        print("  " + phase.name.padding(toLength: 48, withPad: " ", startingAt: 0) + String(format: "%6.1f s", median(values)))
    }
    for p in [RehearsalCheck.Phase.before, .after] {
        if let slowest = first.slowestCheck(p) {
            print(String(format: "  slowest %@ check (first run): %@ after %.1f s", p.rawValue, slowest.id, slowest.seconds))
        }
    }
}

private func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
}
