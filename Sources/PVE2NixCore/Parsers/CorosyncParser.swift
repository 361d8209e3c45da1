/// A member of the corosync nodelist.
public struct CorosyncNode: Sendable, Hashable, Codable {
    public var name: NodeName
    public var nodeID: Int?
    public var quorumVotes: Int
    public var ringAddresses: [String]
    public var line: Int
}

public struct CorosyncConfig: Sendable, Hashable, Codable {
    public var clusterName: String?
    public var configVersion: Int?
    public var nodes: [CorosyncNode]
    public var hasQDevice: Bool
}

/// Reads `/etc/pve/corosync.conf`: nested `name { key: value }` blocks.
public enum CorosyncParser {
    public static func parse(_ text: String, file: String) -> (config: CorosyncConfig, diagnostics: [Diagnostic]) {
        var diagnostics: [Diagnostic] = TextChecks.binaryContent(text, file: file).map { [$0] } ?? []
        var stack: [String] = []
        var nodes: [CorosyncNode] = []
        var current: [String: String] = [:]
        var currentLine = 0
        var clusterName: String? = nil
        var configVersion: Int? = nil
        var qdevice = false
        var lineNumber = 0
        var currentLines: [String: Int] = [:]
        func number(_ key: String, in range: ClosedRange<Int>) -> Int? {
            guard let text = current[key] else { return nil }
            guard let n = Int(text), range.contains(n) else {
                diagnostics.append(.error(file, currentLines[key] ?? currentLine, "\(key): '\(text.prefix(40))' is not a whole number within \(range.spelled)"))
                return nil
            }
            return n
        }
        for raw in TextChecks.lines(text) {
            lineNumber += 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasSuffix("{") {
                let name = line.dropLast().trimmingWhitespace()
                stack.append(name)
                if stack == ["nodelist", "node"] { current = [:]; currentLines = [:]; currentLine = lineNumber }
                if name == "device" && stack.contains("quorum") { qdevice = true }
                continue
            }
            if line == "}" {
                guard !stack.isEmpty else {
                    diagnostics.append(.error(file, lineNumber, "'}' without a matching '{'"))
                    continue
                }
                if stack == ["nodelist", "node"] {
                    if let name = current["name"] {
                        let rings = current.keys.filter { $0.hasPrefix("ring") && $0.hasSuffix("_addr") }.sorted().compactMap { current[$0] }
                        nodes.append(CorosyncNode(name: NodeName(name), nodeID: number("nodeid", in: InputLimits.nodeID),
                                                  quorumVotes: number("quorum_votes", in: InputLimits.quorumVotes) ?? 1,
                                                  ringAddresses: rings, line: currentLine))
                    } else {
                        diagnostics.append(.error(file, currentLine, "nodelist entry without 'name'"))
                    }
                }
                stack.removeLast()
                continue
            }
            guard let colon = line.firstIndex(of: ":") else {
                diagnostics.append(.error(file, lineNumber, "expected 'key: value', '<section> {' or '}' but found '\(line.prefix(80))'"))
                continue
            }
            let key = line[..<colon].trimmingWhitespace()
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            if stack == ["nodelist", "node"] { current[key] = value; currentLines[key] = lineNumber }
            if stack == ["totem"] && key == "cluster_name" { clusterName = value }
            if stack == ["totem"] && key == "config_version" {
                configVersion = Int(value).flatMap { $0 >= 0 ? $0 : nil }
                if configVersion == nil { diagnostics.append(.error(file, lineNumber, "config_version: '\(value.prefix(40))' is not a whole number of at least 0")) }
            }
        }
        if !stack.isEmpty {
            diagnostics.append(.error(file, lineNumber, "section '\(stack.joined(separator: " > "))' is not closed with '}'"))
        }
        if nodes.isEmpty {
            diagnostics.append(.error(file, nil, "corosync.conf has no nodelist entries"))
        }
        return (CorosyncConfig(clusterName: clusterName, configVersion: configVersion, nodes: nodes, hasQDevice: qdevice), diagnostics)
    }
}
