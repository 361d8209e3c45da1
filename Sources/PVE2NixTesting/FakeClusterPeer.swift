import Foundation
import PVE2NixCore
import PVE2NixRuntime
import Synchronization

/// A cluster peer's `/etc/pve` behind `RemoteShell`: the node directories and the cluster-wide
/// `priv/authorized_keys` and `priv/known_hosts`, as `pvecm delnode` leaves them (it touches none).
/// Answers only the commands node removal runs (`find DIR -mindepth 1`, `rm -rf -- DIR`), reads and
/// atomic writes; anything else exits 127, so a test sees every command that was not expected.
public final class FakeClusterPeer: RemoteShell, Sendable {
    public struct State: Sendable {
        public var files: [String: Data] = [:]
        public var commands: [String] = []
        /// Every write, as "path" (whole-file replacements).
        public var writes: [String] = []
        public var failure: RemoteShellError?
    }

    public let target: SSHTarget
    public let state: Mutex<State>

    public init(target: SSHTarget, files: [String: String]) {
        self.target = target
        var s = State()
        for (path, text) in files { s.files[path] = Data(text.utf8) }
        state = Mutex(s)
    }

    /// `/etc/pve` of a cluster: a directory per node (its config, certificate, guest configs), and
    /// one root key (`root@<node>`) and one host key line per node in the `priv` files.
    public static func seeded(site: Site, target: SSHTarget, guestsOn: [NodeName: [VMID]] = [:]) -> FakeClusterPeer {
        var files: [String: String] = [:]
        var authorized = "", known = ""
        for (i, node) in site.memberNames.enumerated() {
            let dir = "/etc/pve/nodes/\(node)"
            files["\(dir)/pve-ssl.pem"] = "-----BEGIN CERTIFICATE-----\n\(node)\n-----END CERTIFICATE-----\n"
            files["\(dir)/lrm_status"] = "{\"mode\":\"active\"}"
            files["\(dir)/ssh_known_hosts"] = "\(node) \(hostKey(node).keyText)\n"
            for vmid in guestsOn[node] ?? [] { files["\(dir)/qemu-server/\(vmid).conf"] = "memory: 512\n" }
            authorized += "ssh-rsa \(Data("root key of \(node) #\(i)".utf8).base64EncodedString()) root@\(node)\n"
            let ip = site.cluster?.members.first { $0.name == node }?.ip
            known += "\(node) \(hostKey(node).keyText)\n"
            if let ip { known += "\(ip) \(hostKey(node).keyText)\n" }
        }
        files["/etc/pve/priv/authorized_keys"] = "# managed by pve-cluster\n" + authorized
        files["/etc/pve/priv/known_hosts"] = known
        return FakeClusterPeer(target: target, files: files)
    }

    /// A node's ed25519 host key, made up from its name (the same for a name every time).
    public static func hostKey(_ node: NodeName) -> SSHPublicKey {
        var point = [UInt8](repeating: 0, count: 32)
        for (i, b) in node.rawValue.utf8.enumerated() { point[i % 32] ^= b &+ UInt8(i) }
        var blob: [UInt8] = [0, 0, 0, 11] + Array("ssh-ed25519".utf8) + [0, 0, 0, 32]
        blob += point
        return try! SSHPublicKey(parsing: "ssh-ed25519 \(Data(blob).base64EncodedString()) root@\(node)")
    }

    public func text(_ path: String) -> String? { state.withLock { $0.files[path].map { String(decoding: $0, as: UTF8.self) } } }
    public func exists(directory: String) -> Bool { state.withLock { s in s.files.keys.contains { $0.hasPrefix(directory + "/") } } }

    public func run(_ command: String, timeout: Duration) async throws -> RemoteCommandResult {
        try state.withLock { s in
            s.commands.append(command)
            if let failure = s.failure { throw failure }
            let words = Self.words(command)
            if words.count == 4, words[0] == "find", words[2] == "-mindepth", words[3] == "1" {
                let dir = words[1]
                let inside = s.files.keys.filter { $0.hasPrefix(dir + "/") }
                guard !inside.isEmpty else {
                    return RemoteCommandResult(status: 1, standardError: Data("find: '\(dir)': No such file or directory\n".utf8))
                }
                var listed = Set(inside)
                for path in inside {
                    var parent = (path as NSString).deletingLastPathComponent
                    while parent.count > dir.count { listed.insert(parent); parent = (parent as NSString).deletingLastPathComponent }
                }
                return RemoteCommandResult(status: 0, standardOutput: Data(listed.sorted().map { $0 + "\n" }.joined().utf8))
            }
            if words.count == 4, words[0] == "rm", words[1] == "-rf", words[2] == "--" {
                let dir = words[3]
                for path in s.files.keys where path == dir || path.hasPrefix(dir + "/") { s.files[path] = nil }
                return RemoteCommandResult(status: 0)
            }
            return RemoteCommandResult(status: 127, standardError: Data("fake peer: no answer for '\(command)'\n".utf8))
        }
    }

    public func read(file path: String) async throws -> Data {
        try state.withLock { s in
            s.commands.append("read \(path)")
            if let failure = s.failure { throw failure }
            guard let data = s.files[path] else {
                throw RemoteShellError.commandFailed(host: target.description, command: "cat \(path)", status: 1, detail: "No such file or directory")
            }
            return data
        }
    }

    public func write(_ data: Data, to path: String, mode: Int) async throws {
        try state.withLock { s in
            if let failure = s.failure { throw failure }
            s.writes.append(path)
            s.files[path] = data
        }
    }

    public func close() async throws {}

    /// Splits a command the way `sh` would for single-quoted words (all pve2nix sends here).
    static func words(_ command: String) -> [String] {
        var words: [String] = [], current = "", quoted = false, inWord = false
        for c in command {
            if c == "'" { quoted.toggle(); inWord = true; continue }
            if c == " " && !quoted {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(c)
            inWord = true
        }
        if inWord { words.append(current) }
        return words
    }
}
