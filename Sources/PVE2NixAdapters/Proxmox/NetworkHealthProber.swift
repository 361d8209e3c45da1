import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import PVE2NixCore
import PVE2NixRuntime

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
                // Up means answering below 500: a login page (401/403) is a running service.
                do {
                    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: probe.target), timeout: timeout)
                    if response.status.code >= 500 { failed.append("http \(probe.target): \(response.status)") }
                } catch {
                    failed.append("http \(probe.target): \(error)")
                }
            case .traefikRoute:
                // Traefik answers 404 for a Host it has no route for, and 502-504 when the service behind it is down.
                guard let via = probe.via else { continue }
                var request = HTTPClientRequest(url: via)
                request.headers.add(name: "Host", value: probe.target)
                do {
                    let response = try await HTTPClient.shared.execute(request, timeout: timeout)
                    if response.status.code == 404 || response.status.code >= 500 {
                        failed.append("traefik-route \(probe.target) via \(via): \(response.status)\(response.status.code == 404 ? " (no route)" : "")")
                    }
                } catch {
                    failed.append("traefik-route \(probe.target) via \(via): \(error)")
                }
            }
        }
        return failed
    }
}

extension DrainExecutor {
    /// After each move, run the site's probes for that guest over the network.
    public mutating func probe(_ probes: [HealthProbe], with prober: NetworkHealthProber = NetworkHealthProber()) {
        healthCheck = { move in await prober.failures(of: probes.filter { $0.guest == move.vmid }) }
        probeCount = { move in probes.filter { $0.guest == move.vmid }.count }
    }
}
