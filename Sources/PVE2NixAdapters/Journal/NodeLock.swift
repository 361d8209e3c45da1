import Foundation

/// One acting command at a time per node (drain, check, install…): an exclusive `flock` on the node's lock file, which the kernel drops
/// when the holder exits, even by SIGKILL, so a crashed run never blocks the next.
public final class NodeLock: Sendable {
    private let fd: Int32
    public let path: String

    public enum LockError: Error, LocalizedError, Sendable {
        case held(String, node: String)
        case cannotOpen(String, String)
        public var errorDescription: String? {
            switch self {
            case .held(let p, let node): "another pve2nix run for \(node) is in progress (it holds \(p)): only one run acts on a node at a time, whatever journal each uses. Wait for it to finish, or stop it; the journal lets the next run resume."
            case .cannotOpen(let p, let why): "cannot create the lock file \(p): \(why). Check that its directory is writable (set XDG_STATE_HOME to use another place)."
            }
        }
    }

    /// Takes the lock at `path`, creating its directory first.
    public init(path: String, node: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LockError.cannotOpen(path, (error as NSError).localizedDescription)
        }
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw LockError.cannotOpen(path, String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw LockError.held(path, node: node)
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// The drain's name for the node lock, from before the lock covered every acting command.
public typealias DrainLock = NodeLock
