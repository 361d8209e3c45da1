import Foundation

/// Why a report could not be written.
public enum ReportFileError: Error, LocalizedError, Sendable, Equatable {
    case exists(String)
    case noDirectory(String)
    case isDirectory(String)
    case cannotWrite(String, String)

    public var errorDescription: String? {
        switch self {
        case .exists(let p): "\(p) exists: it is left as it is and no report was written. Choose another -o path, or pass --force to replace it."
        case .noDirectory(let d): "the directory \(d) does not exist: no report was written. Create it, or choose another -o path."
        case .isDirectory(let p): "\(p) is a directory: no report was written. Give -o a file name, such as \((p as NSString).appendingPathComponent("report.html"))."
        case .cannotWrite(let p, let why): "cannot write \(p): \(why). No report was written; choose a directory you can write to."
        }
    }
}

/// Writes a report whole or not at all: into a temporary file next to the target, then renamed
/// into place (or linked, which refuses to replace an existing file unless `force`).
public enum ReportFile {
    public static func write(_ text: String, to path: String, force: Bool) throws {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let directory = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportFileError.noDirectory(directory.path)
        }
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw ReportFileError.isDirectory(path) }
            if !force { throw ReportFileError.exists(path) }
        }
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        defer { unlink(temporary.path) }
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ReportFileError.cannotWrite(path, String(cString: strerror(errno))) }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.synchronize()
            try handle.close()
        } catch {
            throw ReportFileError.cannotWrite(path, (error as NSError).localizedDescription)
        }
        if force {
            guard rename(temporary.path, url.path) == 0 else { throw ReportFileError.cannotWrite(path, String(cString: strerror(errno))) }
        } else {
            // link() fails if the name exists by now: a file that appeared meanwhile is never replaced.
            guard link(temporary.path, url.path) == 0 else {
                if errno == EEXIST { throw ReportFileError.exists(path) }
                throw ReportFileError.cannotWrite(path, String(cString: strerror(errno)))
            }
        }
    }
}
