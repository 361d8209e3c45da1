/// The named checks a person reads before approving a plan.
struct Preflight {
    let site: Site
    let node: NodeName
    let capture: NodeCapture?
    let drain: DrainPlan
    let disk: DiskPlan?
    let network: NetworkPlan
    let install: InstallPlan
    let diagnostics: [Diagnostic]

    func checks() -> [PreflightCheck] {
        var out: [PreflightCheck] = []
        out.append(site.format == Site.supportedFormat
            ? PreflightCheck("bundle-format", .pass, "capture bundle format \(site.format)")
            : PreflightCheck("bundle-format", .fail, "capture bundle format \(site.format) is not supported"))

        let members = site.memberNames
        out.append(members.contains(node)
            ? PreflightCheck("node-in-cluster", .pass, "\(node) is one of \(members.count) members: \(members.map(\.rawValue).joined(separator: ", "))")
            : PreflightCheck("node-in-cluster", .fail, "\(node) is not a member of the cluster (members: \(members.map(\.rawValue).joined(separator: ", ")))"))

        if let cluster = site.cluster {
            let online = cluster.members.filter(\.online).count
            out.append(cluster.quorate
                ? PreflightCheck("quorum", .pass, "cluster \(cluster.name ?? "?") is quorate (\(online)/\(cluster.members.count) nodes online)")
                : PreflightCheck("quorum", .fail, "cluster is NOT quorate: no migration can run; restore quorum first"))
        } else {
            out.append(PreflightCheck("quorum", .fail, "cluster/status.json missing or unreadable"))
        }
        let peers = drain.peers
        let offline = peers.filter { !$0.online }.map(\.node.rawValue)
        if peers.isEmpty {
            out.append(PreflightCheck("peers-online", .fail, "no peers: a node cannot be drained without another node to take its guests"))
        } else {
            out.append(offline.isEmpty
                ? PreflightCheck("peers-online", .pass, "\(peers.count) peers online: \(peers.map(\.node.rawValue).joined(separator: ", "))")
                : PreflightCheck("peers-online", .warn, "offline or not captured: \(offline.joined(separator: ", ")); nothing is placed there"))
        }
        let remaining = members.filter { $0 != node }.count
        let qdevice = site.corosync?.hasQDevice ?? false
        if remaining >= 3 || (remaining == 2 && qdevice) {
            out.append(PreflightCheck("cluster-after-removal", .pass, "\(remaining) nodes remain\(qdevice ? " plus a QDevice" : "")"))
        } else if remaining == 2 {
            out.append(PreflightCheck("cluster-after-removal", .warn, "2 nodes remain without a QDevice: losing one more node loses quorum. Consider a QDevice before removing \(node)."))
        } else {
            out.append(PreflightCheck("cluster-after-removal", .fail, "\(remaining) node(s) would remain: there is nowhere safe to drain to"))
        }

        let stuck = drain.moves.filter { !$0.method.movesGuest }
        out.append(stuck.isEmpty
            ? PreflightCheck("drain-placement", .pass, "all \(drain.moves.count) guests have a peer and a method")
            : PreflightCheck("drain-placement", .fail, "cannot move: \(stuck.map { "\($0.kind.shortName) \($0.vmid) (\($0.name))" }.joined(separator: ", ")); the node cannot be emptied"))
        let actions = drain.moves.filter { $0.blockers.contains { $0.severity == .action } }
        out.append(actions.isEmpty
            ? PreflightCheck("drain-operator-actions", .pass, "no guest needs an operator action")
            : PreflightCheck("drain-operator-actions", .warn, "act before their move: \(actions.map { "\($0.kind.shortName) \($0.vmid) (\($0.name))" }.joined(separator: ", "))"))
        let capacity = peers.filter(\.online).map { p in
            "\(p.node) \(ByteFormat.string(p.memoryCommittedAfterBytes))/\(ByteFormat.string(p.memoryUsableBytes)) RAM, \(p.vcpusAfter)/\(p.vcpuLimit) vCPU"
        }
        out.append(PreflightCheck("peer-capacity", stuck.contains { $0.blockers.contains { $0.kind == .capacity } } ? .fail : .pass,
                                  "after the drain (usable = total less \(drain.memoryHeadroomPercent)% headroom): \(capacity.joined(separator: "; "))"))
        let needsBackup = drain.moves.contains { $0.method == .backupRestore }
        if let backup = drain.backupStorage {
            out.append(PreflightCheck("backup-storage", .pass, "shared backup storage '\(backup)' is on every peer"))
        } else {
            out.append(PreflightCheck("backup-storage", needsBackup ? .fail : .warn, "no shared storage with backup content on every peer\(needsBackup ? "; backup-restore moves need one" : ": take backups another way before converting")"))
        }
        let ha = drain.moves.filter(\.haManaged)
        out.append(PreflightCheck("ha-managed-guests", .pass, ha.isEmpty ? "no HA-managed guests on \(node)" :
            "moved through the HA manager: \(ha.map { "\($0.kind.shortName) \($0.vmid)" }.joined(separator: ", ")); HA maintenance mode is not used (it has no API)"))

        if let disk {
            let mirrors = disk.mirrors.map { " + \($0.byId)" }.joined()
            out.append(PreflightCheck("install-disk", .pass, "\(disk.byId)\(mirrors) (\(disk.model ?? "?"), serial \(disk.serial ?? "?"), \(ByteFormat.string(disk.sizeBytes))): \(disk.reason)"))
            let spanning = disk.destroys.filter { $0.detail.contains("ALSO on") }
            out.append(spanning.isEmpty
                ? PreflightCheck("disk-destroys-only-target", .pass, "every pool and volume group on \(([disk.kernelName] + disk.mirrors.map(\.kernelName)).joined(separator: ", ")) lives only there")
                : PreflightCheck("disk-destroys-only-target", .fail, "the wipe would also destroy: \(spanning.map(\.name).joined(separator: ", ")) (members on other disks)"))
        } else {
            out.append(PreflightCheck("install-disk", .fail, "no install disk could be chosen (see diagnostics)"))
        }
        let removable = capture?.disks.filter { $0.isWholeDisk && $0.isRemovableOrUSB }.map(\.kernelName) ?? []
        out.append(PreflightCheck("removable-disks-excluded", .pass, removable.isEmpty ? "no removable or USB disks" : "never chosen: \(removable.joined(separator: ", "))"))

        if let ip = network.managementAddress, let iface = network.managementInterface {
            let macs = network.uplinks.map { "\($0.name) \($0.mac ?? "MAC unknown")" }.joined(separator: ", ")
            let unknown = network.uplinks.isEmpty || network.uplinks.contains { $0.mac == nil }
            out.append(PreflightCheck("management-address", unknown ? .warn : .pass, "\(ip) on \(iface)\(network.managementVLAN.map { " (VLAN \($0))" } ?? ""), uplinks: \(macs.isEmpty ? "none found" : macs)"))
        } else {
            let address = site.cluster?.members.first { $0.name == node }?.ip ?? site.corosync?.nodes.first { $0.name == node }?.ringAddresses.first
            out.append(PreflightCheck("management-address", .fail, "the node's cluster address\(address.map { " \($0)" } ?? "") was not found in nodes/\(node)/interfaces (or the files it sources)"))
        }
        if !network.unsupported.isEmpty {
            out.append(PreflightCheck("network-translatable", .fail, "cannot be carried over: \(network.unsupported.joined(separator: ", ")) (Open vSwitch)"))
        } else if !network.hooks.isEmpty {
            out.append(PreflightCheck("network-translatable", .warn, "\(network.hooks.count) hook command(s) need a hand-written NixOS equivalent: \(network.hooks.map { "\($0.interface) \($0.phase)" }.joined(separator: ", "))"))
        } else {
            let carried = network.translatedHooks.isEmpty ? "no hooks" : "\(network.translatedHooks.count) hook(s) carried over as .link settings"
            out.append(PreflightCheck("network-translatable", .pass, "bridges, VLANs and bonds only; \(carried)"))
        }
        if let memory = install.memoryBytes {
            let ok = memory >= InstallPathPlanner.kexecMinimumBytes
            out.append(PreflightCheck("kexec-memory", ok ? .pass : (install.path == .kexec ? .fail : .warn), "\(ByteFormat.string(memory)) RAM; kexec needs \(ByteFormat.string(InstallPathPlanner.kexecMinimumBytes))"))
        } else {
            out.append(PreflightCheck("kexec-memory", .warn, "RAM unknown (no meminfo or status)"))
        }
        out.append(install.firmware.map { PreflightCheck("firmware", .pass, "\($0.rawValue): \($0 == .uefi ? "ESP + systemd-boot" : "BIOS boot partition + GRUB")") }
                   ?? PreflightCheck("firmware", .fail, "unknown: capture nodes/\(node)/firmware (uefi or bios)"))
        out.append(capture?.hostID.map { PreflightCheck("hostid", .pass, "\($0) (kept as networking.hostId for ZFS)") }
                   ?? PreflightCheck("hostid", .warn, "not captured: ZFS on the new system needs networking.hostId"))
        let errors = diagnostics.errorCount
        out.append(errors == 0
            ? PreflightCheck("input-diagnostics", .pass, "no errors in the capture (\(diagnostics.warningCount) warnings)")
            : PreflightCheck("input-diagnostics", .fail, "\(errors) error(s) in the capture; see diagnostics"))
        return out
    }
}
