import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One whole `pve2nix` process: its wall time and peak resident memory.
struct ProcessMeasure {
    var seconds: Double
    var peakBytes: Int64
    var status: Int32
    /// User and system CPU time: what the wall time would be on an idle machine, near enough.
    var cpuSeconds: Double
}

/// Runs `executable` with its output sent to /dev/null and measures it with `wait4`'s rusage.
func measure(_ executable: String, _ arguments: [String]) throws -> ProcessMeasure {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let start = Date()
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { throw NSError(domain: "bench", code: Int(spawned), userInfo: [NSLocalizedDescriptionKey: "cannot start \(executable)"]) }
    var status: Int32 = 0
    var usage = rusage()
    wait4(pid, &status, 0, &usage)
    let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    return ProcessMeasure(seconds: Date().timeIntervalSince(start), peakBytes: Int64(usage.ru_maxrss) * 1024, status: (status >> 8) & 0xff, cpuSeconds: cpu)
}

/// Plan and inspect, end to end as a process, on synthetic sites of 3 to 1,000 nodes with 50 guests each.
func runScaleBenchmark(quick: Bool) throws {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pve2nix").path
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        print("scale: \(binary) is not built; run 'swift build -c release' first")
        return
    }
    let sizes = quick ? [3, 30] : [3, 30, 300, 1000]
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-bench-\(getpid())")
    defer { try? FileManager.default.removeItem(at: base) }
    let model = URL(fileURLWithPath: "Examples/villa/nodes/villa-pve-01")
    var previous: (nodes: Int, plan: Double, inspect: Double)?
    for nodes in sizes {
        let dir = base.appendingPathComponent("site-\(nodes)")
        let node = try SyntheticSite(nodes: nodes, guestsPerNode: 50, seed: 42).write(to: dir, modelNode: model)
        var plans: [ProcessMeasure] = [], inspects: [ProcessMeasure] = []
        for _ in 0..<(quick ? 1 : 3) {
            plans.append(try measure(binary, ["plan", node, "--site", dir.path, "--json"]))
            inspects.append(try measure(binary, ["inspect", "--site", dir.path, "--node", node, "--json"]))
        }
        let plan = plans.map(\.seconds).sorted()[plans.count / 2], inspect = inspects.map(\.seconds).sorted()[inspects.count / 2]
        let planCPU = plans.map(\.cpuSeconds).sorted()[plans.count / 2]
        let planRSS = plans.map(\.peakBytes).max()!, inspectRSS = inspects.map(\.peakBytes).max()!
        var growth = ""
        if let p = previous {
            growth = String(format: "; growth x%.2f plan, x%.2f inspect for x%.0f the site", plan / p.plan, inspect / p.inspect, Double(nodes) / Double(p.nodes))
        }
        print(String(format: "scale %4d nodes / %5d guests: plan %.3f s (CPU %.3f s), %.0f MB; inspect --node --json %.3f s, %.0f MB%@",
                     nodes, nodes * 50, plan, planCPU, Double(planRSS) / 1e6, inspect, Double(inspectRSS) / 1e6, growth))
        if nodes == 1000 {
            print(String(format: "  target 1,000 nodes: plan under 1 s (wall ratio %.2f %@; CPU ratio %.2f %@) and under 300 MB (ratio %.2f %@)",
                         plan / 1.0, plan <= 1.0 ? "(meets)" : "(MISSES)", planCPU / 1.0, planCPU <= 1.0 ? "(meets)" : "(MISSES)", Double(planRSS) / 300e6, planRSS <= 300_000_000 ? "(meets)" : "(MISSES)"))
        }
        if plans.contains(where: { $0.status > 1 }) { print("  plan exited \(plans.map(\.status)) (2: the bundle could not be read)") }
        previous = (nodes, plan, inspect)
    }
    // The whole site as JSON at the largest size: memory is what matters.
    if let nodes = sizes.last {
        let dir = base.appendingPathComponent("site-\(nodes)")
        let all = try measure(binary, ["inspect", "--site", dir.path, "--json"])
        print(String(format: "scale %4d nodes: inspect --json (every node) %.3f s, %.0f MB", nodes, all.seconds, Double(all.peakBytes) / 1e6))
    }
}
