/// POSIX shell quoting: a word that `sh` reads back as exactly the given text.
public enum ShellQuoting {
    /// `text` as one shell word: left bare when it holds only safe characters, else in single
    /// quotes with each `'` written as `'\''`.
    public static func quote(_ text: String) -> String {
        if !text.isEmpty, text.unicodeScalars.allSatisfy(isSafe) { return text }
        return "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: #"'\''"#) + "'"
    }

    /// A command line for messages and logs: each word quoted as `sh` would need it.
    public static func commandLine(_ words: [String]) -> String { words.map(quote).joined(separator: " ") }

    private static func isSafe(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".", "/", ":", "@", "%", "+", "=", ",": true
        default: false
        }
    }
}
