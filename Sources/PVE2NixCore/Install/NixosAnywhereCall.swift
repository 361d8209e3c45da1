/// One nixos-anywhere run: a single phase, with exactly the flags pve2nix passes.
///
/// pve2nix runs one phase per call so that it can act between them: wait (bounded) for the
/// installer, check the pinned host key and run the disk gate before the wipe, read boot ids.
/// nixos-anywhere ignores the order of `--phases`, and a run needs `--flake` or `--store-paths`
/// even when it builds nothing (install-facts §1.2).
public struct NixosAnywhereCall: Sendable, Hashable {
    /// nixos-anywhere's phase names; each call passes exactly one.
    public enum Phase: String, Sendable, Hashable, Codable, CaseIterable {
        case kexec, disko, install, reboot
    }

    /// What the call installs from: the flake (kexec only: nothing is built) or prebuilt store paths.
    public enum Source: Sendable, Hashable {
        case flake(directory: String, attribute: String)
        case storePaths(disko: String, toplevel: String)
    }

    public var phase: Phase
    public var target: SSHTarget
    public var identityFile: String
    public var source: Source
    /// For the kexec phase: the kexec installer tarball with the node's own network.
    public var kexecImage: String?
    /// For the kexec phase: where nixos-facter's report goes, in the generated tree.
    public var hardwareReport: String?
    /// The port the installer's sshd answers on after kexec (nixos-anywhere's default is 22).
    public var postKexecPort: Int?
    /// For the install phase: `--copy-host-keys`. Path A keeps the node's own key this way (the
    /// kexec installer carries it); path B must not, since its installer's key is a throw-away.
    public var copyHostKeys: Bool

    public init(phase: Phase, target: SSHTarget, identityFile: String, source: Source,
                kexecImage: String? = nil, hardwareReport: String? = nil, postKexecPort: Int? = nil, copyHostKeys: Bool = true) {
        self.copyHostKeys = copyHostKeys
        self.phase = phase
        self.target = target
        self.identityFile = identityFile
        self.source = source
        self.kexecImage = kexecImage
        self.hardwareReport = hardwareReport
        self.postKexecPort = postKexecPort
    }

    /// The arguments after `nixos-anywhere`. Never `--force-kexec`, never an `--ssh-option` that
    /// loosens host-key checking, never `--debug` (it logs every SSH command).
    public var arguments: [String] {
        var a = ["--phases", phase.rawValue]
        switch source {
        case .flake(let directory, let attribute):
            a += ["--flake", "\(directory)#\(attribute)"]
        case .storePaths(let disko, let toplevel):
            a += ["--store-paths", disko, toplevel]
        }
        a += ["-i", identityFile]
        if phase == .kexec {
            if let kexecImage { a += ["--kexec", kexecImage] }
            if let hardwareReport { a += ["--generate-hardware-config", "nixos-facter", hardwareReport] }
        }
        if phase == .install, copyHostKeys { a.append("--copy-host-keys") }
        if target.port != 22 { a += ["-p", String(target.port)] }
        if phase == .kexec, let postKexecPort, target.port != 22 || postKexecPort != 22 {
            a += ["--post-kexec-ssh-port", String(postKexecPort)]
        }
        // Without kexec in the phases nixos-anywhere connects as root@host whatever the user. An
        // IPv6 address goes bare: ssh takes all after the last '@' as the host, brackets included.
        a += ["--target-host", "\(target.user ?? "root")@\(target.host)"]
        return a
    }

    /// The command as a person would type it.
    public var commandLine: String { ShellQuoting.commandLine(["nixos-anywhere"] + arguments) }
}

/// One `nix build` pve2nix runs itself, so that it knows (and journals) the exact store path.
public struct NixBuildCall: Sendable, Hashable, Codable {
    /// What is built from the generated flake.
    public enum Output: String, Sendable, Hashable, Codable {
        case toplevel, diskoScript, kexecInstaller = "kexec-installer", installerImage = "installer-image"
    }

    public var output: Output
    public var flakeDirectory: String
    public var node: NodeName
    /// Set for the build only (the installer image reads its keys' paths from here, see
    /// `installerEnvironment`); never journaled, since it names key files.
    public var environment: [String: String]

    public init(output: Output, flakeDirectory: String, node: NodeName, environment: [String: String] = [:]) {
        self.output = output
        self.flakeDirectory = flakeDirectory
        self.node = node
        self.environment = environment
    }

    /// The variable `installer.nix` reads the installer's private host key path from.
    public static let installerHostKeyVariable = "PVE2NIX_INSTALLER_HOST_KEY"
    /// The variable `installer.nix` reads pve2nix's install key (the `.pub` file's path) from.
    public static let installKeyVariable = "PVE2NIX_INSTALL_KEY"

    /// The environment of the installer image's build: the installer's host key (pinned by
    /// pve2nix) and pve2nix's install key for nixos-anywhere. The files are read at evaluation,
    /// so they never enter the generated tree; the host key does enter the Nix store and the ISO.
    public static func installerEnvironment(hostKey: String, installKey: String) -> [String: String] {
        [installerHostKeyVariable: hostKey, installKeyVariable: installKey]
    }

    /// The flake attribute path of the output.
    public var attribute: String {
        switch output {
        case .toplevel: "nixosConfigurations.\"\(node.rawValue)\".config.system.build.toplevel"
        case .diskoScript: "nixosConfigurations.\"\(node.rawValue)\".config.system.build.diskoScript"
        case .kexecInstaller: "nixosConfigurations.\"\(node.rawValue)-kexec\".config.system.build.kexecInstallerTarball"
        case .installerImage: "nixosConfigurations.\"\(node.rawValue)-installer\".config.system.build.isoImage"
        }
    }

    public var arguments: [String] {
        // The installer image reads its keys with builtins.getEnv, which pure evaluation hides.
        let impure = output == .installerImage ? ["--impure"] : []
        return ["build", "--extra-experimental-features", "nix-command flakes"] + impure + ["--no-link", "--print-out-paths", "\(flakeDirectory)#\(attribute)"]
    }

    public var commandLine: String {
        let env = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\(ShellQuoting.quote($0.value))" }
        return (env + [ShellQuoting.commandLine(["nix"] + arguments)]).joined(separator: " ")
    }

    /// Where the ISO file lies inside the built installer image (its name carries the NixOS version).
    public static let isoDirectory = "iso"

    /// The kexec tarball inside the built output (nixos-images names it after the system).
    public static let kexecTarballName = "nixos-kexec-installer-x86_64-linux.tar.gz"
}
