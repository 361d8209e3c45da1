import Foundation

/// Runs blocking work (waiting for a process, a VM) on a Dispatch thread, so that it never holds
/// one of Swift concurrency's few cooperative threads: an in-process server sharing the pool (the
/// Proxmox simulator) would otherwise starve.
public func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}
