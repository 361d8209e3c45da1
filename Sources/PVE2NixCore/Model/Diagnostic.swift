/// One problem found in the input or while planning, located by file and line where it has one.
public struct Diagnostic: Sendable, Hashable, Codable {
    public enum Severity: String, Sendable, Hashable, Codable, Comparable {
        case error, warning, info

        private var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }

    public var severity: Severity
    /// Path relative to the bundle root, e.g. `nodes/villa-pve-01/interfaces`.
    public var file: String?
    /// 1-based line number, when the problem has one.
    public var line: Int?
    public var message: String

    public init(_ severity: Severity, file: String?, line: Int? = nil, _ message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.message = message
    }

    public static func error(_ file: String?, _ line: Int? = nil, _ message: String) -> Diagnostic {
        Diagnostic(.error, file: file, line: line, message)
    }

    public static func warning(_ file: String?, _ line: Int? = nil, _ message: String) -> Diagnostic {
        Diagnostic(.warning, file: file, line: line, message)
    }

    public static func info(_ file: String?, _ line: Int? = nil, _ message: String) -> Diagnostic {
        Diagnostic(.info, file: file, line: line, message)
    }

    /// `file:line: severity: message`, the form compilers use, so editors can jump to it.
    public var rendered: String {
        var place = file ?? "<site>"
        if let line { place += ":\(line)" }
        return "\(place): \(severity.rawValue): \(message)"
    }
}

extension Array where Element == Diagnostic {
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public var errorCount: Int { filter { $0.severity == .error }.count }
    public var warningCount: Int { filter { $0.severity == .warning }.count }
}
