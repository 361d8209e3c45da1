/// Choices for `pve2nix generate`.
public struct GenerateOptions: Sendable, Hashable {
    public enum Filesystem: String, Sendable, Hashable, CaseIterable { case ext4, zfs }

    public var strategy: NetworkStrategy = .vlanAwareBridge
    public var filesystem: Filesystem = .ext4
    /// The nixpkgs branch to follow; `system.stateVersion` is taken from it.
    public var nixosBranch = "nixos-26.05"
    public var acceptDropping = false
    /// Public keys allowed to log in as root on the installer and the host.
    public var sshKeys: [String] = []

    public init() {}

    public var stateVersion: String {
        let digits = nixosBranch.drop { !$0.isASCIIDigit }
        return digits.isEmpty ? "26.05" : String(digits)
    }
}

/// One file of the generated host, by path relative to the output directory.
public struct GeneratedFile: Sendable, Hashable {
    public var path: String
    public var contents: String
    public var executable = false

    public init(path: String, contents: String, executable: Bool = false) {
        self.path = path
        self.contents = contents
        self.executable = executable
    }
}

/// Everything `generate` produces: files to write (only if no diagnostic is an error).
public struct GeneratedHost: Sendable, Hashable {
    public var node: NodeName
    public var files: [GeneratedFile]
    public var diagnostics: [Diagnostic]
    /// Container names that had to be shortened or cleaned: guest name → container name.
    public var containerNames: [VMID: String]
    /// Where each returning guest's NIC attaches on the converted node.
    public var guestPorts: [VMID: GuestPort] = [:]
    /// The interface that carries the management address after conversion.
    public var managementInterface: String?

    public var hasErrors: Bool { diagnostics.hasErrors }
    public func file(_ path: String) -> GeneratedFile? { files.first { $0.path == path } }
}

/// Generates the NixOS configuration of a converted node from its plan.
public struct HostGenerator: Sendable {
    public let site: Site
    public let plan: ConversionPlan
    public let options: GenerateOptions

    public init(site: Site, plan: ConversionPlan, options: GenerateOptions) {
        self.site = site
        self.plan = plan
        self.options = options
    }

    /// How the plan marks errors it found by generating with the default options.
    public static let refusalPrefix = "generate would refuse: "

    public func generate() -> GeneratedHost {
        // The plan's "generate would refuse" errors are this generator's own, found with the default
        // options; they are found again here with the options given.
        var diagnostics = plan.diagnostics.filter { $0.severity == .error && !$0.message.hasPrefix(Self.refusalPrefix) }
        guard let capture = site.node(plan.node) else {
            return GeneratedHost(node: plan.node, files: [], diagnostics: diagnostics, containerNames: [:])
        }
        let guests = capture.guests
        let nspawn = plan.guests.filter { $0.rehome == .nspawn }.compactMap { o in guests.first { $0.vmid == o.vmid } }
        let incus = plan.guests.filter { $0.rehome == .incus }.compactMap { o in guests.first { $0.vmid == o.vmid } }
        let guestVLANs = (nspawn + incus).compactMap { g -> (bridge: String, vlan: Int?)? in
            guard let nic = g.nics.first, let bridge = nic.bridge else { return nil }
            return (bridge, nic.vlanTag)
        }
        let network = NetworkdBuilder(capture: capture, strategy: options.strategy, guestVLANs: guestVLANs,
                                      acceptDropping: options.acceptDropping).build(diagnostics: &diagnostics)
        let names = ContainerNames.assign(nspawn)
        let containers = ContainersModule(site: site, capture: capture, guests: nspawn, names: names, network: network, stateVersion: options.stateVersion)
            .build(diagnostics: &diagnostics)
        let header = headerLines()

        var files: [GeneratedFile] = []
        func nix(_ path: String, _ expr: NixExpr, _ what: String...) {
            files.append(GeneratedFile(path: path, contents: NixRenderer.file(expr, header: header + what)))
        }
        nix("flake.nix", FlakeModule(node: plan.node, branch: options.nixosBranch, clan: plan.install.path == .clan, installer: plan.install.path == .bootImage, kexec: plan.install.path == .kexec || plan.install.path == .clan).expr, "The flake: nixosConfigurations.\(plan.node)\(plan.install.path == .bootImage ? " and its installer image" : "").")
        nix("configuration.nix", HostModule(plan: plan, capture: capture, options: options, hasIncus: !incus.isEmpty, hasContainers: !nspawn.isEmpty).expr, "The host: boot loader, SSH, sops-nix, imports.")
        if let disk = plan.disk {
            nix("disko.nix", DiskoModule(disk: disk, firmware: capture.firmware ?? .uefi, filesystem: options.filesystem, capture: capture).build(diagnostics: &diagnostics),
                "The disk layout. Only the planned disk(s), by id: \(([disk.byId.path] + disk.mirrors.map(\.byId.path)).joined(separator: ", ")).")
        } else {
            diagnostics.append(.error(site.intent.nodes[plan.node]?.installDisk != nil ? "site.toml" : "nodes/\(plan.node)/lsblk.json", nil, "the plan chose no install disk; disko.nix cannot be written (see the plan's diagnostics)"))
        }
        nix("network.nix", NetworkModule.expr(network), "systemd-networkd, from \(capture.interfaceFiles.joined(separator: ", ")); plain data (no pkgs, no lib). Strategy: \(options.strategy.rawValue).")
        nix("containers.nix", containers.expr, "NixOS containers (systemd-nspawn) for the guests the plan rehomes as nspawn.")
        let incusModule = IncusModule(guests: incus, network: network, plan: plan, site: site)
        nix("incus.nix", incusModule.expr, "Incus for the pets the plan rehomes as Incus containers.")
        files.append(GeneratedFile(path: "incus-import.sh", contents: incusModule.importScript(header: header), executable: true))
        if plan.install.path == .bootImage {
            nix("installer.nix", InstallerModule(node: plan.node, sshKeys: options.sshKeys, management: plan.network).expr, "Install path B: the installer image. It brings up the node's own network, so it answers where the node did.",
                "'pve2nix install' builds it (nix build --impure) with the keys' paths in PVE2NIX_INSTALLER_HOST_KEY and PVE2NIX_INSTALL_KEY:",
                "they never enter this tree, but the installer's private host key is in the Nix store and the ISO. Keep the ISO private; the key serves one install.")
        }
        if plan.install.path == .kexec || plan.install.path == .clan {
            nix("kexec-installer.nix", KexecInstallerModule(node: plan.node, sshKeys: options.sshKeys, management: plan.network).expr,
                "Install path \(plan.install.path.rawValue): the kexec installer. It brings up the node's own network (not the stock per-MAC restore), so it answers where the node did.")
        }
        for unit in network.units + containers.networkdUnits {
            files.append(GeneratedFile(path: "networkd/\(unit.fileName)", contents: unit.unitFile))
        }
        if options.sshKeys.isEmpty {
            diagnostics.append(.warning(nil, nil, "no --ssh-key given: the host and installer have no authorized root key; add one to users.users.root.openssh.authorizedKeys.keys before installing"))
        }
        var ports: [VMID: GuestPort] = [:]
        for g in nspawn + incus {
            guard let nic = g.nics.first, let bridge = nic.bridge, let a = network.attachments[.init(bridge: bridge, vlan: nic.vlanTag)] else { continue }
            let isNspawn = names[g.vmid] != nil
            ports[g.vmid] = GuestPort(hostInterface: isNspawn ? "vb-\(names[g.vmid]!)" : "inc\(g.vmid)", bridge: a.bridge, vlan: a.vlan, configuredByNetworkd: isNspawn)
        }
        let management = plan.network.managementAddress.flatMap { ip in
            network.units.first { u in u.kind == .network && u.sections.contains { s in s.attribute == .networkConfig && s.entries.contains { e in e.key == "Address" && e.value.unitText.contains { $0.hasPrefix(ip + "/") } } } }
        }.flatMap { u in u.sections.first { $0.attribute == .matchConfig }?.entries.first { $0.key == "Name" }?.value.unitText.first }
        var host = GeneratedHost(node: plan.node, files: files.sorted { $0.path < $1.path }, diagnostics: Planner.ordered(diagnostics),
                                 containerNames: Dictionary(uniqueKeysWithValues: names.map { ($0.key, $0.value) }))
        host.guestPorts = ports
        host.managementInterface = management
        return host
    }

    func headerLines() -> [String] {
        ["Generated by pve2nix from the conversion plan for \(plan.node)\(plan.site.map { " (site \($0))" } ?? ""), plan schema \(plan.schemaVersion), digest \(PlanDigest.of(plan)).",
         "Re-generate rather than edit by hand where you can; pve2nix will not overwrite a file you changed."]
    }
}

/// A returning guest's port on the converted node: nspawn's `vb-<name>` (its VLAN set by our
/// networkd unit) or an Incus NIC (its VLAN set by Incus).
public struct GuestPort: Sendable, Hashable {
    public var hostInterface: String
    public var bridge: String
    public var vlan: Int?
    public var configuredByNetworkd: Bool
}

/// A short, stable fingerprint of a plan for file headers (FNV-1a over its canonical text form).
public enum PlanDigest {
    public static func of(_ plan: ConversionPlan) -> String {
        let text = "\(plan.node)|\(plan.drain.moves.map { "\($0.vmid)>\($0.to?.rawValue ?? "-"):\($0.method.rawValue)" })|\(plan.disk?.byId.path ?? "-")|\(plan.network.interfaces.map(\.name))|\(plan.guests.map { "\($0.vmid)=\($0.rehome.rawValue)" })|\(plan.install.path.rawValue)"
        return Fingerprint.of(text)
    }
}

/// Container names: `[a-z0-9-]{1,11}` (interface names `vb-<name>` must fit 15 characters).
enum ContainerNames {
    static func assign(_ guests: [Guest]) -> [VMID: String] {
        var used = Set<String>()
        var result: [VMID: String] = [:]
        for guest in guests.sorted(by: { $0.vmid < $1.vmid }) {
            var base = String(guest.name.lowercased().map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? $0 : "-" })
            while base.contains("--") { base = base.replacingOccurrences(of: "--", with: "-") }
            base = base.trimmingCharacters(in: "-")
            if base.isEmpty || !(("a"..."z").contains(base.first!)) { base = "ct" + base }
            var name = String(base.prefix(11)).trimmingCharacters(in: "-")
            var n = 2
            while used.contains(name) {
                let suffix = "-\(n)"
                name = String(base.prefix(11 - suffix.count)).trimmingCharacters(in: "-") + suffix
                n += 1
            }
            used.insert(name)
            result[guest.vmid] = name
        }
        return result
    }
}

/// Container naming, for tests.
public enum ContainerNamesForTests {
    public static func assign(_ guests: [Guest]) -> [VMID: String] { ContainerNames.assign(guests) }
}
