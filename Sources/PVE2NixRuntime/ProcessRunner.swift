import Foundation
import PVE2NixCore

/// Runs local programs (ssh, ssh-keyscan, nix, nixos-anywhere) to completion, bounded in time,
/// streaming their output lines. The live runner spawns processes; the fake answers from a script.
public protocol ProcessRunner: Sendable {
    /// Runs `request`, calling `progress` with each output line as it arrives. Throws
    /// `ProcessRunnerError` when the program is missing, overruns its time, is interrupted, or
    /// (unless `request.acceptsFailure`) exits non-zero.
    func run(_ request: ProcessRequest, progress: @escaping @Sendable (ProcessOutputLine) -> Void) async throws -> ProcessResult
}

extension ProcessRunner {
    /// Runs `executable` (a name looked up on PATH, or a path) with `arguments`, the inherited
    /// environment plus `environment`, and `input` on its standard input.
    public func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], input: Data? = nil,
        timeout: Duration, progress: @escaping @Sendable (ProcessOutputLine) -> Void = { _ in }
    ) async throws -> ProcessResult {
        try await run(ProcessRequest(executable, arguments, environment: environment, input: input, timeout: timeout), progress: progress)
    }
}

/// One program run: what to start, with what, and for how long at most.
public struct ProcessRequest: Sendable, Hashable {
    public var executable: String
    public var arguments: [String]
    /// Added to (or replacing entries of) the inherited environment.
    public var environment: [String: String]
    /// Written to standard input, which is then closed; nil closes it at once.
    public var input: Data?
    /// After this the whole process group gets SIGTERM, then SIGKILL after a grace period.
    public var timeout: Duration
    /// Return a non-zero exit in the result instead of throwing `nonZeroExit`.
    public var acceptsFailure = false
    /// Standard output is data (a file's bytes), not text: it is neither split into lines nor reported.
    public var outputIsData = false
    /// The most bytes of each stream kept in the result; more throws `outputTooLarge`.
    public var outputLimit = 16 << 20

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: Data? = nil, timeout: Duration) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.input = input
        self.timeout = timeout
    }

    /// The command as a person would type it, for messages.
    public var commandLine: String { ShellQuoting.commandLine([executable] + arguments) }
}

/// Which stream a line came from.
public enum ProcessStream: String, Sendable, Hashable, Codable {
    case standardOutput = "stdout"
    case standardError = "stderr"
}

/// One line a program printed, without its line break.
public struct ProcessOutputLine: Sendable, Hashable, CustomStringConvertible {
    public var stream: ProcessStream
    public var text: String

    public init(_ stream: ProcessStream, _ text: String) {
        self.stream = stream
        self.text = text
    }

    public var description: String { "\(stream.rawValue): \(text)" }
}

/// How a program ended.
public enum ProcessExitStatus: Sendable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    public var isSuccess: Bool { self == .exited(0) }

    /// The exit code, or 128 plus the signal as a shell reports it.
    public var code: Int32 {
        switch self {
        case .exited(let c): c
        case .signalled(let s): 128 + s
        }
    }

    public var description: String {
        switch self {
        case .exited(let c): "exit status \(c)"
        case .signalled(let s): "killed by signal \(s)"
        }
    }
}

/// What a finished program printed and how it ended.
public struct ProcessResult: Sendable, Hashable {
    public static let keptLines = 40

    public var status: ProcessExitStatus
    public var standardOutput: Data
    public var standardError: Data
    /// The last `keptLines` lines of both streams, in the order they arrived.
    public var lastLines: [ProcessOutputLine]

    public init(status: ProcessExitStatus, standardOutput: Data = Data(), standardError: Data = Data(), lastLines: [ProcessOutputLine] = []) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.lastLines = lastLines
    }

    public var standardOutputText: String { String(decoding: standardOutput, as: UTF8.self) }
    public var standardErrorText: String { String(decoding: standardError, as: UTF8.self) }
}

/// Why a program run did not give a result.
public enum ProcessRunnerError: LocalizedError, Sendable, Equatable {
    case notFound(executable: String)
    case launchFailed(command: String, reason: String)
    case timedOut(command: String, after: Duration, lastLines: [String])
    case interrupted(command: String)
    case nonZeroExit(command: String, status: ProcessExitStatus, lastLines: [String])
    case outputTooLarge(command: String, limit: Int)

    public var errorDescription: String? {
        switch self {
        case .notFound(let executable):
            "'\(executable)' was not found on PATH, so nothing was run. Install it (scripts/setup lists what pve2nix needs) or put it on PATH, then run the command again."
        case .launchFailed(let command, let reason):
            "a command could not be started (\(reason)): \(command)\nNothing was run; fix the cause, then run again."
        case .timedOut(let command, let after, let lines):
            "a command did not finish within \(after.formatted(.units(allowed: [.hours, .minutes, .seconds]))) and was stopped, with every process it started (SIGTERM, then SIGKILL): \(command)\nWhat it was doing may be half done: check, then run again (with a longer bound if it was only slow)."
                + Self.tail(lines)
        case .interrupted(let command):
            "a command was interrupted (cancelled, e.g. Ctrl-C) and stopped, with every process it started: \(command)\nWhat it was doing may be half done: check before running it again."
        case .nonZeroExit(let command, let status, let lines):
            "a command failed with \(status): \(command)\nNothing after it was run; read its last lines, fix the cause, then run again." + Self.tail(lines)
        case .outputTooLarge(let command, let limit):
            "a command printed more than \(limit) bytes on one stream, so it was stopped and its output dropped: \(command)\nAsk for less output (or a smaller file), then run again."
        }
    }

    private static func tail(_ lines: [String]) -> String {
        lines.isEmpty ? "" : "\nIts last lines:\n" + lines.map { "  " + $0 }.joined(separator: "\n")
    }
}
