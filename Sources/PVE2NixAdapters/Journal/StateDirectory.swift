import Foundation

/// Where pve2nix keeps its state on the machine it runs on: `$XDG_STATE_HOME/pve2nix`, else
/// `~/.local/state/pve2nix`. Journals live there unless `--journal` says otherwise; node locks
/// always do, so that two runs for one node collide whichever journal each was given.
public struct StateDirectory: Sendable {
    public let url: URL

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let base: URL
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
            base = URL(fileURLWithPath: xdg)
        } else if let home = environment["HOME"], !home.isEmpty {
            base = URL(fileURLWithPath: home).appendingPathComponent(".local/state")
        } else {
            base = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/state")
        }
        url = base.appendingPathComponent("pve2nix")
    }

    /// The default journal of a node's run.
    public func journal(for node: String) -> String { url.appendingPathComponent("\(node).journal.sqlite").path }

    /// The known_hosts file of a site's pinned host keys (`site`: the cluster's name).
    public func knownHosts(site: String) -> String {
        let safe = String(site.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }).drop { $0 == "." }
        return url.appendingPathComponent("sites/\(safe.isEmpty ? "default" : String(safe))/known_hosts").path
    }

    /// The lock every acting command for `node` holds.
    public func lock(for node: String) -> String { url.appendingPathComponent("locks/\(node).lock").path }
}
