import Foundation
import PVE2NixCore

/// A capture bundle on disk, rooted at a directory.
public struct LocalFileTree: FileTree {
    public let root: URL

    public init(root: URL) { self.root = root }

    public func read(_ path: String) -> String? {
        let url = root.appendingPathComponent(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let data = FileManager.default.contents(atPath: url.path) else { return nil }
        // Captures are UTF-8; a stray Latin-1 byte must not make a whole file vanish.
        return String(data: data, encoding: .utf8) ?? String(decoding: data, as: UTF8.self)
    }

    public func list(_ directory: String) -> [String]? {
        let url = directory.isEmpty ? root : root.appendingPathComponent(directory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) else { return nil }
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Whether `root` is a readable directory.
    public var exists: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
