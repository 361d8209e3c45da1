extension NetworkTopology {
    /// The node's network as Proxmox runs it: the interfaces file, with MACs from `ip link`, every
    /// physical NIC `ip link` shows, and each guest's NIC on its bridge.
    public static func before(capture: NodeCapture, plan: NetworkPlan) -> NetworkTopology {
        var devices: [Device] = []
        for iface in capture.interfaces where iface.kind != .loopback {
            var device = Device(name: iface.name, kind: kind(of: iface), mac: capture.link(iface.name)?.matchMAC ?? iface.hwaddress,
                                addresses: iface.addresses.map(\.description), gateways: iface.gateways, vlanID: iface.vlan?.id)
            if let bridge = iface.bridge {
                device.lower = bridge.ports
                if bridge.vlanAware { device.notes.append("VLAN-aware, VIDs \(bridge.vids)") }
            }
            if let bond = iface.bond {
                device.lower = bond.slaves
                device.notes.append("bond \(bond.mode)")
            }
            if let vlan = iface.vlan { device.lower = [vlan.rawDevice] }
            if iface.kind == .ovs { device.notes.append("Open vSwitch: not carried over") }
            if let mtu = iface.mtu { device.notes.append("MTU \(mtu)") }
            devices.append(device)
        }
        // NICs the interfaces file leaves out still exist, and may be cabled.
        for link in capture.links where link.isPhysical && !devices.contains(where: { $0.name == link.name || link.altNames.contains($0.name) }) {
            devices.append(Device(name: link.name, kind: .nic, mac: link.matchMAC, notes: ["not in the interfaces file"]))
        }
        for i in devices.indices where devices[i].kind == .nic {
            if let link = capture.link(devices[i].name), let state = link.operState { devices[i].notes.append("link \(state.lowercased())") }
        }
        markManagement(&devices, plan: plan)
        var guests: [AttachedGuest] = []
        for guest in capture.guests {
            for nic in guest.nics {
                guard let bridge = nic.bridge else { continue }
                guests.append(AttachedGuest(vmid: guest.vmid, kind: guest.kind, name: guest.name, bridge: bridge, vlan: nic.vlanTag,
                                        address: nic.address?.description ?? nic.addressMode))
            }
        }
        return NetworkTopology(devices: devices, guests: guests)
    }

    /// The network the generated systemd-networkd units build (`networkd/` of the generated host),
    /// with the ports of the guests that come back to the node.
    public static func after(units: [String: String], capture: NodeCapture, plan: ConversionPlan, guestPorts: [VMID: GuestPort]) -> NetworkTopology {
        var devices: [Device] = []
        func index(_ name: String, _ kind: DeviceKind) -> Int {
            if let i = devices.firstIndex(where: { $0.name == name }) { return i }
            devices.append(Device(name: name, kind: kind))
            return devices.count - 1
        }
        let parsed = units.keys.sorted().map { (file: $0, unit: UnitText(text: units[$0]!)) }
        for (file, unit) in parsed where file.hasSuffix(".netdev") {
            guard let name = unit.first("NetDev", "Name") else { continue }
            let kind: DeviceKind = switch unit.first("NetDev", "Kind") { case "bridge": .bridge; case "bond": .bond; case "vlan": .vlan; default: .other }
            let i = index(name, kind)
            devices[i].kind = kind
            devices[i].mac = unit.first("NetDev", "MACAddress")
            devices[i].vlanID = unit.first("VLAN", "Id").flatMap { Int($0) }
            if unit.first("Bridge", "VLANFiltering") == "true" { devices[i].notes.append("VLAN filtering") }
            if let mode = unit.first("Bond", "Mode") { devices[i].notes.append("bond \(mode)") }
        }
        for (file, unit) in parsed where file.hasSuffix(".network") {
            let name: String
            if let mac = unit.first("Match", "PermanentMACAddress") {
                let link = capture.links.first { $0.isPhysical && $0.matchMAC?.lowercased() == mac.lowercased() }
                name = link?.name ?? String(file.dropLast(".network".count).drop { $0 != "-" }.dropFirst())
                let i = index(name, .nic)
                devices[i].mac = mac
                devices[i].notes.append("matched by permanent MAC")
            } else if let match = unit.first("Match", "Name") {
                // A guest's host-side port is drawn with the guest.
                if guestPorts.values.contains(where: { $0.hostInterface == match }) { continue }
                name = match
                _ = index(name, .other)
            } else { continue }
            let i = devices.firstIndex { $0.name == name }!
            devices[i].addresses += unit.all("Network", "Address")
            devices[i].gateways += unit.all("Network", "Gateway")
            if let dhcp = unit.first("Network", "DHCP") { devices[i].notes.append("DHCP \(dhcp)") }
            let pvid = unit.all("BridgeVLAN", "PVID"), vids = unit.all("BridgeVLAN", "VLAN")
            if !pvid.isEmpty || !vids.isEmpty {
                devices[i].notes.append((pvid.map { "PVID \($0)" } + (vids.isEmpty ? [] : ["VLANs \(vids.joined(separator: " "))"])).joined(separator: ", "))
            }
            for upper in unit.all("Network", "Bridge") { devices[index(upper, .bridge)].lower.append(name) }
            for upper in unit.all("Network", "Bond") { devices[index(upper, .bond)].lower.append(name) }
            for upper in unit.all("Network", "VLAN") { devices[index(upper, .vlan)].lower.append(name) }
        }
        markManagement(&devices, plan: plan.network)
        let names = Dictionary(plan.guests.map { ($0.vmid, $0) }, uniquingKeysWith: { a, _ in a })
        let guests = guestPorts.keys.sorted().compactMap { vmid -> AttachedGuest? in
            guard let port = guestPorts[vmid], let outcome = names[vmid] else { return nil }
            return AttachedGuest(vmid: vmid, kind: outcome.kind, name: outcome.name, bridge: port.bridge, vlan: port.vlan, address: outcome.address,
                             hostInterface: port.hostInterface)
        }
        return NetworkTopology(devices: devices, guests: guests)
    }

    private static func kind(of iface: NetworkInterface) -> DeviceKind {
        switch iface.kind {
        case .physical: .nic
        case .bond: .bond
        case .bridge: .bridge
        case .vlan: .vlan
        case .loopback, .ovs, .other: .other
        }
    }

    private static func markManagement(_ devices: inout [Device], plan: NetworkPlan) {
        guard let address = plan.managementAddress else { return }
        for i in devices.indices where devices[i].addresses.contains(where: { $0.split(separator: "/").first.map(String.init) == address }) {
            devices[i].carriesManagement = true
        }
    }
}

/// A systemd unit file read back: sections of repeated keys.
struct UnitText {
    private var entries: [(section: String, key: String, value: String)] = []

    init(text: String) {
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = String(raw).trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") { section = String(line.dropFirst().dropLast()); continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            entries.append((section, String(line[..<eq]), String(line[line.index(after: eq)...])))
        }
    }

    func all(_ section: String, _ key: String) -> [String] { entries.filter { $0.section == section && $0.key == key }.map(\.value) }
    func first(_ section: String, _ key: String) -> String? { all(section, key).first }
}
