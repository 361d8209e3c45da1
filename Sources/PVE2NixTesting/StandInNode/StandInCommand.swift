import Foundation

/// The host programs the stand-in node needs, each run with a time bound.
enum StandInCommand {
    static let qemu = "/usr/bin/qemu-system-x86_64"
    static let qemuImg = "/usr/bin/qemu-img"
    static let sshKeygen = "/usr/bin/ssh-keygen"
    static let sshKeyscan = "/usr/bin/ssh-keyscan"
    static let timeout = "/usr/bin/timeout"

    /// Runs `path` to completion within `timeout` seconds; throws unless it exits 0. Returns stdout.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], timeout: TimeInterval = 120) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: path) else { throw StandInError.missingTool(path) }
        let result = try ProcessOutput.capture(URL(fileURLWithPath: path), arguments, timeout: timeout)
        guard result.status == 0 else {
            throw StandInError.commandFailed(([path] + arguments).joined(separator: " "), status: result.status, output: result.out + result.err)
        }
        return result.out
    }

    /// `text` as one `sh` word, in single quotes.
    static func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StandInError.commandFailed("socket()", status: errno, output: "") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw StandInError.commandFailed("bind(127.0.0.1:0)", status: errno, output: "") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// An exclusive `flock` on a file, waited for with a bound.
struct StandInFileLock {
    private let fd: Int32

    init(_ url: URL, timeout: TimeInterval) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(url.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StandInError.commandFailed("open(\(url.path))", status: errno, output: "") }
        let deadline = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard Date() < deadline else { close(fd); throw StandInError.lockTimedOut(url.path) }
            Thread.sleep(forTimeInterval: 1)
        }
        self.fd = fd
    }

    func release() { flock(fd, LOCK_UN); close(fd) }
}

/// An ed25519 key pair made with `ssh-keygen`, for the stand-in's host key or a client's key.
public struct SSHKeyPair: Sendable {
    public let privateKey: URL
    public var publicKeyFile: URL { URL(fileURLWithPath: privateKey.path + ".pub") }
    /// The `.pub` line: `ssh-ed25519 AAAA… comment`.
    public let publicKey: String
    /// `SHA256:…`, as `ssh -v` and `ssh-keygen -l` print it.
    public let fingerprint: String

    public static func generate(at privateKey: URL, comment: String) throws -> SSHKeyPair {
        try? FileManager.default.removeItem(at: privateKey)
        try? FileManager.default.removeItem(atPath: privateKey.path + ".pub")
        try StandInCommand.run(StandInCommand.sshKeygen, ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", privateKey.path])
        return try load(privateKey)
    }

    /// An existing key pair (`privateKey` and `privateKey.pub`).
    public static func load(_ privateKey: URL) throws -> SSHKeyPair {
        let pub = try String(contentsOfFile: privateKey.path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let listed = try StandInCommand.run(StandInCommand.sshKeygen, ["-l", "-E", "sha256", "-f", privateKey.path + ".pub"])
        let fingerprint = listed.split(separator: " ").dropFirst().first.map(String.init) ?? ""
        return SSHKeyPair(privateKey: privateKey, publicKey: pub, fingerprint: fingerprint)
    }
}
