import PVE2NixCore

/// Why a drain stopped. Each says what happened, where things stand and what to do.
public enum DrainError: Error, Sendable, Equatable, CustomStringConvertible {
    case quorumLost
    case targetOffline(VMID, NodeName)
    case guestMissing(VMID)
    case guestElsewhere(VMID, NodeName)
    case locked(VMID, String)
    case taskFailed(VMID, upid: String, exitStatus: String)
    case taskTimedOut(VMID, upid: String)
    case notOnTarget(VMID, NodeName)
    case stateChanged(VMID, expected: String, found: String)
    case unexpectedAnswer(String)
    case archiveMissing(VMID, storage: String, upid: String)
    case archiveMismatch(VMID, archive: String, found: String)
    case vmidTaken(VMID, copy: VMID)
    case copyMissing(VMID, copy: VMID, NodeName)
    case haMovedBack(VMID, from: NodeName, to: NodeName)
    case markedByAnother(NodeName, marker: String)

    public var description: String {
        switch self {
        case .quorumLost: "the cluster has lost quorum: nothing more is moved. Restore quorum, then run the drain again; it resumes from the journal."
        case .targetOffline(let id, let n): "\(id)'s target \(n) is offline: nothing more is moved. Bring \(n) back or re-plan, then run the drain again."
        case .guestMissing(let id): "guest \(id) is no longer in the cluster's resource list: the drain stops so a person can look."
        case .guestElsewhere(let id, let n): "guest \(id) is on \(n), which the plan did not expect: someone else moved it. Re-plan."
        case .locked(let id, let l): "guest \(id) is locked (\(l)); it was not moved. Wait for the lock to clear, then run the drain again."
        case .taskFailed(let id, let upid, let s): "a task for \(id) failed: \(upid) ended with '\(s)'. The journal records the failure; nothing after it was done."
        case .taskTimedOut(let id, let upid): "task \(upid) for \(id) did not finish in time; it may still be running. Run the drain again to keep waiting for it (it is never started twice)."
        case .notOnTarget(let id, let n): "guest \(id) did not show up on \(n) in time (HA may still be moving it). Run the drain again to keep waiting."
        case .stateChanged(let id, let e, let f): "guest \(id) was expected \(e) and is \(f): check it."
        case .unexpectedAnswer(let s): "the API answered something unexpected: \(s)"
        case .archiveMissing(let id, let s, let upid): "the backup of \(id) (task \(upid)) ended, but storage '\(s)' lists no new archive of it. The original was not touched; check the task log, then run the drain again."
        case .archiveMismatch(let id, let a, let f): "the archive \(a) does not hold guest \(id)'s config (it names '\(f)'). Nothing was restored or removed; check the archive."
        case .vmidTaken(let id, let copy): "restoring \(id) under the free VMID \(copy) failed: someone took \(copy) meanwhile. The original is untouched; run the drain again to pick another id."
        case .copyMissing(let id, let copy, let n): "the restored copy \(copy) of \(id) is no longer on \(n): the original \(id) is kept. Look at \(n) before running the drain again."
        case .haMovedBack(let id, let from, let to): "HA moved \(id) from \(from) to \(to) after its move: an HA rule or group still prefers \(to). Check 'ha-manager rules config' (or the groups), then run the drain again; it moves the guest again."
        case .markedByAnother(let n, let marker): "another pve2nix is draining \(n): the node's notes say '\(marker)'. Nothing was moved. If that run is really gone (its machine died), delete that line from \(n)'s notes (Datacenter → \(n) → Notes), then run the drain again."
        }
    }
}
