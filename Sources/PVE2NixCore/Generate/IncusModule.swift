/// `incus.nix` and `incus-import.sh`: Incus for the pets, one profile per VLAN on the
/// VLAN-filtering bridge, and the commands that bring each pet's root filesystem over from its backup.
struct IncusModule {
    let guests: [Guest]
    let network: NetworkdConfig
    let plan: ConversionPlan
    let site: Site

    private func attachment(_ g: Guest) -> (profile: String, bridge: String, vlan: Int?)? {
        guard let nic = g.nics.first, let bridge = nic.bridge, let a = network.attachments[.init(bridge: bridge, vlan: nic.vlanTag)] else { return nil }
        let profile = a.vlan.map { "vlan\($0)" } ?? "bridge-\(a.bridge)"
        return (profile, a.bridge, a.vlan)
    }

    var expr: NixExpr {
        var profiles: [NixExpr] = [.set([("name", "default"), ("devices", .set([("root", .set([("path", "/"), ("pool", "default"), ("type", "disk")]))]))])]
        var seen = Set<String>()
        for g in guests.sorted(by: { $0.vmid < $1.vmid }) {
            guard let a = attachment(g), seen.insert(a.profile).inserted else { continue }
            var nic: [(String, NixExpr)] = [("name", "eth0"), ("nictype", "bridged"), ("parent", .string(a.bridge)), ("type", "nic")]
            if let vid = a.vlan { nic.append(("vlan", .string(String(vid)))) }
            profiles.append(.set([("name", .string(a.profile)), ("devices", .set([("eth0", .set(nic))]))]))
        }
        return .lambda(params: [], ellipsis: true, body: .attrs([
            NixBinding("virtualisation.incus.enable", .bool(!guests.isEmpty)),
            NixBinding("virtualisation.incus.preseed", .set([
                ("storage_pools", .list([.set([("name", "default"), ("driver", "dir")])])),
                ("profiles", .list(profiles)),
            ]), comment: "The bridge is not managed by Incus: it filters VLANs itself, and each profile tags its NIC."),
            NixBinding("networking.nftables.enable", true, comment: "the Incus firewall needs nftables"),
        ]))
    }

    func importScript(header: [String]) -> String {
        var lines = ["#!/usr/bin/env bash"] + header.map { "# " + $0 } + [
            "# Brings each Incus pet over from its newest vzdump backup. Run on the converted node as root,",
            "# after the drain backed the guests up (vzdump to shared backup storage) and with that storage mounted.",
            "set -euo pipefail",
            "backups=\"${BACKUPS:-/mnt/pve/\(plan.drain.backupStorage ?? "BACKUP-STORAGE")/dump}\"",
            "",
            "import_pet() { # vmid name profile mac",
            "  local vmid=$1 name=$2 profile=$3 mac=$4 archive",
            "  archive=$(ls -t \"$backups\"/vzdump-lxc-\"$vmid\"-*.tar.zst 2>/dev/null | head -n 1)",
            "  [ -n \"$archive\" ] || { echo \"no backup of $vmid in $backups\" >&2; return 1; }",
            "  incus init --empty \"$name\" --profile default --profile \"$profile\"",
            "  incus config device override \"$name\" eth0 hwaddr=\"$mac\"",
            "  local root=/var/lib/incus/storage-pools/default/containers/$name/rootfs",
            "  mkdir -p \"$root\"",
            "  tar --zstd -xpf \"$archive\" --numeric-owner --xattrs -C \"$root\"",
            "  incus start \"$name\"",
            "}",
            "",
        ]
        for g in guests.sorted(by: { $0.vmid < $1.vmid }) {
            guard let a = attachment(g) else {
                lines.append("# ct \(g.vmid) \(g.name): no bridge NIC in its config; import it by hand")
                continue
            }
            let name = String(g.name.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
            lines.append("import_pet \(g.vmid) \(name) \(a.profile) \(g.nics.first?.mac ?? "auto")  # \(g.ostype ?? "?"), \(g.nics.first?.address?.description ?? "dhcp")")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
