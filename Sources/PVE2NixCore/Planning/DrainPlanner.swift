/// Plans the drain: a method for every guest on the node and a peer for every guest that can move,
/// within each peer's memory (less headroom) and vCPU limits, spread over all peers.
struct DrainPlanner {
    let site: Site
    let node: NodeName

    func plan(diagnostics: inout [Diagnostic]) -> DrainPlan {
        let intent = site.intent
        let guests = site.node(node)?.guests ?? []
        var peers = peerCapacities(diagnostics: &diagnostics)
        let backup = backupStorage(peers: peers.map(\.node))

        let analyses = Dictionary(guests.map { ($0.vmid, $0.analyseDrain(site: site)) }, uniquingKeysWith: { a, _ in a })
        // Guests that move without an operator's action get the room first, so that a guest waiting
        // on someone never takes the place of one that could go now; then big running guests, so
        // they get the room; templates last.
        let order = guests.sorted { a, b in
            func rank(_ g: Guest) -> Int {
                let waits = analyses[g.vmid]?.blockers.contains { $0.severity == .action } ?? false
                return (waits ? 3 : 0) + (g.template ? 2 : g.isRunning ? 0 : 1)
            }
            if rank(a) != rank(b) { return rank(a) < rank(b) }
            if a.memoryBytes != b.memoryBytes { return a.memoryBytes > b.memoryBytes }
            return a.vmid < b.vmid
        }
        // First each guest's method and the peers that pass every check other than room; then the
        // placement over all of them at once (PeerPlacement); then the moves, in the same order.
        var analysesInOrder: [DrainAnalysis] = []
        var rejectionsInOrder: [[String]] = []
        var placement = PeerPlacement(peers: peers.map {
            PeerPlacement.Peer(usableBytes: $0.memoryUsableBytes, committedBytes: $0.memoryCommittedAfterBytes, vcpus: $0.vcpusAfter, vcpuLimit: $0.vcpuLimit)
        }, guests: [])
        for guest in order {
            var analysis = analyses[guest.vmid] ?? guest.analyseDrain(site: site)
            if analysis.method == .backupRestore && backup == nil {
                analysis.blockers.append(Blocker(kind: .storageMissing, severity: .blocks,
                    message: "backup and restore needs a shared storage with 'backup' content on every peer; storage.cfg has none", file: "cluster/storage.cfg", line: nil))
                analysis.method = .none
                analysis.reason = "cannot move: no shared backup storage for backup-restore"
            }
            var eligible: [Int] = []
            var rejections: [String] = []
            if analysis.method.movesGuest {
                let pinned = intent.guests[guest.vmid]?.target
                for (i, peer) in peers.enumerated() {
                    if let pinned, pinned != peer.node { continue }
                    if let allowed = analysis.allowedNodes, !allowed.contains(peer.node) { rejections.append("\(peer.node): HA rule"); continue }
                    if !peer.online { rejections.append("\(peer.node): offline"); continue }
                    let missing = analysis.requiredStorages.filter { !(site.storage($0)?.isAvailable(on: peer.node) ?? false) }.sorted()
                    if !missing.isEmpty && substituteStorage(for: guest.kind, on: peer.node) == nil {
                        rejections.append("\(peer.node): storage \(missing.joined(separator: ", ")) missing and no local storage for \(guest.kind == .qemu ? "images" : "rootdir")")
                        continue
                    }
                    if analysis.method == .backupRestore && restoreStorage(for: guest, on: peer.node) == nil {
                        rejections.append("\(peer.node): no storage holds \(guest.kind == .qemu ? "images" : "rootdir") to restore into")
                        continue
                    }
                    if guest.vcpus > peer.cpus { rejections.append("\(peer.node): \(guest.vcpus) vCPUs > \(peer.cpus) CPUs"); continue }
                    eligible.append(i)
                }
            }
            analysesInOrder.append(analysis)
            rejectionsInOrder.append(rejections)
            placement.guests.append(PeerPlacement.Guest(memoryBytes: guest.template ? 0 : guest.memoryBytes, vcpus: guest.template ? 0 : guest.vcpus,
                                                       eligible: eligible, waits: analysis.blockers.contains { $0.severity == .action }))
        }
        let assignment = placement.solve()

        var moves: [VMID: DrainMove] = [:]
        var unplaced: [(vmid: VMID, memory: Int64, vcpus: Int)] = []
        for (index, guest) in order.enumerated() {
            var analysis = analysesInOrder[index]
            let demand = placement.guests[index].memoryBytes
            var target: NodeName? = nil
            var targetStorage: String? = nil
            var restoreStorage: String? = nil
            if let chosen = assignment[index] {
                target = peers[chosen].node
                let missing = analysis.requiredStorages.filter { !(site.storage($0)?.isAvailable(on: target!) ?? false) }.sorted()
                if !missing.isEmpty, let substitute = substituteStorage(for: guest.kind, on: target!) {
                    targetStorage = substitute
                    analysis.blockers.append(Blocker(kind: .storageMissing, severity: .note,
                        message: "storage \(missing.joined(separator: ", ")) does not exist on \(target!); its volumes go to '\(substitute)' there (\(guest.kind == .qemu ? "targetstorage" : "target-storage"))",
                        file: "cluster/storage.cfg", line: missing.compactMap { site.storage($0)?.line }.first))
                }
                if analysis.method == .backupRestore { restoreStorage = self.restoreStorage(for: guest, on: target!) }
                // Only a placed guest commits memory and CPUs on the peer.
                if !guest.template {
                    peers[chosen].memoryCommittedAfterBytes = peers[chosen].memoryCommittedAfterBytes.saturatingAdd(demand)
                    peers[chosen].vcpusAfter = peers[chosen].vcpusAfter.saturatingAdd(guest.vcpus)
                }
                peers[chosen].guestsReceived.append(guest.vmid)
            } else if analysis.method.movesGuest {
                var rejections = rejectionsInOrder[index]
                let final = placement.committedState(assignment)
                for i in placement.guests[index].eligible {
                    let peer = peers[i]
                    if !guest.template && final[i].vcpus.saturatingAdd(guest.vcpus) > peer.vcpuLimit { rejections.append("\(peer.node): vCPU limit \(peer.vcpuLimit)"); continue }
                    rejections.append("\(peer.node): \(ByteFormat.string(max(0, peer.memoryUsableBytes.saturatingSubtract(final[i].committedBytes)))) free of \(ByteFormat.string(demand)) needed")
                }
                let pinned = intent.guests[guest.vmid]?.target
                let why = pinned.map { "pinned to \($0) by site.toml; " } ?? ""
                analysis.blockers.append(Blocker(kind: .capacity, severity: .blocks,
                    message: "no peer can take it: \(why)\(rejections.isEmpty ? "no peers" : rejections.joined(separator: "; "))", file: nil, line: nil))
                analysis.method = .none
                analysis.reason = "cannot move: no peer has room or the storage it needs"
                if rejections.contains(where: { $0.contains("free of") || $0.contains("vCPU limit") }) {
                    unplaced.append((guest.vmid, demand, guest.template ? 0 : guest.vcpus))
                }
            }
            moves[guest.vmid] = DrainMove(
                vmid: guest.vmid, kind: guest.kind, name: guest.name, status: guest.status, template: guest.template,
                from: node, to: target, method: analysis.method, reason: analysis.reason,
                downtime: guest.downtime(for: analysis.method, localDisks: analysis.withLocalDisks || analysis.method == .backupRestore),
                haManaged: site.haResources.contains { $0.vmid == guest.vmid },
                withLocalDisks: analysis.withLocalDisks && analysis.method != .backupRestore, targetStorage: targetStorage, restoreStorage: restoreStorage,
                memoryBytes: guest.memoryBytes, vcpus: guest.vcpus, blockers: analysis.blockers)
        }
        if !unplaced.isEmpty {
            let online = peers.filter(\.online)
            let free = online.reduce(Int64(0)) { $0.saturatingAdd(max(0, $1.memoryUsableBytes.saturatingSubtract($1.memoryCommittedAfterBytes))) }
            let needed = unplaced.reduce(Int64(0)) { $0.saturatingAdd($1.memory) }
            let cpuFree = online.reduce(0) { $0.saturatingAdd(max(0, $1.vcpuLimit - min($1.vcpuLimit, $1.vcpusAfter))) }
            let cpuNeeded = unplaced.reduce(0) { $0.saturatingAdd($1.vcpus) }
            var missing: [String] = []
            if needed > free { missing.append("at least \(ByteFormat.string(needed.saturatingSubtract(free))) more memory than the peers have free after the \(intent.memoryHeadroomPercent)% headroom") }
            if cpuNeeded > cpuFree { missing.append("\(cpuNeeded - cpuFree) more vCPUs than the peers' overcommit limit allows") }
            if missing.isEmpty { missing.append("room on a single peer: the free memory is spread over several peers and no one of them fits each guest") }
            let list = unplaced.sorted { $0.vmid < $1.vmid }.map { "\($0.vmid) (\(ByteFormat.string($0.memory)))" }.joined(separator: ", ")
            let firstLeft = unplaced.map(\.vmid).min()
            let line = site.resources.first { $0.vmid == firstLeft }?.line
            diagnostics.append(.error("cluster/resources.json", line, "the peers cannot take every guest: \(list) do not fit; they need \(missing.joined(separator: " and ")). Free room (stop or move other guests off the peers, lower memory in site.toml's [placement], or add a peer), or pin some guests with [guests.N] rehome = \"stay\"."))
        }
        var plan = DrainPlan(moves: guests.compactMap { moves[$0.vmid] }, peers: peers,
                             memoryHeadroomPercent: intent.memoryHeadroomPercent, backupStorage: backup)
        let model = DrainSchedule.LinkModel()
        plan.schedule = DrainSchedule.plan(DrainSchedule.jobs(for: plan, diskBytes: DrainTimeline.localDiskBytes(of: guests, storages: site.storages), model: model), model: model)
        return plan
    }

    private func peerCapacities(diagnostics: inout [Diagnostic]) -> [PeerCapacity] {
        let headroom = Double(site.intent.memoryHeadroomPercent) / 100
        var statusByNode: [NodeName: NodeStatus] = [:]
        for capture in site.nodes { statusByNode[capture.name] = capture.status }
        var runningByNode: [NodeName: [GuestResource]] = [:]
        for resource in site.resources where resource.isRunning && !resource.template { runningByNode[resource.node, default: []].append(resource) }
        let online = Set(site.cluster?.members.filter(\.online).map(\.name) ?? [])
        return site.memberNames.filter { $0 != node }.map { peer in
            let status = statusByNode[peer]
            if status == nil {
                diagnostics.append(.warning("nodes/\(peer)/status.json", nil, "missing: without the peer's GET /nodes/\(peer)/status, nothing is placed on \(peer)"))
            }
            let running = runningByNode[peer] ?? []
            let total = status?.memoryTotalBytes ?? 0
            // Committed is what runs there at most: the larger of measured use and the guests' maximum memory.
            let committed = max(status?.memoryUsedBytes ?? 0, running.reduce(Int64(0)) { $0.saturatingAdd(max(0, $1.maxMemoryBytes)) })
            let vcpus = running.reduce(0) { $0.saturatingAdd(Int(clamping: max(0, $1.maxCPU).rounded(.up))) }
            let cpus = status?.cpus ?? 0
            return PeerCapacity(node: peer, online: online.contains(peer) && status != nil, memoryTotalBytes: total,
                                memoryUsableBytes: Int64(clamping: Double(total) * max(0, 1 - headroom)),
                                memoryCommittedBeforeBytes: committed, memoryCommittedAfterBytes: committed,
                                cpus: cpus, vcpusBefore: vcpus, vcpusAfter: vcpus,
                                vcpuLimit: Int(clamping: Double(cpus) * site.intent.vcpuOvercommit), guestsReceived: [])
        }
    }

    /// A node-local storage on `node` that can hold this kind's volumes, for `targetstorage`.
    private func substituteStorage(for kind: GuestKind, on node: NodeName) -> String? {
        let content = kind == .qemu ? "images" : "rootdir"
        return site.storages.filter { !$0.shared && $0.isAvailable(on: node) && $0.contents.contains(content) }
            .map(\.id).sorted().first
    }

    /// Where a backup-restore puts the volumes on `node`: the storage the root volume lives on now if
    /// the target has it, else a local one that can hold this kind's volumes.
    private func restoreStorage(for guest: Guest, on node: NodeName) -> String? {
        let content = guest.kind == .qemu ? "images" : "rootdir"
        let current = guest.volumes.compactMap { v -> String? in
            guard case .storage(let id, _) = v.source, !v.isCDROM else { return nil }
            return id
        }
        if let id = current.first(where: { site.storage($0).map { $0.isAvailable(on: node) && $0.contents.contains(content) } ?? false }) { return id }
        return substituteStorage(for: guest.kind, on: node)
    }

    /// A shared storage holding backups that every peer reaches.
    private func backupStorage(peers: [NodeName]) -> String? {
        site.storages.filter { $0.shared && $0.contents.contains("backup") && peers.allSatisfy($0.isAvailable) }.map(\.id).sorted().first
    }
}
