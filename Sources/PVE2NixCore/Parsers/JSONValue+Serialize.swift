extension JSONValue {
    /// Compact, valid JSON (strings escaped per RFC 8259).
    public var serialized: String {
        switch self {
        case .null: return "null"
        case .bool(let b, _): return b ? "true" : "false"
        case .number: return stringValue ?? "0"
        case .string(let s, _): return Self.quote(s)
        case .array(let items, _): return "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case .object(let members, _): return "{" + members.map { Self.quote($0.key) + ":" + $0.value.serialized }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u00" + hex2(Int(scalar.value))
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
