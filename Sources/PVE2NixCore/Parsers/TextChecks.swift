/// Checks every line-based parser makes before reading a file: line ends and binary content.
enum TextChecks {
    /// Physical lines, ended by LF or CRLF. A String holds CRLF as one Character, so splitting on
    /// "\n" alone would read a CRLF file as a single line.
    static func lines(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }

    /// An error naming the first line that holds a NUL, another control character or bytes that
    /// were not UTF-8 (read as U+FFFD): such a file is damaged or not text, and what is read from
    /// it cannot be trusted.
    static func binaryContent(_ text: String, file: String) -> Diagnostic? {
        var line = 1
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: line += 1
            case 0x09, 0x0D: continue
            case 0x00:
                return .error(file, line, "line \(line) holds a NUL byte: the file is damaged or is not text. Capture it again.")
            case 0xFFFD:
                return .error(file, line, "line \(line) holds bytes that are not UTF-8: the file is damaged or is not text. Capture it again.")
            case 0x01...0x1F, 0x7F, 0x80...0x9F:
                return .error(file, line, "line \(line) holds the control character U+\(hex(scalar.value)): the file is damaged or is not text. Capture it again.")
            default: continue
            }
        }
        return nil
    }

    /// A note for a file with nothing in it, where an empty file is valid but worth a look.
    static func emptiness(_ text: String, file: String, what: String) -> Diagnostic? {
        text.allSatisfy(\.isWhitespace) ? .warning(file, nil, "the file is empty: \(what)") : nil
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
