import Foundation

/// Debian's `nix-instantiate`, run without a daemon, a store or a network.
public enum NixTool {
    public static var path: URL? {
        ["/usr/bin/nix-instantiate", "/bin/nix-instantiate"].map(URL.init(fileURLWithPath:)).first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// Runs nix-instantiate; returns (status, stdout, stderr).
    public static func run(_ arguments: [String], in directory: URL? = nil) throws -> (status: Int32, out: String, err: String) {
        guard let path else { return (127, "", "nix-instantiate not found: install Debian's nix-bin (scripts/setup does)") }
        let process = Process()
        process.executableURL = path
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        var env = ProcessInfo.processInfo.environment
        env["NIX_REMOTE"] = "dummy://"
        env["NIX_CONFIG"] = "build-users-group ="
        env["HOME"] = FileManager.default.temporaryDirectory.path
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
