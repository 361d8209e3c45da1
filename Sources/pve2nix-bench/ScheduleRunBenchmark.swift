import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting

/// Section 3, measured: the executor drains a node of the simulator, whose migrations, backups and
/// restores last their bytes over the same link model the schedule was planned with, in scaled
/// time; the measured makespan (wall time over the scale) is compared with the planned one.
/// The sites: the villa bundle under seeded link models (uplinks of 1, 10 or 25 GbE, one peer
/// sometimes at a quarter of the uplink), each planned again under its model.
func runScheduleRunBenchmark(sites: Int, wallSeconds: Double) async throws {
    let bundle = URL(fileURLWithPath: siteDir)
    let site = SiteLoader(tree: LocalFileTree(root: bundle)).load()
    let base = Planner(site: site).plan(node: node)
    let guests = site.node(node)?.guests ?? []
    let diskBytes = DrainTimeline.localDiskBytes(of: guests, storages: site.storages)
    let peers = Array(Set(base.drain.moves.compactMap(\.to))).sorted()
    var rng = SyntheticSite.Generator(state: 2613)
    var ratios: [Double] = []
    print("drain schedule, measured (the executor against the simulator in scaled time, \(node) of \(siteDir) under \(sites) seeded link models)")
    for i in 0..<sites {
        var model = DrainSchedule.LinkModel()
        model.uplinkBytesPerSecond = [1.25e8, 1.25e9, 3.125e9][rng.below(3)]
        model.peerLinkBytesPerSecond = model.uplinkBytesPerSecond
        for peer in peers where rng.below(3) == 0 { model.peerLinks[peer.rawValue] = model.uplinkBytesPerSecond / 4 }
        var drain = base.drain
        drain.schedule = DrainSchedule.plan(DrainSchedule.jobs(for: drain, diskBytes: diskBytes, model: model), model: model)
        let planned = drain.schedule!.makespanSeconds
        let scale = wallSeconds / max(planned, 1)
        let cluster = FakeProxmoxCluster.prepared(LocalFileTree(root: bundle))
        await cluster.setTimeScale(scale)
        await cluster.setLinkTiming(.init(model, drained: node))
        var executor = DrainExecutor(api: cluster, journal: InMemoryDrainJournal(), clock: ContinuousClock())
        // A poll every simulated second: the drain sees a move end within a second of it.
        executor.limits.pollInterval = .seconds(scale)
        executor.limits.haSettlePolls = 1
        let start = ContinuousClock.now
        let outcome = try await executor.run(drain, node: node)
        let measured = { let c = (ContinuousClock.now - start).components; return Double(c.seconds) + Double(c.attoseconds) * 1e-18 }() / scale
        let ratio = measured / planned
        ratios.append(ratio)
        print(String(format: "  site %d (uplink %.0f MB/s, %d slow peer(s)): planned %.0f s, measured %.0f s, ratio %.3f; moved %d, left %d, most at once %d (planned %d)",
                     i + 1, model.uplinkBytesPerSecond / 1e6, model.peerLinks.count, planned, measured, ratio, outcome.moved.count, outcome.left.count,
                     await cluster.mostMovesAtOnce, drain.schedule!.concurrency))
    }
    let met = ratios.filter { $0 <= 1.10 }.count
    print(String(format: "  measured / planned: median %.3f, worst %.3f; within 1.10: %d of %d (target: every site) %@",
                 median(ratios), ratios.max() ?? 0, met, sites, met == sites ? "(meets)" : "(MISSES)"))
}
