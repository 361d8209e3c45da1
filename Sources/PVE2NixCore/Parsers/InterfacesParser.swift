/// One `key value` line inside an `iface` stanza. Keys are normalised to dashes as ifupdown2 does.
public struct InterfaceOption: Sendable, Hashable, Codable {
    public var key: String
    public var value: String
    public var file: String
    public var line: Int
}

/// One `iface NAME [FAMILY [METHOD]]` stanza, as ifupdown2 reads it.
public struct InterfaceStanza: Sendable, Hashable, Codable {
    public var name: String
    /// `inet` / `inet6`, or nil when the stanza named none (or an unknown one).
    public var family: String?
    /// `static`, `manual`, `dhcp`, `loopback`…; ifupdown2 assumes `static` when a family has no method.
    public var method: String?
    /// ifupdown2 decides this when it reads the stanza: an `auto` line must come before it.
    public var auto: Bool
    public var allowClasses: [String]
    public var options: [InterfaceOption]
    public var file: String
    public var line: Int

    /// Values of `key` in order of appearance, including the padding ifupdown2 adds to
    /// `netmask`/`broadcast`/`scope`/`preferred-lifetime` to line them up with `address`.
    public func values(_ key: String) -> [String] { aligned[key] ?? [] }

    public func first(_ key: String) -> String? { values(key).first }

    /// The config as ifupdown2 builds it: ordered keys, each with its list of values.
    public var aligned: [String: [String]] { Self.align(options).values }

    public var orderedKeys: [String] { Self.align(options).order }

    static let addressRelated: Set<String> = ["scope", "netmask", "broadcast", "preferred-lifetime"]

    static func align(_ options: [InterfaceOption]) -> (order: [String], values: [String: [String]]) {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for option in options {
            var list = values[option.key] ?? []
            if addressRelated.contains(option.key) {
                // ifupdown2 stores these at the index of the address they follow, and drops them
                // when no address came before.
                guard let addresses = values["address"], !addresses.isEmpty else { continue }
                let padding = addresses.count - list.count - 1
                if padding > 0 { list.append(contentsOf: Array(repeating: "", count: padding)) }
            }
            list.append(option.value)
            if values[option.key] == nil { order.append(option.key) }
            values[option.key] = list
        }
        return (order, values)
    }
}

/// Everything read from an interfaces file and the files it sources.
public struct InterfacesDocument: Sendable, Hashable, Codable {
    public var stanzas: [InterfaceStanza]
    public var filesRead: [String]
    public var diagnostics: [Diagnostic]

    /// Names in order of first appearance.
    public var names: [String] {
        var seen = Set<String>()
        return stanzas.map(\.name).filter { seen.insert($0).inserted }
    }

    public func stanzas(named name: String) -> [InterfaceStanza] { stanzas.filter { $0.name == name } }
}

/// Resolves a `source` argument (a path or glob as written in the file) to the files it names,
/// as (display path, contents) pairs in glob order. Pure callers pass an in-memory tree.
public typealias InterfacesSourceResolver = @Sendable (_ pattern: String) -> [(path: String, contents: String)]

/// Reads `/etc/network/interfaces` the way Debian's ifupdown2 does (the differential test
/// holds it to `ifquery`), and reports what ifupdown2 would silently accept or misread.
public struct InterfacesParser: Sendable {
    public var resolveSource: InterfacesSourceResolver
    public var maxSourceDepth = 8
    /// Files read in all, counting a file each time it is sourced: a glob sourced from every file it
    /// matches must not multiply into millions of reads.
    public var maxFilesRead = 256

    public init(resolveSource: @escaping InterfacesSourceResolver = { _ in [] }) {
        self.resolveSource = resolveSource
    }

    public func parse(_ contents: String, file: String) -> InterfacesDocument {
        var state = ParseState()
        read(contents, file: file, depth: 0, into: &state)
        return InterfacesDocument(stanzas: state.stanzas, filesRead: state.filesRead, diagnostics: state.diagnostics)
    }

    struct ParseState {
        var stanzas: [InterfaceStanza] = []
        var autoNames: Set<String> = []
        var autoAll = false
        /// Interface name → the `allow-CLASS` lines that name it (kept by name: a scan per stanza was quadratic).
        var classes: [String: Set<String>] = [:]
        /// Interface name → the index of its first stanza in `stanzas`.
        var firstStanza: [String: Int] = [:]
        var filesRead: [String] = []
        var diagnostics: [Diagnostic] = []
        /// The files being read, outermost first, to catch a file that sources itself.
        var reading: [String] = []
        var reportedBudget = false
    }

    /// `source-directory` is a keyword for Debian's ifupdown and Proxmox's ifupdown2 fork, but not for
    /// Debian's ifupdown2 3.0.0, which files the line under the stanza before it. We follow the former.
    static let keywords: Set<String> = ["source", "source-directory", "allow", "auto", "iface", "vlan"]

    static func isKeyword(_ word: String) -> Bool {
        keywords.contains(word) || word.split(separator: "-", omittingEmptySubsequences: false).first == "allow"
    }

    private func read(_ contents: String, file: String, depth: Int, into state: inout ParseState) {
        state.filesRead.append(file)
        state.reading.append(file)
        defer { state.reading.removeLast() }
        if let binary = TextChecks.binaryContent(contents, file: file) { state.diagnostics.append(binary) }
        if let empty = TextChecks.emptiness(contents, file: file, what: "it defines no interfaces") { state.diagnostics.append(empty) }
        let lines = LogicalLines.split(contents)
        var index = 0
        while index < lines.count {
            let (text, lineNumber) = lines[index]
            index += 1
            if text.isEmpty || text.hasPrefix("#") { continue }
            let words = text.splitOnWhitespace()
            guard let keyword = words.first, Self.isKeyword(keyword) else {
                state.diagnostics.append(.error(file, lineNumber,
                    "'\(text.prefix(80))' is outside any iface stanza; ifupdown2 ignores it. Indent it under the stanza it belongs to, or remove it."))
                continue
            }
            switch keyword {
            case "auto":
                let names = Array(words.dropFirst())
                if names.isEmpty { state.diagnostics.append(.error(file, lineNumber, "'auto' names no interface")) }
                for name in names {
                    if name == "all" { state.autoAll = true; break }
                    state.autoNames.insert(name)
                    if state.firstStanza[name] != nil {
                        state.diagnostics.append(.warning(file, lineNumber,
                            "'auto \(name)' comes after the iface \(name) stanza: ifupdown2 decides 'auto' when it reads the stanza, so \(name) is not brought up at boot. Move the auto line above the stanza."))
                    }
                }
            case "source":
                readSource(words: words, text: text, file: file, line: lineNumber, depth: depth, into: &state)
            case "source-directory":
                readSource(words: words, text: text, file: file, line: lineNumber, depth: depth, directory: true, into: &state)
            case "iface", "vlan":
                let (stanza, consumed) = readStanza(lines: lines, start: index - 1, words: words, file: file, state: &state)
                index += consumed
                if keyword == "vlan" {
                    state.diagnostics.append(.warning(file, lineNumber,
                        "'vlan \(stanza.name)' is a Cumulus bridge-VLAN stanza; pve2nix does not translate it."))
                }
                save(stanza, into: &state)
            default:
                let names = Array(words.dropFirst())
                guard names.count >= 1 else {
                    state.diagnostics.append(.error(file, lineNumber, "'\(text)' names no interface"))
                    continue
                }
                let cls = String(keyword.split(separator: "-", maxSplits: 1).dropFirst().first ?? "")
                for name in names { state.classes[name, default: []].insert(cls) }
            }
        }
    }

    private func readSource(words: [String], text: String, file: String, line: Int, depth: Int, directory: Bool = false, into state: inout ParseState) {
        guard words.count >= 2 else {
            state.diagnostics.append(.error(file, line, "'source' names no file"))
            return
        }
        let pattern = words[1]
        guard depth < maxSourceDepth else {
            state.diagnostics.append(.error(file, line, "'source \(pattern)' nests more than \(maxSourceDepth) files deep; is a file sourcing itself?"))
            return
        }
        var found = resolveSource(directory ? pattern + "/*" : pattern)
        if directory {
            // run-parts names only: letters, digits, '_' and '-'.
            found = found.filter { f in
                let base = f.path.split(separator: "/").last.map(String.init) ?? f.path
                return !base.isEmpty && base.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
            }
        }
        if found.isEmpty, !pattern.contains("*"), !directory {
            state.diagnostics.append(.warning(file, line,
                "'source \(pattern)' names a file that is not in the capture; copy it into the bundle (interfaces.d/) or the plan misses its interfaces."))
        }
        for source in found {
            if state.reading.contains(source.path) {
                state.diagnostics.append(.error(file, line,
                    "'source \(pattern)' reads \(source.path) again while it is being read: the files source each other in a loop, so ifupdown2 never finishes reading them. Remove the loop."))
                continue
            }
            guard state.filesRead.count < maxFilesRead else {
                if !state.reportedBudget {
                    state.diagnostics.append(.error(file, line,
                        "'source \(pattern)' would read more than \(maxFilesRead) files in all; the rest are not read. Do the source lines fan out over one another?"))
                    state.reportedBudget = true
                }
                return
            }
            read(source.contents, file: source.path, depth: depth + 1, into: &state)
        }
    }

    private func readStanza(lines: [(String, Int)], start: Int, words: [String], file: String, state: inout ParseState) -> (InterfaceStanza, Int) {
        let lineNumber = lines[start].1
        let declared = words.count > 1 ? words[1] : ""
        if declared.isEmpty { state.diagnostics.append(.error(file, lineNumber, "'iface' without an interface name")) }
        let name = declared.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? declared
        if name.utf8.count > 15 {
            state.diagnostics.append(.warning(file, lineNumber, "interface name '\(name)' is longer than the kernel's 15 characters"))
        }
        var options: [InterfaceOption] = []
        var consumed = 0
        var index = start + 1
        while index < lines.count {
            let (text, optionLine) = lines[index]
            if text.isEmpty || text.hasPrefix("#") { index += 1; consumed += 1; continue }
            let parts = text.splitOnWhitespace(maxSplits: 1)
            if Self.isKeyword(parts[0]) { break }
            consumed += 1
            index += 1
            guard parts.count == 2 else {
                state.diagnostics.append(.error(file, optionLine, "iface \(name): '\(text)' has no value; ifupdown2 ignores the line"))
                continue
            }
            let key = parts[0].replacingOccurrences(of: "_", with: "-")
            let value = parts[1].replacingOccurrences(of: "$IFACE", with: name)
            options.append(InterfaceOption(key: key, value: value, file: file, line: optionLine))
        }
        var family: String? = words.count > 2 ? words[2] : nil
        var method: String? = words.count > 3 ? words[3] : nil
        if let f = family {
            if f != "inet" && f != "inet6" {
                state.diagnostics.append(.error(file, lineNumber, "iface \(name): unsupported address family '\(f)' (use inet or inet6)"))
                family = nil
                method = nil
            } else if let m = method {
                if !["static", "manual", "loopback", "dhcp", "dhcp6", "ppp", "tunnel"].contains(m) {
                    state.diagnostics.append(.error(file, lineNumber, "iface \(name): unsupported address method '\(m)'"))
                }
            } else {
                method = "static"
            }
        }
        let classes = (state.classes[name] ?? []).sorted()
        let stanza = InterfaceStanza(name: name, family: family, method: method,
                                     auto: state.autoAll || state.autoNames.contains(name),
                                     allowClasses: classes, options: options, file: file, line: lineNumber)
        return (stanza, consumed)
    }

    private func save(_ stanza: InterfaceStanza, into state: inout ParseState) {
        // ifupdown2 drops an exact repeat of the first stanza with the same name.
        if let i = state.firstStanza[stanza.name], case let first = state.stanzas[i],
           first.family == stanza.family, first.method == stanza.method, first.auto == stanza.auto,
           first.allowClasses == stanza.allowClasses, first.aligned == stanza.aligned {
            state.diagnostics.append(.warning(stanza.file, stanza.line, "iface \(stanza.name) repeats an earlier identical stanza; ifupdown2 ignores it"))
            return
        }
        if state.firstStanza[stanza.name] == nil { state.firstStanza[stanza.name] = state.stanzas.count }
        state.stanzas.append(stanza)
    }
}

/// ifupdown2 joins `\` continuations before splitting lines; this does the same while keeping,
/// for every logical line, the physical line it starts on.
enum LogicalLines {
    static func split(_ text: String) -> [(String, Int)] {
        var chars: [(Character, Int)] = []
        var line = 1
        for c in text {
            chars.append((c, line))
            if c == "\n" || c == "\r\n" { line += 1 }
        }
        // Split at backslashes, strip each piece, join the pieces with one space.
        var joined: [(Character, Int)] = []
        var piece: [(Character, Int)] = []
        var first = true
        func flush() {
            var lo = 0, hi = piece.count
            while lo < hi, piece[lo].0.isPythonWhitespace { lo += 1 }
            while hi > lo, piece[hi - 1].0.isPythonWhitespace { hi -= 1 }
            if !first { joined.append((" ", lo < hi ? piece[lo].1 : (joined.last?.1 ?? 1))) }
            joined.append(contentsOf: piece[lo..<hi])
            first = false
            piece = []
        }
        for entry in chars {
            if entry.0 == "\\" { flush() } else { piece.append(entry) }
        }
        flush()
        var result: [(String, Int)] = []
        var current = ""
        var currentLine: Int? = nil
        for (c, l) in joined {
            if c == "\n" || c == "\r\n" {
                result.append((current.trimmingWhitespace(), currentLine ?? l))
                current = ""
                currentLine = nil
            } else {
                if currentLine == nil { currentLine = l }
                current.append(c)
            }
        }
        result.append((current.trimmingWhitespace(), currentLine ?? line))
        return result
    }
}

extension Character {
    var isPythonWhitespace: Bool { self == " " || self == "\t" || self == "\n" || self == "\r" || self == "\r\n" || self == "\u{0B}" || self == "\u{0C}" }
}

extension String {
    /// Splits on runs of whitespace, like Python's `re.split(r'\s+', s, maxsplit)` on a stripped line.
    func splitOnWhitespace(maxSplits: Int = Int.max) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while !rest.isEmpty {
            if parts.count == maxSplits {
                parts.append(String(rest))
                break
            }
            let word = rest.prefix { !$0.isWhitespace }
            parts.append(String(word))
            rest = rest.dropFirst(word.count).drop { $0.isWhitespace }
        }
        return parts.isEmpty ? [""] : parts
    }
}
