import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// OpenSSHShell against a real sshd on loopback: commands, file copies, one shared connection,
/// strict checking against the pinned key, and the user's own known_hosts left alone.
@Suite(.serialized, .enabled(if: LocalSSHServer.isAvailable, "/usr/sbin/sshd is missing: install openssh-server (scripts/setup does)"))
struct RemoteShellTests {
    /// A started server, a pins file, and a HOME of its own, removed at the end.
    struct Setup {
        let server: LocalSSHServer
        let scratch: URL
        let pins: PinnedHostKeys
        let runner = SubprocessRunner()

        static func make(pinned: Bool = true) async throws -> Setup {
            let scratch = try ProcessRunnerTests.scratch()
            let server = try await LocalSSHServer.start()
            let pins = PinnedHostKeys(path: scratch.appendingPathComponent("site/known_hosts").path)
            if pinned { try pins.pin(host: "127.0.0.1", port: server.port, key: server.hostKey()) }
            try FileManager.default.createDirectory(at: scratch.appendingPathComponent("home"), withIntermediateDirectories: true)
            return Setup(server: server, scratch: scratch, pins: pins)
        }

        func shell() throws -> OpenSSHShell {
            var options = OpenSSHShell.Options()
            options.configFile = "/dev/null"
            options.identityFile = server.clientKey
            options.connectTimeout = .seconds(5)
            options.environment = ["HOME": scratch.appendingPathComponent("home").path]
            return try OpenSSHShell(target: server.target, pins: pins, runner: runner, options: options)
        }

        func tearDown() async {
            await server.shutdown()
            try? FileManager.default.removeItem(at: scratch)
        }
    }

    @Test func runsCommandsAndCopiesFilesOverOneConnection() async throws {
        let setup = try await Setup.make()
        defer { Task { await setup.tearDown() } }
        let userKnownHosts = Self.realKnownHosts()
        let shell = try setup.shell()
        #expect(await !shell.isConnected())

        let echo = try await shell.run("echo hello; echo oops >&2; exit 3", timeout: .seconds(20))
        #expect(echo.status == 3 && echo.standardOutputText == "hello\n" && echo.standardErrorText == "oops\n")
        #expect(await shell.isConnected())
        let master = try Self.masterPID(shell)

        let remote = setup.scratch.appendingPathComponent("remote dir/it's a file").path
        try FileManager.default.createDirectory(atPath: (remote as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let bytes = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try await shell.write(bytes, to: remote, mode: 0o640)
        #expect(try Data(contentsOf: URL(fileURLWithPath: remote)) == bytes)
        #expect((try FileManager.default.attributesOfItem(atPath: remote)[.posixPermissions] as? Int) == 0o640)
        #expect(try await shell.read(file: remote) == bytes)
        try await shell.write(Data("second\n".utf8), to: remote, mode: 0o600)
        #expect(try await shell.read(file: remote) == Data("second\n".utf8))
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: (remote as NSString).deletingLastPathComponent) == ["it's a file"])

        let missing = await #expect(throws: RemoteShellError.self) { try await shell.read(file: "/nonexistent/pve2nix") }
        guard case .commandFailed(_, _, let status, let detail)? = missing else { Issue.record("wrong error \(String(describing: missing))"); return }
        #expect(status == 1 && detail.contains("No such file"))

        // Every command went through the same master connection.
        #expect(try Self.masterPID(shell) == master)
        try await shell.close()
        #expect(await !shell.isConnected())
        #expect(!FileManager.default.fileExists(atPath: shell.controlDirectory))
        #expect(!FileManager.default.fileExists(atPath: setup.scratch.appendingPathComponent("home/.ssh").path))
        #expect(Self.realKnownHosts() == userKnownHosts)
    }

    @Test func aChangedHostKeyIsRefusedNamingBothFingerprints() async throws {
        let setup = try await Setup.make()
        defer { Task { await setup.tearDown() } }
        let userKnownHosts = Self.realKnownHosts()
        let pinned = try setup.server.hostKey().fingerprint
        let first = try setup.shell()
        #expect(try await first.run("true", timeout: .seconds(20)).status == 0)
        try await first.close()

        try await setup.server.restart(newHostKey: true)
        let presented = try setup.server.hostKey().fingerprint
        #expect(presented != pinned)
        let shell = try setup.shell()
        defer { Task { try? await shell.close() } }
        let error = await #expect(throws: RemoteShellError.self) { try await shell.run("touch /tmp/pve2nix-should-not-run", timeout: .seconds(20)) }
        #expect(error == .hostKeyChanged(host: setup.server.target.description, pinned: pinned, presented: presented))
        let message = error?.errorDescription ?? ""
        #expect(message.contains(pinned.rawValue) && message.contains(presented.rawValue) && message.contains("127.0.0.1"))
        #expect(message.contains("--host-key-fingerprint NODE=SHA256:…") && message.contains("impersonating"))
        #expect(Self.realKnownHosts() == userKnownHosts)

        // Re-pinned on purpose, it connects again.
        try setup.pins.pin(host: "127.0.0.1", port: setup.server.port, key: try setup.server.hostKey())
        #expect(try await shell.run("true", timeout: .seconds(20)).status == 0)
    }

    @Test func anUnpinnedHostIsRefused() async throws {
        let setup = try await Setup.make(pinned: false)
        defer { Task { await setup.tearDown() } }
        let shell = try setup.shell()
        await #expect(throws: RemoteShellError.hostKeyUnknown(host: setup.server.target.description)) {
            try await shell.run("true", timeout: .seconds(20))
        }
        // A pin for another port or address does not count.
        try setup.pins.pin(host: "127.0.0.1", port: 1, key: try setup.server.hostKey())
        try setup.pins.pin(host: "127.0.0.2", port: setup.server.port, key: try setup.server.hostKey())
        await #expect(throws: RemoteShellError.hostKeyUnknown(host: setup.server.target.description)) {
            try await shell.run("true", timeout: .seconds(20))
        }
        try await shell.close()
    }

    @Test func keyscanReadsTheKeyWithoutTrustingIt() async throws {
        let setup = try await Setup.make(pinned: false)
        defer { Task { await setup.tearDown() } }
        let scanned = try await HostKeyScanner(runner: setup.runner).scan(setup.server.target)
        let hostKey = try setup.server.hostKey()
        #expect(scanned.key == hostKey && scanned.fingerprint == hostKey.fingerprint)
        #expect(try setup.pins.entries().isEmpty)
        await #expect(throws: RemoteShellError.self) {
            try await HostKeyScanner(runner: setup.runner, timeout: .seconds(2)).scan(SSHTarget(host: "127.0.0.1", port: 1))
        }
    }

    @Test func aRefusedConnectionIsAConnectionFailure() async throws {
        let setup = try await Setup.make()
        defer { Task { await setup.tearDown() } }
        await setup.server.stop()
        let shell = try setup.shell()
        let error = await #expect(throws: RemoteShellError.self) { try await shell.run("true", timeout: .seconds(20)) }
        guard case .connectionFailed(_, let detail)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(detail.contains("Connection refused"))
        try await shell.close()
    }

    @Test func fixedOptionsComeFirstAndCannotBeWeakened() throws {
        var options = OpenSSHShell.Options()
        options.extraOptions = ["StrictHostKeyChecking=no"]
        let shell = try OpenSSHShell(target: SSHTarget(user: "root", host: "pve1", port: 2222), pins: PinnedHostKeys(path: "/srv/my site/known_hosts"),
                                     runner: FakeProcessRunner(), options: options)
        defer { try? FileManager.default.removeItem(atPath: shell.controlDirectory) }
        let args = shell.fixedOptions
        #expect(args.firstIndex(of: "StrictHostKeyChecking=yes")! < args.firstIndex(of: "StrictHostKeyChecking=no")!)
        #expect(args.contains("UserKnownHostsFile=\"/srv/my site/known_hosts\"") && args.contains("GlobalKnownHostsFile=/dev/null"))
        #expect(args.contains("HostKeyAlgorithms=ssh-ed25519") && args.contains("BatchMode=yes") && args.contains("HostKeyAlias=[pve1]:2222"))
        let mode = try FileManager.default.attributesOfItem(atPath: shell.controlDirectory)[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }

    @Test func sshsOwnFailuresAreTold() async throws {
        let scratch = try ProcessRunnerTests.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let pins = PinnedHostKeys(path: scratch.appendingPathComponent("known_hosts").path)
        let target = SSHTarget(user: "root", host: "pve1")
        try pins.pin(host: "pve1", port: 22, key: HostKeyTests.key)
        let fake = FakeProcessRunner()
        let presented = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
        fake.on(.init("ssh-keyscan"), .exits(1, stderr: "write (pve1): Connection refused"))
        fake.on(.init("ssh", containing: ["changed"]), .exits(255, stderr: """
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
            The fingerprint for the ED25519 key sent by the remote host is
            \(presented).
            Host key verification failed.
            """))
        fake.on(.init("ssh", containing: ["unknown"]), .exits(255, stderr: "No ED25519 host key is known for pve1 and you have requested strict checking.\nHost key verification failed."))
        fake.on(.init("ssh", containing: ["denied"]), .exits(255, stderr: "root@pve1: Permission denied (publickey)."))
        fake.on(.init("ssh", containing: ["own"]), .exits(255, stderr: "the command's own 255"))
        let shell = try OpenSSHShell(target: target, pins: pins, runner: fake)
        defer { try? FileManager.default.removeItem(atPath: shell.controlDirectory) }
        await #expect(throws: RemoteShellError.hostKeyChanged(host: "root@pve1", pinned: HostKeyTests.key.fingerprint, presented: HostKeyFingerprint(presented))) {
            try await shell.run("changed", timeout: .seconds(5))
        }
        await #expect(throws: RemoteShellError.hostKeyUnknown(host: "root@pve1")) { try await shell.run("unknown", timeout: .seconds(5)) }
        await #expect(throws: RemoteShellError.connectionFailed(host: "root@pve1", detail: "root@pve1: Permission denied (publickey).")) {
            try await shell.run("denied", timeout: .seconds(5))
        }
        #expect(try await shell.run("own", timeout: .seconds(5)).status == 255)
        // The presented key comes from ssh's own warning: ssh-keyscan, which ignores ssh_config and
        // may reach another host, is asked only when ssh named none.
        #expect(fake.calls.filter { $0.executable == "ssh-keyscan" }.isEmpty)
    }

    /// The master's pid as `ssh -O check` reports it ("Master running (pid=N)").
    static func masterPID(_ shell: OpenSSHShell) throws -> String {
        let result = try ProcessOutput.capture(URL(fileURLWithPath: "/usr/bin/ssh"), shell.fixedOptions + ["-O", "check", shell.target.host], timeout: 10)
        return String(result.err.split(separator: "=").last ?? "").trimmingCharacters(in: CharacterSet(charactersIn: ")\n"))
    }

    /// The running user's own ~/.ssh/known_hosts (from the password database, as ssh finds it):
    /// whether it exists, its size and modification time.
    static func realKnownHosts() -> String {
        let home = getpwuid(getuid()).map { String(cString: $0.pointee.pw_dir) } ?? "/"
        let attributes = try? FileManager.default.attributesOfItem(atPath: home + "/.ssh/known_hosts")
        return attributes.map { "\($0[.size] ?? 0) \($0[.modificationDate] ?? 0)" } ?? "absent"
    }
}
