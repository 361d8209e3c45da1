import Foundation

/// Chooses the install disk and lists everything installing there destroys. disko wipes whole
/// ZFS pools and LVM volume groups with a member on a listed disk, so groups spanning other disks
/// are a hard error.
struct DiskPlanner {
    static let minimumBytes: Int64 = 32 * ByteFormat.gibibyte

    let site: Site
    let capture: NodeCapture

    private var dir: String { "nodes/\(capture.name)" }

    func plan(diagnostics: inout [Diagnostic]) -> DiskPlan? {
        let disks = capture.disks.filter(\.isWholeDisk)
        guard !disks.isEmpty else {
            diagnostics.append(.error("\(dir)/lsblk.json", nil, "no disks captured: run 'lsblk -J -b -O > lsblk.json' on the node"))
            return nil
        }
        let groups = StorageGroup.all(in: disks)
        guard let (targets, reason) = chooseTargets(disks, groups: groups, diagnostics: &diagnostics) else { return nil }
        var identities: [DiskTarget] = []
        for disk in targets {
            let links = capture.diskLinks.filter { $0.target == disk.kernelName }
            guard let link = preferredLink(links, serial: disk.serial) else {
                diagnostics.append(.error("\(dir)/disk-by-id.txt", nil,
                    "no /dev/disk/by-id link points to \(disk.kernelName): the install disk must be named by id, never by kernel name. Capture 'ls -l /dev/disk/by-id' again."))
                return nil
            }
            if let serial = disk.serial, !link.name.contains(serial) {
                diagnostics.append(.warning("\(dir)/disk-by-id.txt", link.line, "\(link.name) does not contain the serial \(serial) that lsblk reports for \(disk.kernelName); check the capture"))
            }
            let hasIdentity = !(disk.serial ?? "").trimmingCharacters(in: .whitespaces).isEmpty || !(disk.wwn ?? "").trimmingCharacters(in: .whitespaces).isEmpty
            if !hasIdentity {
                if let line = site.intent.nodes[capture.name].flatMap({ $0.installDisk != nil ? $0.line : nil }) {
                    diagnostics.append(.warning("site.toml", line, "\(disk.kernelName) (\(link.name)) has neither a serial nor a WWN: you named it, so it is used, but the check right before the wipe can verify only its size and partitions"))
                } else {
                    diagnostics.append(.error("\(dir)/lsblk.json", disk.line, "\(disk.kernelName) has neither a serial nor a WWN, so the check right before the wipe could not tell it from an identical disk. If it is the right disk, name it in site.toml: [nodes.\(capture.name)] install_disk = \"\(link.byID.path)\""))
                    return nil
                }
            }
            if disk.sizeBytes < Self.minimumBytes {
                diagnostics.append(.error("\(dir)/lsblk.json", disk.line, "\(disk.kernelName) has \(ByteFormat.string(disk.sizeBytes)); NixOS with containers needs at least \(ByteFormat.string(Self.minimumBytes))"))
            }
            identities.append(DiskTarget(byId: link.byID, kernelName: disk.kernelName, model: disk.model, serial: disk.serial, wwn: disk.wwn,
                                         sizeBytes: disk.sizeBytes, transport: disk.transport,
                                         otherByIdLinks: links.map(\.name).filter { $0 != link.name }.sorted(),
                                         partitionTable: PartitionTableIdentity(disk: disk)))
        }
        let (destroys, untouched) = effects(of: targets, among: disks, groups: groups, diagnostics: &diagnostics)
        let primary = identities[0]
        return DiskPlan(byId: primary.byId, kernelName: primary.kernelName, model: primary.model, serial: primary.serial, wwn: primary.wwn,
                        sizeBytes: primary.sizeBytes, transport: primary.transport, reason: reason,
                        mirrors: Array(identities.dropFirst()), destroys: destroys, untouched: untouched,
                        otherByIdLinks: primary.otherByIdLinks, partitionTable: primary.partitionTable)
    }

    /// The disks to install on: the one chosen in site.toml, or every disk the running system lives on
    /// (one disk, or all members of a mirrored root: ZFS `rpool`, md RAID, btrfs RAID1).
    private func chooseTargets(_ disks: [BlockDevice], groups: [StorageGroup], diagnostics: inout [Diagnostic]) -> ([BlockDevice], String)? {
        if let wanted = site.intent.nodes[capture.name]?.installDisk {
            let name = DiskByID(path: wanted).linkName
            guard let link = capture.diskLinks.first(where: { $0.name == name }), let disk = disks.first(where: { $0.kernelName == link.target }) else {
                diagnostics.append(.error("site.toml", site.intent.nodes[capture.name]?.line, "install_disk \(wanted) is not among the node's disks in disk-by-id.txt"))
                return nil
            }
            guard !disk.isRemovableOrUSB else {
                diagnostics.append(.error("site.toml", site.intent.nodes[capture.name]?.line, "install_disk \(wanted) is removable or USB-attached; pve2nix never installs there"))
                return nil
            }
            return ([disk], "chosen in site.toml")
        }
        let fixed = disks.filter { !$0.isRemovableOrUSB }
        var rootDisks = fixed.filter { d in ([d] + d.allDescendants).contains { $0.mountpoints.contains("/") } }
        var how = "holds the running Proxmox system (/)"
        // A btrfs RAID shows '/' on one member only; its other members share the filesystem UUID.
        for group in groups where group.kind == .btrfsVolume && !rootDisks.isEmpty && !group.memberDisks.isDisjoint(with: rootDisks.map(\.kernelName)) {
            rootDisks += fixed.filter { group.memberDisks.contains($0.kernelName) && !rootDisks.contains($0) }
            how = "holds the running Proxmox system (btrfs \(group.name) over \(group.memberDisks.sorted().joined(separator: ", ")))"
        }
        if rootDisks.isEmpty, let rpool = groups.first(where: { $0.kind == .zfsPool && $0.name == "rpool" }) {
            // ZFS datasets never appear as lsblk mount points; Proxmox names its root pool rpool.
            rootDisks = fixed.filter { rpool.memberDisks.contains($0.kernelName) }
            how = "holds the running Proxmox system (ZFS pool rpool)"
        }
        if rootDisks.count > 1 {
            let names = rootDisks.map(\.kernelName).sorted()
            how += "; the root is mirrored over \(names.joined(separator: ", ")), so every member is an install target (recreate the mirror in disko)"
        }
        if !rootDisks.isEmpty {
            return (rootDisks.sorted { $0.kernelName < $1.kernelName }, how)
        }
        if fixed.count == 1 { return ([fixed[0]], "the only fixed disk") }
        diagnostics.append(.error("\(dir)/lsblk.json", nil,
            "cannot tell which disk to install on: none holds '/', there is no ZFS pool rpool, and there are \(fixed.count) fixed disks. Set [nodes.\(capture.name)] install_disk = \"/dev/disk/by-id/...\" in site.toml."))
        return nil
    }

    /// The most descriptive stable link: model+serial names before WWN and EUI names, never partitions.
    private func preferredLink(_ links: [DiskIDLink], serial: String?) -> DiskIDLink? {
        func rank(_ l: DiskIDLink) -> Int {
            let n = l.name
            if n.range(of: "-part[0-9]+$", options: .regularExpression) != nil { return 99 }
            var r: Int
            if n.hasPrefix("nvme-eui.") || n.hasPrefix("nvme-nvme.") { r = 6 }
            else if n.hasPrefix("nvme-") || n.hasPrefix("ata-") || n.hasPrefix("scsi-SATA_") { r = 0 }
            else if n.hasPrefix("scsi-") || n.hasPrefix("virtio-") { r = 2 }
            else if n.hasPrefix("wwn-") { r = 4 }
            else if n.hasPrefix("usb-") || n.hasPrefix("dm-") || n.hasPrefix("lvm-") || n.hasPrefix("md-") { return 99 }
            else { r = 5 }
            if let serial, n.contains(serial) { r -= 0 } else { r += 1 }
            return r
        }
        return links.filter { rank($0) < 99 }.min { (rank($0), $0.name) < (rank($1), $1.name) }
    }

    private func effects(of targets: [BlockDevice], among disks: [BlockDevice], groups: [StorageGroup], diagnostics: inout [Diagnostic]) -> ([DiskEffect], [DiskEffect]) {
        var destroys: [DiskEffect] = []
        let targetNames = Set(targets.map(\.kernelName))
        for disk in targets {
            let table = disk.children.isEmpty ? "no partitions" : "\(disk.children.count) partitions"
            destroys.append(DiskEffect(kind: .partitionTable, name: disk.kernelName, detail: "the partition table (\(table)) is replaced by disko's GPT", members: [disk.kernelName], line: disk.line))
            for part in disk.children where part.type == "part" {
                var what = [part.fstype, part.label.map { "label \($0)" }, part.partitionTypeName].compactMap { $0 }
                if !part.mountpoints.isEmpty { what.append("mounted at \(part.mountpoints.joined(separator: ", "))") }
                destroys.append(DiskEffect(kind: .partition, name: part.kernelName, detail: "\(ByteFormat.string(part.sizeBytes))\(what.isEmpty ? "" : ", " + what.joined(separator: ", "))", members: [part.kernelName], line: part.line))
            }
        }
        // Every group (VG, zpool, md array, btrfs) with a member on a target goes entirely.
        for group in groups where !group.memberDisks.isDisjoint(with: targetNames) {
            let others = group.memberDisks.subtracting(targetNames).sorted()
            var detail = group.summary
            if !others.isEmpty {
                detail += "; ALSO on \(others.joined(separator: ", "))"
                let tool = group.kind == .volumeGroup ? "vgremove -f" : group.kind == .zfsPool ? "zpool destroy -f" : group.kind == .mdArray ? "mdadm --stop" : "wipefs"
                diagnostics.append(.error("\(dir)/lsblk.json", group.line,
                    "installing on \(targetNames.sorted().joined(separator: ", ")) destroys the \(group.kindName) '\(group.name)', which also has members on \(others.joined(separator: ", ")): disko runs '\(tool)' on the whole group. Remove those members from the group first (vgreduce / zpool detach / mdadm --remove) or choose another disk."))
            }
            destroys.append(DiskEffect(kind: group.kind, name: group.name, detail: detail, members: group.members, line: group.line))
            for lv in group.volumes { destroys.append(DiskEffect(kind: .logicalVolume, name: lv, detail: "in \(group.name)", members: [], line: nil)) }
        }
        // Proxmox storages that live on these disks disappear with them.
        func onTargets(_ kind: DiskEffect.Kind, _ name: String?) -> Bool {
            groups.contains { $0.kind == kind && $0.name == name && !$0.memberDisks.isDisjoint(with: targetNames) }
        }
        for storage in site.storages where storage.isAvailable(on: capture.name) && !storage.shared {
            let onDisk: Bool
            switch storage.type {
            case "lvmthin", "lvm": onDisk = onTargets(.volumeGroup, storage.properties["vgname"])
            case "zfspool": onDisk = onTargets(.zfsPool, storage.properties["pool"]?.split(separator: "/").first.map(String.init))
            case "dir", "btrfs":
                onDisk = storage.properties["path"].map { pathIsOnTargets($0, disks: disks, groups: groups, targets: targetNames) } ?? false
            default: onDisk = false
            }
            if onDisk {
                destroys.append(DiskEffect(kind: .storage, name: storage.id, detail: "Proxmox storage '\(storage.id)' (\(storage.type)) on this node, with anything the drain left on it", members: [], line: storage.line))
            }
        }
        var untouched: [DiskEffect] = []
        for other in disks where !targetNames.contains(other.kernelName) {
            var what: [String] = [[other.model, other.transport.map { $0.uppercased() }].compactMap { $0 }.joined(separator: ", "), ByteFormat.string(other.sizeBytes)]
            if other.isRemovableOrUSB { what.append("removable/USB: never an install target") }
            for group in groups where group.memberDisks.contains(other.kernelName) && group.memberDisks.isDisjoint(with: targetNames) {
                what.append("\(group.kind.rawValue) \(group.name)")
            }
            untouched.append(DiskEffect(kind: .disk, name: other.kernelName, detail: what.filter { !$0.isEmpty }.joined(separator: "; "), members: [other.kernelName], line: other.line))
        }
        return (destroys, untouched)
    }
}

extension DiskPlanner {
    /// Whether a directory lives on the target disks: the longest lsblk mount point holding it decides;
    /// ZFS datasets never show as lsblk mounts, so `/<pool>/...` belongs to that pool, and anything else
    /// on a ZFS root (rpool) to the root.
    func pathIsOnTargets(_ path: String, disks: [BlockDevice], groups: [StorageGroup], targets: Set<String>) -> Bool {
        let mounts = disks.flatMap { d in ([d] + d.allDescendants).flatMap { dev in dev.mountpoints.map { (point: $0, disk: d.kernelName) } } }
        let holder = mounts.filter { m in m.point.hasPrefix("/") && (path == m.point || path.hasPrefix(m.point == "/" ? "/" : m.point + "/")) }
            .max { $0.point.count < $1.point.count }
        if let pool = groups.first(where: { $0.kind == .zfsPool && path.hasPrefix("/\($0.name)/") }), (holder?.point ?? "/") == "/" {
            return !pool.memberDisks.isDisjoint(with: targets)
        }
        if let holder { return targets.contains(holder.disk) }
        return groups.contains { $0.kind == .zfsPool && $0.name == "rpool" && !$0.memberDisks.isDisjoint(with: targets) }
    }
}

/// A volume group, ZFS pool or md array, assembled from lsblk's tree.
struct StorageGroup {
    var kind: DiskEffect.Kind
    var name: String
    var members: [String]
    var memberDisks: Set<String>
    var volumes: [String]
    var line: Int?

    var kindName: String {
        switch kind {
        case .volumeGroup: "LVM volume group"
        case .zfsPool: "ZFS pool"
        case .btrfsVolume: "btrfs filesystem"
        default: "md array"
        }
    }

    var summary: String {
        switch kind {
        case .volumeGroup: return "LVM volume group with PVs \(members.joined(separator: ", "))\(volumes.isEmpty ? "" : " and LVs \(volumes.joined(separator: ", "))")"
        case .zfsPool: return "ZFS pool with members \(members.joined(separator: ", "))"
        case .btrfsVolume: return "btrfs filesystem with devices \(members.joined(separator: ", "))"
        default: return "array with members \(members.joined(separator: ", "))"
        }
    }

    static func all(in disks: [BlockDevice]) -> [StorageGroup] {
        var groups: [String: StorageGroup] = [:]
        func add(_ kind: DiskEffect.Kind, _ name: String, member: BlockDevice, disk: String, volumes: [String]) {
            let key = "\(kind.rawValue)/\(name)"
            var g = groups[key] ?? StorageGroup(kind: kind, name: name, members: [], memberDisks: [], volumes: [], line: member.line)
            if !g.members.contains(member.kernelName) { g.members.append(member.kernelName) }
            g.memberDisks.insert(disk)
            for v in volumes where !g.volumes.contains(v) { g.volumes.append(v) }
            groups[key] = g
        }
        for disk in disks {
            for device in [disk] + disk.allDescendants {
                switch device.fstype {
                case "LVM2_member":
                    // LV device-mapper names are VG-LV with dashes inside names doubled.
                    for lv in device.allDescendants where lv.type == "lvm" {
                        let (vg, name) = splitDeviceMapperName(lv.name)
                        let isInternal = name.hasSuffix("_tmeta") || name.hasSuffix("_tdata") || name.hasSuffix("-tpool")
                        add(.volumeGroup, vg, member: device, disk: disk.kernelName, volumes: isInternal ? [] : [name])
                    }
                    if device.children.isEmpty, let label = device.label { add(.volumeGroup, label, member: device, disk: disk.kernelName, volumes: []) }
                case "zfs_member":
                    add(.zfsPool, device.label ?? "unnamed pool", member: device, disk: disk.kernelName, volumes: [])
                case "btrfs":
                    add(.btrfsVolume, device.label ?? device.uuid ?? "btrfs", member: device, disk: disk.kernelName, volumes: [])
                case "linux_raid_member":
                    let md = device.children.first { $0.type.hasPrefix("raid") }?.name ?? device.label ?? "md"
                    add(.mdArray, md, member: device, disk: disk.kernelName, volumes: [])
                default:
                    break
                }
            }
        }
        return groups.values.sorted { ($0.kind.rawValue, $0.name) < ($1.kind.rawValue, $1.name) }
    }

    static func splitDeviceMapperName(_ dm: String) -> (String, String) {
        let chars = Array(dm)
        var i = 0
        while i < chars.count {
            if chars[i] == "-" {
                if i + 1 < chars.count, chars[i + 1] == "-" { i += 2; continue }
                let vg = String(chars[..<i]).replacingOccurrences(of: "--", with: "-")
                let lv = String(chars[(i + 1)...]).replacingOccurrences(of: "--", with: "-")
                return (vg, lv)
            }
            i += 1
        }
        return (dm, "")
    }
}

extension DiskByID {
    init(path: String) {
        self.init(linkName: path.hasPrefix("/dev/disk/by-id/") ? String(path.dropFirst("/dev/disk/by-id/".count)) : path)
    }
}
