import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
#if canImport(Glibc)
import Glibc
#endif

/// A real OpenSSH sshd for tests: runs as the current user on a free loopback port, with a
/// throwaway ed25519 host key and a throwaway client key, in a temporary directory.
public final class LocalSSHServer: @unchecked Sendable {
    public static let sshd = "/usr/sbin/sshd"
    /// Whether Debian's openssh-server is installed (scripts/setup installs it).
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: sshd) }

    public let directory: URL
    public let port: Int
    /// The private key whose public half the server authorizes.
    public let clientKey: String
    private let runner = SubprocessRunner(grace: .seconds(2))
    private let lock = NSLock()
    private var task: Task<Void, Never>?
    private var lines: [String] = []

    private init(directory: URL, port: Int) {
        self.directory = directory
        self.port = port
        clientKey = directory.appendingPathComponent("client_ed25519").path
    }

    /// Generates the keys and config, starts sshd and waits (bounded) until it listens.
    public static func start() async throws -> LocalSSHServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-sshd-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = LocalSSHServer(directory: directory, port: try freePort())
        try await server.keygen(server.clientKey)
        try FileManager.default.copyItem(atPath: server.clientKey + ".pub", toPath: server.path("authorized_keys"))
        try await server.keygen(server.path("host_ed25519"))
        try server.writeConfig()
        try await server.launch()
        return server
    }

    /// The target tests connect to: the current user at 127.0.0.1 on the server's port.
    public var target: SSHTarget { SSHTarget(user: Self.userName, host: "127.0.0.1", port: port) }

    /// The host key the server presents now.
    public func hostKey() throws -> SSHPublicKey {
        try SSHPublicKey(parsing: String(contentsOfFile: path("host_ed25519.pub"), encoding: .utf8))
    }

    /// What sshd logged so far (it runs with -e).
    public var log: [String] { lock.withLock { lines } }

    /// Stops sshd and starts it again on the same port, with a new host key when asked: a node
    /// that was reinstalled, or someone impersonating it.
    public func restart(newHostKey: Bool) async throws {
        await stop()
        if newHostKey {
            try FileManager.default.removeItem(atPath: path("host_ed25519"))
            try FileManager.default.removeItem(atPath: path("host_ed25519.pub"))
            try await keygen(path("host_ed25519"))
        }
        try await launch()
    }

    /// Stops sshd (its process group is killed); connections already open end with their clients.
    public func stop() async {
        let running = lock.withLock { () -> Task<Void, Never>? in defer { task = nil }; return task }
        running?.cancel()
        await running?.value
    }

    /// Stops sshd and removes the directory.
    public func shutdown() async {
        await stop()
        try? FileManager.default.removeItem(at: directory)
    }

    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func keygen(_ file: String) async throws {
        _ = try await runner.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "pve2nix-test", "-f", file], timeout: .seconds(30))
    }

    private func writeConfig() throws {
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(path("host_ed25519"))
            AuthorizedKeysFile \(path("authorized_keys"))
            PidFile \(path("sshd.pid"))
            StrictModes no
            UsePAM no
            PermitRootLogin yes
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            AllowTcpForwarding no
            X11Forwarding no
            PrintMotd no
            LogLevel INFO

            """
        try config.write(toFile: path("sshd_config"), atomically: true, encoding: .utf8)
        // sshd run by root insists on its privilege-separation directory.
        if getuid() == 0 { try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true) }
    }

    private func launch() async throws {
        let listening = "Server listening on 127.0.0.1 port \(port)"
        lock.withLock { lines = [] }
        let runner = runner, arguments = ["-D", "-e", "-f", path("sshd_config")]
        let task = Task {
            _ = try? await runner.run(Self.sshd, arguments, timeout: .seconds(900)) { [weak self] line in
                self?.lock.withLock { self?.lines.append(line.text) }
            }
            self.lock.withLock { self.lines.append("(sshd ended)") }
        }
        lock.withLock { self.task = task }
        for _ in 0..<500 {
            let log = self.log
            if log.contains(where: { $0.contains(listening) }) { return }
            if log.contains("(sshd ended)") { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        await stop()
        throw ProcessRunnerError.launchFailed(command: "\(Self.sshd) -D -e -f \(path("sshd_config"))",
                                              reason: "it did not listen on port \(port) within 10 s; it said: \(log.joined(separator: " | "))")
    }

    private static var userName: String { getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "root" }

    /// A loopback port that was free a moment ago (the kernel picks it).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard fd >= 0, bound else { throw ProcessRunnerError.launchFailed(command: "bind 127.0.0.1:0", reason: String(cString: strerror(errno))) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
