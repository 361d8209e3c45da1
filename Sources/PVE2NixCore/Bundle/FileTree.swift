/// Read access to a capture bundle. The core never touches the file system itself:
/// the CLI passes a directory-backed tree, tests an in-memory one.
public protocol FileTree: Sendable {
    /// The text of a file at a bundle-relative path, or nil when there is none.
    func read(_ path: String) -> String?
    /// Names of the entries directly inside a bundle-relative directory, or nil when it does not exist.
    func list(_ directory: String) -> [String]?
}

/// A bundle held in memory, keyed by bundle-relative path.
public struct InMemoryFileTree: FileTree {
    public var files: [String: String]
    public init(_ files: [String: String]) { self.files = files }

    public func read(_ path: String) -> String? { files[path] }

    public func list(_ directory: String) -> [String]? {
        let prefix = directory.isEmpty ? "" : directory + "/"
        let names = Set(files.keys.filter { $0.hasPrefix(prefix) }.compactMap { $0.dropFirst(prefix.count).split(separator: "/").first.map(String.init) })
        return names.isEmpty ? nil : names.sorted()
    }
}

/// Shell-style matching of one path component: `*`, `?` and `[...]`. A leading `*` does not match
/// a leading `.`, as for hidden files. Runs in time proportional to pattern × name, whatever the
/// pattern: a `source` line with `*a*a*a*…b` must not take minutes.
public enum GlobPattern {
    enum Token {
        case star, any
        case literal(Character)
        case set([Character], negated: Bool)

        func matches(_ c: Character) -> Bool {
            switch self {
            case .star, .any: return true
            case .literal(let l): return l == c
            case .set(let set, let negated):
                var hit = false
                var k = 0
                while k < set.count {
                    if k + 2 < set.count, set[k + 1] == "-" {
                        if set[k] <= c && c <= set[k + 2] { hit = true }
                        k += 3
                    } else {
                        if set[k] == c { hit = true }
                        k += 1
                    }
                }
                return hit != negated
            }
        }
    }

    static func tokens(_ pattern: String) -> [Token] {
        let p = Array(pattern)
        var tokens: [Token] = []
        var i = 0
        while i < p.count {
            switch p[i] {
            case "*": tokens.append(.star)
            case "?": tokens.append(.any)
            case "[":
                // Without a closing `]`, `[` is an ordinary character.
                guard let close = p[(i + 1)...].firstIndex(of: "]") else { tokens.append(.literal("[")); break }
                var set = Array(p[(i + 1)..<close])
                let negated = set.first == "!" || set.first == "^"
                if negated { set.removeFirst() }
                tokens.append(.set(set, negated: negated))
                i = close
            default: tokens.append(.literal(p[i]))
            }
            i += 1
        }
        return tokens
    }

    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let tokens = tokens(pattern)
        let n = Array(name)
        if case .star = tokens.first, n.first == "." { return false }
        // reachable[j]: the tokens so far can match exactly the first j characters of the name.
        var reachable = [Bool](repeating: false, count: n.count + 1)
        reachable[0] = true
        for token in tokens {
            var next = [Bool](repeating: false, count: n.count + 1)
            if case .star = token {
                var any = false
                for j in 0...n.count {
                    any = any || reachable[j]
                    next[j] = any
                }
            } else {
                for j in 0..<n.count where reachable[j] && token.matches(n[j]) { next[j + 1] = true }
            }
            reachable = next
            if !reachable.contains(true) { return false }
        }
        return reachable[n.count]
    }
}
