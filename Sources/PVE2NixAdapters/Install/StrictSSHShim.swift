import Foundation
import PVE2NixCore

/// An `ssh` put first on nixos-anywhere's PATH that checks the pinned host key. nixos-anywhere
/// passes `StrictHostKeyChecking=no` and `UserKnownHostsFile=/dev/null`; ssh keeps the first value
/// of each option, so the shim's options, placed before them, win (install-facts §1.5). `nix copy`
/// and `ssh-copy-id` call the same `ssh`. pve2nix also checks the key itself before each phase.
public struct StrictSSHShim: Sendable {
    public let directory: String

    /// Writes the shim into a new private directory; `realSSH` is the ssh it calls.
    public static func make(pins: PinnedHostKeys, realSSH: String, configFile: String? = nil) throws -> StrictSSHShim {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-ssh-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        // Also: only the key nixos-anywhere gives with -i (never the agent's, so ssh-copy-id cannot
        // log in another way and append to the cluster-wide authorized_keys), and no shared
        // connection from ~/.ssh/config (a mux client skips the host-key check).
        let options = ["StrictHostKeyChecking=yes", "UserKnownHostsFile=\(OpenSSHShell.optionPath(pins.path))", "GlobalKnownHostsFile=/dev/null",
                       "HostKeyAlgorithms=ssh-ed25519", "KnownHostsCommand=none", "VerifyHostKeyDNS=no", "CheckHostIP=no", "UpdateHostKeys=no",
                       "IdentitiesOnly=yes", "IdentityAgent=none", "ControlPath=none"]
        let script = """
        #!/bin/sh
        # pve2nix: nixos-anywhere's ssh, with the site's pinned host keys checked first.
        exec \(ShellQuoting.quote(realSSH)) \(configFile.map { "-F " + ShellQuoting.quote($0) + " " } ?? "")\(options.map { "-o " + ShellQuoting.quote($0) }.joined(separator: " ")) "$@"

        """
        let file = dir.appendingPathComponent("ssh")
        try Data(script.utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: file.path)
        return StrictSSHShim(directory: dir.path)
    }

    /// nixos-anywhere's environment: the shim first on PATH.
    public func environment(_ inherited: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        ["PATH": directory + ":" + (inherited["PATH"] ?? "/usr/bin:/bin")]
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// The first `ssh` on PATH.
    public static func findSSH(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/ssh" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
