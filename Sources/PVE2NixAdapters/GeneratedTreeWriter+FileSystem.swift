import Foundation
import PVE2NixCore

#if canImport(Glibc)
import Glibc
#endif

/// The manifest of what pve2nix wrote into a directory, by path.
struct Manifest {
    enum Hash: Equatable {
        /// Version 1 manifests: a 64-bit FNV-1a of the text.
        case fnv(String)
        case sha256(String)
    }

    var entries: [String: Hash] = [:]

    static func read(in directory: URL) -> Manifest {
        var manifest = Manifest()
        let path = directory.appendingPathComponent(GeneratedTreeWriter.manifestName).path
        guard GeneratedTreeWriter.kind(of: path) == .regular, let data = FileManager.default.contents(atPath: path) else { return manifest }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let gap = line.range(of: "  ") else { continue }
            let hash = String(line[..<gap.lowerBound]), file = String(line[gap.upperBound...])
            manifest.entries[file] = hash.hasPrefix("sha256:") ? .sha256(String(hash.dropFirst(7))) : .fnv(hash)
        }
        return manifest
    }

    func matches(_ path: String, _ data: Data) -> Bool {
        switch entries[path] {
        case .sha256(let hex): return GeneratedTreeWriter.sha256(data) == hex
        case .fnv(let hex):
            guard let text = String(data: data, encoding: .utf8) else { return false }
            return Fingerprint.of(text) == hex
        case nil: return false
        }
    }

    var rendered: String {
        var lines = ["# pve2nix manifest \(GeneratedTreeWriter.manifestVersion): the files pve2nix wrote here and their SHA-256. Do not edit."]
        for path in entries.keys.sorted() {
            guard case .sha256(let hex) = entries[path] else { continue }
            lines.append("sha256:\(hex)  \(path)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension GeneratedTreeWriter {
    enum Kind: Equatable {
        case regular, directory, symlink, other

        var description: String {
            switch self {
            case .regular: "a file"
            case .directory: "a directory"
            case .symlink: "a symbolic link"
            case .other: "a special file"
            }
        }
    }

    /// What is at `path`, without following a final symbolic link; nil when nothing is.
    static func kind(of path: String) -> Kind? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    struct Inspection {
        var conflicts: [Conflict] = []
        var removals: Set<String> = []
    }

    /// Checks every path pve2nix would write or remove against what is there now.
    static func inspect(_ files: [GeneratedFile], in target: URL, manifest: Manifest) -> Inspection {
        var result = Inspection()
        var blockedDirectories: Set<String> = []
        func conflict(_ path: String, _ reason: String, diff: String = "") {
            result.conflicts.append(Conflict(path: path, reason: reason, diff: diff))
        }
        /// The first directory on the way to `path` that pve2nix could not write into, if any.
        func blockedAncestor(of path: String) -> (String, Kind)? {
            let parts = path.split(separator: "/").dropLast()
            var prefix = ""
            for part in parts {
                prefix = prefix.isEmpty ? String(part) : prefix + "/" + part
                switch kind(of: target.path + "/" + prefix) {
                case nil: return nil
                case .directory: continue
                case let other?: return (prefix, other)
                }
            }
            return nil
        }
        let generated = Set(files.map(\.path))
        for file in files {
            if let (ancestor, what) = blockedAncestor(of: file.path) {
                if blockedDirectories.insert(ancestor).inserted {
                    conflict(ancestor, "is \(what.description) where pve2nix writes a directory of its own")
                }
                continue
            }
            let full = target.path + "/" + file.path
            switch kind(of: full) {
            case nil: continue
            case .regular: break
            case let other?:
                conflict(file.path, "is \(other.description) where pve2nix writes a file")
                continue
            }
            guard let data = FileManager.default.contents(atPath: full) else {
                conflict(file.path, "cannot be read, so pve2nix cannot tell whether you changed it")
                continue
            }
            let new = Data(file.contents.utf8)
            if data == new || manifest.matches(file.path, data) { continue }
            let why = manifest.entries[file.path] == nil ? "was not written by pve2nix" : "changed since pve2nix wrote it"
            if String(data: data, encoding: .utf8) == nil {
                conflict(file.path, "\(why) and is not UTF-8 text (\(data.count) bytes)")
            } else {
                conflict(file.path, why, diff: unifiedDiff(old: URL(fileURLWithPath: full), new: file.contents, label: file.path))
            }
        }
        for path in manifest.entries.keys.sorted() where !generated.contains(path) && isSafeRelativePath(path) {
            if blockedAncestor(of: path) != nil { continue }
            let full = target.path + "/" + path
            switch kind(of: full) {
            case nil: continue
            case .regular:
                if let data = FileManager.default.contents(atPath: full), manifest.matches(path, data) {
                    result.removals.insert(path)
                } else {
                    conflict(path, "was written by an earlier pve2nix run that no longer generates it, and has changed since; keep it elsewhere or delete it")
                }
            case let other?:
                conflict(path, "was written by an earlier pve2nix run and is now \(other.description)")
            }
        }
        return result
    }

    /// Recreates in `staging` every entry of `source` that is not pve2nix's: directories are made,
    /// files hard-linked (the user's file itself, not a copy), symbolic links copied as links.
    static func linkForeignEntries(from source: String, to staging: String, relative: String, skipping ours: Set<String>) throws {
        let here = relative.isEmpty ? source : source + "/" + relative
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: here) } catch {
            throw GeneratedTreeError.cannotRead(here, plainReason(error))
        }
        for name in names.sorted() {
            let rel = relative.isEmpty ? name : relative + "/" + name
            if ours.contains(rel) { continue }
            let from = source + "/" + rel, to = staging + "/" + rel
            switch kind(of: from) {
            case .directory:
                var info = stat()
                lstat(from, &info)
                guard mkdir(to, info.st_mode & 0o7777) == 0 else { throw GeneratedTreeError.cannotWrite(rel, String(cString: strerror(errno))) }
                try linkForeignEntries(from: source, to: staging, relative: rel, skipping: ours)
            case .regular:
                guard link(from, to) == 0 else { throw GeneratedTreeError.cannotRead(from, "cannot link it (\(String(cString: strerror(errno))))") }
            case .symlink:
                guard let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: from), symlink(destination, to) == 0 else {
                    throw GeneratedTreeError.cannotRead(from, "cannot copy the symbolic link")
                }
            case .other:
                throw GeneratedTreeError.cannotRead(from, "it is a special file (a socket, pipe or device)")
            case nil:
                continue
            }
        }
    }

    /// Creates `path` (which must not exist) and its missing parent directories inside `root`,
    /// never following a symbolic link, and writes `data` to it, synced.
    static func writeExclusively(_ data: Data, to path: String, under root: String, executable: Bool) throws {
        let relative = String(path.dropFirst(root.count + 1))
        var directory = root
        for part in relative.split(separator: "/").dropLast() {
            directory += "/" + part
            switch kind(of: directory) {
            case .directory: continue
            case nil:
                guard mkdir(directory, 0o755) == 0 else { throw GeneratedTreeError.cannotWrite(relative, String(cString: strerror(errno))) }
            case let other?:
                throw GeneratedTreeError.cannotWrite(relative, "\(String(directory.dropFirst(root.count + 1))) is \(other.description)")
            }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, executable ? 0o755 : 0o644)
        guard fd >= 0 else { throw GeneratedTreeError.cannotWrite(relative, String(cString: strerror(errno))) }
        defer { close(fd) }
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { buffer in Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw GeneratedTreeError.cannotWrite(relative, String(cString: strerror(errno)))
            }
            offset += n
        }
        if executable { fchmod(fd, 0o755) }
        guard fsync(fd) == 0 else { throw GeneratedTreeError.cannotWrite(relative, String(cString: strerror(errno))) }
    }

    static func stagingPrefix(for target: URL) -> String { ".\(target.lastPathComponent).pve2nix-staging-" }

    /// A new directory next to the target with an unpredictable name, made exclusively.
    static func makeStagingDirectory(for target: URL) throws -> String {
        let parent = target.deletingLastPathComponent().path
        var template = Array((parent + "/" + stagingPrefix(for: target) + "XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw GeneratedTreeError.cannotCreate(parent + "/" + stagingPrefix(for: target) + "…", String(cString: strerror(errno))) }
        let path = String(cString: template)
        // mkdtemp makes it 0700; give the new tree the old one's mode, or the usual one.
        var info = stat()
        if lstat(target.path, &info) == 0 { chmod(path, info.st_mode & 0o7777) } else {
            let mask = umask(0)
            umask(mask)
            chmod(path, 0o777 & ~mask)
        }
        return path
    }

    /// Staging directories of runs that were killed before they cleaned up. Called under the lock.
    static func removeLeftoverStaging(for target: URL) {
        let parent = target.deletingLastPathComponent().path
        let prefix = stagingPrefix(for: target)
        // A run killed between the two renames of the fallback exchange: put the old tree back.
        if kind(of: target.path) == nil {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) && name.hasSuffix(".old") {
                if rename(parent + "/" + name, target.path) == 0 { break }
            }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
            if kind(of: parent + "/" + name) == .directory { try? FileManager.default.removeItem(atPath: parent + "/" + name) }
        }
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32

    /// Swaps two directories in one step (`renameat2` with `RENAME_EXCHANGE`). Where the file system
    /// cannot, falls back to two renames; a run killed between them is repaired by the next one.
    static func exchange(_ staging: String, _ target: String) throws {
        let renameExchange: UInt32 = 1 << 1
        if let symbol = dlsym(nil, "renameat2") {
            let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
            if renameat2(AT_FDCWD, staging, AT_FDCWD, target, renameExchange) == 0 { return }
            guard errno == EINVAL || errno == ENOSYS else { throw GeneratedTreeError.cannotWrite(target, String(cString: strerror(errno))) }
        }
        let aside = staging + ".old"
        guard rename(target, aside) == 0 else { throw GeneratedTreeError.cannotWrite(target, String(cString: strerror(errno))) }
        guard rename(staging, target) == 0 else {
            let why = String(cString: strerror(errno))
            rename(aside, target)
            throw GeneratedTreeError.cannotWrite(target, why)
        }
        rename(aside, staging)
    }

    /// `diff -u` between the file on disk and the new content.
    static func unifiedDiff(old: URL, new: String, label: String) -> String {
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: temporary) }
        guard (try? Data(new.utf8).write(to: temporary, options: .withoutOverwriting)) != nil else { return "" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        process.arguments = ["-u", "--label", "\(label) (yours)", "--label", "\(label) (pve2nix)", old.path, temporary.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "(diff unavailable)" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// An exclusive `flock` on a directory: one writer of generated trees there at a time. The
/// kernel drops it when the holder dies.
final class ParentLock {
    private var fd: Int32

    init(directory: URL, timeout: Duration) throws {
        fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw GeneratedTreeError.cannotCreate(directory.path, String(cString: strerror(errno))) }
        let deadline = ContinuousClock.now + timeout
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard ContinuousClock.now < deadline else {
                close(fd)
                throw GeneratedTreeError.busy(directory.path)
            }
            usleep(50_000)
        }
    }

    func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}

extension GeneratedTreeWriter {
    /// Paths the manifest in `directory` lists whose file is missing or differs from its record:
    /// empty when the tree is exactly one that pve2nix wrote.
    public static func manifestMismatches(in directory: URL) -> [String] {
        let manifest = Manifest.read(in: directory)
        return manifest.entries.keys.sorted().filter { path in
            guard kind(of: directory.path + "/" + path) == .regular, let data = FileManager.default.contents(atPath: directory.path + "/" + path) else { return true }
            return !manifest.matches(path, data)
        }
    }
}
