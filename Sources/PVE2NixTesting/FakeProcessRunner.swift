import Foundation
import PVE2NixRuntime

/// A `ProcessRunner` that answers from a script instead of spawning: each answer is chosen by
/// the first rule whose pattern the command matches, and every request is recorded.
public final class FakeProcessRunner: ProcessRunner, @unchecked Sendable {
    /// What a scripted command does: print lines, then exit with a status; or throw.
    public struct Answer: Sendable {
        public var status: ProcessExitStatus
        public var lines: [ProcessOutputLine]
        public var standardOutput: Data?
        public var error: ProcessRunnerError?

        /// Prints `stdout` and `stderr` (line by line) and exits with `status`.
        public static func exits(_ status: Int32 = 0, stdout: String = "", stderr: String = "") -> Answer {
            let out = stdout.split(separator: "\n").map { ProcessOutputLine(.standardOutput, String($0)) }
            let err = stderr.split(separator: "\n").map { ProcessOutputLine(.standardError, String($0)) }
            return Answer(status: .exited(status), lines: out + err, standardOutput: Data(stdout.utf8), error: nil)
        }

        /// Prints `data` on standard output (a file's bytes) and exits 0.
        public static func data(_ data: Data) -> Answer {
            Answer(status: .exited(0), lines: [], standardOutput: data, error: nil)
        }

        /// Fails the run with `error` (not found, timed out, interrupted…).
        public static func fails(_ error: ProcessRunnerError) -> Answer {
            Answer(status: .exited(0), lines: [], standardOutput: nil, error: error)
        }
    }

    /// Which commands a rule answers: the executable (name or path ending) and words the
    /// arguments must contain, in any order.
    public struct Pattern: Sendable, CustomStringConvertible {
        public var executable: String
        public var containing: [String]

        public init(_ executable: String, containing: [String] = []) {
            self.executable = executable
            self.containing = containing
        }

        public func matches(_ request: ProcessRequest) -> Bool {
            (request.executable == executable || request.executable.hasSuffix("/" + executable))
                && containing.allSatisfy { word in request.arguments.contains { $0.contains(word) } }
        }

        public var description: String { ([executable] + containing).joined(separator: " … ") }
    }

    private let lock = NSLock()
    private var rules: [(Pattern, Answer)] = []
    private var recorded: [ProcessRequest] = []

    public init() {}

    /// Answers commands matching `pattern` with `answer`; earlier rules win.
    public func on(_ pattern: Pattern, _ answer: Answer) {
        lock.withLock { rules.append((pattern, answer)) }
    }

    /// Every request run so far, in order.
    public var calls: [ProcessRequest] { lock.withLock { recorded } }

    public func run(_ request: ProcessRequest, progress: @escaping @Sendable (ProcessOutputLine) -> Void) async throws -> ProcessResult {
        let answer: Answer? = lock.withLock {
            recorded.append(request)
            return rules.first { $0.0.matches(request) }?.1
        }
        guard let answer else {
            throw ProcessRunnerError.launchFailed(command: request.commandLine, reason: "FakeProcessRunner has no scripted answer for it")
        }
        try Task.checkCancellation()
        if let error = answer.error { throw error }
        answer.lines.forEach(progress)
        let stderr = answer.lines.filter { $0.stream == .standardError }.map(\.text).joined(separator: "\n")
        let result = ProcessResult(status: answer.status, standardOutput: answer.standardOutput ?? Data(),
                                   standardError: Data(stderr.utf8), lastLines: Array(answer.lines.suffix(ProcessResult.keptLines)))
        if !answer.status.isSuccess && !request.acceptsFailure {
            throw ProcessRunnerError.nonZeroExit(command: request.commandLine, status: answer.status, lastLines: result.lastLines.map(\.description))
        }
        return result
    }
}
