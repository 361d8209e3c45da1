/// What pins one guest to its node, and which migration method that leaves.
struct DrainAnalysis {
    var blockers: [Blocker] = []
    var method: MigrationMethod = .none
    var reason = ""
    var withLocalDisks = false
    /// Storage ids the guest's volumes need on the target (empty for backup-restore).
    var requiredStorages: Set<String> = []
    /// Nodes HA rules allow, nil for any.
    var allowedNodes: Set<NodeName>? = nil
}

/// Storage types whose volumes keep their snapshots through an offline migration.
private let snapshotMigratableTypes: Set<String> = ["zfspool", "dir", "btrfs"]

extension Guest {
    func analyseDrain(site: Site) -> DrainAnalysis {
        var a = DrainAnalysis()
        func add(_ kind: Blocker.Kind, _ severity: Blocker.Severity, _ message: String, line: Int? = nil) {
            a.blockers.append(Blocker(kind: kind, severity: severity, message: message, file: file, line: line))
        }
        let cmd = kind == .qemu ? "qm" : "pct"

        if let lock {
            add(.lock, .blocks, "locked (\(lock)): Proxmox refuses to migrate a locked guest. Wait for the \(lock) to finish, or clear a stale lock with '\(cmd) unlock \(vmid)'.")
        }
        // Volumes: where they live decides local-disk handling and storage needs.
        var localVolumes: [GuestVolume] = []
        for volume in volumes {
            switch volume.source {
            case .storage(let id, let vol):
                guard let storage = site.storage(id) else {
                    add(.storageMissing, .blocks, "\(volume.key) is on storage '\(id)', which storage.cfg does not define", line: volume.line)
                    continue
                }
                // A cloud-init drive is regenerated on the target: it moves like a disk.
                if volume.isCDROM && !vol.contains("cloudinit") {
                    if !storage.shared {
                        add(.localISO, .action, "\(volume.key) has the local ISO '\(id):\(vol)' attached; Proxmox refuses to migrate with it. Eject it first: '\(cmd) set \(vmid) --\(volume.key) none,media=cdrom'.", line: volume.line)
                    }
                    continue
                }
                if storage.shared { continue }
                localVolumes.append(volume)
                a.requiredStorages.insert(id)
            case .hostPath(let path):
                let sharedStorage = site.storages.first { s in s.shared && s.mountPath.map { path == $0 || path.hasPrefix($0 + "/") } ?? false }
                if volume.markedShared {
                    add(.bindMount, .note, "\(volume.key) bind-mounts \(path) with shared=1: it must exist with the same data on the target", line: volume.line)
                } else if let s = sharedStorage {
                    add(.bindMount, .action, "\(volume.key) bind-mounts \(path), which lies on shared storage '\(s.id)' that every node mounts, but Proxmox refuses to migrate it until it is marked shared: '\(cmd) set \(vmid) --\(volume.key) \(path),mp=\(volume.mountPath ?? "?"),shared=1'.", line: volume.line)
                } else {
                    add(.bindMount, .blocks, "\(volume.key) bind-mounts the node-local path \(path): its data stays on this node and would be destroyed. Move the data to shared storage (then mark the mount shared=1) or copy it to the target by hand.", line: volume.line)
                }
            case .device(let dev):
                if kind == .lxc {
                    add(.deviceMount, .blocks, "\(volume.key) mounts the host device \(dev): Proxmox refuses to migrate it. Move the data to a storage volume first.", line: volume.line)
                } else if dev != "cdrom" {
                    add(.passthrough, .blocks, "\(volume.key) passes the host block device \(dev) through: it cannot move. Copy it to a storage volume first ('qm disk import').", line: volume.line)
                } else if !volume.isCDROM {
                    add(.passthrough, .action, "\(volume.key) uses the host's physical CD drive; remove it before the move", line: volume.line)
                }
            case .none:
                continue
            }
        }
        if !localVolumes.isEmpty {
            let names = localVolumes.map { "\($0.key) (\($0.source.description)\($0.sizeBytes.map { ", " + ByteFormat.string($0) } ?? ""))" }
            add(.localDisk, .note, "local disks are copied to the target: \(names.joined(separator: ", "))", line: localVolumes.first?.line)
            a.withLocalDisks = true
        }
        // Hardware and raw device access.
        for device in devices {
            switch device.kind {
            case .pci:
                add(.passthrough, .blocks, "\(device.key): PCI passthrough (\(device.value)) ties the VM to this node's hardware; move the card and re-plan, or keep the workload elsewhere", line: device.line)
            case .virtiofs:
                add(.passthrough, .blocks, "\(device.key): virtiofs shares a host directory (\(device.value)) that does not move with the VM", line: device.line)
            case .usb:
                add(.passthrough, .action, "\(device.key): USB passthrough (\(device.value)); Proxmox refuses to migrate it. Remove it ('qm set \(vmid) --delete \(device.key)'), move the device to the target, and add it back there after the move.", line: device.line)
            case .serial:
                add(.passthrough, .action, "\(device.key): host serial device \(device.value); remove it before the move and re-attach it on the target", line: device.line)
            case .containerDevice:
                let path = PropertyString(device.value).defaultValue ?? PropertyString(device.value)["path"] ?? device.value
                add(.containerDevice, .action, "\(device.key): passes \(path) into the container. Proxmox does not check this: the migration succeeds and the container then fails to start unless \(path) exists on the target. Move the device to the target before the move (pve2nix checks this, Proxmox does not).", line: device.line)
            case .rawLXC:
                add(.rawLXC, .action, "raw '\(device.key): \(device.value)': Proxmox does not check raw lxc lines; the container may fail to start on the target unless what it names exists there", line: device.line)
            }
        }
        // Snapshots on local storage that cannot carry them.
        if !snapshots.isEmpty && !localVolumes.isEmpty {
            let types = Set(localVolumes.compactMap { $0.source.storageID.flatMap { site.storage($0)?.type } })
            if !types.isSubset(of: snapshotMigratableTypes) || (isRunning && kind == .qemu) {
                add(.snapshots, .action, "snapshots \(snapshots.joined(separator: ", ")) exist on local \(types.sorted().joined(separator: "/")) storage, which cannot migrate them; the guest moves by backup and restore and the snapshots are lost (a backup keeps only the current state). Delete them first if you agree.")
            }
        }
        if !pendingKeys.isEmpty {
            add(.pendingChanges, .note, "pending changes (\(pendingKeys.joined(separator: ", "))) apply at the next start; a move that restarts the guest applies them")
        }
        if let ha = site.haResources.first(where: { $0.vmid == vmid }) {
            add(.haManaged, .note, "HA-managed (\(ha.state)\(ha.group.map { ", group \($0)" } ?? "")): the move is requested through the HA manager and pve2nix waits until HA reports the target node")
        }
        if let name = site.haResources.first(where: { $0.vmid == vmid })?.group, let group = site.haGroups.first(where: { $0.group == name }) {
            let nodes = group.nodes.map(\.rawValue).joined(separator: ", ")
            if group.restricted {
                a.allowedNodes = (a.allowedNodes ?? Set(group.nodes)).intersection(group.nodes)
                add(.haRule, .note, "HA group '\(group.group)' is restricted to \(nodes)")
            } else {
                add(.haRule, .note, "HA group '\(group.group)' prefers \(nodes) (not restricted)")
            }
        }
        for rule in site.haRules where rule.vmids.contains(vmid) {
            let nodes = Set(rule.nodes)
            if rule.strict {
                a.allowedNodes = (a.allowedNodes ?? nodes).intersection(nodes)
                add(.haRule, .note, "HA rule '\(rule.rule)' (strict) allows only \(rule.nodes.map(\.rawValue).joined(separator: ", "))")
            } else {
                add(.haRule, .note, "HA rule '\(rule.rule)' prefers \(rule.nodes.map(\.rawValue).joined(separator: ", ")) (not strict)")
            }
        }

        if !isRunning && status != "stopped" && !template {
            add(.unknownState, .blocks, "its run state is unknown ('\(status)'): it is missing from cluster/resources.json or that file could not be read. Capture again; pve2nix does not plan a move as if the guest were stopped")
        }

        // The method follows from the blockers.
        let blocked = a.blockers.contains { $0.severity == .blocks }
        let needsSnapshotRestore = a.blockers.contains { $0.kind == .snapshots }
        let needsShutdown = devices.contains { $0.kind == .usb || $0.kind == .serial }
        if blocked {
            a.method = .none
            a.reason = "cannot move: " + a.blockers.filter { $0.severity == .blocks }.map(\.message).joined(separator: "; ")
        } else if needsSnapshotRestore, let ha = site.haResources.first(where: { $0.vmid == vmid }) {
            // Removing the original (purge) would drop its HA resource, and HA would fight the shutdown.
            add(.haManaged, .blocks, "moves by backup and restore, which HA-managed guests cannot: take it out of HA first ('ha-manager remove \(ha.kind == .lxc ? "ct" : "vm"):\(vmid)'), re-capture and re-plan, and add the restored copy back to HA afterwards")
            a.method = .none
            a.reason = "cannot move: HA-managed, and only backup and restore can move it"
        } else if needsSnapshotRestore {
            if kind == .lxc, let raw = devices.first(where: { $0.kind == .rawLXC }) {
                add(.rawLXC, .action, "a container restore keeps raw lxc.* lines only when root@pam restores it: drain with a ticket for root@pam (PVE2NIX_USER/PVE2NIX_PASSWORD), not an API token, or add '\(raw.key)' back to the copy by hand", line: raw.line)
            }
            a.method = .backupRestore
            a.reason = "local disks with snapshots cannot migrate: shut down, back up to shared storage, restore on the target under a free VMID (VMIDs are unique cluster-wide), remove the original once the copy runs and is healthy"
            a.requiredStorages = []
        } else if template {
            a.method = .offline
            a.reason = "templates never run; offline migration"
        } else if !isRunning {
            a.method = .offline
            a.reason = "stopped; offline migration keeps it stopped"
        } else if kind == .lxc {
            a.method = .restart
            a.reason = "containers cannot live-migrate; restart migration (shut down, copy, start on the target)"
        } else if needsShutdown {
            a.method = .offline
            a.reason = "host device passthrough: shut down, move the device, migrate offline, start on the target"
        } else {
            a.method = .live
            a.reason = a.withLocalDisks ? "running VM; live migration with its local disks (with-local-disks)" : "running VM on shared storage; live migration"
        }
        return a
    }

    func downtime(for method: MigrationMethod, localDisks: Bool) -> DowntimeClass {
        switch method {
        case .none: return isRunning || (status != "stopped" && !template) ? .manual : .notRunning
        case _ where template || !isRunning: return .notRunning
        case .live: return .none
        case .restart: return localDisks ? .copy : .restart
        case .offline: return localDisks ? .copy : .restart
        case .backupRestore: return .long
        }
    }
}
