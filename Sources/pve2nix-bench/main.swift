import Foundation
import PVE2NixAdapters
import PVE2NixCore

// Benchmarks for pve2nix's speed targets. Prints each measurement and its ratio to the target
// (below 1.0 meets it). Usage: pve2nix-bench [rehearsal|plan|scale|parsers|placement|schedule] [--runs N] [--site DIR] [--node NODE] [--quick] [--negative]
let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ fallback: String) -> String {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return fallback }
    return arguments[i + 1]
}
let which = arguments.first.flatMap { $0.hasPrefix("--") ? nil : $0 } ?? "all"
let runs = Int(option("--runs", "1")) ?? 1
let siteDir = option("--site", "Examples/villa")
let node = NodeName(option("--node", "villa-pve-01"))

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
func report(_ name: String, _ seconds: [Double], target: Double) {
    let m = median(seconds)
    print(String(format: "%@: median %.2f s over %d run(s) (min %.2f, max %.2f); target %.2f s; ratio %.2f %@",
                 name, m, seconds.count, seconds.min()!, seconds.max()!, target, m / target, m <= target ? "(meets)" : "(MISSES)"))
}

let site = SiteLoader(tree: LocalFileTree(root: URL(fileURLWithPath: siteDir))).load()

if which == "plan" || which == "all" {
    var times: [Double] = []
    for _ in 0..<max(runs, 20) {
        let start = Date()
        _ = Planner(site: SiteLoader(tree: LocalFileTree(root: URL(fileURLWithPath: siteDir))).load()).plan(node: node)
        times.append(Date().timeIntervalSince(start))
    }
    report("load + plan \(node)", times, target: 0.5)
}

if which == "synth" {
    // Writes one synthetic site for profiling by hand: pve2nix-bench synth --nodes 300 --out DIR
    let target = try SyntheticSite(nodes: Int(option("--nodes", "300")) ?? 300, guestsPerNode: 50, seed: 42)
        .write(to: URL(fileURLWithPath: option("--out", "synthetic-site")), modelNode: URL(fileURLWithPath: "Examples/villa/nodes/villa-pve-01"))
    print("wrote \(option("--out", "synthetic-site")); the node to convert is \(target)")
    exit(0)
}

if which == "scale" || which == "all" {
    try runScaleBenchmark(quick: arguments.contains("--quick"))
}

if which == "parsers" || which == "all" {
    runParserBenchmark(quick: arguments.contains("--quick"))
}

if which == "placement" || which == "all" {
    runPlacementBenchmark(instances: arguments.contains("--quick") ? 50 : 300)
}

if which == "schedule" || which == "all" {
    runScheduleBenchmark(sites: arguments.contains("--quick") ? 50 : 300)
    try await runScheduleRunBenchmark(sites: arguments.contains("--quick") ? 2 : 12, wallSeconds: Double(option("--wall", "4")) ?? 4)
}

if which == "rehearsal" || which == "all" {
    try runRehearsalBenchmark(site: site, node: node, runs: runs, negative: arguments.contains("--negative"))
}
