import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// First contact with a node: how its ed25519 host key comes to be pinned before pve2nix logs in.
/// In order: a pin already in the site's file; a fingerprint the person gave; the cluster's own
/// `/etc/pve/priv/known_hosts`, read through a peer already pinned; the key the node presents,
/// shown to a person who confirms it against the console.
public struct HostKeyFirstContact: Sendable {
    /// Where the pinned key came from.
    public enum Source: String, Sendable, Codable {
        case pinnedBefore = "pinned before"
        case givenFingerprint = "fingerprint given on the command line"
        case clusterKnownHosts = "the cluster's /etc/pve/priv/known_hosts"
        case confirmedByPerson = "confirmed by a person"
    }

    public let pins: PinnedHostKeys
    public let scanner: HostKeyScanner

    public init(pins: PinnedHostKeys, scanner: HostKeyScanner) {
        self.pins = pins
        self.scanner = scanner
    }

    /// Pins `node`'s key for `target` (unless it already is) and says how. Nothing is pinned when
    /// the key the node presents differs from the one given or from the cluster's record.
    public func establish(node: NodeName, target: SSHTarget, given: HostKeyFingerprint?, peer: (any RemoteShell)?,
                          confirm: @Sendable (HostKeyFingerprint) async -> Bool) async throws -> (HostKeyFingerprint, Source) {
        if let given {
            let presented = try await scanner.scan(target)
            guard presented.fingerprint == given else { throw HostKeyPinError.differsFromGiven(node: node.rawValue, target: target.description, given: given, presented: presented.fingerprint) }
            try pins.pin(host: target.host, port: target.port, key: presented.key)
            return (given, .givenFingerprint)
        }
        if let pinned = try pins.fingerprint(for: target) { return (pinned, .pinnedBefore) }
        if let peer, let known = try? await peer.read(file: "/etc/pve/priv/known_hosts") {
            let entries = KnownHostsEntry.parseFile(String(decoding: known, as: UTF8.self), file: "/etc/pve/priv/known_hosts").entries
            // By the node's name only: an address given by mistake would find another node's entry.
            if let recorded = entries.first(where: { e in e.marker == nil && e.key.isEd25519 && e.matches(host: node.rawValue, port: 22) })?.key {
                let presented = try await scanner.scan(target)
                guard presented.fingerprint == recorded.fingerprint else {
                    throw HostKeyPinError.differsFromCluster(node: node.rawValue, target: target.description, recorded: recorded.fingerprint, presented: presented.fingerprint)
                }
                try pins.pin(host: target.host, port: target.port, key: presented.key)
                return (presented.fingerprint, .clusterKnownHosts)
            }
        }
        let presented = try await scanner.scan(target)
        guard await confirm(presented.fingerprint) else { throw HostKeyPinError.notConfirmed(node: node.rawValue, target: target.description, presented: presented.fingerprint) }
        try pins.pin(host: target.host, port: target.port, key: presented.key)
        return (presented.fingerprint, .confirmedByPerson)
    }
}

/// Why a node's host key was not pinned. Nothing was pinned and nothing was connected to.
public enum HostKeyPinError: Error, LocalizedError, Sendable, Equatable {
    case differsFromGiven(node: String, target: String, given: HostKeyFingerprint, presented: HostKeyFingerprint)
    case differsFromCluster(node: String, target: String, recorded: HostKeyFingerprint, presented: HostKeyFingerprint)
    case notConfirmed(node: String, target: String, presented: HostKeyFingerprint)

    public var errorDescription: String? {
        switch self {
        case .differsFromGiven(let node, let target, let given, let presented):
            "\(target) (\(node)) presents the host key \(presented), not the \(given) you gave. Nothing was pinned or read. Check the fingerprint on \(node)'s console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and the address; someone may be impersonating the node."
        case .differsFromCluster(let node, let target, let recorded, let presented):
            "\(target) presents the host key \(presented), but the cluster's /etc/pve/priv/known_hosts records \(recorded) for \(node). Nothing was pinned or read. Check the address and the key on \(node)'s console; someone may be impersonating the node."
        case .notConfirmed(let node, let target, let presented):
            "the host key of \(target) (\(node)) was not confirmed, so nothing was pinned or read. Compare \(presented) with 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' on \(node)'s console, then run again with --host-key-fingerprint \(node)=SHA256:… as the console shows it."
        }
    }
}
