import Foundation
import PVE2NixCore

/// Why removing a node from its cluster stopped. Each message says what state things are in and
/// what to do; the journal keeps what was done, and running the same command again resumes.
public enum ClusterRemovalError: LocalizedError, Sendable, Equatable {
    case refused(NodeName, [String])
    case noPeer(NodeName, online: [NodeName], preferred: NodeName?)
    case replicationStuck(id: String, mark: String?, source: NodeName?, waited: Int)
    case delnodeFailed(NodeName, String)
    case delnodeNeedsRoot(NodeName, String)
    case delnodeUnverified(NodeName, waited: Int)
    case nodeOnline(NodeName)
    case quorumLost(String)
    case oddNodeName(NodeName)
    case guestConfigsLeft(NodeName, [String])
    case peerCommandFailed(peer: String, command: String, status: Int32, detail: String)
    case peerWriteUnverified(peer: String, path: String)

    public var errorDescription: String? {
        switch self {
        case .refused(let node, let why):
            "\(node) was not removed from the cluster; nothing was changed:\n" + why.map { "  - " + $0 }.joined(separator: "\n")
        case .noPeer(let node, let online, let preferred):
            if let preferred, !online.contains(preferred) {
                "the peer \(preferred) is not an online member of the cluster (online: \(online.map(\.rawValue).joined(separator: ", "))): give --ssh-peer of one of those. \(node) was not removed."
            } else {
                "no online peer of \(node) to act from (online: \(online.map(\.rawValue).joined(separator: ", "))). \(node) was not removed."
            }
        case .replicationStuck(let id, let mark, let source, let waited):
            "replication job \(id) is still there after \(waited) s (remove_job=\(mark ?? "unset")): the replication runner on \(source?.rawValue ?? "its source node") has not removed it. Look at 'pvesr status' there. If its cleanup cannot finish and you accept leftover replication snapshots, run again with --force-replication-removal (drops the entry without cleanup). The node is still in the cluster; running again resumes here."
        case .delnodeFailed(let node, let detail):
            "DELETE /cluster/config/nodes/\(node) failed: \(detail). The node may still be in the cluster; run again: pve2nix checks the nodelist first and never deletes it twice."
        case .delnodeNeedsRoot(let node, let detail):
            "DELETE /cluster/config/nodes/\(node) was refused (\(detail)): it is root@pam only and API tokens never pass. Set PVE2NIX_USER=root@pam and PVE2NIX_PASSWORD_FILE, then run again. \(node) is still in the cluster."
        case .delnodeUnverified(let node, let waited):
            "after delnode, GET /cluster/config/nodes still lists \(node) after \(waited) s. Check 'pvecm nodes' on a peer, then run again."
        case .nodeOnline(let node):
            "\(node) came online in the cluster right before delnode: it was not deleted. Make sure it is powered off or in the installer, then run again."
        case .quorumLost(let when):
            "the cluster has no quorum \(when): /etc/pve is read-only without it. Bring the peers back, then run again to finish."
        case .oddNodeName(let node):
            "'\(node)' is not a Proxmox node name (letters, digits and inner '-' only): pve2nix does not build /etc/pve paths from it. Nothing was removed on the peer."
        case .guestConfigsLeft(let node, let files):
            "/etc/pve/nodes/\(node) still holds guest configs (\(files.joined(separator: ", "))): removing it would delete those guests. Move or back them up first, then run again."
        case .peerCommandFailed(let peer, let command, let status, let detail):
            "'\(command)' on \(peer) failed with exit status \(status): \(detail). Nothing after it was done; fix the cause, then run again."
        case .peerWriteUnverified(let peer, let path):
            "\(path) on \(peer) does not read back as written. Look at it on \(peer), then run again."
        }
    }
}
