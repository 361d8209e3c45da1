import Foundation
import PVE2NixCore
import PVE2NixRuntime
import Synchronization

/// A host in memory behind `RemoteShell`: files, answers to commands, a boot id and disks (as
/// `lsblk -J -b -O` and `ls -l /dev/disk/by-id` texts). Records every command it was asked to run,
/// so a test can prove that a read-only step wrote nothing.
public final class FakeHost: RemoteShell, Sendable {
    public struct State: Sendable {
        public var files: [String: Data] = [:]
        /// Symbolic links: path → target.
        public var links: [String: String] = [:]
        /// Exact command → answer; checked before the built-in commands.
        public var answers: [String: RemoteCommandResult] = [:]
        public var bootID = UUID().uuidString.lowercased()
        public var lsblk = "{\"blockdevices\": []}"
        public var diskByID = "total 0\n"
        public var commands: [String] = []
        public var writes: [String] = []
        /// When set, every command fails as SSH would with this error.
        public var failure: RemoteShellError?

        public init() {}
    }

    public let target: SSHTarget
    public let state: Mutex<State>

    public init(target: SSHTarget = SSHTarget(user: "root", host: "fake-node"), state: State = State()) {
        self.target = target
        self.state = Mutex(state)
    }

    public func run(_ command: String, timeout: Duration) async throws -> RemoteCommandResult {
        try state.withLock { s in
            s.commands.append(command)
            if let failure = s.failure { throw failure }
            if let answer = s.answers[command] { return answer }
            return Self.builtIn(command, s)
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

    /// The handful of read-only commands pve2nix runs, answered from the state.
    static func builtIn(_ command: String, _ s: State) -> RemoteCommandResult {
        func ok(_ text: String) -> RemoteCommandResult { RemoteCommandResult(status: 0, standardOutput: Data(text.utf8)) }
        let missing = RemoteCommandResult(status: 1, standardError: Data("No such file or directory\n".utf8))
        switch command {
        case "lsblk -J -b -O": return ok(s.lsblk)
        case "ls -l /dev/disk/by-id": return ok(s.diskByID)
        case "cat /proc/sys/kernel/random/boot_id": return ok(s.bootID + "\n")
        case "hostid": return ok(s.files["/etc/hostid.txt"].map { String(decoding: $0, as: UTF8.self) } ?? "00000000\n")
        default: break
        }
        if command.hasPrefix("readlink ") {
            let path = String(command.dropFirst("readlink ".count).prefix { $0 != " " })
            return s.links[path].map { ok($0 + "\n") } ?? RemoteCommandResult(status: 0)
        }
        if command.hasPrefix("cat ") {
            let path = unquote(String(command.dropFirst(4)))
            return s.files[path].map { RemoteCommandResult(status: 0, standardOutput: $0) } ?? missing
        }
        return RemoteCommandResult(status: 127, standardError: Data("fake host: no answer for '\(command)'\n".utf8))
    }

    static func unquote(_ word: String) -> String {
        word.hasPrefix("'") && word.hasSuffix("'") && word.count >= 2 ? String(word.dropFirst().dropLast()) : word
    }
}
