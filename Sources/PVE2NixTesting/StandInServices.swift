import Foundation
import PVE2NixCore

/// Stand-ins for a site's services, so a drain against the simulator can run its health probes:
/// one listener per address and port the probes name, answering 200 on each probed path and for
/// each Traefik route's Host.
public enum StandInServices {
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var hosts: [String: Int] = [:]
        public var paths: [String: Int] = [:]
    }

    /// The endpoints `probes` reach, and the probes they cannot stand in for (with why).
    public static func endpoints(for probes: [HealthProbe]) -> (endpoints: [Endpoint], skipped: [String]) {
        var byAddress: [String: Endpoint] = [:]
        var skipped: [String] = []
        func endpoint(_ host: String, _ port: Int) -> String {
            let key = "\(host):\(port)"
            if byAddress[key] == nil { byAddress[key] = Endpoint(host: host, port: port) }
            return key
        }
        for probe in probes {
            switch probe.kind {
            case .tcp:
                let parts = probe.target.split(separator: ":")
                guard parts.count == 2, let port = Int(parts[1]) else { skipped.append("\(probe.target): not host:port"); continue }
                _ = endpoint(String(parts[0]), port)
            case .http:
                guard let url = URL(string: probe.target), url.scheme == "http", let host = url.host else { skipped.append("\(probe.target): only plain http is stood in for"); continue }
                let key = endpoint(host, url.port ?? 80)
                byAddress[key]!.paths[url.path.isEmpty ? "/" : url.path + (url.query.map { "?" + $0 } ?? "")] = 200
            case .traefikRoute:
                guard let via = probe.via, let url = URL(string: via), url.scheme == "http", let host = url.host else {
                    skipped.append("traefik-route \(probe.target): no plain http Traefik to stand in for"); continue
                }
                let key = endpoint(host, url.port ?? 80)
                byAddress[key]!.hosts[probe.target] = 200
            }
        }
        return (byAddress.keys.sorted().map { byAddress[$0]! }, skipped)
    }
}
