import Foundation
import PVE2NixCore
import Synchronization

/// The official Proxmox VE API schema (`../shared/proxmox`, see its README), indexed by path and
/// method: what the simulator routes, checks parameters and permissions against, and answers in
/// the shape of. Loaded once per file.
public struct ProxmoxSchema: Sendable {
    /// One method of one path, as the schema describes it.
    public struct Method: Sendable {
        public let method: String
        public let template: String
        /// Parameter name (indexed ones as `net[n]`) → its schema.
        public let properties: [String: JSONValue]
        public let additionalProperties: Bool
        public let returns: JSONValue?
        /// The `permissions` block; nil: root only.
        public let permissions: JSONValue?
        /// `proxyto: node`: the node named in the path answers, so an offline one cannot.
        public let proxiedToNode: Bool
    }

    /// Where a request's path leads.
    public enum Route: Sendable, Equatable {
        case found(template: String, path: [String: String])
        /// The path exists but not with this method.
        case methodNotAllowed(template: String)
        case unknownPath
    }

    /// The pve-docs release, e.g. "9.1".
    public let release: String
    private let methods: [String: [String: Method]]
    private let templates: [[String]]

    public var major: Int { Int(release.split(separator: ".").first ?? "") ?? 9 }

    public init(text: String, release: String) throws {
        let tree: JSONValue
        do { tree = try JSONReader.parse(text) } catch { throw SchemaLoadError.unreadable("\(error)") }
        var methods: [String: [String: Method]] = [:]
        func walk(_ nodes: [JSONValue]) {
            for node in nodes {
                if let path = node["path"]?.stringValue, let info = node["info"]?.objectMembers {
                    for (name, spec) in info {
                        let parameters = spec["parameters"]
                        methods[path, default: [:]][name] = Method(
                            method: name, template: path,
                            properties: Dictionary(parameters?["properties"]?.objectMembers?.map { ($0.key, $0.value) } ?? [], uniquingKeysWith: { a, _ in a }),
                            additionalProperties: parameters?["additionalProperties"]?.boolValue ?? false,
                            returns: spec["returns"], permissions: spec["permissions"],
                            proxiedToNode: spec["proxyto"]?.stringValue == "node")
                    }
                }
                walk(node["children"]?.arrayValue ?? [])
            }
        }
        walk(tree.arrayValue ?? [])
        guard !methods.isEmpty else { throw SchemaLoadError.unreadable("no paths in it") }
        self.release = release
        self.methods = methods
        self.templates = methods.keys.map { $0.split(separator: "/").map(String.init) }
    }

    public func method(_ method: String, _ template: String) -> Method? { methods[template]?[method] }

    /// The template a concrete path matches; a literal segment beats a `{placeholder}`.
    public func route(_ method: String, _ path: String) -> Route {
        let parts = path.split(separator: "/").map(String.init)
        var best: (template: [String], literals: Int)?
        for t in templates where t.count == parts.count {
            var literals = 0, fits = true
            for (a, b) in zip(t, parts) {
                if a.hasPrefix("{") && a.hasSuffix("}") { continue }
                if a != b { fits = false; break }
                literals += 1
            }
            if fits && literals > (best?.literals ?? -1) { best = (t, literals) }
        }
        guard let best else { return .unknownPath }
        let template = "/" + best.template.joined(separator: "/")
        guard methods[template]?[method] != nil else { return .methodNotAllowed(template: template) }
        var captured: [String: String] = [:]
        for (a, b) in zip(best.template, parts) where a.hasPrefix("{") && a.hasSuffix("}") {
            captured[String(a.dropFirst().dropLast())] = b.removingPercentEncoding ?? b
        }
        return .found(template: template, path: captured)
    }

    // MARK: Loading

    /// `pve-api-schema-9.1.json` and the like, next to the package (`../shared/proxmox`).
    public static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/proxmox")
    }

    public static func file(release: String) -> URL { directory.appendingPathComponent("pve-api-schema-\(release).json") }

    private static let cache = Mutex<[String: ProxmoxSchema]>([:])

    /// Loads (once per file) a schema; the release comes from the file name (`…-9.1.json`).
    public static func load(_ file: URL) throws -> ProxmoxSchema {
        // Parsed under the lock: tests starting at once wait for one parse instead of each doing it.
        try cache.withLock { cache in
            if let cached = cache[file.path] { return cached }
            let text: String
            do { text = try String(contentsOf: file, encoding: .utf8) } catch { throw SchemaLoadError.missing(file.path) }
            let name = file.deletingPathExtension().lastPathComponent
            let release = name.split(separator: "-").last.map(String.init).flatMap { $0.first?.isNumber == true ? $0 : nil } ?? "9.1"
            let schema = try ProxmoxSchema(text: text, release: release)
            cache[file.path] = schema
            return schema
        }
    }

    /// The schema of a release from `../shared/proxmox`, or nil when that file is not there.
    public static func bundled(_ release: String = "9.1") -> ProxmoxSchema? { try? load(file(release: release)) }
}

/// The schema file could not be used.
public enum SchemaLoadError: LocalizedError, Sendable, Equatable {
    case missing(String)
    case unreadable(String)

    public var errorDescription: String? {
        switch self {
        case .missing(let path): "no Proxmox VE API schema at \(path): pass --schema FILE (see ../shared/proxmox/README.md)"
        case .unreadable(let why): "the Proxmox VE API schema cannot be read (\(why)): pass another --schema FILE"
        }
    }
}
