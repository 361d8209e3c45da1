import Foundation

/// One `key: value` line of a guest config, with the line it came from.
public struct ConfigEntry: Sendable, Hashable, Codable {
    public var key: String
    public var value: String
    public var line: Int
}

/// A named section of a guest config: the current config, `[PENDING]`/`[pve:pending]`, or a snapshot.
public struct ConfigSection: Sendable, Hashable, Codable {
    public var name: String
    public var entries: [ConfigEntry]
    public var line: Int

    public subscript(key: String) -> String? { entries.last { $0.key == key }?.value }
    public func entry(_ key: String) -> ConfigEntry? { entries.last { $0.key == key } }

    /// Entries whose key is `prefix` followed by digits (`net0`, `mp3`), in numeric order.
    public func indexed(_ prefix: String) -> [ConfigEntry] {
        entries.filter { e in
            e.key.hasPrefix(prefix) && e.key.count > prefix.count && e.key.dropFirst(prefix.count).allSatisfy(\.isASCIIDigit)
        }.sorted { (Int($0.key.dropFirst(prefix.count)) ?? Int.max, $0.key) < (Int($1.key.dropFirst(prefix.count)) ?? Int.max, $1.key) }
    }
}

/// `/etc/pve/nodes/<node>/{lxc,qemu-server}/<vmid>.conf` with its sections kept apart.
public struct GuestConfigFile: Sendable, Hashable, Codable {
    public var kind: GuestKind
    public var vmid: VMID
    public var file: String
    /// The description, decoded from the leading `#` lines.
    public var description: String
    public var current: ConfigSection
    public var pending: ConfigSection?
    public var snapshots: [ConfigSection]
    public var diagnostics: [Diagnostic]
}

/// Reads Proxmox guest configs. Raw `lxc.*` keys may use `:` or `=`.
public enum GuestConfigParser {
    public static func parse(_ text: String, kind: GuestKind, vmid: VMID, file: String) -> GuestConfigFile {
        var diagnostics: [Diagnostic] = TextChecks.binaryContent(text, file: file).map { [$0] } ?? []
        var descriptionLines: [String] = []
        var sections: [ConfigSection] = [ConfigSection(name: "", entries: [], line: 1)]
        var lineNumber = 0
        for rawLine in TextChecks.lines(text) {
            lineNumber += 1
            let line = String(rawLine).trimmingWhitespace()
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                // Only comments of the current section form the description.
                if sections.count == 1 { descriptionLines.append(percentDecode(String(line.dropFirst()))) }
                continue
            }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    diagnostics.append(.error(file, lineNumber, "section header '\(line.prefix(80))' is not closed with ']'"))
                    continue
                }
                sections.append(ConfigSection(name: String(line.dropFirst().dropLast()), entries: [], line: lineNumber))
                continue
            }
            let separatorIndex: String.Index?
            if line.hasPrefix("lxc.") {
                separatorIndex = line.firstIndex { $0 == ":" || $0 == "=" }
            } else {
                separatorIndex = line.firstIndex(of: ":")
            }
            guard let sep = separatorIndex else {
                diagnostics.append(.error(file, lineNumber, "'\(line.prefix(80))' is not a 'key: value' line"))
                continue
            }
            let key = String(line[..<sep]).trimmingWhitespace()
            let value = String(line[line.index(after: sep)...]).trimmingWhitespace()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                diagnostics.append(.error(file, lineNumber, "'\(key.prefix(80))' is not a valid config key"))
                continue
            }
            // Raw `lxc.*` keys repeat by design (one `lxc.mount.entry` per mount).
            if !key.hasPrefix("lxc."), let earlier = sections[sections.count - 1].entry(key) {
                diagnostics.append(.warning(file, lineNumber, "'\(key)' is set again (first on line \(earlier.line)); Proxmox uses the last one. Remove one of them."))
            }
            sections[sections.count - 1].entries.append(ConfigEntry(key: key, value: value, line: lineNumber))
        }
        let current = sections[0]
        let pendingName = kind == .qemu ? "PENDING" : "pve:pending"
        let pending = sections.dropFirst().first { $0.name == pendingName || $0.name == "PENDING" || $0.name == "pve:pending" }
        let snapshots = sections.dropFirst().filter { $0.name != pending?.name }
        if current.entries.isEmpty {
            diagnostics.append(.error(file, 1, "the config has no current section (no 'key: value' lines before the first [section])"))
        }
        for snapshot in snapshots where snapshot.name.contains(":") {
            diagnostics.append(.warning(file, snapshot.line, "section [\(snapshot.name)] is neither a snapshot name nor a pending section"))
        }
        return GuestConfigFile(kind: kind, vmid: vmid, file: file,
                               description: descriptionLines.joined(separator: "\n"),
                               current: current, pending: pending, snapshots: snapshots, diagnostics: diagnostics)
    }

    static func percentDecode(_ text: String) -> String {
        text.removingPercentEncoding ?? text
    }
}
