/// Where a guest lives after the conversion.
public enum Rehoming: String, Sendable, Hashable, Codable, CaseIterable {
    /// Back on the node as a NixOS container (systemd-nspawn): NixOS guests only.
    case nspawn
    /// Back on the node as an Incus container: a "pet" keeping its own OS.
    case incus
    /// Stays on the peer it was drained to.
    case stay
}

/// A health check the drain runs after moving a guest, and validation runs after conversion.
public struct HealthProbe: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable { case tcp, http, traefikRoute = "traefik-route" }
    public var kind: Kind
    public var guest: VMID?
    /// `host:port` for tcp, a URL for http, a Host rule for traefik-route.
    public var target: String
    public var line: Int?
    /// For traefik-route: Traefik's entrypoint URL, asked for `target` in the Host header.
    public var via: String? = nil

    public init(kind: Kind, guest: VMID?, target: String, line: Int? = nil, via: String? = nil) {
        self.kind = kind
        self.guest = guest
        self.target = target
        self.line = line
        self.via = via
    }
}

/// Per-guest choices from `site.toml`.
public struct GuestIntent: Sendable, Hashable, Codable {
    public var rehome: Rehoming?
    public var target: NodeName?
    public var line: Int?
}

/// Per-node choices from `site.toml`.
public struct NodeIntent: Sendable, Hashable, Codable {
    public var installDisk: String?
    public var installPath: InstallPath?
    public var line: Int?
}

/// The operator's intent: what the capture cannot know.
public struct SiteIntent: Sendable, Hashable, Codable {
    public var name: String?
    public var managementVLAN: Int?
    public var serviceVLAN: Int?
    public var outOfBandConsole = false
    public var convertedNodes: [NodeName] = []
    public var installTool: InstallTool = .nixosAnywhere
    public var memoryHeadroomPercent = 15
    public var vcpuOvercommit = 4.0
    public var guests: [VMID: GuestIntent] = [:]
    public var nodes: [NodeName: NodeIntent] = [:]
    public var probes: [HealthProbe] = []

    public init() {}
}

public enum InstallTool: String, Sendable, Hashable, Codable { case nixosAnywhere = "nixos-anywhere", clan }

/// How NixOS gets onto the node.
public enum InstallPath: String, Sendable, Hashable, Codable, CaseIterable {
    /// nixos-anywhere in place via kexec.
    case kexec = "A"
    /// Boot an installer image, then install.
    case bootImage = "B"
    /// `clan machines install`.
    case clan = "C"

    public var title: String {
        switch self {
        case .kexec: "A (nixos-anywhere in place via kexec)"
        case .bootImage: "B (boot image, then install)"
        case .clan: "C (clan machines install)"
        }
    }
}
