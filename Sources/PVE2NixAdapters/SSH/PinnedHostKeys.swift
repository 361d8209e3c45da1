import Foundation
import PVE2NixCore
import PVE2NixRuntime
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The site's pinned SSH host keys: a known_hosts file that pve2nix alone writes (never the
/// user's own), holding one ed25519 key per `host` / `[host]:port`. `OpenSSHShell` hands it to
/// ssh as `UserKnownHostsFile` with strict checking.
public struct PinnedHostKeys: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The file's entries; none when it does not exist yet.
    public func entries() throws -> [KnownHostsEntry] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PinnedHostKeysError.cannotRead(path: path, reason: error.localizedDescription)
        }
        let parsed = KnownHostsEntry.parseFile(text, file: path)
        if let first = parsed.errors.first { throw first }
        return parsed.entries
    }

    /// The pinned ed25519 key of `host` on `port`, if any.
    public func key(host: String, port: Int) throws -> SSHPublicKey? {
        try entries().first { $0.marker == nil && $0.key.isEd25519 && $0.matches(host: host.lowercased(), port: port) }?.key
    }

    /// The fingerprint of the key pinned for `target`, if any.
    public func fingerprint(for target: SSHTarget) throws -> HostKeyFingerprint? {
        try key(host: target.host, port: target.port)?.fingerprint
    }

    /// Pins `key` for `host` on `port`, replacing any earlier pin of that name; the file is
    /// rewritten atomically with mode 0600.
    public func pin(host: String, port: Int, key: SSHPublicKey) throws {
        guard key.isEd25519 else { throw SSHParseError.notEd25519(found: key.algorithm) }
        // Only a file pve2nix wrote is rewritten: never the user's own known_hosts.
        if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty, !text.hasPrefix(Self.header) {
            throw PinnedHostKeysError.notOurs(path: path)
        }
        // Every entry that matches the host goes (hashed or pattern entries too): ssh would trust
        // any key that matches, so a stale one must not stay beside the new pin.
        var lines = try entries().filter { !$0.matches(host: host.lowercased(), port: port) }.map(\.line)
        lines.append(KnownHostsEntry.line(host: host.lowercased(), port: port, key: key))
        try writeAtomically(Data(([Self.header] + lines).joined(separator: "\n").appending("\n").utf8))
    }

    /// Replaces the pin of `host` on `port` on purpose (install path B: the Proxmox key → the
    /// installer's → the installed system's), but only while `replacing` is what is pinned (nil:
    /// nothing); when `key` is pinned already it does nothing, so a resumed run can repeat it.
    public func repin(host: String, port: Int, to key: SSHPublicKey, replacing: HostKeyFingerprint?) throws {
        let now = try self.key(host: host, port: port)
        if now == key { return }
        guard now?.fingerprint == replacing else {
            throw PinnedHostKeysError.pinChanged(path: path, host: host, expected: replacing, found: now?.fingerprint)
        }
        try pin(host: host, port: port, key: key)
    }

    /// The first line of a file pve2nix writes; a file without it is not rewritten.
    public static let header = "# pve2nix: pinned SSH host keys of one site (ed25519). Written by pve2nix; edit with care."

    /// Writes a temporary file beside `path` (0600 from its creation), syncs it, renames it over.
    private func writeAtomically(_ data: Data) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        func fail(_ what: String) -> PinnedHostKeysError {
            .cannotWrite(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw PinnedHostKeysError.cannotWrite(path: path, reason: error.localizedDescription)
        }
        let temporary = "\(directory)/.\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("cannot create \(temporary)") }
        var ok = data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let error = fail("cannot write \(temporary)")
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ok ? fail("cannot rename \(temporary)") : error
        }
    }
}

/// Why the pinned host-key file could not be read or written.
public enum PinnedHostKeysError: LocalizedError, Sendable, Equatable {
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case notOurs(path: String)
    case pinChanged(path: String, host: String, expected: HostKeyFingerprint?, found: HostKeyFingerprint?)

    public var errorDescription: String? {
        switch self {
        case .cannotRead(let path, let reason):
            "cannot read the pinned host keys \(path): \(reason). No connection was made; check the file's permissions."
        case .notOurs(let path):
            "\(path) is not a file of pins pve2nix wrote (it lacks pve2nix's first line), so it is left as it is and no key was pinned. Give --known-hosts a file of pve2nix's own (or none, for the default)."
        case .pinChanged(let path, let host, let expected, let found):
            "the pin of \(host) in \(path) is \(found?.description ?? "missing"), not \(expected?.description ?? "missing") as this run left it: someone re-pinned it meanwhile. pve2nix replaced nothing; check the pins ('ssh-keygen -lf \(path)') and run again."
        case .cannotWrite(let path, let reason):
            "cannot write the pinned host keys \(path): \(reason). The file is unchanged (no key was pinned); check the directory's permissions and free space, then run again."
        }
    }
}

extension PinnedHostKeys: HostKeyPinning {
    public func repin(_ target: SSHTarget, to key: SSHPublicKey, replacing: HostKeyFingerprint?) throws {
        try repin(host: target.host, port: target.port, to: key, replacing: replacing)
    }
}
