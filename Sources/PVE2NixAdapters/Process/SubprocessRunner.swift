import Foundation
import PVE2NixCore
import PVE2NixRuntime
import Subprocess
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The live `ProcessRunner`: spawns the program with swift-subprocess in a process group of its
/// own, so a timeout or an interruption stops it and everything it started (SIGTERM to the
/// group, then SIGKILL after `grace`).
public struct SubprocessRunner: ProcessRunner {
    /// How long the group has to exit after SIGTERM before it gets SIGKILL.
    public var grace: Duration

    public init(grace: Duration = .seconds(3)) {
        self.grace = grace
    }

    public func run(_ request: ProcessRequest, progress: @escaping @Sendable (ProcessOutputLine) -> Void) async throws -> ProcessResult {
        let command = request.commandLine
        let collector = OutputCollector(limit: request.outputLimit, outputIsData: request.outputIsData, progress: progress)
        var options = PlatformOptions()
        // 0: a new group whose id is the child's pid, so signals to the group reach grandchildren too.
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: grace)]
        let configuration = Configuration(
            executable: request.executable.contains("/") ? .path(.init(request.executable)) : .name(request.executable),
            arguments: Arguments(request.arguments),
            environment: .inherit.updating(Dictionary(uniqueKeysWithValues: request.environment.compactMap { key, value in
                Environment.Key(rawValue: key).map { ($0, Optional(value)) }
            })),
            platformOptions: options
        )
        let outcome: Outcome
        do {
            outcome = try await withThrowingTaskGroup(of: Outcome?.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(configuration, input: .inputWriter, output: .sequence, error: .sequence) { execution in
                        await drive(execution, input: request.input, collector: collector)
                    }
                    return .ran(result.terminationStatus, overflowed: result.closureResult == .overflowed)
                }
                group.addTask {
                    try? await Task.sleep(for: request.timeout)
                    return Task.isCancelled ? nil : .timedOut
                }
                var first: Outcome?
                while first == nil, let next = try await group.next() { first = next }
                // On a timeout this cancels the run, whose teardown stops the whole group; how the
                // cancelled run ends does not matter then.
                group.cancelAll()
                while (try? await group.next()) != nil {}
                return first!
            }
        } catch let error as SubprocessError where error.code == .executableNotFound {
            throw ProcessRunnerError.notFound(executable: request.executable)
        } catch let error as SubprocessError {
            if Task.isCancelled { throw ProcessRunnerError.interrupted(command: command) }
            throw ProcessRunnerError.launchFailed(command: command, reason: error.description)
        } catch {
            throw ProcessRunnerError.interrupted(command: command)
        }
        collector.finish()
        if Task.isCancelled { throw ProcessRunnerError.interrupted(command: command) }
        guard case .ran(let termination, let overflowed) = outcome else {
            throw ProcessRunnerError.timedOut(command: command, after: request.timeout, lastLines: collector.lastLines)
        }
        if overflowed { throw ProcessRunnerError.outputTooLarge(command: command, limit: request.outputLimit) }
        let status: ProcessExitStatus = switch termination {
        case .exited(let code): .exited(code)
        case .signaled(let signal): .signalled(signal)
        }
        let result = collector.result(status)
        if !status.isSuccess && !request.acceptsFailure {
            throw ProcessRunnerError.nonZeroExit(command: command, status: status, lastLines: collector.lastLines)
        }
        return result
    }

    /// How a run ended: the program exited (its output maybe over the limit), or the time bound passed first.
    private enum Outcome: Sendable { case ran(TerminationStatus, overflowed: Bool), timedOut }

    /// How the body ended: both streams closed, or one went over its limit.
    private enum StreamsEnd: Sendable { case finished, overflowed }

    /// Feeds standard input and reads both streams until they close. When the run is cancelled
    /// (a timeout or an interruption) or a stream overflows, it stops the group and sweeps it.
    private func drive(
        _ execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>, input: Data?, collector: OutputCollector
    ) async -> StreamsEnd {
        let group = execution.processIdentifier.value
        ChildProcessGroups.shared.insert(group)
        defer { ChildProcessGroups.shared.remove(group) }
        let end = await withTaskGroup(of: StreamsEnd?.self) { group -> StreamsEnd in
            group.addTask {
                // A program that exits without reading its input is not an error of the run.
                if let input, !input.isEmpty { _ = try? await execution.standardInputWriter.write(Array(input)) }
                try? await execution.standardInputWriter.finish()
                return nil
            }
            for (stream, sequence) in [(ProcessStream.standardOutput, execution.standardOutput), (.standardError, execution.standardError)] {
                group.addTask {
                    do {
                        for try await buffer in sequence {
                            if !collector.append(buffer.withUnsafeBytes { Array($0) }, from: stream) { return .overflowed }
                        }
                    } catch {
                        // Cancelled, or the child exited while a process it left behind held the pipe.
                    }
                    return .finished
                }
            }
            for await next in group where next == .overflowed {
                group.cancelAll()
                return .overflowed
            }
            return .finished
        }
        if end == .overflowed || Task.isCancelled {
            await execution.teardown(using: [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: grace)])
            // The teardown stops once the leader is gone; the leader is not reaped yet, so its
            // group id cannot have been reused: sweep whatever of the group outlived SIGTERM.
            _ = kill(-execution.processIdentifier.value, SIGKILL)
        }
        return end
    }
}

/// The process groups of the programs running now. Each runs in a group of its own, where the
/// terminal's Ctrl-C does not reach: when pve2nix itself is interrupted it stops them here.
public final class ChildProcessGroups: Sendable {
    public static let shared = ChildProcessGroups()
    private let groups = Mutex<Set<pid_t>>([])

    func insert(_ group: pid_t) { groups.withLock { _ = $0.insert(group) } }
    func remove(_ group: pid_t) { groups.withLock { _ = $0.remove(group) } }

    /// SIGTERM to every running group, then SIGKILL to what is left after `grace`.
    public func terminateAll(grace: Duration = .seconds(2)) {
        let now = groups.withLock { $0 }
        guard !now.isEmpty else { return }
        for g in now { _ = kill(-g, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, now.contains(where: { kill(-$0, 0) == 0 }) { usleep(50_000) }
        for g in now { _ = kill(-g, SIGKILL) }
    }
}
