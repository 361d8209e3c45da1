import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

/// How pve2nix reaches nodes over SSH: shared by capture and check.
struct SSHOptions: ParsableArguments {
    @Option(name: .customLong("ssh-identity"), help: ArgumentHelp("A private key for ssh -i (default: your agent and ~/.ssh/config).", valueName: "file"))
    var identity: String?

    @Option(name: .customLong("ssh-config"), help: ArgumentHelp("An ssh_config file instead of ~/.ssh/config (ssh -F).", valueName: "file"))
    var config: String?

    @Option(name: .customLong("known-hosts"), help: ArgumentHelp("The file of the site's pinned host keys (default: $XDG_STATE_HOME/pve2nix/sites/<cluster>/known_hosts). pve2nix never writes your own known_hosts.", valueName: "file"))
    var knownHosts: String?

    func pins(site: String) -> PinnedHostKeys {
        PinnedHostKeys(path: knownHosts ?? StateDirectory().knownHosts(site: site))
    }

    func shell(_ target: SSHTarget, pins: PinnedHostKeys, runner: any ProcessRunner) throws -> OpenSSHShell {
        var options = OpenSSHShell.Options()
        options.identityFile = identity
        options.configFile = config
        return try OpenSSHShell(target: target, pins: pins, runner: runner, options: options)
    }
}

/// `--ssh NODE=[USER@]HOST[:PORT]`, `--ssh [USER@]HOST[:PORT]` (matched to a node by name or
/// address) or a pattern with `{node}` or `{ip}` for every node.
struct SSHTargetSpec {
    var node: String?
    var spec: String

    init(_ text: String) {
        if let eq = text.firstIndex(of: "="), !text[..<eq].contains("@") {
            node = String(text[..<eq])
            spec = String(text[text.index(after: eq)...])
        } else {
            spec = text
        }
    }

    var isPattern: Bool { spec.contains("{node}") || spec.contains("{ip}") }

    /// The targets this spec names, by node, given the cluster's nodes and their addresses.
    func resolve(nodes: [(name: String, ip: String?)]) throws -> [(node: String, target: SSHTarget)] {
        func parse(_ s: String) throws -> SSHTarget {
            do { return try SSHTarget(parsing: s) } catch { throw ValidationError("--ssh \(s): \(error.localizedDescription)") }
        }
        if isPattern {
            return try nodes.filter { node == nil || $0.name == node }.compactMap { n in
                guard !spec.contains("{ip}") || n.ip != nil else { return nil }
                return (n.name, try parse(spec.replacingOccurrences(of: "{node}", with: n.name).replacingOccurrences(of: "{ip}", with: n.ip ?? "")))
            }
        }
        let target = try parse(spec)
        if let node {
            guard nodes.contains(where: { $0.name == node }) else {
                throw ValidationError("--ssh \(node)=…: the cluster has no node '\(node)'\(NameSuggestion.nearest(to: node, in: nodes.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""); its nodes: \(nodes.map(\.name).joined(separator: ", "))")
            }
            return [(node, target)]
        }
        guard let match = nodes.first(where: { $0.name == target.host || $0.ip == target.host }) else {
            throw ValidationError("--ssh \(spec): no node of the cluster is named or addressed \(target.host); say which node it is: --ssh NODE=\(spec)")
        }
        return [(match.name, target)]
    }
}
