import PVE2NixCore

/// The Proxmox VE API as the runtime sees it: send a request, get the answer's `data`. The live
/// HTTPS client and the in-memory fake both implement it; the drain cannot tell them apart.
public protocol ProxmoxAPI: Sendable {
    func send(_ request: ProxmoxRequest) async throws -> JSONValue
}

/// An error answer from the API: the HTTP status, its reason phrase (Proxmox puts the message
/// there) and per-parameter errors.
public struct ProxmoxAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var reason: String
    public var parameterErrors: [String: String]
    public var request: String

    public init(status: Int, reason: String, parameterErrors: [String: String] = [:], request: String) {
        self.status = status
        self.reason = reason
        self.parameterErrors = parameterErrors
        self.request = request
    }

    /// No answer came within the client's request timeout: a write may or may not have happened.
    public var timedOut = false

    /// 5xx and timeouts may pass: a read can be retried.
    public var isTransient: Bool { timedOut || (status >= 500 && status != 501) }

    public var description: String {
        if timedOut { return "\(request) failed: no answer in time (\(reason))" }
        let params = parameterErrors.keys.sorted().map { "\($0): \(parameterErrors[$0]!)" }.joined(separator: "; ")
        return "\(request) failed: \(status) \(reason)\(params.isEmpty ? "" : " (\(params))")"
    }
}

/// The UPID of a Proxmox task: `UPID:node:pid:pstart:starttime:type:id:user:`.
public struct UPID: Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: String
    public let node: NodeName
    /// When the task started (seconds since the epoch, cluster clock).
    public let startTime: Int?

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 8, parts[0] == "UPID", !parts[1].isEmpty else { return nil }
        rawValue = text
        node = NodeName(String(parts[1]))
        startTime = Int(parts[4], radix: 16)
    }

    public var description: String { rawValue }
}
