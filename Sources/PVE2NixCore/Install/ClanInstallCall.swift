/// One `clan machines install` run for install path C: a single nixos-anywhere phase
/// (`disko`, `install` or `reboot`), with exactly the flags pve2nix passes (install-facts §4.1).
///
/// pve2nix reaches the kexec installer itself (as path A does) and calls clan once per phase, so
/// that the disk gate and the confirmation come right before the wipe, and every phase is journaled.
/// Clan runs each listed phase as its own nixos-anywhere call anyway (`clan_lib/machines/install.py`).
/// Never `--host-key-check`: clan discards its value on install and never passes it to
/// nixos-anywhere; pve2nix's strict `ssh` on the PATH and its own pinned checks do that work.
/// Never `--no-reboot` (defeated by clan's per-phase loop) and never `--kexec` (no kexec phase here).
public struct ClanInstallCall: Sendable, Hashable {
    /// The phases clan runs for pve2nix; the kexec is pve2nix's own nixos-anywhere call.
    public static let phases: [NixosAnywhereCall.Phase] = [.disko, .install, .reboot]

    public var phase: NixosAnywhereCall.Phase
    public var machine: NodeName
    /// The generated tree: the clan flake.
    public var flakeDirectory: String
    public var target: SSHTarget
    public var identityFile: String

    public init(phase: NixosAnywhereCall.Phase, machine: NodeName, flakeDirectory: String, target: SSHTarget, identityFile: String) {
        self.phase = phase
        self.machine = machine
        self.flakeDirectory = flakeDirectory
        self.target = target
        self.identityFile = identityFile
    }

    /// Clan's `--target-host user@host:port`: the port only when it is not 22, an IPv6 address
    /// then in brackets. Always root: without kexec in the phases nixos-anywhere logs in as root.
    public var targetHost: String {
        guard target.port != 22 else { return "root@\(target.host)" }
        let host = target.host.contains(":") ? "[\(target.host)]" : target.host
        return "root@\(host):\(target.port)"
    }

    /// The arguments after `clan`. `--yes`: without a terminal clan's confirmation prompt fails
    /// (pve2nix asked its own confirmation before the wipe); `--update-hardware-config none`: the
    /// kexec step already wrote facter.json, and nixos-facter must not run again in each phase.
    public var arguments: [String] {
        ["machines", "install", machine.rawValue,
         "--flake", flakeDirectory,
         "--target-host", targetHost,
         "-i", identityFile,
         "--phases", phase.rawValue,
         "--update-hardware-config", "none",
         "--yes"]
    }

    /// The command as a person would type it.
    public var commandLine: String { ShellQuoting.commandLine(["clan"] + arguments) }

    /// Where clan keeps the public half of its `sshd` service's host key in the flake
    /// (`clanServices/sshd`: generator `openssh`, file `ssh.id_ed25519.pub`; public vars live
    /// under `vars/per-machine/<machine>/<generator>/<file>/value`).
    public static func hostKeyVarPath(machine: NodeName) -> String {
        "vars/per-machine/\(machine.rawValue)/openssh/ssh.id_ed25519.pub/value"
    }
}
