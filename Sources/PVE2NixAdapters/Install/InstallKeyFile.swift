import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// pve2nix's own SSH key for nixos-anywhere, one per site in the state directory. nixos-anywhere
/// copies the key it is given and would otherwise make a throw-away one and ssh-copy-id it into
/// root's authorized_keys, which on Proxmox is the cluster-wide file.
public enum InstallKeyFile {
    /// The key at `path` (made with ssh-keygen when missing).
    public static func ensure(path: String, comment: String, runner: any ProcessRunner) async throws -> InstallRun.InstallKey {
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            let dir = (path as NSString).deletingLastPathComponent
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            _ = try await runner.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], timeout: .seconds(30))
        }
        let publicKey = try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return InstallRun.InstallKey(privateKeyPath: path, publicKey: publicKey)
    }
}

extension StateDirectory {
    /// The site's install key for nixos-anywhere (`site`: the cluster's name).
    public func installKey(site: String) -> String {
        ((knownHosts(site: site) as NSString).deletingLastPathComponent as NSString).appendingPathComponent("install_ed25519")
    }

    /// Where the full log of each install phase of `node` goes.
    public func logs(for node: String) -> String { url.appendingPathComponent("logs/\(node)").path }
}

extension StateDirectory {
    /// The host key of `node`'s installer image (install path B), generated at install time, next
    /// to the site's install key; pinned for the node's address while the installer runs.
    public func installerHostKey(site: String, node: String) -> String {
        ((knownHosts(site: site) as NSString).deletingLastPathComponent as NSString).appendingPathComponent("installer-\(node)_ed25519")
    }
}

/// The installer image as `nix build` left it on this machine.
public enum InstallerImageFile {
    /// The one ISO under `<out>/iso/`.
    public static func iso(in output: String) throws -> String {
        let dir = output + "/" + NixBuildCall.isoDirectory
        let isos = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".iso") }.sorted()
        guard isos.count == 1 else { throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(dir) holds \(isos.count) .iso files, not one"]) }
        return dir + "/" + isos[0]
    }
}
