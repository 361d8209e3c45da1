import Crypto
import Foundation
import PVE2NixCore

#if canImport(Glibc)
import Glibc
#endif

/// Writes generated files into a directory so that the directory is, at every moment, either the
/// tree it was or the tree pve2nix means it to be, and never touches a file pve2nix did not write.
///
/// `.pve2nix-manifest` records a SHA-256 of every file pve2nix wrote. Before writing, each path it
/// will write or remove is checked: anything that is not a regular file, cannot be read, or differs
/// from both the new content and the manifest's record is a conflict, and nothing is written.
/// The new tree is built in a fresh, unpredictably named directory next to the target (the user's
/// other files are hard-linked into it, never copied or rewritten), then exchanged with the target
/// in one `renameat2(RENAME_EXCHANGE)`. One writer at a time holds a lock on the parent directory;
/// a staging directory left by a killed run is removed by the next one.
public struct GeneratedTreeWriter: Sendable {
    public static let manifestName = ".pve2nix-manifest"
    /// 1: FNV-1a fingerprints, no header. 2: a header line and SHA-256.
    public static let manifestVersion = 2

    public struct Conflict: Sendable, Hashable {
        public var path: String
        /// Why the path cannot be written, in plain words.
        public var reason: String
        /// A unified diff from what is there to what pve2nix would write, when both are text.
        public var diff: String
    }

    /// What a successful write did.
    public struct Outcome: Sendable {
        public var written: [String]
        /// Files pve2nix wrote earlier, no longer generates, and nobody changed: removed.
        public var removed: [String]
        public var directory: URL
    }

    public let directory: URL
    /// How long to wait for another pve2nix writing into the same place.
    public var lockTimeout: Duration = .seconds(60)

    public init(directory: URL) { self.directory = directory.standardizedFileURL }

    /// Every path that stops a write, with the reason and a diff. Empty when `write` would go ahead.
    public func conflicts(_ files: [GeneratedFile]) -> [Conflict] {
        let target = resolvedTarget()
        return Self.inspect(files, in: target, manifest: Manifest.read(in: target)).conflicts
    }

    /// Writes `files` as the whole of pve2nix's part of the directory. Throws
    /// `GeneratedTreeError.conflicts` (nothing written) or another `GeneratedTreeError`.
    @discardableResult
    public func write(_ files: [GeneratedFile]) throws -> Outcome {
        for file in files where !Self.isSafeRelativePath(file.path) {
            throw GeneratedTreeError.unsafePath(file.path)
        }
        let target = resolvedTarget()
        let parent = target.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw GeneratedTreeError.cannotCreate(parent.path, Self.plainReason(error))
        }
        if let kind = Self.kind(of: target.path), kind != .directory {
            throw GeneratedTreeError.notADirectory(target.path, kind.description)
        }
        let lock = try ParentLock(directory: parent, timeout: lockTimeout)
        defer { lock.release() }
        Self.removeLeftoverStaging(for: target)

        let manifest = Manifest.read(in: target)
        let inspection = Self.inspect(files, in: target, manifest: manifest)
        if !inspection.conflicts.isEmpty { throw GeneratedTreeError.conflicts(inspection.conflicts) }

        let staging = try Self.makeStagingDirectory(for: target)
        // After the exchange `staging` holds the old tree: removing it removes only pve2nix's old
        // files and the second links to the user's files, which live on in the new tree. After a
        // plain rename (no old tree) nothing is left there.
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let ours = Set(files.map(\.path)).union(inspection.removals).union([Self.manifestName])
        if Self.kind(of: target.path) == .directory {
            try Self.linkForeignEntries(from: target.path, to: staging, relative: "", skipping: ours)
        }
        for file in files {
            try Self.writeExclusively(Data(file.contents.utf8), to: staging + "/" + file.path, under: staging, executable: file.executable)
        }
        var newManifest = Manifest()
        for file in files { newManifest.entries[file.path] = .sha256(Self.sha256(Data(file.contents.utf8))) }
        try Self.writeExclusively(Data(newManifest.rendered.utf8), to: staging + "/" + Self.manifestName, under: staging, executable: false)

        if Self.kind(of: target.path) == .directory {
            try Self.exchange(staging, target.path)
        } else if rename(staging, target.path) != 0 {
            throw GeneratedTreeError.cannotCreate(target.path, String(cString: strerror(errno)))
        }
        return Outcome(written: files.map(\.path), removed: inspection.removals.sorted(), directory: target)
    }

    /// The directory itself when it is a symbolic link the user made: write where it points.
    func resolvedTarget() -> URL {
        if Self.kind(of: directory.path) == .symlink {
            return directory.resolvingSymlinksInPath()
        }
        return directory
    }

    static func isSafeRelativePath(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("/") && !path.split(separator: "/", omittingEmptySubsequences: false).contains { $0.isEmpty || $0 == "." || $0 == ".." }
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func plainReason(_ error: any Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }
}

/// Why a generated tree could not be written. Nothing was changed in any of these cases.
public enum GeneratedTreeError: Error, LocalizedError, Sendable {
    case conflicts([GeneratedTreeWriter.Conflict])
    case notADirectory(String, String)
    case cannotCreate(String, String)
    case cannotWrite(String, String)
    case cannotRead(String, String)
    case busy(String)
    case unsafePath(String)

    public var errorDescription: String? {
        switch self {
        case .conflicts(let list):
            "nothing written: " + list.map { "\($0.path) \($0.reason)" }.joined(separator: "; ")
                + ". Move these away or merge them by hand, then run again."
        case .notADirectory(let path, let kind):
            "nothing written: \(path) is \(kind), not a directory. Choose another output directory."
        case .cannotCreate(let path, let why):
            "nothing written: cannot create \(path): \(why). Check that its parent exists and is writable."
        case .cannotWrite(let path, let why):
            "nothing written: cannot write \(path): \(why). The output directory is unchanged."
        case .cannotRead(let path, let why):
            "nothing written: cannot read \(path): \(why). pve2nix copies your other files into the new tree by linking them; make them readable or move them away."
        case .busy(let path):
            "nothing written: another pve2nix is writing next to \(path) and did not finish in time. Wait for it, then run again."
        case .unsafePath(let path):
            "nothing written: refusing to write the path '\(path)', which would leave the output directory"
        }
    }
}
