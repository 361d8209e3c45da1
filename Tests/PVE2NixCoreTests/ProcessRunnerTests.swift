import Foundation
import PVE2NixAdapters
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// The live runner against real programs: streaming, exit status, the time bound and
/// cancellation stopping the whole process group; and the fake's scripted answers.
@Suite struct ProcessRunnerTests {
    let runner = SubprocessRunner(grace: .milliseconds(500))

    /// Collects progress lines from the runner's concurrent readers.
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [ProcessOutputLine] = []
        func add(_ line: ProcessOutputLine) { lock.withLock { lines.append(line) } }
        var all: [ProcessOutputLine] { lock.withLock { lines } }
    }

    @Test func streamsLinesInOrderWithTheirStream() async throws {
        let lines = Lines()
        let script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf tail"
        let result = try await runner.run("sh", ["-c", script], timeout: .seconds(600), progress: lines.add)
        #expect(result.status == .exited(0))
        #expect(lines.all.filter { $0.stream == .standardOutput }.map(\.text) == ["out1", "out2", "out3", "out4", "out5", "tail"])
        #expect(lines.all.filter { $0.stream == .standardError }.map(\.text) == ["err1", "err2", "err3", "err4", "err5"])
        #expect(result.standardOutputText == "out1\nout2\nout3\nout4\nout5\ntail")
        #expect(result.lastLines.count == 11)
    }

    @Test func passesInputAndEnvironment() async throws {
        let result = try await runner.run("sh", ["-c", "cat; printf %s \"$PVE2NIX_PROBE\""], environment: ["PVE2NIX_PROBE": "set"],
                                          input: Data("from stdin\n".utf8), timeout: .seconds(600))
        #expect(result.standardOutputText == "from stdin\nset")
    }

    @Test func keepsTheLastFortyLinesForTheError() async throws {
        let error = await #expect(throws: ProcessRunnerError.self) {
            try await runner.run("sh", ["-c", "seq 1 100; exit 3"], timeout: .seconds(600))
        }
        guard case .nonZeroExit(let command, let status, let lines)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(command == "sh -c 'seq 1 100; exit 3'")
        #expect(status == .exited(3))
        #expect(lines.count == 40 && lines.first == "stdout: 61" && lines.last == "stdout: 100")
        #expect(error?.errorDescription?.hasPrefix("a command failed with exit status 3: sh -c 'seq 1 100; exit 3'\n") == true)
    }

    @Test func acceptsFailureWhenAsked() async throws {
        var request = ProcessRequest("sh", ["-c", "echo no >&2; exit 7"], timeout: .seconds(600))
        request.acceptsFailure = true
        let result = try await runner.run(request) { _ in }
        #expect(result.status == .exited(7))
        #expect(result.standardErrorText == "no\n")
    }

    @Test func aMissingProgramIsNotFound() async throws {
        await #expect(throws: ProcessRunnerError.notFound(executable: "pve2nix-no-such-tool")) {
            try await runner.run("pve2nix-no-such-tool", [], timeout: .seconds(600))
        }
    }

    @Test func aTimeoutKillsTheWholeGroup() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pidFile = dir.appendingPathComponent("pids").path
        let script = "sleep 100 & echo $! > \(pidFile); sleep 100 & echo $! >> \(pidFile); echo started; sleep 100"
        let clock = ContinuousClock(), start = clock.now
        let error = await #expect(throws: ProcessRunnerError.self) {
            try await runner.run("sh", ["-c", script], timeout: .seconds(1))
        }
        // The bound is the point, not the speed: under the whole suite's load on 2 cores the timer
        // can wait tens of seconds for a thread (seen: 40 s), so only a runaway wait fails here.
        #expect(clock.now - start < .seconds(120))
        guard case .timedOut(_, let after, let lines)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(after == .seconds(1) && lines == ["stdout: started"])
        #expect(error?.errorDescription?.hasPrefix("a command did not finish within 1 sec and was stopped, with every process it started") == true)
        try Self.expectGone(pidFile)
    }

    @Test func cancellationStopsTheGroup() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pidFile = dir.appendingPathComponent("pids").path
        let runner = runner
        let task = Task {
            try await runner.run("sh", ["-c", "sleep 100 & echo $! > \(pidFile); sleep 100"], timeout: .seconds(60))
        }
        for _ in 0..<200 where (try? String(contentsOfFile: pidFile, encoding: .utf8))?.hasSuffix("\n") != true {
            try await Task.sleep(for: .milliseconds(25))
        }
        task.cancel()
        await #expect(throws: ProcessRunnerError.interrupted(command: "sh -c 'sleep 100 & echo $! > \(pidFile); sleep 100'")) {
            try await task.value
        }
        try Self.expectGone(pidFile)
    }

    @Test func theFakeAnswersFromItsScriptAndRecords() async throws {
        let fake = FakeProcessRunner()
        fake.on(.init("ssh", containing: ["-O", "check"]), .exits(255, stderr: "Control socket connect: No such file"))
        fake.on(.init("ssh"), .exits(0, stdout: "pve1\n"))
        let lines = Lines()
        let result = try await fake.run("/usr/bin/ssh", ["root@pve1", "hostname"], timeout: .seconds(5), progress: lines.add)
        #expect(result.standardOutputText == "pve1\n" && lines.all == [ProcessOutputLine(.standardOutput, "pve1")])
        await #expect(throws: ProcessRunnerError.self) { try await fake.run("ssh", ["-O", "check", "pve1"], timeout: .seconds(5)) }
        await #expect(throws: ProcessRunnerError.self) { try await fake.run("nix", ["build"], timeout: .seconds(5)) }
        #expect(fake.calls.map(\.executable) == ["/usr/bin/ssh", "ssh", "nix"])
    }

    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Every pid in the file is gone (or a zombie waiting for init), shortly after the run.
    static func expectGone(_ pidFile: String) throws {
        let pids = try String(contentsOfFile: pidFile, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(!pids.isEmpty)
        for pid in pids {
            var alive = true
            for _ in 0..<100 {
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                alive = !stat.isEmpty && !stat.contains(") Z ")
                if !alive { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            #expect(!alive, "process \(pid) outlived the run")
        }
    }
}
