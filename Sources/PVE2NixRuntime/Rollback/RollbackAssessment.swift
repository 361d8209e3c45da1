import PVE2NixCore

/// For a run's current position, what undoes it: which steps pve2nix carries out and which an
/// operator must. A value, read from the journal alone, so `rollback --dry-run` shows it as is.
public struct RollbackAssessment: Sendable, Hashable, Encodable {
    /// How far the run got, as far as undoing it is concerned.
    public enum Position: String, Sendable, Hashable, Encodable {
        /// Nothing was changed on the cluster or the node.
        case untouched
        /// Guests moved to the peers; the node still runs Proxmox.
        case drained
        /// The node was sent into the installer; its disks are untouched.
        case installer
        /// The wipe started: Proxmox is gone from the node.
        case wiped
    }

    /// A guest to bring back to the node.
    public struct GuestBack: Sendable, Hashable, Encodable {
        public var vmid: VMID
        public var kind: GuestKind
        public var name: String
        /// Where it runs now, and under which VMID.
        public var on: NodeName
        public var nowVMID: VMID
        public var how: String
        /// pve2nix migrates it back itself; otherwise `command` says what to run.
        public var automated: Bool
        public var command: String?
        /// For a guest the drain restored under a new VMID: how pve2nix brings it back under its
        /// old one (nil: it migrates back under the same VMID).
        public var restore: Restore? = nil

        public struct Restore: Sendable, Hashable, Encodable {
            /// Where the copy's archive goes (the storage the drain backed it up to).
            public var backupStorage: String
            /// The storage on the node the guest is restored to.
            public var storage: String
            /// It ran before the drain: it is started again.
            public var start: Bool
        }
    }

    public struct Step: Sendable, Hashable, Encodable {
        public var what: String
        public var automated: Bool
        public var command: String?
    }

    public var node: NodeName
    public var position: Position
    public var summary: String
    public var steps: [Step]
    public var guests: [GuestBack]

    public static func assess(plan: ConversionPlan, entries: [RunEntry]) -> RollbackAssessment {
        let node = plan.node
        let wiped = entries.contains { $0.stage == .disko && ($0.phase == .requested || $0.phase == .done) }
        // Path B's boot-image stage is requested once the image is built: the node is in the installer only once it answered.
        let kexec = entries.contains { ($0.stage == .kexec && ($0.phase == .requested || $0.phase == .done)) || ($0.stage == .bootImage && $0.phase == .done) }
        let guests = guestsBack(plan: plan, entries: entries)
        let position: Position = wiped ? .wiped : kexec ? .installer : guests.isEmpty ? .untouched : .drained
        var steps: [Step] = []
        switch position {
        case .untouched:
            return RollbackAssessment(node: node, position: position, summary: "nothing was changed: there is nothing to undo", steps: [], guests: [])
        case .installer:
            steps.append(Step(what: "reboot \(node) out of the installer: its disks are untouched, so Proxmox boots again; wait for it with its pinned host key and its own name", automated: true, command: "reboot"))
            fallthrough
        case .drained:
            if entries.contains(where: { $0.stage == .bootImage && $0.phase == .requested }) {
                steps.append(Step(what: "pin \(node)'s Proxmox host key again in place of the boot image's installer key (the one the journal says it replaced, from the capture); take the installer stick out of \(node)", automated: true, command: nil))
            }
            steps.append(Step(what: "wait until \(node) is online in the cluster again", automated: true, command: nil))
            for g in guests {
                steps.append(Step(what: "bring \(g.kind.rawValue) \(g.vmid) (\(g.name)) back from \(g.on): \(g.how)", automated: g.automated, command: g.command))
            }
            steps.append(Step(what: "put back any HA rule or group the drain changed: the journal's drain entries (step ha) hold each before → after", automated: false, command: "pve2nix status \(node) --json"))
        case .wiped:
            steps = [
                Step(what: "the guests keep running on the peers: nothing about them needs undoing now", automated: false, command: nil),
                Step(what: "reinstall Proxmox VE on \(node) from its ISO, with the same name and management address (\(plan.network.managementAddress ?? "as before"))", automated: false, command: nil),
                Step(what: "on a peer, remove the old \(node) from the cluster if it is still listed, and its directory", automated: false, command: "pvecm delnode \(node); rm -r /etc/pve/nodes/\(node)"),
                Step(what: "on the reinstalled \(node), join the cluster again", automated: false, command: "pvecm add <peer address>"),
                Step(what: "then bring the guests back as listed below (migrations; restores from the backups that 'check' verified before the wipe)", automated: false, command: nil),
            ] + guests.map { Step(what: "\($0.kind.rawValue) \($0.vmid) (\($0.name)) on \($0.on): \($0.how)", automated: false, command: $0.command) }
        }
        let automated = steps.filter(\.automated).count
        let summary: String = switch position {
        case .untouched: ""
        case .drained: "\(node) still runs Proxmox; \(guests.count) guest\(guests.count == 1 ? "" : "s") moved to the peers. pve2nix can do \(automated) of \(steps.count) steps."
        case .installer: "\(node) was sent into the installer; its disks are untouched. pve2nix can do \(automated) of \(steps.count) steps."
        case .wiped: "the wipe of \(node) started: Proxmox is gone from it. Going back means reinstalling Proxmox and rejoining; pve2nix prints the runbook."
        }
        return RollbackAssessment(node: node, position: position, summary: summary, steps: steps, guests: guests)
    }

    /// Every guest the drain moved, from the drain's journal entries, with how to bring it back.
    static func guestsBack(plan: ConversionPlan, entries: [RunEntry]) -> [GuestBack] {
        var last: [VMID: DrainRecord] = [:]
        for e in entries {
            guard let r = DrainRecord(entry: e), r.vmid.rawValue != 0, r.step != .ha, r.step != .marker else { continue }
            last[r.vmid] = r
        }
        return plan.drain.moves.compactMap { move -> GuestBack? in
            guard let r = last[move.vmid], r.phase == .done, let target = r.target else { return nil }
            let type = move.kind == .qemu ? "qemu" : "lxc"
            if let copy = r.copy {
                let restore = move.kind == .qemu ? "qmrestore" : "pct restore"
                // The archive the drain made names its backup storage; the copy goes back to the storage it was restored to.
                let backupStorage = r.archive.flatMap { $0.split(separator: ":", maxSplits: 1).first.map(String.init) }
                let way = backupStorage.flatMap { b in move.restoreStorage.map { GuestBack.Restore(backupStorage: b, storage: $0, start: move.status == "running" && !move.template) } }
                return GuestBack(vmid: move.vmid, kind: move.kind, name: move.name, on: target, nowVMID: copy,
                                 how: "restored there as \(copy); back up \(copy), restore it on \(plan.node) as \(move.vmid) if that VMID is free, then remove \(copy)",
                                 automated: way != nil && !move.haManaged,
                                 command: "vzdump \(copy) --storage \(backupStorage ?? "<backup storage>") --mode stop on \(target); then on \(plan.node): \(restore) <archive> \(move.vmid) --storage \(move.restoreStorage ?? "<storage>"); then on \(target): \(move.kind == .qemu ? "qm" : "pct") destroy \(copy)",
                                 restore: way)
            }
            // Volumes that went to another storage have no known way back: the operator names it.
            // HA would move a guest straight back while the drain's rule keeps it off the node.
            let automated = move.targetStorage == nil && !move.haManaged
            let online = move.kind == .qemu && move.method == .live
            let sid = "\(move.kind == .qemu ? "vm" : "ct"):\(move.vmid)"
            if move.haManaged {
                return GuestBack(vmid: move.vmid, kind: move.kind, name: move.name, on: target, nowVMID: move.vmid,
                                 how: "HA manages it: put back its HA rule or group as the journal's drain entries show (before → after), then let HA migrate it",
                                 automated: false, command: "ha-manager crm-command migrate \(sid) \(plan.node)")
            }
            return GuestBack(vmid: move.vmid, kind: move.kind, name: move.name, on: target, nowVMID: move.vmid,
                             how: automated ? "migrate it back (\(move.method.rawValue))" : "its local disks went to storage \(move.targetStorage ?? "?") on \(target): migrate it back naming the storage on \(plan.node)",
                             automated: automated,
                             command: "POST /nodes/\(target)/\(type)/\(move.vmid)/migrate target=\(plan.node)\(online ? " online=1" : "")\(move.withLocalDisks ? (move.kind == .qemu ? " with-local-disks=1" : "") : "")\(move.kind == .lxc && move.method == .restart ? " restart=1" : "")\(automated ? "" : " targetstorage=<storage on \(plan.node)>")")
        }
    }
}
