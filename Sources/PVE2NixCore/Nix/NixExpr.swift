/// A small typed Nix syntax tree: every generated `.nix` file is built from it and printed by one
/// renderer, so escaping and layout are decided in one place.
public indirect enum NixExpr: Sendable, Hashable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case null
    /// A relative path literal such as `./disko.nix`.
    case path(String)
    case list([NixExpr])
    case attrs([NixBinding])
    /// A variable or selection, e.g. `inputs.nixpkgs` or `modulesPath`: emitted verbatim, so only
    /// for names the generator controls.
    case ref(String)
    /// `f x`.
    case apply(NixExpr, NixExpr)
    /// `{ a, b, ... }: body`.
    case lambda(params: [String], ellipsis: Bool, body: NixExpr)
    /// `"${a}/b"`-style interpolation of a reference into a string.
    case interpolated([NixStringPart])
    /// `let bindings in body`.
    case letIn([NixBinding], NixExpr)
}

public enum NixStringPart: Sendable, Hashable {
    case text(String)
    case ref(String)
}

/// `a.b.c = value;`, optionally with a comment line above it.
public struct NixBinding: Sendable, Hashable {
    public var path: [String]
    public var value: NixExpr
    public var comment: String?

    public init(_ path: [String], _ value: NixExpr, comment: String? = nil) {
        self.path = path
        self.value = value
        self.comment = comment
    }

    public init(_ key: String, _ value: NixExpr, comment: String? = nil) {
        self.init(key.split(separator: ".").map(String.init), value, comment: comment)
    }
}

extension NixExpr: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// Prints Nix with 2-space indentation, one binding per line, in the order given.
public enum NixRenderer {
    public static let reservedWords: Set<String> = ["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"]

    /// A file: a header comment, then the expression.
    public static func file(_ expr: NixExpr, header: [String]) -> String {
        header.map { "# " + $0 }.joined(separator: "\n") + (header.isEmpty ? "" : "\n") + render(expr, indent: 0) + "\n"
    }

    public static func render(_ expr: NixExpr, indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent)
        let inner = String(repeating: "  ", count: indent + 1)
        switch expr {
        case .string(let s): return string(s)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .path(let p): return p
        case .ref(let r): return r
        case .list(let items):
            if items.isEmpty { return "[ ]" }
            if items.allSatisfy(\.isScalar), items.count <= 4 {
                return "[ " + items.map { render($0, indent: indent + 1) }.joined(separator: " ") + " ]"
            }
            return "[\n" + items.map { inner + parenthesisedIfNeeded($0, indent: indent + 1) }.joined(separator: "\n") + "\n" + pad + "]"
        case .attrs(let bindings):
            if bindings.isEmpty { return "{ }" }
            var out = "{\n"
            for b in bindings {
                if let c = b.comment { out += c.split(separator: "\n", omittingEmptySubsequences: false).map { inner + "# " + $0 }.joined(separator: "\n") + "\n" }
                out += inner + b.path.map(attributeName).joined(separator: ".") + " = " + render(b.value, indent: indent + 1) + ";\n"
            }
            return out + pad + "}"
        case .apply(let f, let x):
            return parenthesisedIfNeeded(f, indent: indent) + " " + parenthesisedIfNeeded(x, indent: indent)
        case .lambda(let params, let ellipsis, let body):
            let list = params + (ellipsis ? ["..."] : [])
            // Top level: the body on its own line, as NixOS modules are usually written.
            return "{ " + list.joined(separator: ", ") + " }:" + (indent == 0 ? "\n" : " ") + render(body, indent: indent)
        case .interpolated(let parts):
            return "\"" + parts.map { part in
                switch part {
                case .text(let t): return escapeStringBody(t)
                case .ref(let r): return "${" + r + "}"
                }
            }.joined() + "\""
        case .letIn(let bindings, let body):
            var out = "let\n"
            for b in bindings { out += inner + b.path.map(attributeName).joined(separator: ".") + " = " + render(b.value, indent: indent + 1) + ";\n" }
            return out + pad + "in\n" + pad + render(body, indent: indent)
        }
    }

    private static func parenthesisedIfNeeded(_ e: NixExpr, indent: Int) -> String {
        switch e {
        case .apply, .lambda, .letIn: return "(" + render(e, indent: indent) + ")"
        case .ref(let r) where r.contains(" "): return "(" + r + ")"
        default: return render(e, indent: indent)
        }
    }

    /// A double-quoted string, or an indented `''` string for multi-line text.
    public static func string(_ s: String) -> String {
        if s.contains("\n") {
            // In '' strings, '' and ${ are escaped as ''' and ''${.
            let body = s.replacingOccurrences(of: "''", with: "'''").replacingOccurrences(of: "${", with: "''${")
            return "''\n" + body.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n") + "''"
        }
        return "\"" + escapeStringBody(s) + "\""
    }

    static func escapeStringBody(_ s: String) -> String {
        var out = ""
        var chars = Array(s)[...]
        while let c = chars.popFirst() {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "$" where chars.first == "{": out += "\\$"
            default: out.append(c)
            }
        }
        return out
    }

    /// Bare when it is a valid Nix identifier and not a keyword, quoted otherwise.
    public static func attributeName(_ name: String) -> String {
        guard let first = name.unicodeScalars.first else { return "\"\"" }
        func letter(_ u: Unicode.Scalar) -> Bool { ("a"..."z").contains(u) || ("A"..."Z").contains(u) }
        let isStart = first == "_" || letter(first)
        let rest = name.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" || $0 == "'" }
        return isStart && rest && !reservedWords.contains(name) ? name : string(name)
    }
}

extension NixExpr {
    var isScalar: Bool {
        switch self {
        case .string(let s): return !s.contains("\n") && s.count < 40
        case .int, .bool, .null, .path, .ref: return true
        default: return false
        }
    }

    /// `{ key = value; … }` from ordered pairs.
    public static func set(_ pairs: [(String, NixExpr)]) -> NixExpr {
        .attrs(pairs.map { NixBinding([$0.0], $0.1) })
    }
}
