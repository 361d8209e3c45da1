/// What an interface is, as far as the interfaces file and the live links tell.
public enum InterfaceKind: String, Sendable, Hashable, Codable {
    case loopback, physical, bridge, bond, vlan, ovs, other

    /// Kinds pve2nix can carry over to systemd-networkd.
    public var isTranslatable: Bool { self != .ovs }
}

/// A hook command (`pre-up`, `up`, `post-up`, `down`, `pre-down`, `post-down`) that cannot be carried
/// over automatically; it is listed in the plan, never dropped silently.
public struct InterfaceHook: Sendable, Hashable, Codable {
    public var interface: String
    public var phase: String
    public var command: String
    public var file: String
    public var line: Int
}

/// One interface, merged from all its stanzas (inet and inet6).
public struct NetworkInterface: Sendable, Hashable, Codable {
    public var name: String
    public var kind: InterfaceKind
    public var auto: Bool
    /// `inet static`, `inet6 manual`…, one per stanza.
    public var methods: [String]
    public var addresses: [CIDRAddress]
    public var gateways: [String]
    public var mtu: Int?
    public var hwaddress: String?
    public var bridge: BridgeSettings?
    public var bond: BondSettings?
    public var vlan: VLANSettings?
    public var hooks: [InterfaceHook]
    /// Keys pve2nix does not interpret, kept for review (e.g. `ovs-type`, `dns-nameservers`).
    public var otherOptions: [String: [String]]
    public var file: String
    public var line: Int
}

public struct BridgeSettings: Sendable, Hashable, Codable {
    public var ports: [String]
    public var vlanAware: Bool
    /// VLAN ids the bridge ports carry (`bridge-vids`), expanded from ranges.
    public var vids: VLANSet
    public var pvid: Int?
    public var stp: Bool
    public var forwardDelay: Int?
}

public struct BondSettings: Sendable, Hashable, Codable {
    public var slaves: [String]
    public var mode: String
    public var miimon: Int?
    public var xmitHashPolicy: String?
    public var lacpRate: String?
    public var primary: String?
}

public struct VLANSettings: Sendable, Hashable, Codable {
    public var id: Int
    public var rawDevice: String
    public init(id: Int, rawDevice: String) {
        self.id = id
        self.rawDevice = rawDevice
    }
}

/// A set of VLAN ids kept as sorted ranges, e.g. `2-4094` or `10 20 40`.
public struct VLANSet: Sendable, Hashable, Codable, CustomStringConvertible {
    public var ranges: [ClosedRange<Int>]

    public init(ranges: [ClosedRange<Int>] = []) {
        self.ranges = ranges.sorted { $0.lowerBound < $1.lowerBound }
    }

    /// Parses `2-4094`, `10 20 30-40`; nil with the bad token when it cannot.
    public static func parse(_ text: String) -> Result<VLANSet, VLANSetError> {
        var ranges: [ClosedRange<Int>] = []
        for token in text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }) {
            let bounds = token.split(separator: "-", maxSplits: 1).map { Int($0) }
            guard let lo = bounds.first ?? nil, let hi = bounds.last ?? nil, lo <= hi, lo >= 1, hi <= 4094 else {
                return .failure(VLANSetError(token: String(token)))
            }
            ranges.append(lo...hi)
        }
        return .success(VLANSet(ranges: ranges))
    }

    public func contains(_ vid: Int) -> Bool { ranges.contains { $0.contains(vid) } }
    public var isEmpty: Bool { ranges.isEmpty }
    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: " ")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = (try? VLANSet.parse(text).get()) ?? VLANSet()
    }
}

public struct VLANSetError: Error, Sendable { public var token: String }
