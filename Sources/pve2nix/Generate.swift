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

        @Flag(name: .long, help: "Generate even though some constructs (hooks, OVS) cannot be translated; they are dropped and listed.")
        var acceptDropping = false

        func validate() throws {
            guard (out == nil) != (into == nil) else { throw ValidationError("give exactly one of --out DIR or --into REPO") }
            guard NetworkStrategy(rawValue: networkStrategy) != nil else {
                throw ValidationError("--network-strategy must be one of: \(NetworkStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard GenerateOptions.Filesystem(rawValue: filesystem) != nil else { throw ValidationError("--filesystem must be ext4 or zfs") }
        }

        func run() throws {
            let site = try BundleReading.load(options.site)
            let plan = Planner(site: site).plan(node: NodeName(node))
            var generateOptions = GenerateOptions()
            generateOptions.strategy = NetworkStrategy(rawValue: networkStrategy)!
            generateOptions.filesystem = GenerateOptions.Filesystem(rawValue: filesystem)!
            generateOptions.nixosBranch = nixos
            generateOptions.acceptDropping = acceptDropping
            generateOptions.sshKeys = try sshKey.map { path in
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw ValidationError("cannot read --ssh-key \(path)")
                }
                guard text.hasPrefix("ssh-") || text.hasPrefix("ecdsa-") || text.hasPrefix("sk-") else {
                    throw ValidationError("--ssh-key \(path) is not an OpenSSH public key (give the .pub file, never the private key)")
                }
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            var host = HostGenerator(site: site, plan: plan, options: generateOptions).generate()
            var destination: URL
            if let into {
                destination = URL(fileURLWithPath: into).appendingPathComponent("modules/hosts/\(node)")
                host.files = host.files.filter { $0.path != "flake.nix" }.map { f in
                    var f = f
                    if f.path == "configuration.nix" { f.path = "default.nix" }
                    return f
                }
            } else {
                destination = URL(fileURLWithPath: out!)
            }
            let stderr = FileHandle.standardError
            for d in host.diagnostics { stderr.write(Data((d.rendered + "\n").utf8)) }
            if host.hasErrors {
                stderr.write(Data("pve2nix: nothing written: fix the errors above (or plan again) and re-run.\n".utf8))
                throw ExitCode(1)
            }
            let writer = GeneratedTreeWriter(directory: destination)
            let conflicts = writer.conflicts(host.files)
            if !conflicts.isEmpty {
                for c in conflicts { print(c.diff) }
                stderr.write(Data("pve2nix: nothing written: \(conflicts.map(\.path).joined(separator: ", ")) changed since pve2nix wrote them (diff above). Merge by hand, or move the file away and re-run.\n".utf8))
                throw ExitCode(1)
            }
            try writer.write(host.files)
            if options.json {
                print(try JSONOutput.encode(["directory": destination.path, "files": host.files.map(\.path).joined(separator: ",")]))
            } else {
                print("Wrote \(host.files.count) files to \(destination.path):")
                for f in host.files { print("  \(f.path)") }
                if into != nil {
                    print("""

                    Add the host to your flake's outputs:
                      nixosConfigurations.\(node) = inputs.nixpkgs.lib.nixosSystem {
                        system = "x86_64-linux";
                        modules = [ inputs.disko.nixosModules.disko inputs.sops-nix.nixosModules.sops ./modules/hosts/\(node) ];
                      };
                    """)
                }
            }
        }
    }
}
