/// The parts of `/proc/meminfo` the plan needs, in bytes.
public struct Meminfo: Sendable, Hashable, Codable {
    public var totalBytes: Int64
    public var availableBytes: Int64?
    public var swapTotalBytes: Int64?
}

public enum MeminfoParser {
    /// The lines the plan reads; a value of another line that cannot be read is only a warning.
    static let used: Set<String> = ["MemTotal", "MemAvailable", "SwapTotal"]

    public static func parse(_ text: String, file: String) -> (meminfo: Meminfo?, diagnostics: [Diagnostic]) {
        var values: [String: (bytes: Int64, line: Int)] = [:]
        var diagnostics: [Diagnostic] = TextChecks.binaryContent(text, file: file).map { [$0] } ?? []
        var lineNumber = 0
        for raw in TextChecks.lines(text) {
            lineNumber += 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: ":") else {
                diagnostics.append(.error(file, lineNumber, "expected 'Name: value kB' but found '\(line.prefix(80))'"))
                continue
            }
            let name = String(line[..<colon])
            let severity: Diagnostic.Severity = used.contains(name) ? .error : .warning
            let parts = line[line.index(after: colon)...].trimmingWhitespace().splitOnWhitespace()
            guard let n = Int64(parts[0]), n >= 0 else {
                diagnostics.append(Diagnostic(severity, file: file, line: lineNumber, "'\(name.prefix(80))' has no number of kB, found '\(parts[0].prefix(80))'"))
                continue
            }
            let unit = parts.count > 1 ? parts[1].lowercased() : ""
            let (bytes, overflow) = n.multipliedReportingOverflow(by: unit == "kb" ? 1024 : 1)
            if used.contains(name), overflow || !InputLimits.memoryBytes.contains(bytes) {
                diagnostics.append(.error(file, lineNumber, "\(name): \(n) \(parts.count > 1 ? parts[1] : "") is more memory than any machine has (at most \(InputLimits.memoryBytes.upperBound / 1024) kB): the capture is damaged. Capture /proc/meminfo again."))
                continue
            }
            if values[name] != nil, used.contains(name) {
                diagnostics.append(.warning(file, lineNumber, "\(name) appears twice (first on line \(values[name]!.line)); the last one is used"))
            }
            values[name] = (overflow ? Int64.max : bytes, lineNumber)
        }
        guard let total = values["MemTotal"] else {
            diagnostics.append(.error(file, nil, "no readable MemTotal line: is this /proc/meminfo?"))
            return (nil, diagnostics)
        }
        guard total.bytes > 0 else {
            diagnostics.append(.error(file, total.line, "MemTotal is 0: is this /proc/meminfo? Capture it again."))
            return (nil, diagnostics)
        }
        return (Meminfo(totalBytes: total.bytes, availableBytes: values["MemAvailable"]?.bytes, swapTotalBytes: values["SwapTotal"]?.bytes), diagnostics)
    }
}
