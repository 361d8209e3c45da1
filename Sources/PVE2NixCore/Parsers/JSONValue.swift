/// A parsed JSON value that remembers the line it started on, so that semantic problems in
/// captured API output can be reported as `file:line`. Accessors are lenient the way the
/// Proxmox API needs: booleans may arrive as 0/1, numbers as strings.
public indirect enum JSONValue: Sendable, Hashable {
    case null(line: Int)
    case bool(Bool, line: Int)
    case number(Double, line: Int)
    case string(String, line: Int)
    case array([JSONValue], line: Int)
    case object([(key: String, value: JSONValue)], line: Int)

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    public var line: Int {
        switch self {
        case .null(let l), .bool(_, let l), .number(_, let l), .string(_, let l), .array(_, let l), .object(_, let l): l
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members, _) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items, _) = self { return items }
        return nil
    }

    public var objectMembers: [(key: String, value: JSONValue)]? {
        if case .object(let members, _) = self { return members }
        return nil
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// Strings as they are; numbers and booleans in their JSON spelling.
    public var stringValue: String? {
        switch self {
        case .string(let s, _): return s
        case .number(let n, _): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .bool(let b, _): return b ? "1" : "0"
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .number(let n, _): return n
        case .string(let s, _): return Self.number(s.trimmingWhitespace())
        case .bool(let b, _): return b ? 1 : 0
        default: return nil
        }
    }

    /// A number written as text, unless it reads as something else than written: infinity for 1e400,
    /// 0 for 1e-400, or NaN.
    static func number(_ text: String) -> Double? {
        guard let value = Double(text), value.isFinite else { return nil }
        let underflow = value == 0 && text.prefix { $0 != "e" && $0 != "E" }.contains { ("1"..."9").contains($0) }
        return underflow ? nil : value
    }

    public var int64Value: Int64? {
        guard let d = doubleValue, d.isFinite, abs(d) < 9.2e18 else { return nil }
        return Int64(d)
    }

    public var intValue: Int? { int64Value.map { Int($0) } }

    /// true/false, 1/0, "1"/"0", "yes"/"no", "true"/"false".
    public var boolValue: Bool? {
        switch self {
        case .bool(let b, _): return b
        case .number(let n, _): return n != 0
        case .string(let s, _):
            switch s.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off", "": return false
            default: return nil
            }
        default: return nil
        }
    }

    /// The value as plain Swift, for re-encoding (`inspect --json`).
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b, _): return b ? "true" : "false"
        case .number(let n, _): return stringValue ?? String(n)
        case .string(let s, _): return "\"\(s)\""
        case .array(let items, _): return "[" + items.map(\.description).joined(separator: ",") + "]"
        case .object(let members, _): return "{" + members.map { "\"\($0.key)\":\($0.value.description)" }.joined(separator: ",") + "}"
        }
    }
}

/// Why a JSON document could not be read.
public struct JSONSyntaxError: Error, Sendable, Equatable {
    public let line: Int
    public let message: String
}

/// A strict RFC 8259 reader over UTF-8 bytes that records line numbers.
public struct JSONReader {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var duplicates: [(key: String, line: Int)] = []

    /// Deeper nesting than any capture has; the reader recurses per level, so this bounds its stack.
    public static let maximumDepth = 512

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parseReportingDuplicates(text).value
    }

    /// The value and the keys that appear twice in one object (with the line of the repeat): RFC 8259
    /// leaves their meaning open; the accessors use the last one.
    public static func parseReportingDuplicates(_ text: String) throws(JSONSyntaxError) -> (value: JSONValue, duplicates: [(key: String, line: Int)]) {
        var reader = JSONReader(bytes: Array(text.utf8))
        reader.skipWhitespace()
        let value = try reader.readValue(depth: 0)
        reader.skipWhitespace()
        guard reader.index == reader.bytes.count else { throw reader.fail("unexpected text after the JSON value") }
        return (value, reader.duplicates)
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(line: line, message: message) }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\n"): line += 1; index += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    private mutating func readValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw fail("JSON nested more than \(Self.maximumDepth) levels deep; no capture is, so the file is damaged") }
        guard index < bytes.count else { throw fail("unexpected end of JSON") }
        let start = line
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(key: String, value: JSONValue)] = []
            var keys = Set<String>()
            skipWhitespace()
            if peek(UInt8(ascii: "}")) { index += 1; return .object(members, line: start) }
            while true {
                skipWhitespace()
                guard peek(UInt8(ascii: "\"")) else { throw fail("expected a string key in object") }
                let key = try readString()
                if !keys.insert(key).inserted { duplicates.append((key, line)) }
                skipWhitespace()
                guard peek(UInt8(ascii: ":")) else { throw fail("expected ':' after key \"\(key)\"") }
                index += 1
                skipWhitespace()
                members.append((key, try readValue(depth: depth + 1)))
                skipWhitespace()
                if peek(UInt8(ascii: ",")) { index += 1; continue }
                if peek(UInt8(ascii: "}")) { index += 1; return .object(members, line: start) }
                throw fail("expected ',' or '}' in object")
            }
        case UInt8(ascii: "["):
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if peek(UInt8(ascii: "]")) { index += 1; return .array(items, line: start) }
            while true {
                skipWhitespace()
                items.append(try readValue(depth: depth + 1))
                skipWhitespace()
                if peek(UInt8(ascii: ",")) { index += 1; continue }
                if peek(UInt8(ascii: "]")) { index += 1; return .array(items, line: start) }
                throw fail("expected ',' or ']' in array")
            }
        case UInt8(ascii: "\""):
            return .string(try readString(), line: start)
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true, line: start)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false, line: start)
        case UInt8(ascii: "n"): try expectWord("null"); return .null(line: start)
        default:
            return .number(try readNumber(), line: start)
        }
    }

    private func peek(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

    private mutating func expectWord(_ word: String) throws(JSONSyntaxError) {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else {
            throw fail("unexpected character in JSON")
        }
        index += w.count
    }

    private mutating func readNumber() throws(JSONSyntaxError) -> Double {
        let start = index
        let allowed = Set("+-0123456789.eE".utf8)
        while index < bytes.count, allowed.contains(bytes[index]) { index += 1 }
        guard index > start, let text = String(bytes: bytes[start..<index], encoding: .utf8),
              Double(text) != nil, text.first != "+" else {
            throw fail("unexpected character in JSON")
        }
        guard let value = JSONValue.number(text) else { throw fail("number \(text.prefix(40)) is out of range") }
        return value
    }

    private mutating func readString() throws(JSONSyntaxError) -> String {
        index += 1
        var out: [UInt8] = []
        while index < bytes.count {
            let b = bytes[index]
            index += 1
            switch b {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { break }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "u"):
                    var scalar = try readHex4()
                    if (0xD800...0xDBFF).contains(scalar), index + 1 < bytes.count,
                       bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = try readHex4()
                        // A high surrogate without its low half stays U+FFFD, as the decoder below makes it.
                        scalar = (0xDC00...0xDFFF).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8))
                default: out.append(e)
                }
            case 10:
                throw fail("unescaped newline in JSON string")
            default:
                out.append(b)
            }
        }
        throw fail("unterminated JSON string")
    }

    private mutating func readHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count, let text = String(bytes: bytes[index..<index + 4], encoding: .utf8),
              let value = UInt32(text, radix: 16) else { throw fail("bad \\u escape in JSON string") }
        index += 4
        return value
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
