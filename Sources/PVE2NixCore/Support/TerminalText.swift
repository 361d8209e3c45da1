/// Text from captures printed to a terminal: control characters (an escape sequence in a guest's
/// name, a NUL, a stray carriage return) are shown as `\u{…}` instead of acting on the terminal.
/// Line feeds and tabs stay.
public enum TerminalText {
    public static func safe(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\n" || s == "\t" { return false }
        return s.value < 0x20 || s.value == 0x7f || (0x80...0x9f).contains(s.value) || s.value == 0x2028 || s.value == 0x2029
            || (0x202a...0x202e).contains(s.value) || (0x2066...0x2069).contains(s.value)
    }
}
