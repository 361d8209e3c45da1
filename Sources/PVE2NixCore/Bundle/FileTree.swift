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

/// Shell-style matching of one path component: `*`, `?` and `[...]`.
public enum GlobPattern {
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern), n = Array(name)
        func match(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == n.count }
            switch p[i] {
            case "*":
                if j < n.count, n[j] == ".", j == 0 { return false }
                return match(i + 1, j) || (j < n.count && match(i, j + 1))
            case "?":
                return j < n.count && match(i + 1, j + 1)
            case "[":
                guard j < n.count, let close = p[(i + 1)...].firstIndex(of: "]") else { return j < n.count && p[i] == n[j] && match(i + 1, j + 1) }
                var set = Array(p[(i + 1)..<close])
                let negate = set.first == "!" || set.first == "^"
                if negate { set.removeFirst() }
                var hit = false
                var k = 0
                while k < set.count {
                    if k + 2 < set.count, set[k + 1] == "-" {
                        if set[k] <= n[j] && n[j] <= set[k + 2] { hit = true }
                        k += 3
                    } else {
                        if set[k] == n[j] { hit = true }
                        k += 1
                    }
                }
                return hit != negate && match(close + 1, j + 1)
            default:
                return j < n.count && p[i] == n[j] && match(i + 1, j + 1)
            }
        }
        return match(0, 0)
    }
}
