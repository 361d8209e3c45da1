/// The parts of `/proc/meminfo` the plan needs, in bytes.
public struct Meminfo: Sendable, Hashable, Codable {
    public var totalBytes: Int64
    public var availableBytes: Int64?
    public var swapTotalBytes: Int64?
}

public enum MeminfoParser {
    public static func parse(_ text: String, file: String) -> (meminfo: Meminfo?, diagnostics: [Diagnostic]) {
        var values: [String: Int64] = [:]
        var diagnostics: [Diagnostic] = []
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: ":") else {
                diagnostics.append(.error(file, lineNumber, "expected 'Name: value kB' but found '\(line)'"))
                continue
            }
            let parts = line[line.index(after: colon)...].trimmingWhitespace().splitOnWhitespace()
            guard let n = Int64(parts[0]) else {
                diagnostics.append(.error(file, lineNumber, "'\(line[..<colon])' has no number"))
                continue
            }
            let unit = parts.count > 1 ? parts[1].lowercased() : ""
            values[String(line[..<colon])] = unit == "kb" ? n * 1024 : n
        }
        guard let total = values["MemTotal"] else {
            diagnostics.append(.error(file, nil, "no MemTotal line: is this /proc/meminfo?"))
            return (nil, diagnostics)
        }
        return (Meminfo(totalBytes: total, availableBytes: values["MemAvailable"], swapTotalBytes: values["SwapTotal"]), diagnostics)
    }
}
