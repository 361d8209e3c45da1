/// An interface address with its prefix length, e.g. `10.1.10.11/24` or `fd00::1/64`.
public struct CIDRAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Family: String, Sendable, Hashable, Codable { case inet, inet6 }
    public var address: String
    public var prefixLength: Int
    public var family: Family

    public init(address: String, prefixLength: Int, family: Family) {
        self.address = address
        self.prefixLength = prefixLength
        self.family = family
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// Parses `a.b.c.d[/n]` or an IPv6 address `[/n]`; `netmask` may be dotted or a prefix length.
    public static func parse(_ text: String, netmask: String? = nil) -> CIDRAddress? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let host = parts[0]
        let family: Family
        if IPv4.parse(host) != nil { family = .inet } else if IPv6.isValid(host) { family = .inet6 } else { return nil }
        let maximum = family == .inet ? 32 : 128
        var prefix: Int? = nil
        if parts.count == 2 {
            prefix = family == .inet ? IPv4.prefixLength(fromMask: parts[1]) : Int(parts[1])
        } else if let netmask, !netmask.isEmpty {
            prefix = family == .inet ? IPv4.prefixLength(fromMask: netmask) : Int(netmask)
        } else {
            prefix = maximum
        }
        guard let p = prefix, p >= 0, p <= maximum else { return nil }
        return CIDRAddress(address: host, prefixLength: p, family: family)
    }

    /// Whether `other` (an IPv4 host) lies inside this address's network.
    public func contains(_ other: String) -> Bool {
        // A decoded plan may carry any prefix; only 0-32 make a mask.
        guard family == .inet, (0...32).contains(prefixLength), let a = IPv4.parse(address), let b = IPv4.parse(other) else { return false }
        let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << (32 - UInt32(prefixLength))
        return a & mask == b & mask
    }
}

public enum IPv4 {
    public static func parse(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy(\.isASCIIDigit), let n = UInt32(octet), n <= 255 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    /// `24` or `255.255.255.0` → 24; nil for a non-contiguous mask.
    public static func prefixLength(fromMask mask: String) -> Int? {
        if let n = Int(mask) { return (0...32).contains(n) ? n : nil }
        guard let m = parse(mask) else { return nil }
        let ones = m.nonzeroBitCount
        let expected: UInt32 = ones == 0 ? 0 : ~UInt32(0) << (32 - UInt32(ones))
        return m == expected ? ones : nil
    }
}

public enum IPv6 {
    public static func isValid(_ text: String) -> Bool {
        guard text.contains(":"), text.count <= 45 else { return false }
        let allowed = Set("0123456789abcdefABCDEF:.")
        guard text.allSatisfy({ allowed.contains($0) }) else { return false }
        let doubleColons = text.components(separatedBy: "::").count - 1
        guard doubleColons <= 1 else { return false }
        let groups = text.split(separator: ":", omittingEmptySubsequences: true)
        guard groups.allSatisfy({ $0.count <= 4 || $0.contains(".") }) else { return false }
        return doubleColons == 1 ? groups.count < 8 : groups.count == 8 || (groups.count == 7 && groups.last?.contains(".") == true)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
