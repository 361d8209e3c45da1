import Foundation
import PVE2NixRuntime

/// Gathers a running program's two streams: the bytes of each (up to a limit), its lines as
/// they complete (reported to the progress callback), and the last lines of both, in arrival order.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private let limit: Int
    private let outputIsData: Bool
    private let progress: @Sendable (ProcessOutputLine) -> Void
    private var bytes: [ProcessStream: Data] = [.standardOutput: Data(), .standardError: Data()]
    private var partial: [ProcessStream: [UInt8]] = [:]
    private var tail: [ProcessOutputLine] = []
    private(set) var overflowed = false

    init(limit: Int, outputIsData: Bool, progress: @escaping @Sendable (ProcessOutputLine) -> Void) {
        self.limit = limit
        self.outputIsData = outputIsData
        self.progress = progress
    }

    /// Takes a chunk of `stream`; returns false once the stream is over its limit.
    func append(_ chunk: [UInt8], from stream: ProcessStream) -> Bool {
        var lines: [ProcessOutputLine] = []
        let ok = lock.withLock {
            guard bytes[stream, default: Data()].count + chunk.count <= limit else {
                overflowed = true
                return false
            }
            bytes[stream, default: Data()].append(contentsOf: chunk)
            guard !(outputIsData && stream == .standardOutput) else { return true }
            let pending = partial[stream, default: []] + chunk
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: 0x0A) {
                lines.append(line(stream, pending[start..<newline]))
                start = newline + 1
            }
            partial[stream] = Array(pending[start...])
            keep(lines)
            return true
        }
        lines.forEach(progress)
        return ok
    }

    /// Reports what is left of unfinished lines once both streams have ended.
    func finish() {
        let lines: [ProcessOutputLine] = lock.withLock {
            let rest = [ProcessStream.standardOutput, .standardError].compactMap { s in
                partial[s].flatMap { $0.isEmpty ? nil : line(s, $0[...]) }
            }
            partial = [:]
            keep(rest)
            return rest
        }
        lines.forEach(progress)
    }

    func result(_ status: ProcessExitStatus) -> ProcessResult {
        lock.withLock {
            ProcessResult(status: status, standardOutput: bytes[.standardOutput] ?? Data(),
                          standardError: bytes[.standardError] ?? Data(), lastLines: tail)
        }
    }

    var lastLines: [String] { lock.withLock { tail.map(\.description) } }

    private func line(_ stream: ProcessStream, _ bytes: ArraySlice<UInt8>) -> ProcessOutputLine {
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        return ProcessOutputLine(stream, text)
    }

    private func keep(_ lines: [ProcessOutputLine]) {
        tail.append(contentsOf: lines)
        if tail.count > ProcessResult.keptLines { tail.removeFirst(tail.count - ProcessResult.keptLines) }
    }
}
