import Foundation

/// Which lines of the cluster's `/etc/pve/priv/authorized_keys` and `/etc/pve/priv/known_hosts`
/// belong to a node that leaves: only those are removed, every other line stays byte for byte.
public struct NodeKeyLines: Sendable, Hashable {
    public var node: NodeName
    /// The node's addresses (known_hosts lines naming one belong to the node).
    public var addresses: [String]
    /// The node's host keys (from the capture's `ssh_host_ed25519_key.pub`).
    public var hostKeys: [SSHPublicKey]
    /// Keys to remove from authorized_keys whatever their comment (pve2nix's install key).
    public var extraKeys: [SSHPublicKey]

    public init(node: NodeName, addresses: [String] = [], hostKeys: [SSHPublicKey] = [], extraKeys: [SSHPublicKey] = []) {
        self.node = node
        self.addresses = addresses
        self.hostKeys = hostKeys
        self.extraKeys = extraKeys
    }

    /// The text without the node's lines, and the lines removed.
    public struct Edit: Sendable, Hashable {
        public var text: String
        public var removed: [String]
        public var changed: Bool { !removed.isEmpty }
    }

    /// authorized_keys: a line whose comment is exactly `root@<node>` (how pvecm adds a node's root
    /// key), or whose key is one of `extraKeys`. Options before the key are allowed.
    public func authorizedKeys(_ text: String) -> Edit {
        edit(text) { line in
            let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let at = fields.firstIndex(where: { Self.keyTypes.contains($0) }), at + 1 < fields.count else { return false }
            if fields.dropFirst(at + 2).joined(separator: " ") == "root@\(node)" { return true }
            guard let key = try? SSHPublicKey(parsing: fields[at...].joined(separator: " ")) else { return false }
            return extraKeys.contains(key)
        }
    }

    /// known_hosts: a line that names the node (by name or address, hashed or not) or carries one of
    /// its host keys.
    public func knownHosts(_ text: String) -> Edit {
        edit(text) { line in
            guard let entry = try? KnownHostsEntry(parsing: line) else { return false }
            if hostKeys.contains(entry.key) { return true }
            let names = [node.rawValue.lowercased()] + addresses.map { $0.lowercased() }
            switch entry.hosts {
            // Exact names only: a wildcard line is nobody's in particular and stays.
            case .names(let hosts): return hosts.contains { host in names.contains(host) || names.contains { host.hasPrefix("[\($0)]:") } }
            case .hashed: return names.contains { entry.matches(host: $0, port: 22) }
            }
        }
    }

    static let keyTypes: Set<String> = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                                        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss"]

    func edit(_ text: String, belongs: (String) -> Bool) -> Edit {
        var kept: [Substring] = [], removed: [String] = []
        // Split keeping empty pieces, so that blank lines and the final newline survive as they were.
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty, !trimmed.hasPrefix("#"), belongs(trimmed) { removed.append(String(line)) } else { kept.append(line) }
        }
        return Edit(text: kept.joined(separator: "\n"), removed: removed)
    }
}
