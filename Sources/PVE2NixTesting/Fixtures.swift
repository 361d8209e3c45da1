import Foundation
import PVE2NixAdapters
import PVE2NixCore

/// Locates the repository's fixtures and examples from a test source file.
public enum Fixtures {
    /// The package root, found from this file's location.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    public static var villa: URL { packageRoot.appendingPathComponent("Examples/villa") }
    public static var fixtures: URL { packageRoot.appendingPathComponent("Tests/Fixtures") }

    public static func loadSite(_ url: URL) -> Site { SiteLoader(tree: LocalFileTree(root: url)).load() }

    /// The villa bundle in memory, so a test can change one file and plan again.
    public static func villaFiles() -> [String: String] { files(under: villa) }

    /// Every file under `root`, keyed by relative path.
    public static func files(under root: URL) -> [String: String] {
        var files: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])!
        for case let url as URL in enumerator where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            let relative = String(url.path.dropFirst(root.path.count + 1))
            files[relative] = try? String(contentsOf: url, encoding: .utf8)
        }
        return files
    }

    public static func text(_ relative: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(relative), encoding: .utf8)
    }
}
