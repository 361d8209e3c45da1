/// What undoes each stage of a conversion, for the report and a future `rollback` command. Before
/// the wipe the node still boots Proxmox; from the wipe on, going back means reinstalling Proxmox
/// and restoring from the drain's copies.
public struct RollbackGuide: Sendable, Hashable {
    public struct Step: Sendable, Hashable {
        public var stage: RunStage
        /// What the stage changes.
        public var changes: String
        /// How to undo it.
        public var undo: String
        /// Whether the node's Proxmox system is gone once this stage has run.
        public var afterWipe: Bool
    }

    public var steps: [Step]

    /// The stage from which Proxmox is gone: disko partitions the install disk.
    public static let wipeStage = RunStage.disko

    public static let standard = RollbackGuide(steps: RunStage.allCases.map { stage in
        let after = RunStage.allCases.firstIndex(of: stage)! >= RunStage.allCases.firstIndex(of: wipeStage)!
        switch stage {
        case .capture:
            return Step(stage: stage, changes: "nothing: reads the API and the node's files", undo: "nothing to undo", afterWipe: after)
        case .drain:
            return Step(stage: stage, changes: "guests move to the peers (migration, or backup and restore under a new VMID); HA rules are edited",
                        undo: "move the guests back (the journal lists each target and new VMID); restore the HA rules from the journaled before-state", afterWipe: after)
        case .generate:
            return Step(stage: stage, changes: "writes the NixOS configuration locally", undo: "nothing on the node; delete the generated tree", afterWipe: after)
        case .rehearse:
            return Step(stage: stage, changes: "runs a throwaway VM locally", undo: "nothing to undo", afterWipe: after)
        case .check:
            return Step(stage: stage, changes: "nothing: reads the cluster and the node", undo: "nothing to undo", afterWipe: after)
        case .kexec:
            return Step(stage: stage, changes: "the node reboots into the installer in memory (path A) or from the boot image (path B)",
                        undo: "reboot: the disks are untouched, Proxmox boots again; then move the guests back", afterWipe: after)
        case .bootImage:
            return Step(stage: stage, changes: "path B: the installer image is built locally; at the rack the node boots it from a USB stick; its address is pinned to the installer's key",
                        undo: "take the stick out and reboot: the disks are untouched, Proxmox boots again (re-pin its key with 'pve2nix capture --host-key-fingerprint'); then move the guests back", afterWipe: after)
        case .build:
            return Step(stage: stage, changes: "nix builds the disko script and the system locally", undo: "nothing on the node", afterWipe: after)
        case .disko:
            return Step(stage: stage, changes: "the install disk is partitioned: Proxmox, its volume group and every guest disk on it are gone",
                        undo: "reinstall Proxmox, rejoin the cluster, and restore the guests from the drain's copies on the peers and the recorded backups", afterWipe: after)
        case .install:
            return Step(stage: stage, changes: "NixOS is installed on the new partitions", undo: "as for disko: reinstall Proxmox and rejoin, or finish the install", afterWipe: after)
        case .reboot:
            return Step(stage: stage, changes: "the node boots NixOS (a new boot id)", undo: "as for disko: reinstall Proxmox and rejoin; the guests run on the peers meanwhile", afterWipe: after)
        case .validate:
            return Step(stage: stage, changes: "nothing: checks the address, MAC, SSH host key and services", undo: "nothing to undo; a failure here leaves the guests on the peers", afterWipe: after)
        case .clusterRemove:
            return Step(stage: stage, changes: "the node leaves the Proxmox cluster (pvecm delnode)", undo: "reinstall Proxmox on the node and join it again", afterWipe: after)
        case .rollback:
            return Step(stage: stage, changes: "undoes the run: reboots the installer into Proxmox, moves the guests back", undo: "drain again", afterWipe: after)
        case .cutover:
            return Step(stage: stage, changes: "returning guests start on the node as nspawn or Incus containers; their copies on the peers stop",
                        undo: "stop the containers on the node and start the copies on the peers again (they are kept until you remove them)", afterWipe: after)
        }
    })
}
