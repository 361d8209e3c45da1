import Foundation
import PVE2NixCore

/// Task handling shared by everything that acts through the Proxmox API (the drain, removing the
/// node from the cluster): requests that start a task, bounded waits on a UPID, reads retried
/// when the failure is transient, and the cluster as it is now.
public struct ProxmoxTasks: Sendable {
    /// The cluster as read from `/cluster/status` and `/cluster/resources`.
    public struct ClusterView: Sendable {
        public struct Guest: Sendable { public var node: NodeName; public var name: String; public var status: String; public var lock: String? }
        public var quorate: Bool
        public var online: Set<NodeName>
        public var guests: [VMID: Guest]
    }

    /// How a task ended.
    public enum TaskEnd: Sendable, Equatable {
        case ok(String)
        case failed(String)
        case timedOut
    }

    public let api: any ProxmoxAPI
    public let clock: any Clock<Duration>
    public var pollInterval: Duration
    public var readRetries: Int

    public init(api: any ProxmoxAPI, clock: any Clock<Duration>, pollInterval: Duration = .seconds(2), readRetries: Int = 3) {
        self.api = api
        self.clock = clock
        self.pollInterval = pollInterval
        self.readRetries = readRetries
    }

    /// Polls needed to cover `limit` (at least one).
    public func polls(_ limit: Duration) -> Int {
        guard pollInterval > .zero else { return 1 }
        let n = (limit / pollInterval).rounded(.up)
        return n.isFinite ? max(1, Int(min(n, 10_000_000))) : 1
    }

    /// A read, retried with a growing pause while the failure is transient (timeouts, 5xx, 595).
    public func read(_ request: ProxmoxRequest) async throws -> JSONValue {
        var attempt = 0
        while true {
            do {
                return try await api.send(request)
            } catch let error as ProxmoxAPIError where error.isTransient && attempt < readRetries {
                attempt += 1
                try await clock.sleep(for: pollInterval * attempt)
            }
        }
    }

    /// Sends a request that starts a task and returns its UPID. Never retried: a second request
    /// could start a second task.
    public func start(_ request: ProxmoxRequest, what: String) async throws -> UPID {
        let answer = try await api.send(request)
        guard let text = answer.stringValue, let upid = UPID(text) else { throw ProxmoxTaskError.notAUPID(what: what, answer: answer.description) }
        return upid
    }

    /// Waits for a task to stop, bounded by `limit`. "OK" and "WARNINGS: N" are success.
    public func wait(for upid: UPID, limit: Duration) async throws -> TaskEnd {
        for _ in 0..<polls(limit) {
            let status = try await read(.taskStatus(node: upid.node, upid: upid.rawValue))
            if status["status"]?.stringValue == "stopped" {
                let exit = status["exitstatus"]?.stringValue ?? "unknown"
                return exit == "OK" || exit.hasPrefix("WARNINGS") ? .ok(exit) : .failed(exit)
            }
            try await clock.sleep(for: pollInterval)
        }
        return .timedOut
    }

    /// Polls until `condition` gives a value, bounded by `limit`; nil when it never did.
    public func poll<T: Sendable>(limit: Duration, _ condition: () async throws -> T?) async throws -> T? {
        for _ in 0..<polls(limit) {
            if let value = try await condition() { return value }
            try await clock.sleep(for: pollInterval)
        }
        return nil
    }

    /// Quorum, the nodes online and where every guest is.
    public func cluster() async throws -> ClusterView {
        let status = try await read(.clusterStatus())
        let resources = try await read(.clusterResources())
        var view = ClusterView(quorate: false, online: [], guests: [:])
        for entry in status.arrayValue ?? [] {
            if entry["type"]?.stringValue == "cluster" { view.quorate = entry["quorate"]?.boolValue ?? false }
            if entry["type"]?.stringValue == "node", entry["online"]?.boolValue == true, let n = entry["name"]?.stringValue { view.online.insert(NodeName(n)) }
        }
        for entry in resources.arrayValue ?? [] {
            guard let id = entry["vmid"]?.intValue, let node = entry["node"]?.stringValue else { continue }
            let lock = entry["lock"]?.stringValue
            view.guests[VMID(id)] = .init(node: NodeName(node), name: entry["name"]?.stringValue ?? "", status: entry["status"]?.stringValue ?? "unknown",
                                          lock: lock?.isEmpty == true ? nil : lock)
        }
        return view
    }
}

/// A Proxmox answer that is not what a task request returns.
public enum ProxmoxTaskError: Error, LocalizedError, Sendable, Equatable {
    case notAUPID(what: String, answer: String)
    public var errorDescription: String? {
        switch self {
        case .notAUPID(let what, let answer): "the \(what) request returned \(answer), not a task id (UPID): nothing to wait for. Check the task log on the node."
        }
    }
}
