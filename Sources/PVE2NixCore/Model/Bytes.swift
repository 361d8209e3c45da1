/// Human-readable binary sizes for reports (`1.0 TiB`); JSON always carries exact bytes.
public enum ByteFormat {
    public static func string(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes.magnitude)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return "\(bytes < 0 ? "-" : "")\(rounded) \(units[unit])"
    }

    public static let mebibyte: Int64 = 1 << 20
    public static let gibibyte: Int64 = 1 << 30

    /// Parses Proxmox sizes such as `32G`, `512M`, `1.5T`, `1048576` (bytes when no unit). Nil for
    /// anything else, and for a size that does not fit in Int64 bytes: never a trap.
    public static func parseProxmoxSize(_ text: String) -> Int64? {
        let multipliers: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var number = Substring(text)
        var multiplier: Int64 = 1
        if let last = number.last, let m = multipliers[Character(last.uppercased())] {
            multiplier = m
            number = number.dropLast()
        }
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }), let whole = Int64(parts[0]) else { return nil }
        let (bytes, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        guard parts.count == 2 else { return bytes }
        // A fraction of the unit: at most one unit's worth of bytes, so Double is exact enough.
        guard let fraction = Double("0." + parts[1]) else { return nil }
        let (total, overflowed) = bytes.addingReportingOverflow(Int64(fraction * Double(multiplier)))
        return overflowed ? nil : total
    }
}
