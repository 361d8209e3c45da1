/// SplitMix64: a small deterministic generator, so that every fuzz case is replayed from its seed
/// (`SystemRandomNumberGenerator` cannot be seeded).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One change to one file of a capture bundle, the way a damaged or hostile capture could look.
public enum BundleMutation: Sendable, Hashable, CustomStringConvertible {
    /// The `occurrence`-th number that stands as a value (`memory: 2048`, `"maxmem": 536870912`,
    /// `size=32G`) replaced by `value`, a number at the edge of its type.
    case edgeNumber(occurrence: Int, value: String)
    /// The file cut after `byte` bytes of UTF-8.
    case truncate(byte: Int)
    /// Raw bytes (NUL, invalid UTF-8, control characters) inserted at `byte`, read back the way a
    /// tree of Strings holds them: `String(decoding:as: UTF8.self)`.
    case insertBytes(byte: Int, bytes: [UInt8])
    /// Every line end written as CRLF.
    case crlf
    case empty
    /// A line of `length` characters inserted before line `line` (0-based).
    case hugeLine(line: Int, length: Int)
    /// `count` opening brackets inserted as a line before line `line` (0-based).
    case deepNesting(line: Int, count: Int, bracket: Character)
    case duplicateLine(Int)
    case deleteLine(Int)
    case swapLines(Int, Int)

    /// Numbers no capture holds in a value position: each must be refused with a diagnostic.
    public static let hugeNumbers = ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "9223372036854775807000",
                                     "1e308", "-1e308", "17592186044416", "NaN", "nan", "inf", "-inf", "1e-400"]
    /// Numbers at the edge that can be legitimate (`onboot: 0`, `"template": 0`).
    public static let smallNumbers = ["0", "-1"]

    public var description: String {
        switch self {
        case .edgeNumber(let occurrence, let value): "number #\(occurrence) -> \(value)"
        case .truncate(let byte): "truncate at byte \(byte)"
        case .insertBytes(let byte, let bytes): "insert bytes [\(bytes.map { String($0, radix: 16) }.joined(separator: " "))] at byte \(byte)"
        case .crlf: "CRLF line ends"
        case .empty: "empty file"
        case .hugeLine(let line, let length): "line of \(length) characters before line \(line + 1)"
        case .deepNesting(let line, let count, let bracket): "\(count) x '\(bracket)' before line \(line + 1)"
        case .duplicateLine(let line): "duplicate line \(line + 1)"
        case .deleteLine(let line): "delete line \(line + 1)"
        case .swapLines(let a, let b): "swap lines \(a + 1) and \(b + 1)"
        }
    }

    /// Whether a plan that changes under this mutation must come with a new diagnostic. The others can
    /// change a bundle's meaning legitimately, so only "no trap" and "diagnostics name a file" hold:
    /// deleting or swapping lines (a `net1:` line gone, an option moved to the next stanza), truncating
    /// a line-based file at a line end, a `0` or `-1` where zero or minus one are valid, duplicating a
    /// line (a second identical `[[probes]]` header is a new probe), inserting bytes that are plain
    /// text (`winV11` is just another name).
    public var mustBeReported: Bool {
        switch self {
        case .edgeNumber(_, let value): Self.hugeNumbers.contains(value)
        case .insertBytes(_, let bytes):
            String(decoding: bytes, as: UTF8.self).unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{FFFD}" }
        case .crlf, .empty, .hugeLine, .deepNesting: true
        case .truncate, .duplicateLine, .deleteLine, .swapLines: false
        }
    }
}

/// One generated case: which file of the bundle changed, how, and the whole changed bundle.
public struct MutationCase: Sendable, CustomStringConvertible {
    public var seed: UInt64
    public var index: Int
    public var file: String
    public var mutation: BundleMutation
    public var files: [String: String]

    public var description: String {
        "seed \(seed) case \(index): \(file): \(mutation) (replay with PVE2NIX_FUZZ_SEED=\(seed) PVE2NIX_FUZZ_CASE=\(index))"
    }
}

/// Derives mutated copies of a capture bundle. Deterministic: the same bundle, seed and index give
/// the same case, whatever ran before, so one failing case is replayed on its own.
public struct BundleMutator: Sendable {
    public let files: [String: String]
    private let paths: [String]

    public init(files: [String: String]) {
        self.files = files
        paths = files.keys.sorted()
    }

    public func mutationCase(seed: UInt64, index: Int) -> MutationCase {
        var rng = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03))
        let path = paths.isEmpty ? "" : paths[Int.random(in: 0..<paths.count, using: &rng)]
        let text = files[path] ?? ""
        let mutation = Self.pick(for: text, using: &rng)
        var mutated = files
        mutated[path] = Self.apply(mutation, to: text)
        return MutationCase(seed: seed, index: index, file: path, mutation: mutation, files: mutated)
    }

    static func pick(for text: String, using rng: inout SplitMix64) -> BundleMutation {
        let bytes = text.utf8.count
        let lines = max(Self.lines(text).count, 1)
        let numbers = Self.valueNumbers(in: text).count
        while true {
            switch Int.random(in: 0..<12, using: &rng) {
            case 0, 1, 2:
                guard numbers > 0 else { continue }
                let values = Int.random(in: 0..<4, using: &rng) == 0 ? BundleMutation.smallNumbers : BundleMutation.hugeNumbers
                return .edgeNumber(occurrence: Int.random(in: 0..<numbers, using: &rng), value: values.randomElement(using: &rng)!)
            case 3: return .truncate(byte: Int.random(in: 0...bytes, using: &rng))
            case 4:
                let pool: [UInt8] = [0x00, 0xFF, 0xFE, 0xC3, 0x80, 0xE2, 0x82, 0x1B, 0x07, 0x7F, 0xED, 0xA0, 0xF4, 0x90]
                let count = Int.random(in: 1...12, using: &rng)
                let inserted = (0..<count).map { _ in Bool.random(using: &rng) ? pool.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng) }
                return .insertBytes(byte: Int.random(in: 0...bytes, using: &rng), bytes: inserted)
            case 5: return .crlf
            case 6: return .empty
            case 7: return .hugeLine(line: Int.random(in: 0...lines, using: &rng), length: 1 << 20)
            case 8: return .deepNesting(line: Int.random(in: 0...lines, using: &rng), count: 10_000, bracket: Bool.random(using: &rng) ? "[" : "{")
            case 9: return .duplicateLine(Int.random(in: 0..<lines, using: &rng))
            case 10: return .deleteLine(Int.random(in: 0..<lines, using: &rng))
            default:
                guard lines > 1 else { continue }
                let a = Int.random(in: 0..<lines, using: &rng)
                var b = Int.random(in: 0..<lines - 1, using: &rng)
                if b >= a { b += 1 }
                return .swapLines(a, b)
            }
        }
    }

    public static func apply(_ mutation: BundleMutation, to text: String) -> String {
        switch mutation {
        case .edgeNumber(let occurrence, let value):
            let numbers = valueNumbers(in: text)
            guard occurrence < numbers.count else { return text }
            var result = Array(text.utf8)
            result.replaceSubrange(numbers[occurrence], with: Array(value.utf8))
            return String(decoding: result, as: UTF8.self)
        case .truncate(let byte):
            return String(decoding: Array(text.utf8.prefix(byte)), as: UTF8.self)
        case .insertBytes(let byte, let bytes):
            var result = Array(text.utf8)
            result.insert(contentsOf: bytes, at: min(byte, result.count))
            return String(decoding: result, as: UTF8.self)
        case .crlf:
            return Self.lines(text).joined(separator: "\r\n")
        case .empty:
            return ""
        case .hugeLine(let line, let length):
            return inserting(String(repeating: "x", count: length), before: line, in: text)
        case .deepNesting(let line, let count, let bracket):
            return inserting(String(repeating: bracket, count: count), before: line, in: text)
        case .duplicateLine(let line):
            var lines = Self.lines(text)
            guard line < lines.count else { return text }
            lines.insert(lines[line], at: line)
            return lines.joined(separator: "\n")
        case .deleteLine(let line):
            var lines = Self.lines(text)
            guard line < lines.count else { return text }
            lines.remove(at: line)
            return lines.joined(separator: "\n")
        case .swapLines(let a, let b):
            var lines = Self.lines(text)
            guard a < lines.count, b < lines.count else { return text }
            lines.swapAt(a, b)
            return lines.joined(separator: "\n")
        }
    }

    /// Physical lines, split on "\n" only, so that joining them with "\n" gives the text back.
    static func lines(_ text: String) -> [String] {
        text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func inserting(_ line: String, before index: Int, in text: String) -> String {
        var lines = Self.lines(text)
        lines.insert(line, at: min(index, lines.count))
        return lines.joined(separator: "\n")
    }

    /// Byte ranges of numbers that stand as a whole value: after `: `, `=`, `"`, a space or `[`, and
    /// followed by the end of the value (or a size unit). Numbers inside names, addresses, MACs,
    /// versions and comment lines are left alone: changing those is a different but valid bundle.
    static func valueNumbers(in text: String) -> [Range<Int>] {
        let bytes = Array(text.utf8)
        var ranges: [Range<Int>] = []
        var lineStart = true
        var comment = false
        var i = 0
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\n") { lineStart = true; comment = false; i += 1; continue }
            if lineStart, b != UInt8(ascii: " "), b != UInt8(ascii: "\t") {
                comment = b == UInt8(ascii: "#")
                lineStart = false
            }
            guard !comment, isDigit(b) else { i += 1; continue }
            var start = i
            if start > 0, bytes[start - 1] == UInt8(ascii: "-"), start > 1, !isLetter(bytes[start - 2]), !isDigit(bytes[start - 2]) { start -= 1 }
            var end = i
            while end < bytes.count, isDigit(bytes[end]) { end += 1 }
            if end + 1 < bytes.count, bytes[end] == UInt8(ascii: "."), isDigit(bytes[end + 1]) {
                end += 1
                while end < bytes.count, isDigit(bytes[end]) { end += 1 }
            }
            defer { i = end }
            let before = start > 0 ? bytes[start - 1] : UInt8(ascii: "\n")
            guard [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "\n")].contains(before) else { continue }
            var after = end < bytes.count ? bytes[end] : UInt8(ascii: "\n")
            var next = end + 1
            if "KMGTkmgt".utf8.contains(after) {
                after = next < bytes.count ? bytes[next] : UInt8(ascii: "\n")
                next += 1
            }
            let ends = [UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: ","), UInt8(ascii: " "), UInt8(ascii: "\t"),
                        UInt8(ascii: "\""), UInt8(ascii: "}"), UInt8(ascii: "]")]
            guard ends.contains(after) else { continue }
            // A value, not a key: `1: ...` or `"123": ...`.
            if next < bytes.count, after == UInt8(ascii: "\""), bytes[next] == UInt8(ascii: ":") { continue }
            ranges.append(start..<end)
        }
        return ranges
    }
}
