import ArgumentParser

@main
struct PVE2Nix: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pve2nix",
        abstract: "Convert a Proxmox VE cluster node into a NixOS service host, one node at a time.",
        discussion: """
        pve2nix reads a capture bundle (a directory of files and command outputs from the cluster) and plans the conversion of one node: drain, disk, network, guests, install path, checks. plan, inspect, generate, rehearse, disk-check, status and report touch no machine; capture reads the cluster's API and, with --ssh, each node's own files; drain moves guests through the API; check reads the cluster and the node before anything destructive; install runs nixos-anywhere phase by phase (path A), validate checks the result, and cluster-remove takes the converted node out of its cluster.

        Examples:
          pve2nix plan villa-pve-01 --site Examples/villa
          pve2nix plan villa-pve-01 --site Examples/villa --out villa-pve-01.plan.json
          pve2nix inspect --site Examples/villa --node villa-pve-01
          pve2nix capture --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --out villa-bundle --ssh 'root@{ip}'
          pve2nix drain villa-pve-01 --plan villa-pve-01.plan.json --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem
          pve2nix check villa-pve-01 --plan villa-pve-01.plan.json --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --generated out/villa
          pve2nix install pve1 --plan pve1.plan.json --generated out/pve1 --dry-run
          pve2nix validate pve1 --plan pve1.plan.json
          pve2nix cluster-remove villa-pve-01 --plan villa-pve-01.plan.json --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --dry-run
          pve2nix status villa-pve-01
          pve2nix report villa-pve-01 --site Examples/villa -o villa-pve-01.html
        """,
        version: "0.1.0",
        subcommands: [Plan.self, Inspect.self, Generate.self, Rehearse.self, Lab.self, Capture.self, Drain.self, Check.self, DiskCheck.self, Install.self, Validate.self, ClusterRemove.self, Rollback.self, Convert.self, Status.self, Report.self]
    )
}

/// Options every command that reads a capture bundle shares.
struct SiteOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The capture bundle directory.", valueName: "dir"))
    var site: String

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}
