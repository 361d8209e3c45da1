import Foundation
import PVE2NixCore

/// The cached lab image: kernel, initramfs and root filesystem, rebuilt only when the recipe changes.
public struct LabImage: Sendable {
    public let directory: URL

    public var kernel: URL { directory.appendingPathComponent("vmlinuz") }
    public var initramfs: URL { directory.appendingPathComponent("initrd.img") }
    public var root: URL { directory.appendingPathComponent("root.img") }
    public var isBuilt: Bool { [kernel, initramfs, root].allSatisfy { FileManager.default.fileExists(atPath: $0.path) } }

    /// `$PVE2NIX_LAB_CACHE`, else `$XDG_CACHE_HOME/pve2nix/lab`, else `~/.cache/pve2nix/lab`; one
    /// folder per recipe fingerprint.
    public static func cached(environment: [String: String] = ProcessInfo.processInfo.environment) -> LabImage {
        let base: URL
        if let dir = environment["PVE2NIX_LAB_CACHE"] { base = URL(fileURLWithPath: dir) }
        else if let xdg = environment["XDG_CACHE_HOME"] { base = URL(fileURLWithPath: xdg).appendingPathComponent("pve2nix/lab") }
        else { base = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/pve2nix/lab") }
        return LabImage(directory: base.appendingPathComponent("image-v\(LabImageRecipe.version)-\(Fingerprint.of(LabImageRecipe.script))"))
    }

    /// Builds the image unless it is cached. Progress goes to `log` line by line.
    public func build(log: @escaping @Sendable (String) -> Void) throws {
        if isBuilt { log("lab: image cached at \(directory.path)"); return }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = directory.appendingPathComponent("build.sh")
        try Data(LabImageRecipe.script.utf8).write(to: script)
        let status = try LabProcess.run("/bin/bash", [script.path, directory.path], timeout: 900, output: log)
        guard status == 0, isBuilt else { throw LabError.imageBuildFailed(status) }
    }
}

public enum LabError: Error, LocalizedError, Sendable {
    case imageBuildFailed(Int32)
    case imageMissing(String)
    case qemuMissing
    case timedOut(Int)

    public var errorDescription: String? {
        switch self {
        case .imageBuildFailed(let s): "building the lab image failed (exit \(s)); see the lines above. Nothing was cached: run 'pve2nix lab build' again after fixing the cause."
        case .imageMissing(let dir): "no lab image at \(dir): run 'pve2nix lab build' first."
        case .qemuMissing: "qemu-system-x86_64 is not installed: run scripts/setup (Debian's qemu-system-x86)."
        case .timedOut(let s): "the rehearsal VM did not finish within \(s) s and was stopped."
        }
    }
}

/// Runs a program with a time bound, streaming its combined output line by line.
enum LabProcess {
    static func run(_ path: String, _ arguments: [String], timeout: Int, output: (@Sendable (String) -> Void)? = nil) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let buffer = LineBuffer(sink: output)
        pipe.fileHandleForReading.readabilityHandler = { handle in buffer.append(handle.availableData) }
        try process.run()
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning {
            process.terminate()
            Thread.sleep(forTimeInterval: 2)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            pipe.fileHandleForReading.readabilityHandler = nil
            throw LabError.timedOut(timeout)
        }
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
        buffer.append(pipe.fileHandleForReading.readDataToEndOfFile())
        buffer.flush()
        return process.terminationStatus
    }
}

final class LineBuffer: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    private let sink: (@Sendable (String) -> Void)?
    init(sink: (@Sendable (String) -> Void)?) { self.sink = sink }

    func append(_ chunk: Data) {
        lock.lock(); defer { lock.unlock() }
        data.append(chunk)
        while let newline = data.firstIndex(of: 10) {
            let line = String(decoding: data[data.startIndex..<newline], as: UTF8.self)
            data.removeSubrange(data.startIndex...newline)
            sink?(line)
        }
    }

    func flush() {
        lock.lock(); defer { lock.unlock() }
        if !data.isEmpty { sink?(String(decoding: data, as: UTF8.self)); data.removeAll() }
    }
}
