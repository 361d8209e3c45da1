import Foundation
import PVE2NixRuntime

#if DEBUG
/// Writes an entry, then (test hook, debug builds only) SIGKILLs this process after the N-th one.
final class CrashHookRunLog: RunLog, @unchecked Sendable {
    let inner: any RunLog
    let crashAfter: Int
    private var written = 0
    private let lock = NSLock()
    init(_ inner: any RunLog, crashAfter: Int) { self.inner = inner; self.crashAfter = crashAfter }
    func entries() async throws -> [RunEntry] { try await inner.entries() }
    func append(_ entry: RunEntry) async throws {
        try await inner.append(entry)
        let n = lock.withLock { written += 1; return written }
        if n == crashAfter { kill(getpid(), SIGKILL) }
    }
}
#endif
