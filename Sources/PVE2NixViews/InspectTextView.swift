import PVE2NixCore

/// Renders what was parsed from a bundle, node by node.
public struct InspectTextView {
    public let site: Site
    public init(site: Site) { self.site = site }

    public func render() -> String {
        var out = TextBuffer()
        let cluster = site.cluster
        out.line("Site \(site.intent.name ?? cluster?.name ?? "?"): bundle format \(site.format), cluster \(cluster?.name ?? "?"), \(cluster?.quorate == true ? "quorate" : "NOT quorate"), members \(site.memberNames.map(\.rawValue).joined(separator: ", "))")
        out.line("Storage:")
        for s in site.storages {
            out.line("  \(s.id.padded(12)) \(s.type.padded(8)) \(s.shared ? "shared" : "local ") content \(s.contents.sorted().joined(separator: ","))\(s.nodes.map { " nodes " + $0.map(\.rawValue).sorted().joined(separator: ",") } ?? "")")
        }
        if !site.haResources.isEmpty {
            out.line("HA: " + site.haResources.map { "\($0.kind.shortName):\($0.vmid) \($0.state)" }.joined(separator: ", "))
        }
        out.blank()
        for node in site.nodes {
            let status = node.status
            out.line("Node \(node.name): \(site.isOnline(node.name) ? "online" : "offline"), \(status?.pveVersion ?? "version ?"), \(status.map { "\($0.cpus) CPUs" } ?? "CPUs ?"), RAM \(node.memoryTotalBytes.map(ByteFormat.string) ?? "?"), firmware \(node.firmware?.rawValue ?? "?"), hostid \(node.hostID ?? "?")")
            if !node.interfaces.isEmpty {
                out.line("  Interfaces (\(node.interfaceFiles.joined(separator: ", "))):")
                for i in node.interfaces {
                    var parts = [i.kind.rawValue, i.methods.joined(separator: ",")]
                    parts += i.addresses.map(\.description)
                    if let b = i.bridge { parts.append("ports=\(b.ports.joined(separator: "+"))\(b.vlanAware ? " vlan-aware vids=\(b.vids)" : "")") }
                    if let b = i.bond { parts.append("bond \(b.mode) \(b.slaves.joined(separator: "+"))") }
                    if let v = i.vlan { parts.append("vlan \(v.id)@\(v.rawDevice)") }
                    if let mac = node.link(i.name)?.mac { parts.append("mac \(mac)") }
                    out.line("    \(i.name.padded(12)) \(parts.filter { !$0.isEmpty }.joined(separator: "  "))")
                }
            }
            if !node.disks.isEmpty {
                out.line("  Disks:")
                for d in node.disks where d.isWholeDisk {
                    let ids = node.diskLinks.filter { $0.target == d.kernelName }.map(\.name)
                        .sorted { (d.serial.map($0.contains) == true ? 0 : 1, $0) < (d.serial.map($1.contains) == true ? 0 : 1, $1) }
                    out.line("    \(d.kernelName.padded(9)) \(ByteFormat.string(d.sizeBytes).padded(10)) \((d.model ?? "?").padded(24)) serial \(d.serial ?? "?") \(d.transport ?? "?")\(d.isRemovableOrUSB ? " removable" : "") by-id: \(ids.first ?? "none")")
                    for part in d.allDescendants where part.fstype != nil || !part.mountpoints.isEmpty {
                        out.line("      \(part.name.padded(24)) \(part.type.padded(5)) \(part.fstype ?? "")\(part.label.map { " label=\($0)" } ?? "")\(part.mountpoints.isEmpty ? "" : " on " + part.mountpoints.joined(separator: ","))")
                    }
                }
            }
            if !node.guests.isEmpty {
                out.line("  Guests:")
                for g in node.guests {
                    let net = g.nics.map { n in "\(n.key) \(n.address?.description ?? n.addressMode ?? "-")\(n.vlanTag.map { " tag \($0)" } ?? "")" }.joined(separator: ", ")
                    out.line("    \(g.kind.shortName) \(String(g.vmid.rawValue).padded(5)) \(g.name.padded(16)) \((g.template ? "template" : g.status).padded(8)) \(ByteFormat.string(g.memoryBytes).padded(9)) \(g.vcpus) vCPU  \(g.ostype ?? "")  \(net)")
                }
            }
            out.blank()
        }
        out.line("Diagnostics: \(site.diagnostics.isEmpty ? "none" : "\(site.diagnostics.count)")")
        for d in site.diagnostics { out.line("  \(d.rendered)") }
        return out.text
    }
}
