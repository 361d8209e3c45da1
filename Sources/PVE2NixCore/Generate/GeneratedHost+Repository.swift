extension GeneratedHost {
    /// Where the host goes inside an existing flake repository (`generate --into REPO`).
    public var repositoryDirectory: String { "modules/hosts/\(node)" }

    /// The host as a module of an existing flake: no flake.nix of its own, and its
    /// configuration.nix as the directory's default.nix.
    public func placedInRepository() -> GeneratedHost {
        var host = self
        host.files = files.filter { $0.path != "flake.nix" }.map { f in
            var f = f
            if f.path == "configuration.nix" { f.path = "default.nix" }
            return f
        }
        return host
    }

    /// What to add to the repository's flake so that it builds the host.
    public var repositoryInstructions: String {
        """
        Add the host to your flake's outputs:
          nixosConfigurations.\(node) = inputs.nixpkgs.lib.nixosSystem {
            system = "x86_64-linux";
            modules = [ inputs.disko.nixosModules.disko inputs.sops-nix.nixosModules.sops ./\(repositoryDirectory) ];
          };
        """
    }
}
