import Foundation
import PVE2NixCore

/// Section 3: the planned drain schedule's makespan against the physical bound (the bytes that must
/// leave the node over its uplink, never less than the longest single move), on seeded sites, with
/// Proxmox's migrateall (every guest to one target, maxworkers at once) as the baseline.
func runScheduleBenchmark(sites: Int) {
    var rng = SyntheticSite.Generator(state: 1313)
    let gib: Int64 = 1 << 30
    var ratios: [Double] = [], baseline: [Double] = [], overcommits = 0, withAlone = 0
    var aloneRatios: [Double] = [], plainRatios: [Double] = [], constrained: [Double] = []
    for _ in 0..<sites {
        var model = DrainSchedule.LinkModel()
        model.uplinkBytesPerSecond = [1.25e8, 1.25e9, 1.25e9, 3.125e9][rng.below(4)]      // 1, 10, 10, 25 GbE
        model.peerLinkBytesPerSecond = model.uplinkBytesPerSecond
        let peers = (0..<(2 + rng.below(5))).map { NodeName(String(format: "peer-%02d", $0)) }
        for peer in peers where rng.below(4) == 0 { model.peerLinks[peer.rawValue] = model.uplinkBytesPerSecond / 4 } // a slower peer
        let free = Dictionary(uniqueKeysWithValues: peers.map { ($0, Int64([32, 64, 128][rng.below(3)]) * gib) })
        var jobs: [DrainSchedule.Job] = []
        var running: Int64 = 0
        let count = 3 + rng.below(58)
        for i in 0..<count {
            let to = peers[rng.below(peers.count)]
            let memory = [gib, 2 * gib, 4 * gib, 8 * gib, 16 * gib, 32 * gib][rng.below(6)]
            let disks = Int64(8 + rng.below(200)) * gib
            let ha = rng.below(20) == 0
            let kind = rng.below(100)
            var fixed = model.moveFixedSeconds
            let job: DrainSchedule.Job
            if kind < 45 {           // a running VM on shared or local storage: live
                let local = rng.below(3) == 0
                fixed = model.liveFixedSeconds + (ha ? model.haFixedSeconds : 0)
                job = .init(vmid: VMID(100 + i), to: to, method: .live, bytes: memory + (local ? disks : 0), fixedSeconds: fixed, stopsService: false, runsAlone: ha)
                running += memory
            } else if kind < 80 {    // a running container: restart, local rootfs or shared
                let local = rng.below(2) == 0
                fixed += model.restartFixedSeconds + (ha ? model.haFixedSeconds : 0)
                job = .init(vmid: VMID(100 + i), to: to, method: .restart, bytes: local ? disks / 4 : 0, fixedSeconds: fixed, stopsService: true, runsAlone: ha)
                running += memory / 4
            } else if kind < 96 {    // stopped: offline
                job = .init(vmid: VMID(100 + i), to: to, method: .offline, bytes: rng.below(2) == 0 ? disks : 0, fixedSeconds: fixed, stopsService: false, runsAlone: false)
            } else {                 // local disks with snapshots: backup and restore
                fixed += model.restartFixedSeconds
                job = .init(vmid: VMID(100 + i), to: to, method: .backupRestore, bytes: disks, fixedSeconds: fixed, stopsService: true, runsAlone: false, exclusiveKey: "backup:nas")
                running += memory
            }
            jobs.append(job)
        }
        let schedule = DrainSchedule.plan(jobs, model: model)
        ratios.append(schedule.boundRatio)
        constrained.append(schedule.makespanSeconds / DrainSchedule.constrainedLowerBound(jobs, model: model))
        if jobs.contains(where: \.runsAlone) { withAlone += 1; aloneRatios.append(schedule.boundRatio) } else { plainRatios.append(schedule.boundRatio) }
        let target = peers.max { free[$0]! < free[$1]! }!
        let all = DrainSchedule.migrateAll(jobs, to: target, maxWorkers: 4, model: model)
        baseline.append(all.makespanSeconds / schedule.lowerBoundSeconds)
        if running > free[target]! { overcommits += 1 }
    }
    func pct(_ xs: [Double], _ q: Double) -> Double { xs.isEmpty ? 0 : xs.sorted()[min(xs.count - 1, Int(Double(xs.count) * q))] }
    let met = ratios.filter { $0 <= 1.10 }.count
    print("drain schedule (makespan over the physical bound; \(sites) seeded sites of 3-60 moves, 1/10/25 GbE, 2-6 peers, some slower; \(withAlone) with HA moves that run alone)")
    print(String(format: "  planned schedule: median %.3f, p90 %.3f, worst %.3f; within 1.10: %d of %d (target: every site) %@",
                 pct(ratios, 0.5), pct(ratios, 0.9), ratios.max() ?? 0, met, sites, met == sites ? "(meets)" : "(MISSES)"))
    print(String(format: "    sites without HA moves: worst %.3f, within 1.10: %d of %d; with HA moves: worst %.3f, within 1.10: %d of %d",
                 plainRatios.max() ?? 0, plainRatios.filter { $0 <= 1.10 }.count, plainRatios.count,
                 aloneRatios.max() ?? 0, aloneRatios.filter { $0 <= 1.10 }.count, aloneRatios.count))
    print(String(format: "  against the bound that also counts HA moves alone, one backup-restore at a time and each peer's link: median %.3f, p90 %.3f, worst %.3f; within 1.10: %d of %d",
                 pct(constrained, 0.5), pct(constrained, 0.9), constrained.max() ?? 0, constrained.filter { $0 <= 1.10 }.count, sites))
    print(String(format: "  baseline, migrateall (all to the peer with most free memory, maxworkers 4): median %.3f, worst %.3f; it overcommits that peer's memory on %d of %d sites",
                 pct(baseline, 0.5), baseline.max() ?? 0, overcommits, sites))
}
