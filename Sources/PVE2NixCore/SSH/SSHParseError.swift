import Foundation

/// Why an SSH target, public key or known_hosts line was refused. Nothing was connected to or written.
public enum SSHParseError: LocalizedError, Sendable, Equatable {
    case badTarget(String, reason: String)
    case badPublicKey(String, reason: String)
    case badKnownHostsLine(file: String, line: Int, reason: String)
    case notEd25519(found: String)

    public var errorDescription: String? {
        switch self {
        case .badTarget(let spec, let reason):
            "'\(spec)' is not an SSH target: \(reason). Nothing was connected to. Write it as [USER@]HOST[:PORT], e.g. root@pve1:22 or root@[fd00::1]:2222."
        case .badPublicKey(let text, let reason):
            "not an OpenSSH public key (\(reason)): '\(text.prefix(80))'. Nothing was pinned. Give the line as ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub prints it: 'ssh-ed25519 AAAA… comment'."
        case .badKnownHostsLine(let file, let line, let reason):
            "\(file):\(line): not a known_hosts line (\(reason)). The file was not changed; fix or delete that line."
        case .notEd25519(let found):
            "the key is \(found), but pve2nix pins only ssh-ed25519 host keys (every Proxmox VE and NixOS host has one). Nothing was pinned; give the host's ed25519 key."
        }
    }
}
