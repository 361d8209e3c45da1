import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore

extension PVE2Nix {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate the NixOS configuration of the converted node.",
            discussion: """
            Writes flake.nix, configuration.nix, disko.nix, network.nix, containers.nix, incus.nix, incus-import.sh, installer.nix (install path B) and networkd/ (the same network as plain systemd-networkd unit files) from the node's plan. Nothing is written when the plan or the translation has an error. A file you changed since pve2nix wrote it is never overwritten: pve2nix shows the diff and stops.

            Examples:
              pve2nix generate villa-pve-01 --site Examples/villa --out out/villa
              pve2nix generate villa-pve-01 --site Examples/villa --out out/villa --network-strategy per-vlan-bridges
              pve2nix generate villa-pve-01 --site Examples/villa --into ~/nix-config --ssh-key ~/.ssh/id_ed25519.pub
            """
        )

        @Argument(help: ArgumentHelp("The node to convert.", valueName: "node"))
        var node: String

        @OptionGroup var options: SiteOptions

        @Option(name: .long, help: ArgumentHelp("Write a standalone flake into this directory.", valueName: "dir"))
        var out: String?

        @Option(name: .long, help: ArgumentHelp("Place the host into an existing flake repo, under modules/hosts/<node>.", valueName: "repo"))
        var into: String?

        @Option(name: .long, help: "How to rebuild the bridges: vlan-aware-bridge (keep the topology) or per-vlan-bridges.")
        var networkStrategy: String = NetworkStrategy.vlanAwareBridge.rawValue

        @Option(name: .long, help: "Root filesystem: ext4 or zfs.")
        var filesystem: String = "ext4"

        @Option(name: .long, help: "The nixpkgs branch to follow.")
        var nixos: String = "nixos-26.05"

        @Option(name: .long, help: ArgumentHelp("A public key file for root on the host and the installer (repeatable).", valueName: "file"))
        var sshKey: [String] = []

        @Flag(name: .long, help: "Generate a host with no SSH key for root: you will add keys another way (sops, a later run with --ssh-key). Without a key and with password login off, nobody can log in.")
        var withoutSSHKey = false

        @Flag(name: .long, help: "Generate even though some constructs (hooks, OVS) cannot be translated; they are dropped and listed.")
        var acceptDropping = false

        func validate() throws {
            guard (out == nil) != (into == nil) else { throw ValidationError("give exactly one of --out DIR or --into REPO") }
            guard NetworkStrategy(rawValue: networkStrategy) != nil else {
                throw ValidationError("--network-strategy must be one of: \(NetworkStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard GenerateOptions.Filesystem(rawValue: filesystem) != nil else { throw ValidationError("--filesystem must be ext4 or zfs") }
            if sshKey.isEmpty && !withoutSSHKey {
                throw ValidationError("give --ssh-key FILE.pub: the generated host allows root login by key only, and a node without a console would be locked out. If you will add keys another way, say so with --without-ssh-key.")
            }
            if !sshKey.isEmpty && withoutSSHKey { throw ValidationError("give --ssh-key or --without-ssh-key, not both") }
        }

        func run() throws {
            let site = try BundleReading.load(options.site, node: node)
            let plan = Planner(site: site).plan(node: NodeName(node))
            var generateOptions = GenerateOptions()
            generateOptions.strategy = NetworkStrategy(rawValue: networkStrategy)!
            generateOptions.filesystem = GenerateOptions.Filesystem(rawValue: filesystem)!
            generateOptions.nixosBranch = nixos
            generateOptions.acceptDropping = acceptDropping
            generateOptions.sshKeys = try sshKey.map(Self.readPublicKey)
            var host = HostGenerator(site: site, plan: plan, options: generateOptions).generate()
            var destination: URL
            if let into {
                destination = URL(fileURLWithPath: into).appendingPathComponent(host.repositoryDirectory)
                host = host.placedInRepository()
            } else {
                destination = URL(fileURLWithPath: out!)
            }
            let stderr = FileHandle.standardError
            for d in host.diagnostics { stderr.write(Data((TerminalText.safe(d.rendered) + "\n").utf8)) }
            if host.hasErrors {
                stderr.write(Data("pve2nix: nothing written: fix the errors above (or plan again) and re-run.\n".utf8))
                throw ExitCode(1)
            }
            let outcome: GeneratedTreeWriter.Outcome
            do {
                outcome = try GeneratedTreeWriter(directory: destination).write(host.files)
            } catch GeneratedTreeError.conflicts(let conflicts) {
                for c in conflicts where !c.diff.isEmpty { print(TerminalText.safe(c.diff)) }
                throw Failure.exit(GeneratedTreeError.conflicts(conflicts).localizedDescription)
            } catch let error as GeneratedTreeError {
                throw Failure.exit(error.localizedDescription)
            }
            if options.json {
                struct Report: Encodable { var directory: String; var files: [String]; var removed: [String] }
                print(try JSONOutput.encode(Report(directory: outcome.directory.path, files: outcome.written, removed: outcome.removed)))
            } else {
                print("Wrote \(outcome.written.count) files to \(outcome.directory.path):")
                for f in outcome.written { print("  \(f)") }
                for f in outcome.removed { print("  removed \(f) (written by an earlier run, no longer generated, unchanged)") }
                if into != nil { print("\n" + host.repositoryInstructions) }
            }
        }

        /// An OpenSSH public key from a file, or a clear stop.
        static func readPublicKey(_ path: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure.exit("cannot read --ssh-key \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied or not a file" : "no such file"). Give your public key file, e.g. ~/.ssh/id_ed25519.pub.", code: 2)
            }
            guard let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
                  text.hasPrefix("ssh-") || text.hasPrefix("ecdsa-") || text.hasPrefix("sk-") else {
                throw Failure.exit("--ssh-key \(path) is not an OpenSSH public key: give the .pub file, never the private key.", code: 2)
            }
            return text
        }
    }
}
