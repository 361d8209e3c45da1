/// Summarises the node's network for review: the management path down to the physical NICs,
/// the hooks that cannot be carried over, and where the file and the live state disagree.
struct NetworkPlanner {
    let site: Site
    let capture: NodeCapture

    func plan(diagnostics: inout [Diagnostic]) -> NetworkPlan {
        let dir = "nodes/\(capture.name)"
        let interfaces = capture.interfaces
        let managementIP = site.cluster?.members.first { $0.name == capture.name }?.ip
            ?? site.corosync?.nodes.first { $0.name == capture.name }?.ringAddresses.first
        let managementInterface = managementIP.flatMap { ip in interfaces.first { $0.addresses.contains { $0.address == ip } } }
        let live = managementIP.flatMap { ip in capture.addresses.first { $0.address.address == ip } }

        if let ip = managementIP {
            if managementInterface == nil && !interfaces.isEmpty {
                diagnostics.append(.error("\(dir)/interfaces", nil, "the cluster reaches \(capture.name) at \(ip), but no interface in the file has that address"))
            }
            if let live, let iface = managementInterface, live.interface != iface.name {
                diagnostics.append(.warning("\(dir)/ip-addr.json", live.line, "\(ip) is live on \(live.interface) but the file puts it on \(iface.name)"))
            }
            if live == nil && !capture.addresses.isEmpty {
                diagnostics.append(.warning("\(dir)/ip-addr.json", nil, "\(ip) is not among the live addresses: the capture may be from another node or the file does not apply"))
            }
        }
        // Addresses the file declares that the node does not actually carry.
        if !capture.addresses.isEmpty {
            for iface in interfaces {
                for a in iface.addresses where !capture.addresses.contains(where: { $0.address.address == a.address }) {
                    diagnostics.append(.warning(iface.file, iface.line, "\(iface.name): \(a) is in the file but not live (ip-addr.json); the node runs without it"))
                }
            }
        }
        // File vs kernel: VLAN filtering on bridges.
        for iface in interfaces where iface.kind == .bridge {
            if let link = capture.link(iface.name), let live = link.vlanFiltering, live != iface.bridge!.vlanAware {
                diagnostics.append(.warning(iface.file, iface.line, "\(iface.name): the file says bridge-vlan-aware \(iface.bridge!.vlanAware ? "yes" : "no") but the kernel has vlan_filtering \(live ? 1 : 0)"))
            }
        }
        let hooks = interfaces.flatMap(\.hooks)
        for hook in hooks {
            let physical = capture.interface(hook.interface)?.kind == .physical
            if physical, let settings = HookTranslation.linkSettings(for: hook) {
                diagnostics.append(.info(hook.file, hook.line,
                    "iface \(hook.interface): '\(hook.phase) \(hook.command)' is carried over as [Link] \(settings.map { "\($0.0)=\($0.1.unitText.joined())" }.joined(separator: " ")) in a .link file"))
            } else {
                diagnostics.append(.warning(hook.file, hook.line,
                    "iface \(hook.interface): '\(hook.phase) \(hook.command)' cannot be carried over automatically; write its NixOS equivalent by hand (generation stops on it unless you accept dropping it)"))
            }
        }
        let unsupported = interfaces.filter { !$0.kind.isTranslatable }.map(\.name)

        let uplinkNames = managementInterface.map { physicalPorts(below: $0.name, visited: []) } ?? []
        let uplinks = uplinkNames.map { name -> NetworkPlan.Uplink in
            let link = capture.link(name)
            return NetworkPlan.Uplink(name: name, mac: link?.matchMAC, kernelNames: link.map { [$0.name] + $0.altNames }.map { Array(Set($0)).sorted() } ?? [])
        }
        for uplink in uplinks where uplink.mac == nil && !capture.links.isEmpty {
            diagnostics.append(.warning("\(dir)/ip-link.json", nil, "\(uplink.name) is not in ip-link.json: its MAC is unknown, so the new config cannot match it"))
        }
        let managementVLAN = managementInterface?.vlan?.id ?? site.intent.managementVLAN
        let mac = live.flatMap { capture.link($0.interface)?.mac } ?? managementInterface.flatMap { capture.link($0.name)?.mac }
        let gateway = interfaces.flatMap(\.gateways).first { IPv4.parse($0) != nil }
        let untranslated = hooks.filter { h in !(capture.interface(h.interface)?.kind == .physical && HookTranslation.linkSettings(for: h) != nil) }
        return NetworkPlan(interfaces: interfaces, managementAddress: managementIP, managementInterface: managementInterface?.name,
                           managementVLAN: managementInterface?.kind == .vlan ? managementVLAN : nil, managementMAC: mac,
                           defaultGateway: gateway, uplinks: uplinks, hooks: untranslated, translatedHooks: hooks.filter { !untranslated.contains($0) }, unsupported: unsupported, files: capture.interfaceFiles)
    }

    /// Walks VLAN → raw device → bridge ports → bond slaves down to the NICs.
    private func physicalPorts(below name: String, visited: Set<String>) -> [String] {
        guard !visited.contains(name) else { return [] }
        let seen = visited.union([name])
        guard let iface = capture.interface(name) else {
            return capture.link(name)?.isPhysical == true ? [name] : []
        }
        switch iface.kind {
        case .physical: return [name]
        case .vlan: return iface.vlan.map { physicalPorts(below: $0.rawDevice, visited: seen) } ?? []
        case .bridge: return iface.bridge!.ports.flatMap { physicalPorts(below: $0, visited: seen) }
        case .bond: return iface.bond!.slaves.flatMap { physicalPorts(below: $0, visited: seen) }
        default: return []
        }
    }
}
