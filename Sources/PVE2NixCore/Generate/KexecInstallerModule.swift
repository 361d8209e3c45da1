/// `kexec-installer.nix` (install path A): nixos-images' kexec installer with the node's own network.
///
/// The stock installer restores the running addresses per MAC address; on a Proxmox node the NIC,
/// its bridge and the bridge's VLANs share one MAC, the NIC's restored file sorts first, and the
/// installer comes up with DHCP only (install-facts §2.4). So the restore services are off and the
/// installer carries the host's own, rehearsed networkd units instead.
struct KexecInstallerModule {
    let node: NodeName
    let sshKeys: [String]
    let management: NetworkPlan

    /// The restore services' names across nixos-images versions; a name that does not exist
    /// defines nothing.
    static let restoreServices = ["restoreNetwork", "restore-network", "network-static-restore", "network-dynamic-restore"]

    var expr: NixExpr {
        var b: [NixBinding] = [
            NixBinding("networking.hostName", .string("\(node.rawValue)-installer")),
            NixBinding("networking.useNetworkd", true),
            NixBinding("networking.useDHCP", .ref("lib.mkForce false")),
            NixBinding("systemd.network", .ref("(import ./network.nix { }).systemd.network"),
                       comment: "The same units as the host: \(management.managementAddress ?? "?") on \(management.managementInterface ?? "?") with MAC \(management.managementMAC ?? "?")."),
        ]
        for (index, service) in Self.restoreServices.enumerated() {
            b.append(NixBinding(["systemd", "services", service, "enable"], .ref("lib.mkForce false"),
                                comment: index == 0 ? "The stock per-MAC restore would shadow the bridge's address with DHCP on the NIC." : nil))
        }
        b.append(NixBinding("services.openssh.enable", true))
        b.append(NixBinding("users.users.root.openssh.authorizedKeys.keys", .list(sshKeys.map { .string($0) }),
                            comment: "The node's own root keys come along too: the kexec installer copies them and the host keys."))
        return .lambda(params: ["lib"], ellipsis: true, body: .attrs(b))
    }
}
