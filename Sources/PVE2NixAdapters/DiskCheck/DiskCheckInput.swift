import Foundation
import PVE2NixCore

/// What `disk-check` reads besides the plan: the disks as captured right before the wipe.
public enum DiskCheckInput {
    /// `lsblk -J -b -O` and `ls -l /dev/disk/by-id`, captured at the same moment.
    public struct Now: Sendable {
        public var devices: [BlockDevice]
        public var links: [DiskIDLink]
        /// Problems that do not stop the check (a line of `ls -l` that is not a link).
        public var warnings: [Diagnostic]
    }

    public static let lsblkFile = "lsblk.json"
    public static let byIDFile = "disk-by-id.txt"

    /// Reads `lsblk.json` and `disk-by-id.txt` from `directory`; any error in them stops the check.
    public static func readNow(directory: String) throws(DiskCheckInputError) -> Now {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { throw .noDirectory(directory) }
        guard isDirectory.boolValue else { throw .notADirectory(directory) }
        let lsblkPath = (directory as NSString).appendingPathComponent(lsblkFile)
        let byIDPath = (directory as NSString).appendingPathComponent(byIDFile)
        let (devices, lsblkDiagnostics) = CaptureDecoders.lsblk(try text(lsblkPath, capture: "lsblk -J -b -O"), file: lsblkPath)
        let (links, linkDiagnostics) = CaptureDecoders.diskByID(try text(byIDPath, capture: "ls -l /dev/disk/by-id"), file: byIDPath)
        let diagnostics = lsblkDiagnostics + linkDiagnostics
        guard !diagnostics.hasErrors else { throw .damaged(diagnostics.filter { $0.severity == .error }) }
        if devices.isEmpty { throw .empty(lsblkPath) }
        if links.isEmpty { throw .empty(byIDPath) }
        return Now(devices: devices, links: links, warnings: diagnostics)
    }

    private static func text(_ path: String, capture: String) throws(DiskCheckInputError) -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path, capture: capture) }
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Why `disk-check` could not read what it checks. Nothing was judged, so nothing may be wiped.
public enum DiskCheckInputError: Error, LocalizedError, Sendable {
    case noDirectory(String)
    case notADirectory(String)
    case missingFile(String, capture: String)
    case unreadable(String)
    case empty(String)
    case damaged([Diagnostic])

    public var errorDescription: String? {
        let redo = "Nothing was checked, so nothing may be wiped."
        switch self {
        case .noDirectory(let p): return "\(p): no such directory. Capture 'lsblk -J -b -O > lsblk.json' and 'ls -l /dev/disk/by-id > disk-by-id.txt' on the machine right before the install, put both in one directory and point --now at it. \(redo)"
        case .notADirectory(let p): return "\(p) is a file; --now takes the directory that holds lsblk.json and disk-by-id.txt. \(redo)"
        case .missingFile(let p, let capture): return "\(p) is missing: capture it on the machine with '\(capture) > \((p as NSString).lastPathComponent)'. \(redo)"
        case .unreadable(let p): return "cannot read \(p) (permission denied). \(redo)"
        case .empty(let p): return "\(p) lists no devices: capture it again on the machine right before the install. \(redo)"
        case .damaged(let diagnostics):
            return "the capture cannot be read:\n" + diagnostics.prefix(20).map { "  " + $0.rendered }.joined(separator: "\n") + "\nCapture it again on the machine. \(redo)"
        }
    }
}
