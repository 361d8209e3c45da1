/// The block devices and by-id links as captured now, with the six rules of the gate.
struct DiskWorld {
    /// Top-level devices: whole disks, and whatever else lsblk lists at the top (loop, zram…).
    let devices: [BlockDevice]
    let links: [DiskIDLink]
    private let byKernelName: [String: BlockDevice]
    private let topLevel: Set<String>

    init(devices: [BlockDevice], links: [DiskIDLink]) {
        self.devices = devices
        self.links = links
        var index: [String: BlockDevice] = [:]
        for device in devices.flatMap({ [$0] + $0.allDescendants }) where index[device.kernelName] == nil {
            index[device.kernelName] = device
        }
        byKernelName = index
        topLevel = Set(devices.map(\.kernelName))
    }

    // MARK: Rule 1

    /// The device the planned by-id link names now, when it is a whole disk.
    func resolve(_ disk: DiskTarget) -> (DiskGateFinding, BlockDevice?) {
        func finding(_ outcome: DiskGateFinding.Outcome, _ kernelName: String?, _ message: String) -> DiskGateFinding {
            DiskGateFinding(rule: .byIDNamesWholeDisk, disk: disk.byId, kernelName: kernelName, outcome: outcome, message: message)
        }
        guard let link = links.first(where: { $0.name == disk.byId.linkName }) else {
            var message = "\(disk.byId) does not exist now (the plan saw it as \(disk.kernelName))."
            let lookalikes = devices.filter { Self.sameDisk(disk, $0) }
            if !lookalikes.isEmpty {
                message += " A disk with the planned identity is \(lookalikes.map { name($0.kernelName) }.joined(separator: ", ")): its by-id names changed, so disko would not find it by the planned name. Capture again, plan again and review the new plan."
            } else {
                message += " Is the disk attached and powered? Check the cabling and the firmware settings and capture again; do not install until it is back."
            }
            return (finding(.fail, nil, message), nil)
        }
        guard let device = byKernelName[link.target] else {
            return (finding(.fail, link.target, "\(disk.byId) points to \(link.target), which lsblk does not list: the two captures do not belong together. Capture 'lsblk -J -b -O' and 'ls -l /dev/disk/by-id' again, at the same moment, and check again."), nil)
        }
        guard device.isWholeDisk, topLevel.contains(device.kernelName) else {
            let what = device.type == "part" ? "a partition" : "a \(device.type) device"
            return (finding(.fail, device.kernelName, "\(disk.byId) points to \(device.kernelName), \(what), not a whole disk: disko would write a partition table inside it. The by-id links are not what the plan saw; find out why (udev rules, a hand-made link) before installing."), nil)
        }
        var message = "\(disk.byId) names the whole disk \(device.kernelName)"
        if device.kernelName != disk.kernelName { message += " (\(disk.kernelName) when planned: kernel names change between boots)" }
        return (finding(.pass, device.kernelName, message), device)
    }

    // MARK: Rule 2

    func identity(of disk: DiskTarget, _ device: BlockDevice) -> DiskGateFinding {
        let here = "\(disk.byId) (\(device.kernelName))"
        func finding(_ outcome: DiskGateFinding.Outcome, _ message: String) -> DiskGateFinding {
            DiskGateFinding(rule: .identityMatches, disk: disk.byId, kernelName: device.kernelName, outcome: outcome, message: message)
        }
        var differences: [String] = []
        if Self.normalized(disk.serial, lowercased: false) != Self.normalized(device.serial, lowercased: false) {
            differences.append("serial \(device.serial ?? "none"), the plan saw \(disk.serial ?? "none")")
        }
        if Self.normalized(disk.wwn) != Self.normalized(device.wwn) {
            differences.append("WWN \(device.wwn ?? "none"), the plan saw \(disk.wwn ?? "none")")
        }
        if disk.sizeBytes != device.sizeBytes {
            differences.append("size \(device.sizeBytes) bytes (\(ByteFormat.string(device.sizeBytes))), the plan saw \(disk.sizeBytes) bytes (\(ByteFormat.string(disk.sizeBytes)))")
        }
        guard differences.isEmpty else {
            return finding(.fail, "\(here) is not the disk the plan saw: it reports \(differences.joined(separator: "; ")). Another disk may sit where the planned one was; do not install. If it is the right disk, capture again, plan again and review the new plan.")
        }
        if Self.normalized(disk.serial) == nil, Self.normalized(disk.wwn) == nil {
            return finding(.warn, "\(here) has neither a serial nor a WWN (it was named in site.toml): only its size (\(disk.sizeBytes) bytes) and its partitions can be checked, and an identical disk in its place would pass. Make sure it is the disk you mean.")
        }
        let parts = [disk.serial.map { "serial \($0)" }, disk.wwn.map { "WWN \($0)" }, "size \(disk.sizeBytes) bytes"].compactMap { $0 }
        return finding(.pass, "\(here): \(parts.joined(separator: ", ")) as planned")
    }

    // MARK: Rule 3

    func uniqueness(of disk: DiskTarget, _ device: BlockDevice) -> DiskGateFinding {
        let here = "\(disk.byId) (\(device.kernelName))"
        func finding(_ outcome: DiskGateFinding.Outcome, _ message: String) -> DiskGateFinding {
            DiskGateFinding(rule: .identityIsUnique, disk: disk.byId, kernelName: device.kernelName, outcome: outcome, message: message)
        }
        var problems: [String] = []
        let twins = devices.filter { $0.kernelName != device.kernelName && Self.sameDisk(disk, $0) }
        if !twins.isEmpty {
            let what = Self.normalized(disk.wwn) != nil && twins.allSatisfy({ Self.normalized($0.wwn) != nil }) ? "WWN \(disk.wwn ?? "")" : "model and serial \(disk.serial ?? "")"
            problems.append("\(twins.map { name($0.kernelName) }.joined(separator: ", ")) \(twins.count == 1 ? "carries" : "carry") the same \(what): a second path to the same disk (multipath, dual-path SAS) or a look-alike disk")
        }
        for path in device.children where path.type == "mpath" {
            problems.append("device-mapper multipath holds it as \(label(path))")
        }
        guard problems.isEmpty else {
            return finding(.fail, "\(here): \(problems.joined(separator: "; ")). The gate cannot tell what disko would wipe through the other name. Disconnect the second path or the look-alike disk (or stop multipath with 'multipath -F'), capture again and check again.")
        }
        if Self.normalized(disk.serial) == nil, Self.normalized(disk.wwn) == nil {
            return finding(.warn, "\(here) has neither a serial nor a WWN, so the gate cannot tell it from an identical disk; it checks only size and partitions.")
        }
        return finding(.pass, "no other device carries the identity of \(here)")
    }

    // MARK: Rule 4

    func partitionTable(of disk: DiskTarget, _ device: BlockDevice) -> DiskGateFinding {
        let here = "\(disk.byId) (\(device.kernelName))"
        func finding(_ outcome: DiskGateFinding.Outcome, _ message: String) -> DiskGateFinding {
            DiskGateFinding(rule: .partitionTableUnchanged, disk: disk.byId, kernelName: device.kernelName, outcome: outcome, message: message)
        }
        guard let planned = disk.partitionTable else {
            return finding(.fail, "the plan recorded no partition table for \(here) (its capture's lsblk had no pttype/ptuuid columns), so the gate cannot tell whether the disk changed since. Capture 'lsblk -J -b -O' on the node again, plan again and review the new plan.")
        }
        guard let now = PartitionTableIdentity(disk: device) else {
            return finding(.fail, "lsblk shows partitions on \(here) but no 'pttype': it was captured without all columns. Capture 'lsblk -J -b -O' and check again.")
        }
        let differences = Self.differences(planned, now)
        guard differences.isEmpty else {
            return finding(.fail, "\(here) has another partition table than the plan saw: \(differences.joined(separator: "; ")). Something wrote to the disk since the capture, or it is another disk. Capture again, plan again and review the new plan before installing.")
        }
        guard let ptuuid = now.ptuuid else { return finding(.pass, "\(here) has no partition table, as planned") }
        return finding(.pass, "\(here): partition table \(ptuuid) (\(now.pttype ?? "unknown type")) with \(now.partitions.count) partition\(now.partitions.count == 1 ? "" : "s") as planned")
    }

    static func differences(_ planned: PartitionTableIdentity, _ now: PartitionTableIdentity) -> [String] {
        var out: [String] = []
        // A table type without its UUID means lsblk printed no ptuuid (older util-linux): nothing to compare.
        switch (normalized(planned.ptuuid), normalized(now.ptuuid)) {
        case let (a?, b?) where a != b: out.append("PTUUID \(b), the plan saw \(a)")
        case (_?, nil) where now.pttype != nil: out.append("lsblk shows no 'ptuuid' for it: capture 'lsblk -J -b -O' with all columns")
        case (_?, nil): out.append("no partition table, the plan saw PTUUID \(planned.ptuuid ?? "")")
        case (nil, let b?) where planned.pttype == nil: out.append("PTUUID \(b), the plan saw no partition table")
        default: break
        }
        if normalized(planned.pttype) != normalized(now.pttype) { out.append("table type \(now.pttype ?? "none"), the plan saw \(planned.pttype ?? "none")") }
        if planned.partitions.contains(where: { $0.startSector != nil }), now.partitions.contains(where: { $0.startSector == nil }) {
            return out + ["lsblk shows no 'start' for its partitions: capture 'lsblk -J -b -O' with all columns"]
        }
        var matched = Set<Int>()
        for (i, p) in planned.partitions.enumerated() {
            let at = p.startSector.map { "the partition at sector \($0)" } ?? "partition \(i + 1)"
            let index = p.startSector.map { s in now.partitions.firstIndex { $0.startSector == s } } ?? (i < now.partitions.count ? i : nil)
            guard let index, !matched.contains(index) else {
                out.append("\(at) (\(p.sizeBytes) bytes) is gone")
                continue
            }
            matched.insert(index)
            let q = now.partitions[index]
            if q.sizeBytes != p.sizeBytes { out.append("\(at) has \(q.sizeBytes) bytes, the plan saw \(p.sizeBytes)") }
            if normalized(q.partitionType) != normalized(p.partitionType) { out.append("\(at) has type \(q.partitionType ?? "none"), the plan saw \(p.partitionType ?? "none")") }
            if let a = normalized(p.partitionUUID), let b = normalized(q.partitionUUID), a != b { out.append("\(at) has PARTUUID \(b), the plan saw \(a)") }
        }
        for (index, q) in now.partitions.enumerated() where !matched.contains(index) {
            out.append("a new partition at sector \(q.startSector.map(String.init) ?? "unknown") (\(q.sizeBytes) bytes)")
        }
        return out
    }

    // MARK: Rule 5

    func inUse(_ disk: DiskTarget, _ device: BlockDevice) -> DiskGateFinding {
        let here = "\(disk.byId) (\(device.kernelName))"
        var uses: [String] = []
        var undo: [String] = []
        var seen = Set<String>()
        for d in [device] + device.allDescendants {
            for point in d.mountpoints where seen.insert("\(d.kernelName)\t\(point)").inserted {
                if point == "[SWAP]" {
                    uses.append("\(label(d)) is in use as swap")
                    undo.append("swapoff \(d.path ?? "/dev/" + d.kernelName)")
                } else {
                    uses.append("\(label(d)) is mounted at \(point)")
                    undo.append("umount \(point)")
                }
            }
        }
        guard uses.isEmpty else {
            return DiskGateFinding(rule: .nothingInUse, disk: disk.byId, kernelName: device.kernelName, outcome: .fail,
                message: "on \(here), \(uses.joined(separator: "; ")): disko would wipe what is in use. Stop using it (\(undo.joined(separator: "; "))), capture lsblk again and check again.")
        }
        return DiskGateFinding(rule: .nothingInUse, disk: disk.byId, kernelName: device.kernelName, outcome: .pass,
                               message: "nothing on \(here) is mounted or used as swap")
    }

    // MARK: Names

    /// `sdb (/dev/disk/by-id/ata-…)`: the kernel name with its most descriptive whole-device link.
    func name(_ kernelName: String) -> String {
        let own = links.filter { $0.target == kernelName && $0.name.range(of: "-part[0-9]+$", options: .regularExpression) == nil }
        func rank(_ link: DiskIDLink) -> Int { link.name.hasPrefix("wwn-") || link.name.hasPrefix("nvme-eui.") || link.name.hasPrefix("nvme-nvme.") ? 1 : 0 }
        guard let best = own.min(by: { (rank($0), $0.name) < (rank($1), $1.name) }) else { return "\(kernelName) (no /dev/disk/by-id link)" }
        return "\(kernelName) (\(best.byID))"
    }

    /// `pve-root (dm-1)` for device-mapper devices, the kernel name otherwise.
    func label(_ device: BlockDevice) -> String {
        device.name == device.kernelName ? device.name : "\(device.name) (\(device.kernelName))"
    }

    // MARK: Identity

    /// Whether `device` carries `disk`'s identity: the WWN decides when both have one; otherwise the
    /// same model and serial cannot be told apart. A disk without serial and WWN matches nothing.
    static func sameDisk(_ disk: DiskTarget, _ device: BlockDevice) -> Bool {
        if let a = normalized(disk.wwn), let b = normalized(device.wwn) { return a == b }
        guard let a = normalized(disk.serial, lowercased: false), let b = normalized(device.serial, lowercased: false) else { return false }
        return a == b && normalized(disk.model) == normalized(device.model)
    }

    static func normalized(_ text: String?, lowercased: Bool = true) -> String? {
        guard let trimmed = text?.trimmingWhitespace(), !trimmed.isEmpty else { return nil }
        return lowercased ? trimmed.lowercased() : trimmed
    }
}
