import Foundation
import PVE2NixCore

/// Why an install stopped. Each message says what state the node is in and what to do next.
public enum InstallError: LocalizedError, Sendable, Equatable {
    case pathNotSupported(InstallPath)
    case checkNotPassed(String)
    case notThisNode(host: String, hostname: String, node: String)
    case authorizedKeys2IsLink(String)
    case buildFailed(output: String, detail: String)
    case phaseFailed(phase: String, detail: String, state: String)
    case installerNotReached(host: String, waited: Duration, detail: String)
    case gateRefused(String)
    case notConfirmed
    case diskNeitherPlannedNorLaidOut(String)
    case installTargetNotMounted
    case installNotVerified(expected: String, found: String)
    case bootNotReached(host: String, waited: Duration, detail: String)
    case installKeyDoesNotLogIn(String)
    case wipeStillRunning(String)
    case treeNotThePlans(String)
    case hardwareReportMissing(String)
    case bootedOther(expected: String, found: String)
    case bootImageNotSetUp
    case imageNotBooted(host: String, waited: Duration, image: String)
    case installerKeyChanged(image: String, path: String)
    case installedHostKeyUnreadable(String)
    case clanNotSetUp

    public var errorDescription: String? {
        switch self {
        case .pathNotSupported(let path):
            "this command carries out install paths A, B and C; the plan's path is \(path.title). Plan one of them in site.toml."
        case .checkNotPassed(let detail):
            "the node's checks have not all passed for this plan (\(detail)). Run 'pve2nix check' first; nothing was done."
        case .notThisNode(let host, let hostname, let node):
            "\(host) says its name is '\(hostname)', not \(node): nothing was done. Check the address (--ssh) and the plan."
        case .authorizedKeys2IsLink(let path):
            "\(path) on the node is a symbolic link: pve2nix will not write its install key through it (on Proxmox that could reach every node). Nothing was done; remove the link or make it a plain file."
        case .buildFailed(let output, let detail):
            "building \(output) failed: \(detail). Nothing on the node was changed by this step; fix the generated configuration (or the Nix setup) and run again."
        case .phaseFailed(let phase, let detail, let state):
            "nixos-anywhere's \(phase) phase failed: \(detail). \(state) The full log is kept; run again to resume from this phase."
        case .installerNotReached(let host, let waited, let detail):
            "the installer did not answer at \(host) with the pinned host key within \(waited.seconds) s (\(detail)). Nothing was wiped. Look at the node's console (noVNC from a peer); if it booted back into Proxmox, run again; if it hangs, power-cycle it: the disks are untouched."
        case .gateRefused(let detail):
            "the disk-identity gate refused right before the wipe: \(detail). Nothing was wiped; the node runs the installer. Re-plan against a fresh capture, or reboot it into Proxmox ('pve2nix rollback')."
        case .notConfirmed:
            "not confirmed: nothing was wiped. The node runs the installer; run again to continue, or reboot it into Proxmox."
        case .diskNeitherPlannedNorLaidOut(let detail):
            "the journal says the wipe was started, but the disk is neither as planned nor laid out by disko (\(detail)). pve2nix will not guess: look at the disk in the installer (lsblk), then re-plan."
        case .installTargetNotMounted:
            "the disk was laid out by disko but /mnt is not mounted in the installer (it restarted since). Mount it with the disko mount script, or run disko again after re-planning; nothing was changed."
        case .installNotVerified(let expected, let found):
            "nixos-anywhere's install phase ended, but /mnt's system profile is '\(found)', not the built \(expected). Nothing was rebooted; look at the installer's /mnt and run again."
        case .wipeStillRunning(let script):
            "the disko script \(script) of an earlier, interrupted run still runs on the node: pve2nix will not start a second wipe beside it. Wait for it to end (or stop it in the installer), then run again."
        case .installKeyDoesNotLogIn(let host):
            "pve2nix's install key does not log in to \(host) on its own (is authorized_keys2 read by its sshd? see AuthorizedKeysFile in sshd_config). Nothing was run: nixos-anywhere's ssh-copy-id would otherwise append a key to root's authorized_keys, which on Proxmox is every node's."
        case .treeNotThePlans(let detail):
            "the generated tree does not wipe what the plan names (\(detail)). Nothing was wiped; generate the tree again from this plan ('pve2nix generate'), check, then install."
        case .hardwareReportMissing(let path):
            "nixos-facter wrote no report at \(path). Nothing was wiped; the node runs the installer. Run again, or write it there by hand (nixos-facter in the installer)."
        case .bootedOther(let expected, let found):
            "the node answers as an installed system, but /run/booted-system is \(found), not the built \(expected). Look at it ('pve2nix validate'); nothing more was done."
        case .bootImageNotSetUp:
            "install path B needs the installer's host key and the site's pins; nothing was done (a pve2nix bug: report it)."
        case .imageNotBooted(let host, let waited, let image):
            "the installer booted from the image did not answer at \(host) with its pinned key within \(waited.seconds) s. Nothing was wiped. At the rack: write \(image) to a USB stick (never a disk of the node), boot the node from it once (one-time boot menu) and check on its console that it reached a login prompt and holds its address ('ip -br a'). Then run 'pve2nix install' again: the image is kept and nothing is rebuilt. To give up instead, take the stick out and reboot: Proxmox boots again; pin its key again with 'pve2nix capture --host-key-fingerprint'."
        case .installerKeyChanged(let image, let path):
            "the installer image \(image) was built with another host key than \(path) holds now (was the file replaced?). pve2nix pins only the key it built in; nothing was done. Restore the key file, or start again with --new-run (a new image with a new key)."
        case .installedHostKeyUnreadable(let detail):
            "the installed system's host key could not be read in the installer (\(detail)). The system is installed; nothing was rebooted. Look at /mnt/etc/ssh in the installer and run again."
        case .clanNotSetUp:
            "install path C needs the site's pins for the installed system's new host key; nothing more was done (a pve2nix bug: report it)."
        case .bootNotReached(let host, let waited, let detail):
            "the installed system did not answer at \(host) within \(waited.seconds) s (\(detail)). Look at the node's console; 'pve2nix validate' checks it once it answers."
        }
    }
}

extension Duration {
    /// Whole seconds, for messages.
    var seconds: Int64 { components.seconds }
}
