/// Translates a node's parsed network into systemd-networkd units. Physical NICs are matched by
/// `PermanentMACAddress=` only, never by name or by wildcard, and bridges keep the MAC the capture
/// shows, so the management address keeps its MAC across the conversion.
struct NetworkdBuilder {
    let capture: NodeCapture
    let strategy: NetworkStrategy
    /// (Proxmox bridge, VLAN) pairs the returning guests use.
    let guestVLANs: [(bridge: String, vlan: Int?)]
    let acceptDropping: Bool

    private var file: String { "nodes/\(capture.name)/interfaces" }

    /// Accumulates one unit per interface so that every role (port, VLAN parent, address holder)
    /// lands in the same `.network`.
    private struct Draft {
        var order: Int
        var match: [(String, NetworkdValue)]
        var network: [(String, NetworkdValue)] = []
        var link: [(String, NetworkdValue)] = []
        var vlans: [String] = []
        var bridgeVLANs: [[(String, NetworkdValue)]] = []
        var origin: String?
    }

    func build(diagnostics: inout [Diagnostic]) -> NetworkdConfig {
        var work = Work(builder: self, interfaces: capture.interfaces.filter { $0.kind != .loopback })
        work.run()
        diagnostics.append(contentsOf: work.diagnostics)
        return work.result()
    }

    /// The mutable state of one translation.
    private struct Work {
        let builder: NetworkdBuilder
        let interfaces: [NetworkInterface]
        var netdevs: [NetworkdUnit] = []
        var links: [NetworkdUnit] = []
        var drafts: [String: Draft] = [:]
        var attachments: [NetworkdConfig.GuestAttachmentKey: NetworkdConfig.GuestAttachment] = [:]
        var diagnostics: [Diagnostic] = []

        init(builder: NetworkdBuilder, interfaces: [NetworkInterface]) {
            self.builder = builder
            self.interfaces = interfaces
        }

        var capture: NodeCapture { builder.capture }
        var file: String { builder.file }
        var guestVLANs: [(bridge: String, vlan: Int?)] { builder.guestVLANs }

        mutating func run() {
            let acceptDropping = builder.acceptDropping
            for iface in interfaces {
                var linkSettings: [(String, NetworkdValue)] = []
                for hook in iface.hooks {
                    if iface.kind == .physical, let settings = HookTranslation.linkSettings(for: hook) {
                        linkSettings += settings
                        continue
                    }
                    diagnostics.append(
                        Diagnostic(
                            acceptDropping ? .warning : .error, file: hook.file, line: hook.line,
                            "iface \(iface.name): '\(hook.phase) \(hook.command)' has no networkd equivalent; \(acceptDropping ? "dropped as you accepted (--accept-dropping)" : "write it as a NixOS option or systemd unit by hand, then re-run with --accept-dropping")"
                        ))
                }
                if !linkSettings.isEmpty, let mac = capture.link(iface.name)?.matchMAC {
                    // A .link file replaces systemd's 99-default.link for this NIC: keep its naming policies.
                    let link: [(String, NetworkdValue)] = [
                        ("NamePolicy", .string("keep kernel database onboard slot path")),
                        ("AlternativeNamesPolicy", .string("database onboard slot path")),
                        ("MACAddressPolicy", .string("persistent")),
                    ] + linkSettings
                    links.append(NetworkdUnit(name: "10-\(iface.name)", kind: .link, sections: [.init(.matchConfig, [("PermanentMACAddress", .string(mac))]), .init(.linkConfig, link)],
                                              origin: iface.hooks.map { "\($0.file):\($0.line) \($0.phase) \($0.command)" }.joined(separator: "; ")))
                }
                if iface.kind == .ovs {
                    diagnostics.append(
                        Diagnostic(
                            acceptDropping ? .warning : .error, file: iface.file, line: iface.line,
                            "iface \(iface.name) is Open vSwitch; pve2nix cannot translate it\(acceptDropping ? " and dropped it (--accept-dropping)" : ". Convert it to a Linux bridge first, or re-run with --accept-dropping and write it by hand")"
                        ))
                }
            }

            translate()
        }

        mutating func draft(for name: String) -> String? {
            if drafts[name] != nil { return name }
            guard let iface = capture.interface(name) ?? interfaces.first(where: { $0.name == name }) else {
                if let link = capture.link(name), link.isPhysical, let mac = link.matchMAC {
                    drafts[name] = Draft(order: 10, match: [("PermanentMACAddress", .string(mac))], origin: "\(name) (not in the interfaces file)")
                    return name
                }
                // Name the stanza that uses it: a port of a bridge or bond, or the parent of a VLAN.
                let user = capture.interfaces.first { i in
                    (i.bridge?.ports.contains(name) ?? false) || (i.bond?.slaves.contains(name) ?? false) || i.vlan?.rawDevice == name
                }
                diagnostics.append(.error(user?.file ?? file, user?.line, "\(name) is used\(user.map { " by \($0.name)" } ?? "") but neither the interfaces file nor ip-link.json describes it: check the name (a typo, or a NIC missing from ip-link.json)"))
                return nil
            }
            switch iface.kind {
            case .physical, .other:
                guard let mac = capture.link(name)?.matchMAC else {
                    diagnostics.append(
                        .error(
                            iface.file, iface.line,
                            "\(name): its permanent MAC is not in ip-link.json, so the new config cannot match it (kernel names change between Proxmox and NixOS). Capture 'ip -j -d link show' again."
                        ))
                    return nil
                }
                drafts[name] = Draft(order: 10, match: [("PermanentMACAddress", .string(mac))], origin: "\(iface.file):\(iface.line)")
            case .bond: drafts[name] = Draft(order: 20, match: [("Name", .string(name))], origin: "\(iface.file):\(iface.line)")
            case .bridge: drafts[name] = Draft(order: 30, match: [("Name", .string(name))], origin: "\(iface.file):\(iface.line)")
            case .vlan: drafts[name] = Draft(order: 40, match: [("Name", .string(name))], origin: "\(iface.file):\(iface.line)")
            case .loopback, .ovs: return nil
            }
            return name
        }

        mutating func addL3(_ iface: NetworkInterface, to name: String) {
            var net: [(String, NetworkdValue)] = []
            if !iface.addresses.isEmpty { net.append(("Address", .list(iface.addresses.map { .string($0.description) }))) }
            if !iface.gateways.isEmpty { net.append(("Gateway", .list(iface.gateways.map { .string($0) }))) }
            if let dns = iface.otherOptions["dns-nameservers"]?.flatMap({ $0.splitOnWhitespace() }), !dns.isEmpty { net.append(("DNS", .list(dns.map { .string($0) }))) }
            if let search = iface.otherOptions["dns-search"]?.flatMap({ $0.splitOnWhitespace() }), !search.isEmpty { net.append(("Domains", .list(search.map { .string($0) }))) }
            let v4 = iface.methods.contains("inet dhcp")
            let v6 = iface.methods.contains { $0.hasPrefix("inet6 dhcp") }
            if v4 || v6 { net.append(("DHCP", .string(v4 && v6 ? "yes" : v4 ? "ipv4" : "ipv6"))) }
            drafts[name]!.network += net
            if let mtu = iface.mtu { drafts[name]!.link.append(("MTUBytes", .int(mtu))) }
        }

        func macFor(_ name: String) -> String? {
            capture.link(name)?.mac ?? capture.interface(name)?.hwaddress?.lowercased()
        }

        mutating func translate() {
            let splitBridges: Set<String> =
                builder.strategy == .perVLANBridges
                ? Set(interfaces.filter { $0.kind == .bridge && $0.bridge!.vlanAware }.map(\.name)) : []
            for iface in interfaces where iface.kind.isTranslatable {
                switch iface.kind {
                case .bridge where splitBridges.contains(iface.name):
                    splitIntoVLANBridges(iface)
                case .bridge:
                    let b = iface.bridge!
                    var dev: [(String, NetworkdValue)] = [("Kind", .string("bridge")), ("Name", .string(iface.name))]
                    let mac = macFor(iface.name) ?? b.ports.first.flatMap { capture.link($0)?.matchMAC }
                    if let mac { dev.append(("MACAddress", .string(mac))) }
                    if let mtu = iface.mtu { dev.append(("MTUBytes", .int(mtu))) }
                    var bridgeSection: [(String, NetworkdValue)] = [("STP", .bool(b.stp))]
                    if b.vlanAware { bridgeSection.append(("VLANFiltering", .bool(true))) }
                    if let fd = b.forwardDelay { bridgeSection.append(("ForwardDelaySec", .int(fd))) }
                    netdevs.append(
                        NetworkdUnit(
                            name: "10-\(iface.name)", kind: .netdev, sections: [.init(.netdevConfig, dev), .init(.bridgeConfig, bridgeSection)],
                            origin: "\(iface.file):\(iface.line)"))
                    guard draft(for: iface.name) != nil else { continue }
                    addL3(iface, to: iface.name)
                    if iface.addresses.isEmpty && !iface.methods.contains(where: { $0.contains("dhcp") }) {
                        drafts[iface.name]!.network.append(("LinkLocalAddressing", .string("no")))
                    }
                    drafts[iface.name]!.network.append(("ConfigureWithoutCarrier", .bool(true)))
                    let pvid = b.pvid ?? 1
                    if b.vlanAware {
                        // The bridge's own port: untagged PVID plus every VLAN a host VLAN device uses.
                        drafts[iface.name]!.bridgeVLANs.append([("PVID", .int(pvid)), ("EgressUntagged", .int(pvid))])
                        let hostVLANs = interfaces.compactMap { $0.vlan }.filter { $0.rawDevice == iface.name }.map(\.id)
                        for vid in Set(hostVLANs).sorted() where vid != pvid { drafts[iface.name]!.bridgeVLANs.append([("VLAN", .int(vid))]) }
                    }
                    for port in b.ports {
                        guard draft(for: port) != nil else { continue }
                        drafts[port]!.network.append(("Bridge", .string(iface.name)))
                        drafts[port]!.network.append(("LinkLocalAddressing", .string("no")))
                        if b.vlanAware {
                            drafts[port]!.bridgeVLANs.append([("PVID", .int(pvid)), ("EgressUntagged", .int(pvid))])
                            for range in b.vids.ranges {
                                let text = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound)"
                                drafts[port]!.bridgeVLANs.append([("VLAN", range.lowerBound == range.upperBound ? .int(range.lowerBound) : .string(text))])
                            }
                        }
                    }
                    for guest in guestVLANs where guest.bridge == iface.name {
                        if b.vlanAware, let vid = guest.vlan, !b.vids.contains(vid) {
                            diagnostics.append(
                                .error(
                                    iface.file, iface.line,
                                    "guests use VLAN \(vid) on \(iface.name), but its bridge-vids (\(b.vids)) do not carry it: the uplink would drop their traffic"))
                        }
                        attachments[.init(bridge: iface.name, vlan: guest.vlan)] = .init(bridge: iface.name, vlan: b.vlanAware ? (guest.vlan ?? pvid) : nil)
                    }
                case .bond:
                    let bond = iface.bond!
                    var dev: [(String, NetworkdValue)] = [("Kind", .string("bond")), ("Name", .string(iface.name))]
                    if let mac = macFor(iface.name) { dev.append(("MACAddress", .string(mac))) }
                    if let mtu = iface.mtu { dev.append(("MTUBytes", .int(mtu))) }
                    var section: [(String, NetworkdValue)] = [("Mode", .string(bond.mode))]
                    if let m = bond.miimon { section.append(("MIIMonitorSec", .string("\(m)ms"))) }
                    if let x = bond.xmitHashPolicy { section.append(("TransmitHashPolicy", .string(x))) }
                    if let r = bond.lacpRate { section.append(("LACPTransmitRate", .string(r == "1" ? "fast" : r == "0" ? "slow" : r))) }
                    netdevs.append(
                        NetworkdUnit(
                            name: "10-\(iface.name)", kind: .netdev, sections: [.init(.netdevConfig, dev), .init(.bondConfig, section)], origin: "\(iface.file):\(iface.line)"))
                    guard draft(for: iface.name) != nil else { continue }
                    addL3(iface, to: iface.name)
                    for slave in bond.slaves {
                        guard draft(for: slave) != nil else { continue }
                        drafts[slave]!.network.append(("Bond", .string(iface.name)))
                        if bond.primary == slave { drafts[slave]!.network.append(("PrimarySlave", .bool(true))) }
                    }
                case .vlan:
                    guard let v = iface.vlan else { continue }
                    if splitBridges.contains(v.rawDevice) { continue }
                    netdevs.append(
                        NetworkdUnit(
                            name: "11-\(iface.name)", kind: .netdev,
                            sections: [.init(.netdevConfig, [("Kind", .string("vlan")), ("Name", .string(iface.name))]), .init(.vlanConfig, [("Id", .int(v.id))])],
                            origin: "\(iface.file):\(iface.line)"))
                    guard draft(for: iface.name) != nil, draft(for: v.rawDevice) != nil else { continue }
                    addL3(iface, to: iface.name)
                    if iface.addresses.isEmpty && !iface.methods.contains(where: { $0.contains("dhcp") }) && drafts[iface.name]!.network.isEmpty {
                        drafts[iface.name]!.network.append(("LinkLocalAddressing", .string("no")))
                    }
                    drafts[v.rawDevice]!.vlans.append(iface.name)
                case .physical, .other:
                    let used = !iface.addresses.isEmpty || iface.methods.contains { $0.contains("dhcp") }
                    if used, draft(for: iface.name) != nil { addL3(iface, to: iface.name) }
                default:
                    break
                }
            }

        }

        func result() -> NetworkdConfig {
            var units = links + netdevs
            for (name, d) in drafts.sorted(by: { ($0.value.order, $0.key) < ($1.value.order, $1.key) }) {
                var sections: [NetworkdUnit.Section] = [.init(.matchConfig, d.match)]
                if !d.link.isEmpty { sections.append(.init(.linkConfig, d.link)) }
                var network = d.network
                if !d.vlans.isEmpty { network.append(("VLAN", .list(d.vlans.sorted().map { .string($0) }))) }
                sections.append(.init(.networkConfig, network))
                sections += d.bridgeVLANs.map { .init(.bridgeVLANs, $0) }
                units.append(NetworkdUnit(name: "\(d.order)-\(name)", kind: .network, sections: sections, origin: d.origin))
            }
            return NetworkdConfig(units: units, attachments: attachments)
        }

        /// `vmbr0` (VLAN-aware, uplink P) → `P.<vid>` + `br<vid>` per VLAN the host or a guest uses.
        mutating func splitIntoVLANBridges(_ iface: NetworkInterface) {
            let b = iface.bridge!
            guard b.ports.count == 1, let uplink = b.ports.first else {
                diagnostics.append(
                    .error(
                        iface.file, iface.line,
                        "per-vlan-bridges needs exactly one uplink on \(iface.name) (a NIC or a bond); it has \(b.ports.count). Use --network-strategy vlan-aware-bridge."))
                return
            }
            guard draft(for: uplink) != nil else { return }
            let hostVLANs = capture.interfaces.filter { $0.vlan?.rawDevice == iface.name }
            var vids = Set(hostVLANs.compactMap { $0.vlan?.id })
            for g in guestVLANs where g.bridge == iface.name { if let v = g.vlan { vids.insert(v) } }
            for vid in vids.sorted() {
                let sub = "\(uplink).\(vid)"
                let br = "br\(vid)"
                let host = hostVLANs.first { $0.vlan?.id == vid }
                netdevs.append(
                    NetworkdUnit(
                        name: "11-\(sub)", kind: .netdev,
                        sections: [.init(.netdevConfig, [("Kind", .string("vlan")), ("Name", .string(sub))]), .init(.vlanConfig, [("Id", .int(vid))])],
                        origin: "\(iface.file):\(iface.line)"))
                var dev: [(String, NetworkdValue)] = [("Kind", .string("bridge")), ("Name", .string(br))]
                if let host, let mac = macFor(host.name) ?? macFor(iface.name) { dev.append(("MACAddress", .string(mac))) }
                netdevs.append(
                    NetworkdUnit(
                        name: "10-\(br)", kind: .netdev, sections: [.init(.netdevConfig, dev), .init(.bridgeConfig, [("STP", .bool(b.stp))])], origin: "\(iface.file):\(iface.line)"
                    ))
                drafts[sub] = Draft(
                    order: 40, match: [("Name", .string(sub))], network: [("Bridge", .string(br)), ("LinkLocalAddressing", .string("no"))], origin: "VLAN \(vid) of \(uplink)")
                drafts[uplink]!.vlans.append(sub)
                drafts[br] = Draft(order: 30, match: [("Name", .string(br))], network: [("ConfigureWithoutCarrier", .bool(true))], origin: host.map { "\($0.file):\($0.line)" })
                if let host { addL3(host, to: br) } else { drafts[br]!.network.append(("LinkLocalAddressing", .string("no"))) }
                attachments[.init(bridge: iface.name, vlan: vid)] = .init(bridge: br, vlan: nil)
            }
            // Untagged traffic stays on the original bridge, now without VLAN filtering.
            if !iface.addresses.isEmpty || guestVLANs.contains(where: { $0.bridge == iface.name && $0.vlan == nil }) {
                var dev: [(String, NetworkdValue)] = [("Kind", .string("bridge")), ("Name", .string(iface.name))]
                if let mac = macFor(iface.name) { dev.append(("MACAddress", .string(mac))) }
                netdevs.append(
                    NetworkdUnit(
                        name: "10-\(iface.name)", kind: .netdev, sections: [.init(.netdevConfig, dev), .init(.bridgeConfig, [("STP", .bool(b.stp))])],
                        origin: "\(iface.file):\(iface.line)"))
                drafts[iface.name] = Draft(
                    order: 30, match: [("Name", .string(iface.name))], network: [("ConfigureWithoutCarrier", .bool(true))], origin: "\(iface.file):\(iface.line)")
                addL3(iface, to: iface.name)
                drafts[uplink]!.network.append(("Bridge", .string(iface.name)))
                attachments[.init(bridge: iface.name, vlan: nil)] = .init(bridge: iface.name, vlan: nil)
            } else {
                drafts[uplink]!.network.append(("LinkLocalAddressing", .string("no")))
            }
        }
    }
}
