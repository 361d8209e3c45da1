/// One side of the report's network diagram: the node's devices and the guests' ports, before or
/// after the conversion, with what changed marked on each device.
public struct NetworkTopology: Sendable, Hashable {
    public enum DeviceKind: String, Sendable, Hashable { case nic, bond, bridge, vlan, other }

    /// How a device compares with the other side of the diagram (by name).
    public enum Change: String, Sendable, Hashable {
        case same, changed
        /// Only after the conversion.
        case added
        /// Only before the conversion.
        case removed
    }

    public struct Device: Sendable, Hashable {
        public var name: String
        public var kind: DeviceKind
        public var mac: String?
        public var addresses: [String]
        public var gateways: [String]
        public var vlanID: Int?
        /// The devices this one is built on: a bridge's ports, a bond's slaves, a VLAN's parent.
        public var lower: [String]
        /// Settings worth seeing at a glance: VLAN-awareness, bond mode, how a NIC is matched.
        public var notes: [String]
        public var change: Change = .same
        /// What differs from the other side, for a changed device.
        public var differences: [String] = []
        public var carriesManagement = false

        public init(name: String, kind: DeviceKind, mac: String? = nil, addresses: [String] = [], gateways: [String] = [], vlanID: Int? = nil,
                    lower: [String] = [], notes: [String] = []) {
            self.name = name
            self.kind = kind
            self.mac = mac
            self.addresses = addresses
            self.gateways = gateways
            self.vlanID = vlanID
            self.lower = lower
            self.notes = notes
        }
    }

    /// A guest's NIC on a bridge of the node.
    public struct AttachedGuest: Sendable, Hashable {
        public var vmid: VMID
        public var kind: GuestKind
        public var name: String
        public var bridge: String
        public var vlan: Int?
        public var address: String?
        /// The host-side interface after conversion (`vb-<name>`, an Incus NIC).
        public var hostInterface: String?
    }

    public var devices: [Device]
    public var guests: [AttachedGuest]

    public init(devices: [Device], guests: [AttachedGuest]) {
        self.devices = devices
        self.guests = guests
    }

    public func device(_ name: String) -> Device? { devices.first { $0.name == name } }

    /// Marks each device of `before` and `after` as same, changed, added or removed, by name.
    public static func compare(before: NetworkTopology, after: NetworkTopology) -> (before: NetworkTopology, after: NetworkTopology) {
        var b = before, a = after
        let upBefore = before.uppers, upAfter = after.uppers
        func differences(_ new: Device, _ old: Device) -> [String] {
            var out = new.differences(from: old)
            let was = upBefore[old.name] ?? [], now = upAfter[new.name] ?? []
            if Set(was) != Set(now) { out.append("was under \(was.isEmpty ? "nothing" : was.joined(separator: ", "))") }
            return out
        }
        for i in a.devices.indices {
            guard let old = before.device(a.devices[i].name) else { a.devices[i].change = .added; continue }
            a.devices[i].differences = differences(a.devices[i], old)
            a.devices[i].change = a.devices[i].differences.isEmpty ? .same : .changed
        }
        for i in b.devices.indices {
            guard let new = after.device(b.devices[i].name) else { b.devices[i].change = .removed; continue }
            b.devices[i].differences = differences(new, b.devices[i])
            b.devices[i].change = b.devices[i].differences.isEmpty ? .same : .changed
        }
        return (b, a)
    }

    /// For each device, the devices built on it (a NIC's bond or bridge, a parent's VLANs).
    var uppers: [String: [String]] {
        var out: [String: [String]] = [:]
        for d in devices { for l in d.lower { out[l, default: []].append(d.name) } }
        return out
    }
}

extension NetworkTopology.Device {
    /// What a person would call a change: kind, addresses, gateways, VLAN, MAC, what it sits on.
    func differences(from old: NetworkTopology.Device) -> [String] {
        var out: [String] = []
        if kind != old.kind { out.append("was a \(old.kind.rawValue)") }
        if Set(addresses) != Set(old.addresses) { out.append("addresses were \(old.addresses.isEmpty ? "none" : old.addresses.joined(separator: ", "))") }
        if Set(gateways) != Set(old.gateways) { out.append("gateway was \(old.gateways.isEmpty ? "none" : old.gateways.joined(separator: ", "))") }
        if vlanID != old.vlanID { out.append("VLAN was \(old.vlanID.map(String.init) ?? "none")") }
        if let mac, let oldMAC = old.mac, mac.lowercased() != oldMAC.lowercased() { out.append("MAC was \(oldMAC)") }
        if Set(lower) != Set(old.lower) { out.append("was on \(old.lower.isEmpty ? "nothing" : old.lower.joined(separator: ", "))") }
        return out
    }
}
