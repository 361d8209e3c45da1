import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// The live `RemoteShell`: the OpenSSH client `ssh` (so the user's ~/.ssh/config, agent and
/// ProxyJump keep working) over one multiplexed connection per host, checked strictly against
/// the site's pinned ed25519 host key. Files are copied with `cat` over the same connection.
public struct OpenSSHShell: RemoteShell {
    /// How ssh is run; the defaults suit a person's machine.
    public struct Options: Sendable {
        public var connectTimeout: Duration = .seconds(15)
        /// How long the shared connection outlives its last use when `close()` is never reached.
        public var controlPersist: Duration = .seconds(60)
        /// The bound on `read(file:)` and `write(_:to:mode:)`.
        public var transferTimeout: Duration = .seconds(600)
        /// The largest file `read(file:)` takes.
        public var maxFileSize = 256 << 20
        /// `-i`, with `IdentitiesOnly=yes`; nil leaves the choice to the agent and ~/.ssh/config.
        public var identityFile: String?
        /// `-F`; nil reads the user's ~/.ssh/config (tests pass /dev/null).
        public var configFile: String?
        /// More `-o KEY=VALUE` options; they come after the fixed ones, so cannot weaken them.
        public var extraOptions: [String] = []
        /// Added to ssh's environment.
        public var environment: [String: String] = [:]
        public var executable = "ssh"

        public init() {}
    }

    public let target: SSHTarget
    public let pins: PinnedHostKeys
    public let runner: any ProcessRunner
    public let options: Options
    public let scanner: HostKeyScanner
    /// The private (0700) directory that holds the connection's control socket.
    public let controlDirectory: String

    /// Prepares a shell on `target`; nothing connects until the first command.
    public init(target: SSHTarget, pins: PinnedHostKeys, runner: any ProcessRunner, options: Options = Options(),
                scanner: HostKeyScanner? = nil) throws {
        self.target = target
        self.pins = pins
        self.runner = runner
        self.options = options
        self.scanner = scanner ?? HostKeyScanner(runner: runner)
        controlDirectory = try ControlDirectory.make()
        OpenMasters.shared.insert(controlDirectory)
    }

    public func run(_ command: String, timeout: Duration) async throws -> RemoteCommandResult {
        let result = try await ssh([command], timeout: timeout)
        return RemoteCommandResult(status: result.status.code, standardOutput: result.standardOutput, standardError: result.standardError)
    }

    public func read(file path: String) async throws -> Data {
        let command = "cat -- " + ShellQuoting.quote(path)
        let result = try await ssh([command], timeout: options.transferTimeout, outputIsData: true)
        try check(result, command: command)
        return result.standardOutput
    }

    public func write(_ data: Data, to path: String, mode: Int) async throws {
        precondition((0...0o7777).contains(mode), "file mode \(mode) out of range")
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let template = ShellQuoting.quote((directory.isEmpty ? "" : directory) + "/.pve2nix-XXXXXX")
        // The data lands in a temporary file beside the target, then replaces it in one rename.
        let command = "umask 077 && t=$(mktemp \(template)) && { cat > \"$t\" && chmod \(String(mode, radix: 8)) \"$t\" && mv -f -- \"$t\" \(ShellQuoting.quote(path)); } || { rm -f -- \"$t\"; exit 1; }"
        let result = try await ssh([command], input: data, timeout: options.transferTimeout)
        try check(result, command: "write \(path)")
    }

    /// Whether the shared connection is up (`ssh -O check`).
    public func isConnected() async -> Bool {
        (try? await ssh(["-O", "check"], control: true, timeout: .seconds(10)))?.status.isSuccess ?? false
    }

    /// Ends the shared connection (`ssh -O exit`) and removes its control directory.
    public func close() async throws {
        _ = try? await ssh(["-O", "exit"], control: true, timeout: .seconds(10))
        try? FileManager.default.removeItem(atPath: controlDirectory)
        OpenMasters.shared.remove(controlDirectory)
    }

    /// The options every ssh call starts with: strict checking against the pinned file only,
    /// ed25519 only, no prompts, and the shared connection. OpenSSH keeps the first value of
    /// each option, so nothing later (extra options, ~/.ssh/config) can weaken these.
    public var fixedOptions: [String] {
        var args: [String] = options.configFile.map { ["-F", $0] } ?? []
        let fixed = [
            "StrictHostKeyChecking=yes", "HostKeyAlgorithms=ssh-ed25519",
            "UserKnownHostsFile=\(Self.optionPath(pins.path))", "GlobalKnownHostsFile=/dev/null",
            "HostKeyAlias=\(target.knownHostsName)", "UpdateHostKeys=no", "CheckHostIP=no",
            // Other ways ssh would trust a key besides the pinned file: a command, DNS SSHFP records.
            "KnownHostsCommand=none", "VerifyHostKeyDNS=no",
            "BatchMode=yes", "ConnectTimeout=\(Self.seconds(options.connectTimeout))",
            "ControlMaster=auto", "ControlPath=\(Self.optionPath(controlDirectory + "/master"))",
            "ControlPersist=\(Self.seconds(options.controlPersist))",
        ]
        args += fixed.flatMap { ["-o", $0] }
        if let identity = options.identityFile { args += ["-i", identity, "-o", "IdentitiesOnly=yes"] }
        args += options.extraOptions.flatMap { ["-o", $0] }
        args += ["-p", String(target.port)] + (target.user.map { ["-l", $0] } ?? [])
        return args
    }

    /// Runs ssh with the fixed options and `words` after the host; turns ssh's own failures
    /// (exit 255 with its messages) into `RemoteShellError`.
    private func ssh(_ words: [String], input: Data? = nil, control: Bool = false, timeout: Duration,
                     outputIsData: Bool = false) async throws -> ProcessResult {
        guard let pinned = try pins.fingerprint(for: target) else {
            throw RemoteShellError.hostKeyUnknown(host: target.description)
        }
        let arguments = control ? fixedOptions + words + [target.host] : fixedOptions + [target.host] + words
        var request = ProcessRequest(options.executable, arguments, environment: options.environment, input: input, timeout: timeout)
        request.acceptsFailure = true
        request.outputIsData = outputIsData
        if outputIsData { request.outputLimit = options.maxFileSize }
        let result = try await runner.run(request) { _ in }
        guard !control, result.status == .exited(255) else { return result }
        try await classifyFailure(result, pinned: pinned)
        return result
    }

    private func check(_ result: ProcessResult, command: String) throws {
        guard !result.status.isSuccess else { return }
        let detail = result.lastLines.filter { $0.stream == .standardError }.map(\.text).joined(separator: "; ")
        throw RemoteShellError.commandFailed(host: target.description, command: command, status: result.status.code,
                                             detail: detail.isEmpty ? "it printed nothing on stderr" : detail)
    }

    private static func seconds(_ duration: Duration) -> Int { max(1, Int(duration.components.seconds)) }

    /// A path as an ssh option value: `%` doubled (ssh expands `%` tokens), and quoted when it
    /// holds spaces (ssh splits such values).
    public static func optionPath(_ path: String) -> String {
        let escaped = path.split(separator: "%", omittingEmptySubsequences: false).joined(separator: "%%")
        guard escaped.contains(where: { $0 == " " || $0 == "\t" || $0 == "\"" || $0 == "\\" }) else { return escaped }
        return "\"" + escaped.flatMap { $0 == "\"" || $0 == "\\" ? ["\\", $0] : [$0] } + "\""
    }
}
