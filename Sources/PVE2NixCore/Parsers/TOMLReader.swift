/// A TOML value from the subset pve2nix reads (site.toml, bundle.toml).
public indirect enum TOMLValue: Sendable, Hashable {
    case string(String), integer(Int), float(Double), boolean(Bool), array([TOMLValue]), table(TOMLTable)

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var int: Int? { if case .integer(let i) = self { return i } else { return nil } }
    public var double: Double? { if case .float(let d) = self { return d } else { return nil } }
    public var bool: Bool? { if case .boolean(let b) = self { return b } else { return nil } }
    public var table: TOMLTable? { if case .table(let t) = self { return t } else { return nil } }
    public var array: [TOMLValue]? { if case .array(let a) = self { return a } else { return nil } }
}

/// An ordered TOML table.
public struct TOMLTable: Sendable, Hashable {
    public var entries: [(key: String, value: TOMLValue)] = []
    public subscript(key: String) -> TOMLValue? { entries.first { $0.key == key }?.value }
    public var keys: [String] { entries.map(\.key) }
    public static func == (a: TOMLTable, b: TOMLTable) -> Bool { a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.value) == b.entries.map(\.value) }
    public func hash(into hasher: inout Hasher) { hasher.combine(keys) }
}

public struct TOMLSyntaxError: Error, Sendable, Equatable {
    public let line: Int
    public let message: String
}

/// Reads the TOML subset operator files use: `[table]`, `[[array.of.tables]]`, `key = value` with
/// dotted or quoted keys, basic and literal strings, integers, floats, booleans and arrays (which may
/// span lines), and comments. Inline tables, multi-line strings and dates are reported as unsupported.
/// Written here because TOMLKit's C++ core aborts the process on some malformed input.
public enum TOMLReader {
    public static func parse(_ text: String) throws(TOMLSyntaxError) -> TOMLTable {
        var root = TOMLTable()
        var currentPath: [String] = []
        var arrayTable = false
        var definedTables = Set<[String]>()
        let lines = TextChecks.lines(text).map(String.init)
        var index = 0
        while index < lines.count {
            let lineNumber = index + 1
            var line = try stripComment(lines[index], line: lineNumber).trimmingWhitespace()
            index += 1
            if line.isEmpty { continue }
            if line.hasPrefix("[[") {
                guard line.hasSuffix("]]") else { throw TOMLSyntaxError(line: lineNumber, message: "expected ']]' to close the array-of-tables header") }
                currentPath = try parseKey(String(line.dropFirst(2).dropLast(2)), line: lineNumber)
                arrayTable = true
                try appendTable(&root, path: currentPath, line: lineNumber)
                continue
            }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw TOMLSyntaxError(line: lineNumber, message: "expected ']' to close the table header") }
                currentPath = try parseKey(String(line.dropFirst().dropLast()), line: lineNumber)
                arrayTable = false
                guard definedTables.insert(currentPath).inserted else {
                    throw TOMLSyntaxError(line: lineNumber, message: "table [\(currentPath.joined(separator: "."))] is defined twice")
                }
                try ensureTable(&root, path: currentPath, line: lineNumber)
                continue
            }
            guard let eq = try equalsIndex(line, line: lineNumber) else {
                throw TOMLSyntaxError(line: lineNumber, message: "expected 'key = value', a [table] or a [[table]] header")
            }
            let key = try parseKey(String(line[..<eq]), line: lineNumber)
            var valueText = String(line[line.index(after: eq)...]).trimmingWhitespace()
            // Arrays may span lines: gather until the brackets balance. Strings do not span lines, so
            // each line's balance adds up, and a long unclosed array costs linear time.
            var depth = valueText.hasPrefix("[") ? bracketDepth(valueText) : 0
            while depth > 0 {
                guard index < lines.count else { throw TOMLSyntaxError(line: lineNumber, message: "array is not closed with ']'") }
                line = try stripComment(lines[index], line: index + 1).trimmingWhitespace()
                index += 1
                valueText += " " + line
                depth += bracketDepth(line)
            }
            var cursor = Substring(valueText)
            let value = try parseValue(&cursor, line: lineNumber)
            guard cursor.trimmingWhitespace().isEmpty else {
                throw TOMLSyntaxError(line: lineNumber, message: "unexpected text after the value: '\(cursor.trimmingWhitespace())'")
            }
            try insert(&root, tablePath: currentPath, inArray: arrayTable, key: key, value: value, line: lineNumber)
        }
        return root
    }

    // MARK: Lexing

    private static func stripComment(_ line: String, line number: Int) throws(TOMLSyntaxError) -> String {
        var quote: Character? = nil
        var escaped = false
        for (offset, c) in line.enumerated() {
            if c.asciiValue.map({ $0 < 0x20 && $0 != 0x09 && $0 != 0x0D }) == true || c == "\u{7F}" {
                throw TOMLSyntaxError(line: number, message: "control character in the file; save it as plain UTF-8 text")
            }
            // How bytes that are not UTF-8 arrive in a String.
            if c == "\u{FFFD}" {
                throw TOMLSyntaxError(line: number, message: "bytes that are not UTF-8 in the file; save it as plain UTF-8 text")
            }
            if let q = quote {
                if escaped { escaped = false } else if c == "\\" && q == "\"" { escaped = true } else if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" {
                return String(line.prefix(offset))
            }
        }
        return line
    }

    private static func equalsIndex(_ line: String, line number: Int) throws(TOMLSyntaxError) -> String.Index? {
        var quote: Character? = nil
        for i in line.indices {
            let c = line[i]
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if c == "=" { return i }
        }
        return nil
    }

    /// Opening less closing brackets outside quotes.
    private static func bracketDepth(_ text: String) -> Int {
        var depth = 0
        var quote: Character? = nil
        for c in text {
            if let q = quote { if c == q { quote = nil } ; continue }
            if c == "\"" || c == "'" { quote = c } else if c == "[" { depth += 1 } else if c == "]" { depth -= 1 }
        }
        return depth
    }

    /// More dotted parts than any site.toml key; the table builders recurse once per part.
    static let maximumKeyParts = 32

    private static func parseKey(_ text: String, line: Int) throws(TOMLSyntaxError) -> [String] {
        var parts: [String] = []
        var cursor = Substring(text.trimmingWhitespace())
        while true {
            cursor = cursor.drop { $0 == " " || $0 == "\t" }
            guard let first = cursor.first else { throw TOMLSyntaxError(line: line, message: "empty key") }
            if first == "\"" || first == "'" {
                guard case .string(let s) = try parseValue(&cursor, line: line) else { throw TOMLSyntaxError(line: line, message: "bad quoted key") }
                parts.append(s)
            } else {
                let bare = cursor.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
                guard !bare.isEmpty else { throw TOMLSyntaxError(line: line, message: "'\(text.trimmingWhitespace())' is not a valid key") }
                parts.append(String(bare))
                cursor = cursor.dropFirst(bare.count)
            }
            cursor = cursor.drop { $0 == " " || $0 == "\t" }
            if cursor.isEmpty { return parts }
            guard parts.count < maximumKeyParts else {
                throw TOMLSyntaxError(line: line, message: "key has more than \(maximumKeyParts) dotted parts")
            }
            guard cursor.first == "." else { throw TOMLSyntaxError(line: line, message: "'\(text.trimmingWhitespace())' is not a valid key") }
            cursor = cursor.dropFirst()
        }
    }

    private static func parseValue(_ cursor: inout Substring, line: Int, depth: Int = 0) throws(TOMLSyntaxError) -> TOMLValue {
        cursor = cursor.drop { $0 == " " || $0 == "\t" }
        guard depth < 32 else { throw TOMLSyntaxError(line: line, message: "arrays nested too deeply") }
        guard let first = cursor.first else { throw TOMLSyntaxError(line: line, message: "missing value after '='") }
        switch first {
        case "\"":
            if cursor.hasPrefix("\"\"\"") { throw TOMLSyntaxError(line: line, message: "multi-line strings are not supported here; use one line") }
            cursor = cursor.dropFirst()
            var out = ""
            while let c = cursor.first {
                cursor = cursor.dropFirst()
                if c == "\"" { return .string(out) }
                if c == "\\" {
                    guard let e = cursor.first else { break }
                    cursor = cursor.dropFirst()
                    switch e {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    case "\\": out.append("\\")
                    case "\"": out.append("\"")
                    case "u", "U":
                        let n = e == "u" ? 4 : 8
                        guard let v = UInt32(String(cursor.prefix(n)), radix: 16), let scalar = Unicode.Scalar(v) else {
                            throw TOMLSyntaxError(line: line, message: "bad \\\(e) escape in string")
                        }
                        out.unicodeScalars.append(scalar)
                        cursor = cursor.dropFirst(n)
                    default: throw TOMLSyntaxError(line: line, message: "unknown escape '\\\(e)' in string")
                    }
                } else {
                    out.append(c)
                }
            }
            throw TOMLSyntaxError(line: line, message: "string is not closed with '\"'")
        case "'":
            cursor = cursor.dropFirst()
            guard let end = cursor.firstIndex(of: "'") else { throw TOMLSyntaxError(line: line, message: "string is not closed with \"'\"") }
            let s = String(cursor[..<end])
            cursor = cursor[cursor.index(after: end)...]
            return .string(s)
        case "[":
            cursor = cursor.dropFirst()
            var items: [TOMLValue] = []
            while true {
                cursor = cursor.drop { $0 == " " || $0 == "\t" }
                if cursor.first == "]" { cursor = cursor.dropFirst(); return .array(items) }
                items.append(try parseValue(&cursor, line: line, depth: depth + 1))
                cursor = cursor.drop { $0 == " " || $0 == "\t" }
                if cursor.first == "," { cursor = cursor.dropFirst(); continue }
                if cursor.first == "]" { cursor = cursor.dropFirst(); return .array(items) }
                throw TOMLSyntaxError(line: line, message: "expected ',' or ']' in array")
            }
        case "{":
            throw TOMLSyntaxError(line: line, message: "inline tables are not supported here; write a [table] instead")
        default:
            let token = cursor.prefix { !($0 == "," || $0 == "]" || $0 == " " || $0 == "\t") }
            cursor = cursor.dropFirst(token.count)
            let t = String(token)
            if t == "true" { return .boolean(true) }
            if t == "false" { return .boolean(false) }
            let digits = t.replacingOccurrences(of: "_", with: "")
            if let i = Int(digits) { return .integer(i) }
            if digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let d = Double(digits), d.isFinite { return .float(d) }
            throw TOMLSyntaxError(line: line, message: "'\(t)' is not a value: quote strings, e.g. key = \"\(t)\"")
        }
    }

    // MARK: Building the tree

    private static func ensureTable(_ table: inout TOMLTable, path: [String], line: Int) throws(TOMLSyntaxError) {
        guard let head = path.first else { return }
        var child: TOMLTable
        var position = table.entries.firstIndex { $0.key == head }
        if let p = position {
            switch table.entries[p].value {
            case .table(let t): child = t
            case .array(var items) where items.last?.table != nil:
                // A sub-table of the last array element: [[a]] then [a.b].
                var last = items.removeLast().table!
                try ensureTable(&last, path: Array(path.dropFirst()), line: line)
                items.append(.table(last))
                table.entries[p].value = .array(items)
                return
            default: throw TOMLSyntaxError(line: line, message: "'\(head)' is already a value, not a table")
            }
        } else {
            child = TOMLTable()
            table.entries.append((head, .table(child)))
            position = table.entries.count - 1
        }
        try ensureTable(&child, path: Array(path.dropFirst()), line: line)
        table.entries[position!].value = .table(child)
    }

    private static func appendTable(_ table: inout TOMLTable, path: [String], line: Int) throws(TOMLSyntaxError) {
        let head = path[0]
        if path.count == 1 {
            if let p = table.entries.firstIndex(where: { $0.key == head }) {
                guard case .array(var items) = table.entries[p].value, items.allSatisfy({ $0.table != nil }) else {
                    throw TOMLSyntaxError(line: line, message: "'\(head)' is already defined and is not an array of tables")
                }
                items.append(.table(TOMLTable()))
                table.entries[p].value = .array(items)
            } else {
                table.entries.append((head, .array([.table(TOMLTable())])))
            }
            return
        }
        try ensureTable(&table, path: [head], line: line)
        let p = table.entries.firstIndex { $0.key == head }!
        guard var child = table.entries[p].value.table else { throw TOMLSyntaxError(line: line, message: "'\(head)' is not a table") }
        try appendTable(&child, path: Array(path.dropFirst()), line: line)
        table.entries[p].value = .table(child)
    }

    private static func insert(_ root: inout TOMLTable, tablePath: [String], inArray: Bool, key: [String], value: TOMLValue, line: Int) throws(TOMLSyntaxError) {
        func set(_ table: inout TOMLTable, _ path: ArraySlice<String>) throws(TOMLSyntaxError) {
            let head = path.first!
            if path.count == 1 {
                guard table[head] == nil else { throw TOMLSyntaxError(line: line, message: "key '\(key.joined(separator: "."))' is defined twice") }
                table.entries.append((head, value))
                return
            }
            var child = table[head]?.table ?? TOMLTable()
            if table[head] != nil && table[head]?.table == nil { throw TOMLSyntaxError(line: line, message: "'\(head)' is already a value, not a table") }
            try set(&child, path.dropFirst())
            if let p = table.entries.firstIndex(where: { $0.key == head }) { table.entries[p].value = .table(child) } else { table.entries.append((head, .table(child))) }
        }
        func descend(_ table: inout TOMLTable, _ path: ArraySlice<String>) throws(TOMLSyntaxError) {
            guard let head = path.first else { try set(&table, key[...]); return }
            let p = table.entries.firstIndex { $0.key == head }!
            switch table.entries[p].value {
            case .table(var child):
                try descend(&child, path.dropFirst())
                table.entries[p].value = .table(child)
            case .array(var items):
                var last = items.removeLast().table!
                try descend(&last, path.dropFirst())
                items.append(.table(last))
                table.entries[p].value = .array(items)
            default:
                throw TOMLSyntaxError(line: line, message: "'\(head)' is not a table")
            }
        }
        try descend(&root, tablePath[...])
    }
}
