/// Rule 6: disko destroys a whole ZFS pool or LVM volume group with a member on a wiped disk, and a
/// wiped md or btrfs member breaks the rest, so none may reach a disk outside the plan.
extension DiskWorld {
    /// One device on a disk that belongs to a pool, volume group, array or multi-device filesystem.
    struct Membership {
        var what: String
        /// What ties members of one group together across disks: pool GUID and name, VG name, array UUID.
        var keys: Set<String>
        var member: BlockDevice
        var disko: String
        /// An LVM PV whose logical volumes are not active: lsblk cannot say which VG it is in.
        var isUnknownPV: Bool { keys == [Self.unknownPV] }

        static let unknownPV = "lvm-pv-without-active-lvs"
    }

    func groups(of disk: DiskTarget, _ device: BlockDevice, plannedNow: Set<String>) -> DiskGateFinding {
        let here = "\(disk.byId) (\(device.kernelName))"
        let own = Self.memberships(of: device)
        let others = devices.filter { !plannedNow.contains($0.kernelName) }.map { ($0, Self.memberships(of: $0)) }
        var problems: [String] = []
        for m in own where !m.isUnknownPV {
            let reached = others.filter { _, theirs in theirs.contains { !$0.keys.isDisjoint(with: m.keys) } }
            guard !reached.isEmpty else { continue }
            let places = reached.map { other, theirs in
                let members = theirs.filter { !$0.keys.isDisjoint(with: m.keys) }.map { label($0.member) }
                return "\(Set(members).sorted().joined(separator: ", ")) on \(name(other.kernelName))"
            }
            problems.append("the \(m.what) (\(label(m.member)) on this disk) also has members \(places.joined(separator: " and ")), which the plan does not install on: disko runs '\(m.disko)' on the whole group")
        }
        if !problems.isEmpty {
            problems[problems.count - 1] += ". Take those members out first (pvmove and vgreduce, zpool detach, mdadm --remove, btrfs device remove), or plan those disks too, then check again"
        }
        // An inactive PV can belong to any volume group: refuse when another disk has one it could share.
        let lvmHere = own.filter { $0.keys.contains { $0.hasPrefix("lvm") } }
        let lvmElsewhere = others.filter { _, theirs in theirs.contains { $0.keys.contains { $0.hasPrefix("lvm") } } }
        if !lvmElsewhere.isEmpty, lvmHere.contains(where: \.isUnknownPV) || lvmElsewhere.contains(where: { $0.1.contains(where: \.isUnknownPV) }) {
            let pvs = lvmElsewhere.map { other, theirs in "\(theirs.filter { $0.keys.contains { $0.hasPrefix("lvm") } }.map { label($0.member) }.joined(separator: ", ")) on \(name(other.kernelName))" }
            problems.append("lsblk cannot tell whether the LVM PVs \(lvmHere.map { label($0.member) }.joined(separator: ", ")) on this disk share a volume group with \(pvs.joined(separator: " and ")), because some show no active logical volumes. Activate them ('vgchange -ay') or compare 'pvs -o pv_name,vg_name', capture lsblk again and check again")
        }
        guard problems.isEmpty else {
            return DiskGateFinding(rule: .groupsStayOnPlannedDisks, disk: disk.byId, kernelName: device.kernelName, outcome: .fail,
                message: "on \(here), \(problems.joined(separator: "; ")).")
        }
        let found = Set(own.filter { !$0.isUnknownPV }.map(\.what)).sorted()
        var message = found.isEmpty
            ? "no ZFS pool, btrfs filesystem, md array or LVM volume group on \(here) reaches another disk"
            : "\(found.joined(separator: ", ")) on \(here) \(found.count == 1 ? "has" : "have") no member on a disk outside the plan"
        if own.contains(where: \.isUnknownPV) { message += "; its LVM volumes are not active, and no other disk holds an LVM physical volume" }
        return DiskGateFinding(rule: .groupsStayOnPlannedDisks, disk: disk.byId, kernelName: device.kernelName, outcome: .pass, message: message)
    }

    /// The group memberships on a disk at any depth (partition, md, dm-crypt), except inside logical
    /// volumes: a guest's own pool or PV in a VM disk goes with the volume group that holds it.
    static func memberships(of disk: BlockDevice) -> [Membership] {
        var out: [Membership] = []
        var seen = Set<String>()
        for d in [disk] + disk.allDescendants where d.type != "lvm" && seen.insert(d.kernelName).inserted {
            switch d.fstype {
            case "LVM2_member":
                let vgs = Set(d.allDescendants.filter { $0.type == "lvm" }.map { StorageGroup.splitDeviceMapperName($0.name).0 })
                if vgs.isEmpty {
                    out.append(Membership(what: "LVM physical volume", keys: [Membership.unknownPV], member: d, disko: "vgremove -f"))
                }
                for vg in vgs.sorted() {
                    out.append(Membership(what: "LVM volume group '\(vg)'", keys: ["lvm:\(vg)"], member: d, disko: "vgremove -f \(vg)"))
                }
            case "zfs_member":
                // Pools are imported and destroyed by name, so one of the same name elsewhere counts too.
                let keys = Set([d.uuid.map { "zfs-guid:\($0.lowercased())" }, d.label.map { "zfs-name:\($0)" }].compactMap { $0 })
                let pool = d.label ?? d.uuid ?? "unnamed"
                out.append(Membership(what: "ZFS pool '\(pool)'", keys: keys.isEmpty ? ["zfs:\(d.kernelName)"] : keys, member: d, disko: "zpool destroy -f \(pool)"))
            case "linux_raid_member":
                let array = d.children.first { $0.type.hasPrefix("raid") }
                let key = d.uuid?.lowercased() ?? d.label ?? array?.name ?? d.kernelName
                out.append(Membership(what: "md array \(d.label ?? array?.name ?? key)", keys: ["md:\(key)"], member: d, disko: "mdadm --stop"))
            case "btrfs":
                let key = d.uuid?.lowercased() ?? d.label ?? d.kernelName
                out.append(Membership(what: "btrfs filesystem \(d.label.map { "'\($0)'" } ?? key)", keys: ["btrfs:\(key)"], member: d, disko: "wipefs -a on its device here"))
            default:
                break
            }
        }
        return out
    }
}
