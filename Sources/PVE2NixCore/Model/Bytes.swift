/// Human-readable binary sizes for reports (`1.0 TiB`); JSON always carries exact bytes.
public enum ByteFormat {
    public static func string(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return "\(rounded) \(units[unit])"
    }

    public static let mebibyte: Int64 = 1 << 20
    public static let gibibyte: Int64 = 1 << 30

    /// Parses Proxmox sizes such as `32G`, `512M`, `8T`, `1048576` (bytes when no unit).
    public static func parseProxmoxSize(_ text: String) -> Int64? {
        guard let last = text.last else { return nil }
        let multipliers: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        if let m = multipliers[Character(last.uppercased())] {
            guard let n = Double(text.dropLast()) else { return nil }
            return Int64(n * Double(m))
        }
        return Int64(text)
    }
}
