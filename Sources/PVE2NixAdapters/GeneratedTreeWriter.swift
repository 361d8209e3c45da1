import Foundation
import PVE2NixCore

/// Writes generated files into a directory without ever overwriting a file the user changed:
/// `.pve2nix-manifest` records a fingerprint of what pve2nix last wrote; a file that exists and
/// matches neither that fingerprint nor the new content is a conflict, and nothing is written.
public struct GeneratedTreeWriter {
    public static let manifestName = ".pve2nix-manifest"

    public struct Conflict: Sendable {
        public var path: String
        public var diff: String
    }

    public let directory: URL
    public init(directory: URL) { self.directory = directory }

    /// Files that would overwrite a user's change, with a unified diff from theirs to ours.
    public func conflicts(_ files: [GeneratedFile]) -> [Conflict] {
        let manifest = readManifest()
        return files.compactMap { file in
            let url = directory.appendingPathComponent(file.path)
            guard let existing = try? String(contentsOf: url, encoding: .utf8), existing != file.contents else { return nil }
            if manifest[file.path] == Fingerprint.of(existing) { return nil }
            return Conflict(path: file.path, diff: Self.unifiedDiff(old: url, new: file.contents, label: file.path))
        }
    }

    /// Writes every file (each to a temporary name, then renamed into place) and the manifest.
    public func write(_ files: [GeneratedFile]) throws {
        var manifest = readManifest()
        for file in files {
            let url = directory.appendingPathComponent(file.path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).pve2nix-tmp")
            try Data(file.contents.utf8).write(to: temporary)
            if file.executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: temporary.path) }
            _ = try? FileManager.default.removeItem(at: url)
            try FileManager.default.moveItem(at: temporary, to: url)
            manifest[file.path] = Fingerprint.of(file.contents)
        }
        let text = manifest.keys.sorted().map { "\(manifest[$0]!)  \($0)" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: directory.appendingPathComponent(Self.manifestName), options: .atomic)
    }

    private func readManifest() -> [String: String] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent(Self.manifestName), encoding: .utf8) else { return [:] }
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { result[parts[1]] = parts[0] }
        }
        return result
    }

    /// `diff -u` between the file on disk and the new content.
    static func unifiedDiff(old: URL, new: String, label: String) -> String {
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: temporary) }
        guard (try? Data(new.utf8).write(to: temporary)) != nil else { return "" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        process.arguments = ["-u", "--label", "\(label) (yours)", "--label", "\(label) (pve2nix)", old.path, temporary.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return "(diff unavailable)" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
