import Foundation

/// One QEMU guest at a time across the whole test process: suites run in parallel, and two or three
/// TCG guests on a 2-core machine would each run slow enough to hit their time bounds.
public actor VMSlot {
    public static let shared = VMSlot()
    private var busy = false
    private var waiters: [(id: Int, continuation: CheckedContinuation<Void, Never>)] = []
    private var nextID = 0

    /// Waits for the slot, at most `limit` (about two lab rehearsals); past that the guest runs anyway (slow beats a deadlock
    /// when a test holds one guest while it boots another).
    public func acquire(limit: Duration = .seconds(240)) async {
        guard busy else { busy = true; return }
        nextID += 1
        let id = nextID
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiters.append((id, c))
            Task {
                try? await Task.sleep(for: limit)
                self.timeOut(id)
            }
        }
    }

    private func timeOut(_ id: Int) {
        guard let i = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: i).continuation.resume()
    }

    public func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().continuation.resume() }
    }

    /// Runs `body` holding the slot.
    public nonisolated func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        do {
            let value = try await body()
            await release()
            return value
        } catch {
            await release()
            throw error
        }
    }
}
