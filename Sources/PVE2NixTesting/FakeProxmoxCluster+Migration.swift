import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// Migrations refuse what Proxmox refuses, where Proxmox refuses it. The API call itself checks
/// (qemu-server `migrate_vm`, pve-container `migrate_vm`): target not the node itself, quorum, the
/// target a member, the lock (VMs), a running VM without `online`, a running CT without `restart`,
/// storages missing on the target (VMs). The worker then checks (QemuMigrate / LXC::Migrate
/// `prepare`, `scan_local_volumes`) and the task ends "migration aborted": local devices (`usbN`,
/// `hostpciN`, `serialN` to a device…), local disks of a running VM without `with-local-disks`, a
/// local ISO, snapshots on local storage, CT bind or device mounts not marked `shared`, the CT
/// lock, an unreachable target. An HA guest's request only queues an HA command (`hamigrate`).
extension FakeProxmoxCluster {
    /// A guest volume, as the migration code sees it.
    struct Volume {
        var key: String
        var source: VolumeSource
        var cdrom: Bool
        var shared: Bool
        var size: Int64
    }

    func volumes(_ vmid: VMID) -> [Volume] {
        guard let guest = guests[vmid], let text = configText(vmid) else { return [] }
        let file = GuestConfigParser.parse(text, kind: guest.kind, vmid: vmid, file: "")
        let diskKey = guest.kind == .qemu ? "^((ide|sata|scsi|virtio|unused)[0-9]+|efidisk0|tpmstate0)$" : "^(rootfs|mp[0-9]+|unused[0-9]+)$"
        return file.current.entries.compactMap { e in
            guard e.key.range(of: diskKey, options: .regularExpression) != nil else { return nil }
            let p = PropertyString(e.value)
            let source = VolumeSource(p.defaultValue ?? p["file"] ?? p["volume"] ?? "")
            if case .none = source { return nil }
            var shared = p.flag("shared")
            if case .storage(let id, _) = source { shared = seed.storage(id)?.shared ?? false }
            return Volume(key: e.key, source: source, cdrom: p["media"] == "cdrom", shared: shared, size: p["size"].flatMap(ByteFormat.parseProxmoxSize) ?? 0)
        }
    }

    /// Bytes of the guest's disks (`localOnly`: those a migration copies).
    func diskBytes(_ vmid: VMID, localOnly: Bool) -> Int64 {
        volumes(vmid).filter { !$0.cdrom && (!localOnly || !$0.shared) }.reduce(0) { $0 + $1.size }
    }

    func memoryBytes(_ vmid: VMID) -> Int64 {
        guard let text = configText(vmid), let mib = text.split(separator: "\n").first(where: { $0.hasPrefix("memory:") }).flatMap({ Int64($0.dropFirst(7).trimmingCharacters(in: .whitespaces)) }) else { return 512 << 20 }
        return mib << 20
    }

    /// qemu-server's `check_local_resources`: what pins a VM to its node.
    func localResources(_ vmid: VMID) -> [String] {
        guard guests[vmid]?.kind == .qemu, let text = configText(vmid) else { return [] }
        let file = GuestConfigParser.parse(text, kind: .qemu, vmid: vmid, file: "")
        return file.current.entries.compactMap { e in
            let p = PropertyString(e.value)
            switch e.key {
            case let k where k.hasPrefix("usb") && k.dropFirst(3).allSatisfy(\.isNumber):
                return p["mapping"] == nil && (p["host"] ?? p.defaultValue).map { $0 != "spice" } == true ? k : nil
            case let k where k.hasPrefix("hostpci") && k.dropFirst(7).allSatisfy(\.isNumber):
                return p["mapping"] == nil ? k : nil
            case let k where (k.hasPrefix("serial") || k.hasPrefix("parallel")) && k.last?.isNumber == true:
                return e.value.hasPrefix("/dev/") ? k : nil
            case let k where k.hasPrefix("virtiofs") && k.last?.isNumber == true:
                return k
            case "ivshmem":
                return "ivshmem"
            default:
                return nil
            }
        }
    }

    /// Why the worker aborts this migration (empty: it goes through).
    func workerProblems(_ vmid: VMID, to target: NodeName, live: Bool, withLocalDisks: Bool, mappedStorage: Bool) -> [String] {
        guard let guest = guests[vmid], let text = configText(vmid) else { return ["unable to find configuration file for \(vmid)"] }
        let file = GuestConfigParser.parse(text, kind: guest.kind, vmid: vmid, file: "")
        var problems: [String] = []
        if let lock = guest.lock { problems.append("\(guest.kind == .qemu ? "VM" : "CT") is locked (\(lock))") }
        if !live, guest.kind == .qemu, guest.status == "running" { problems.append("can't migrate running VM without --online") }
        if guest.kind == .qemu {
            let local = localResources(vmid)
            if !local.isEmpty { problems.append("can't migrate VM which uses local devices: \(local.joined(separator: ", "))") }
        }
        let snapshotted = !file.snapshots.isEmpty
        for v in volumes(vmid) {
            switch v.source {
            case .hostPath where guest.kind == .lxc && !v.shared, .device where guest.kind == .lxc && !v.shared:
                let type = { if case .device = v.source { return "device" } else { return "bind" } }()
                problems.append("cannot migrate local \(type) mount point '\(v.key)'")
            case .device("cdrom") where v.cdrom:
                problems.append("can't migrate local cdrom drive")
            case .storage(let id, let volume) where !v.shared:
                if v.cdrom && !volume.contains("cloudinit") {
                    problems.append("can't migrate local disk '\(id):\(volume)': local cdrom image")
                } else if !v.cdrom && snapshotted && seed.storage(id)?.type != "zfspool" && !volume.hasSuffix(".qcow2") {
                    problems.append("can't migrate local disk '\(id):\(volume)': \(live ? "online storage migration not possible if snapshot exists" : "non-migratable snapshot exists")")
                } else if guest.kind == .qemu && live && !v.cdrom && !withLocalDisks {
                    problems.append("can't migrate local disk '\(id):\(volume)': can't live migrate attached local disks without with-local-disks option")
                } else if guest.kind == .lxc && !mappedStorage, let s = seed.storage(id), !s.isAvailable(on: target) {
                    problems.append("storage '\(id)' is not available on node '\(target)'")
                }
            default:
                break
            }
        }
        if online[target] != true { problems.append("Can't connect to destination address using public key") }
        return problems
    }

    /// qemu-server's `check_storage_availability`: every volume's storage must exist on the target.
    func unavailableStorages(_ vmid: VMID, on target: NodeName) -> [String] {
        var missing: [String] = []
        for v in volumes(vmid) {
            guard case .storage(let id, _) = v.source, let s = seed.storage(id) else { continue }
            if !s.isAvailable(on: target), !missing.contains(id) { missing.append(id) }
        }
        return missing
    }

    func migrate(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        guard let nodeName = request.pathParameters["node"]?.text, let id = Self.int(request.pathParameters["vmid"]),
              let targetName = request.parameters["target"]?.text else {
            throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["target": "property is missing and it is not optional"], request: where_)
        }
        let vmid = VMID(id), node = NodeName(nodeName), target = NodeName(targetName)
        let p = request.parameters
        guard target != node else { throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: ["target": "target is local node."], request: where_) }
        try requireQuorum(where_)
        guard online[target] != nil else { throw ProxmoxAPIError(status: 500, reason: "no such cluster node '\(target)'", request: where_) }
        let (_, _, guest) = try guestOnNode(request)
        let running = guest.status == "running"
        let type: String
        var live = Self.flag(p["online"])
        let mapped = p[guest.kind == .qemu ? "targetstorage" : "target-storage"] != nil
        switch guest.kind {
        case .qemu:
            for option in ["force", "migration_type", "migration_network"] where p[option] != nil && !ProxmoxCaller.current.isRoot {
                throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: [option: "Only root may use this option."], request: where_)
            }
            if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "VM is locked (\(lock))", request: where_) }
            if running && !live { throw ProxmoxAPIError(status: 500, reason: "can't migrate running VM without --online", request: where_) }
            if !running { live = false }
            if let storage = p["targetstorage"]?.text.split(separator: ":").last.map(String.init) {
                guard let s = seed.storage(storage), s.isAvailable(on: target), s.contents.contains("images") else {
                    throw ProxmoxAPIError(status: 500, reason: "storage '\(storage)' is not available on node '\(target)'", request: where_)
                }
            } else if let missing = unavailableStorages(vmid, on: target).first {
                throw ProxmoxAPIError(status: 500, reason: "storage '\(missing)' is not available on node '\(target)'", request: where_)
            }
            type = "qmigrate"
        case .lxc:
            if running && !live && !Self.flag(p["restart"]) {
                throw ProxmoxAPIError(status: 500, reason: "can't migrate running container without --online or --restart", request: where_)
            }
            type = "vzmigrate"
        }
        migrationRequests[vmid, default: 0] += 1
        let what = guest.kind == .qemu ? "VM" : "CT"
        if ha.resources[vmid] != nil {
            // HA: the task only hands the request to the HA manager; the move happens later.
            return startTask("hamigrate", node: node, vmid: vmid, effect: .haCommand(target: target), seconds: 1, polls: 1,
                             log: ["Requesting HA migration for \(what) \(vmid) to node \(target)"])
        }
        return startMigration(vmid, from: node, to: target, type: type, live: live && guest.kind == .qemu,
                              withLocalDisks: Self.flag(p["with-local-disks"]), mappedStorage: mapped, user: nil)
    }

    /// The migration worker: locks the guest, then moves it or aborts with what `prepare` found.
    @discardableResult
    func startMigration(_ vmid: VMID, from node: NodeName, to target: NodeName, type: String, live: Bool, withLocalDisks: Bool, mappedStorage: Bool, user: String?) -> JSONValue {
        let problems = workerProblems(vmid, to: target, live: live, withLocalDisks: withLocalDisks, mappedStorage: mappedStorage)
        if let message = failingMigrations[vmid], failingTasks["\(type):\(vmid)"] == nil { failingTasks["\(type):\(vmid)"] = message }
        var log = ["starting migration of \(guests[vmid]?.kind == .lxc ? "CT" : "VM") \(vmid) to node '\(target)'"]
        log += problems.map { "ERROR: \($0)" }
        if let first = problems.first { log.append("ERROR: migration aborted (duration 00:00:01): \(first)") }
        if problems.isEmpty { guests[vmid]?.lock = "migrate" }
        let copied = Double(diskBytes(vmid, localOnly: true)) + (live ? Double(memoryBytes(vmid)) : 0)
        let restart = guests[vmid]?.kind == .lxc && guests[vmid]?.status == "running"
        let upid = startTask(type, node: node, vmid: vmid, effect: problems.isEmpty ? .migrate(to: target, status: nil) : .none,
                             seconds: problems.isEmpty ? 2 + copied / 110e6 + (restart ? 8 : 0) : 1, polls: problems.isEmpty ? nil : 1,
                             neverEnds: problems.isEmpty && neverEndingMigrations.contains(vmid), log: log,
                             failure: problems.isEmpty ? nil : "migration aborted", user: user)
        if problems.isEmpty, let timing = linkTiming {
            transfer(upid, bytes: copied, links: ["out:\(node)", "in:\(target)"],
                     fixed: live ? timing.liveFixedSeconds : timing.moveFixedSeconds + (restart ? timing.restartFixedSeconds : 0))
        }
        return upid
    }

    /// `GET …/qemu/{vmid}/migrate`: what the web UI asks before offering a migration.
    func migratePrecondition(_ request: ProxmoxRequest) throws -> JSONValue {
        let (vmid, node, guest) = try guestOnNode(request)
        let running = guest.status == "running"
        let local = volumes(vmid).filter { !$0.shared }.compactMap { v -> JSONValue? in
            guard case .storage(let id, let volume) = v.source else { return nil }
            return Self.object([("volid", Self.str("\(id):\(volume)")), ("size", Self.num(v.size)), ("cdrom", Self.num(v.cdrom ? 1 : 0)),
                                ("is_unused", Self.num(v.key.hasPrefix("unused") ? 1 : 0))])
        }
        var members: [(String, JSONValue)] = [
            ("running", Self.num(running ? 1 : 0)), ("local_disks", .array(local, line: 0)),
            ("local_resources", .array(localResources(vmid).map(Self.str), line: 0)),
            ("mapped-resources", .array([], line: 0)), ("mapped-resource-info", Self.object([])), ("has-dbus-vmstate", Self.num(0)),
        ]
        if !running {
            var allowed: [JSONValue] = [], notAllowed: [(String, JSONValue)] = []
            for n in online.keys.sorted() where n != node {
                let missing = unavailableStorages(vmid, on: n)
                if missing.isEmpty { allowed.append(Self.str(n.rawValue)) } else {
                    notAllowed.append((n.rawValue, Self.object([("unavailable_storages", .array(missing.map(Self.str), line: 0))])))
                }
            }
            members += [("allowed_nodes", .array(allowed, line: 0)), ("not_allowed_nodes", Self.object(notAllowed))]
        }
        return Self.object(members)
    }
}
