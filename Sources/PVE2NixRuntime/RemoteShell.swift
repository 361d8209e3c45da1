import Foundation
import PVE2NixCore

/// A shell on one remote host: run commands, copy files in and out. The live one is OpenSSH
/// over one multiplexed connection; a fake answers from memory.
public protocol RemoteShell: Sendable {
    /// The host this shell talks to.
    var target: SSHTarget { get }
    /// Runs `command` with the remote user's shell; a non-zero exit is a result, not an error.
    func run(_ command: String, timeout: Duration) async throws -> RemoteCommandResult
    /// The bytes of the remote file at `path`.
    func read(file path: String) async throws -> Data
    /// Replaces the remote file at `path` with `data` and permission bits `mode` (e.g. 0o600),
    /// atomically: a reader sees the old file or the new one, never a part.
    func write(_ data: Data, to path: String, mode: Int) async throws
    /// Ends the connection; the shell is not used after this.
    func close() async throws
}

/// What a remote command printed and how it ended.
public struct RemoteCommandResult: Sendable, Hashable {
    public var status: Int32
    public var standardOutput: Data
    public var standardError: Data

    public init(status: Int32, standardOutput: Data = Data(), standardError: Data = Data()) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    public var standardOutputText: String { String(decoding: standardOutput, as: UTF8.self) }
    public var standardErrorText: String { String(decoding: standardError, as: UTF8.self) }
}

/// Why a remote shell could not do what was asked.
public enum RemoteShellError: LocalizedError, Sendable, Equatable {
    /// The host presented a key other than the pinned one; `presented` is nil when it could not be read.
    case hostKeyChanged(host: String, pinned: HostKeyFingerprint, presented: HostKeyFingerprint?)
    case hostKeyUnknown(host: String)
    case connectionFailed(host: String, detail: String)
    case commandFailed(host: String, command: String, status: Int32, detail: String)
    case keyscanFailed(host: String, detail: String)

    public var errorDescription: String? {
        switch self {
        case .hostKeyChanged(let host, let pinned, let presented):
            """
            \(host) presented a different SSH host key than the one pinned for it, so pve2nix did not connect and changed nothing.
              pinned:    \(pinned)
              presented: \(presented?.rawValue ?? "(could not be read)")
            If \(host) was reinstalled on purpose, read the new key's fingerprint on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and re-pin it with what the console shows: pve2nix capture --ssh NODE=\(host) --host-key-fingerprint NODE=SHA256:… (never copy the presented fingerprint above without checking it).
            Otherwise stop: someone may be impersonating the node.
            """
        case .hostKeyUnknown(let host):
            "no SSH host key is pinned for \(host), so pve2nix did not connect. Pin it first: check the key on the node's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run pve2nix capture --ssh \(host) --host-key-fingerprint SHA256:…."
        case .connectionFailed(let host, let detail):
            "could not reach \(host) over SSH: \(detail). Nothing was run there. Check that the host is up, its address and port, and that your key is authorized (ssh -v shows more), then run again."
        case .commandFailed(let host, let command, let status, let detail):
            "'\(command)' on \(host) failed with exit status \(status): \(detail). Nothing after it was done; fix the cause on \(host), then run again."
        case .keyscanFailed(let host, let detail):
            "could not read \(host)'s ed25519 host key (ssh-keyscan): \(detail). Nothing was pinned. Check that sshd runs there and that the address and port are right."
        }
    }
}
