import Crypto
import Foundation
import PVE2NixCore
import Synchronization

/// What a plan was made from: every bundle file the loader read (by SHA-256) and every directory it
/// listed. Two digests that are equal mean the plan would come out the same from either bundle.
public struct BundleDigest: Sendable, Hashable, Codable {
    /// `file:PATH` → SHA-256 hex of the file's text, or `absent`; `list:DIR` → its entries, comma-separated, or `absent`.
    public var entries: [String: String]

    public init(entries: [String: String] = [:]) { self.entries = entries }

    /// One SHA-256 over every entry, in sorted order.
    public var sha256: String {
        let text = entries.keys.sorted().map { "\($0)\t\(entries[$0]!)\n" }.joined()
        return Self.hex(Data(text.utf8))
    }

    static func hex(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    /// What differs in `now` from this digest, one sentence per file or directory, sorted.
    public func changes(to now: BundleDigest) -> [String] {
        var out: [String] = []
        for key in Set(entries.keys).union(now.entries.keys).sorted() {
            let before = entries[key], after = now.entries[key]
            guard before != after else { continue }
            let isList = key.hasPrefix("list:")
            let path = String(key.drop { $0 != ":" }.dropFirst())
            let name = path.isEmpty ? "the bundle's top directory" : path
            switch (before, after) {
            case (nil, _):
                // Read now but not then: the newer loader looked further; only a file that exists is news.
                if after != "absent" { out.append("\(name): \(isList ? "listed" : "read") now, not when the plan was made") }
            case (_, nil):
                break
            case ("absent", _): out.append("\(name): \(isList ? "directory" : "file") appeared")
            case (_, "absent"): out.append("\(name): \(isList ? "directory" : "file") is gone")
            default:
                if isList {
                    let a = Set(before!.split(separator: ",").map(String.init)), b = Set(after!.split(separator: ",").map(String.init))
                    let added = b.subtracting(a).sorted(), removed = a.subtracting(b).sorted()
                    out.append("\(name)/: " + [added.isEmpty ? nil : "new \(added.joined(separator: ", "))",
                                               removed.isEmpty ? nil : "gone \(removed.joined(separator: ", "))"].compactMap { $0 }.joined(separator: "; "))
                } else {
                    out.append("\(name): changed")
                }
            }
        }
        return out
    }
}

/// A file tree that remembers what was read through it, to make the bundle's digest.
public final class RecordingFileTree: FileTree, Sendable {
    private let inner: any FileTree
    private let seen = Mutex<[String: String]>([:])

    public init(_ inner: any FileTree) { self.inner = inner }

    public func read(_ path: String) -> String? {
        let text = inner.read(path)
        let value = text.map { BundleDigest.hex(Data($0.utf8)) } ?? "absent"
        seen.withLock { $0["file:" + path] = value }
        return text
    }

    public func list(_ directory: String) -> [String]? {
        let names = inner.list(directory)
        seen.withLock { $0["list:" + directory] = names.map { $0.joined(separator: ",") } ?? "absent" }
        return names
    }

    public var digest: BundleDigest { BundleDigest(entries: seen.withLock { $0 }) }
}
