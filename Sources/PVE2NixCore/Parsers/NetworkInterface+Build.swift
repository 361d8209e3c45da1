extension NetworkInterface {
    static let hookPhases: Set<String> = ["pre-up", "up", "post-up", "down", "pre-down", "post-down"]
    static let interpretedKeys: Set<String> = [
        "address", "netmask", "gateway", "mtu", "hwaddress",
        "bridge-ports", "bridge-vlan-aware", "bridge-vids", "bridge-pvid", "bridge-stp", "bridge-fd",
        "bond-slaves", "bond-mode", "bond-miimon", "bond-xmit-hash-policy", "bond-lacp-rate", "bond-primary",
        "vlan-raw-device", "vlan-id",
    ]

    /// Option names ifupdown2's modules (and ifupdown's hooks) act on, as exact names or prefixes.
    static let knownAttributes: Set<String> = [
        "broadcast", "scope", "preferred-lifetime", "metric", "pointopoint", "alias", "vrf", "vrf-table", "address-purge", "addrgen",
        "accept-ra", "autoconf", "hostname", "leasetime", "vendor", "client", "endpoint", "local", "ttl", "mode", "netns", "provider",
        "unit", "requires", "allow-hotplug", "dhcp", "tunnel-endpoint", "tunnel-local", "tunnel-mode", "tunnel-physdev", "tunnel-ttl",
    ]
    static let knownAttributePrefixes = [
        "bridge-", "bond-", "vlan-", "vxlan-", "mstpctl-", "ovs-", "dns-", "link-", "ethtool-", "arp-", "ip-", "ip6-", "ipv6-", "dhcp-",
        "clagd-", "gre-", "tunnel-", "wireless-", "wpa-", "batman-", "ppp-", "vrrp-", "hwaddress", "mtu", "address", "gateway", "netmask",
        "post-", "pre-", "up", "down", "bond", "slaves", "bridge", "vlan", "team-", "macvlan-", "veth-", "xfrm-", "disable-", "bridge",
    ]

    /// Whether ifupdown2 acts on an option of this name (underscores count as dashes, as it reads them).
    static func isKnownAttribute(_ key: String) -> Bool {
        let k = key.lowercased().replacingOccurrences(of: "_", with: "-")
        return interpretedKeys.contains(k) || knownAttributes.contains(k) || knownAttributePrefixes.contains { k.hasPrefix($0) }
    }

    /// Builds the semantic view of every interface in `document`, reporting what cannot be read.
    public static func build(from document: InterfacesDocument) -> (interfaces: [NetworkInterface], diagnostics: [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        var result: [NetworkInterface] = []
        let allStanzas = document.stanzas
        let portNames = Set(allStanzas.flatMap { s in
            (s.values("bridge-ports") + s.values("bond-slaves")).flatMap { $0.splitOnWhitespace() }
        })
        // Grouped once: looking each name up by scanning every stanza made the build quadratic.
        let byName = Dictionary(grouping: allStanzas, by: \.name)
        for name in document.names {
            let stanzas = byName[name] ?? []
            guard let first = stanzas.first else { continue }
            var addresses: [CIDRAddress] = []
            var gateways: [String] = []
            var hooks: [InterfaceHook] = []
            var other: [String: [String]] = [:]
            var merged: [String: (value: String, option: InterfaceOption)] = [:]
            for stanza in stanzas {
                let netmasks = stanza.values("netmask")
                var index = -1
                for option in stanza.options where option.key == "address" {
                    index += 1
                    let mask = index < netmasks.count ? netmasks[index] : nil
                    var value = option.value
                    if let hash = value.firstIndex(of: "#") {
                        diagnostics.append(.warning(option.file, option.line,
                            "'address \(value)': '#' only starts a comment at the beginning of a line, so ifupdown2 keeps '\(value[hash...])' in the value and fails to apply this address. Move the comment to its own line; pve2nix reads the address before '#' and trusts ip-addr.json for what is live."))
                        value = String(value[..<hash]).trimmingWhitespace()
                    }
                    if let cidr = CIDRAddress.parse(value, netmask: mask) {
                        addresses.append(cidr)
                    } else {
                        diagnostics.append(.error(option.file, option.line, "iface \(name): '\(option.value)' is not an IPv4 or IPv6 address with a valid prefix or netmask"))
                    }
                }
                for var option in stanza.options {
                    // '#' mid-line is not a comment to ifupdown2; for us it ends every value but a hook's.
                    if option.key != "address", !hookPhases.contains(option.key), let hash = option.value.range(of: " #") ?? option.value.range(of: "\t#") {
                        diagnostics.append(.warning(option.file, option.line,
                            "'\(option.key) \(option.value)': '#' only starts a comment at the beginning of a line, so ifupdown2 keeps '\(option.value[hash.lowerBound...].trimmingWhitespace())' in the value. Move the comment to its own line; pve2nix reads the value before '#'."))
                        option.value = String(option.value[..<hash.lowerBound]).trimmingWhitespace()
                    }
                    if hookPhases.contains(option.key) {
                        hooks.append(InterfaceHook(interface: name, phase: option.key, command: option.value, file: option.file, line: option.line))
                    } else if option.key == "gateway" {
                        let gw = option.value.split(separator: "#").first.map { $0.trimmingWhitespace() } ?? option.value
                        if IPv4.parse(gw) == nil && !IPv6.isValid(gw) {
                            diagnostics.append(.error(option.file, option.line, "iface \(name): gateway '\(option.value)' is not an IP address"))
                        } else {
                            gateways.append(gw)
                        }
                    } else if !interpretedKeys.contains(option.key) {
                        other[option.key, default: []].append(option.value)
                        if !isKnownAttribute(option.key) {
                            diagnostics.append(.warning(option.file, option.line,
                                "iface \(name): '\(option.key)' is no option ifupdown2 knows, so it ignores '\(option.key) \(option.value.prefix(60))' (a typo, or text that belongs in a comment?). pve2nix does not carry it over."))
                        }
                    }
                    if interpretedKeys.contains(option.key) { merged[option.key] = (option.value, option) }
                }
            }
            func int(_ key: String, in range: ClosedRange<Int>) -> Int? {
                guard let entry = merged[key] else { return nil }
                guard let n = Int(entry.value), range.contains(n) else {
                    diagnostics.append(.error(entry.option.file, entry.option.line, "iface \(name): '\(key) \(entry.value.prefix(40))' must be a whole number within \(range.spelled)"))
                    return nil
                }
                return n
            }
            func yes(_ key: String) -> Bool {
                guard let v = merged[key]?.value.lowercased() else { return false }
                return ["yes", "on", "1", "true"].contains(v)
            }
            func words(_ key: String) -> [String] {
                guard let v = merged[key]?.value, v != "none" else { return [] }
                return v.splitOnWhitespace().filter { !$0.isEmpty }
            }

            var kind: InterfaceKind = .other
            var bridge: BridgeSettings? = nil
            var bond: BondSettings? = nil
            var vlan: VLANSettings? = nil
            let methods = stanzas.map { [$0.family, $0.method].compactMap { $0 }.joined(separator: " ") }
            if name == "lo" || stanzas.contains(where: { $0.method == "loopback" }) {
                kind = .loopback
            } else if stanzas.contains(where: { s in s.options.contains { $0.key.hasPrefix("ovs-") } }) {
                kind = .ovs
                let option = stanzas.flatMap(\.options).first { $0.key.hasPrefix("ovs-") }!
                diagnostics.append(.error(option.file, option.line,
                    "iface \(name) is an Open vSwitch \(option.key == "ovs-type" ? option.value : "port"): pve2nix cannot carry OVS over to systemd-networkd. Convert it to a Linux bridge on Proxmox first, or write its networkd config by hand."))
            } else if merged["bridge-ports"] != nil || stanzas.contains(where: { s in s.options.contains { $0.key.hasPrefix("bridge-") } }) {
                kind = .bridge
                var vids = VLANSet()
                if let entry = merged["bridge-vids"] {
                    switch VLANSet.parse(entry.value) {
                    case .success(let set): vids = set
                    case .failure(let e): diagnostics.append(.error(entry.option.file, entry.option.line, "iface \(name): bridge-vids token '\(e.token)' is not a VLAN id or range within 1-4094"))
                    }
                }
                let vlanAware = yes("bridge-vlan-aware")
                if vlanAware && merged["bridge-vids"] == nil {
                    vids = VLANSet(ranges: [1...1])
                    diagnostics.append(.info(first.file, first.line, "iface \(name) is VLAN-aware without bridge-vids: ports carry only VLAN 1 (the kernel default)"))
                }
                bridge = BridgeSettings(ports: words("bridge-ports"), vlanAware: vlanAware, vids: vids,
                                        pvid: int("bridge-pvid", in: 1...4094), stp: yes("bridge-stp"), forwardDelay: int("bridge-fd", in: 0...255))
            } else if merged["bond-slaves"] != nil || merged["bond-mode"] != nil {
                kind = .bond
                bond = BondSettings(slaves: words("bond-slaves"), mode: merged["bond-mode"]?.value ?? "balance-rr",
                                    miimon: int("bond-miimon", in: 0...Int(Int32.max)), xmitHashPolicy: merged["bond-xmit-hash-policy"]?.value,
                                    lacpRate: merged["bond-lacp-rate"]?.value, primary: merged["bond-primary"]?.value)
                if bond!.slaves.isEmpty {
                    diagnostics.append(.warning(first.file, first.line, "bond \(name) has no bond-slaves"))
                }
            } else if let parsed = vlanFromName(name, rawDevice: merged["vlan-raw-device"]?.value, explicitID: int("vlan-id", in: 1...4094)) {
                kind = .vlan
                vlan = parsed
            } else if merged["vlan-raw-device"] != nil {
                kind = .vlan
                diagnostics.append(.error(first.file, first.line, "iface \(name) has vlan-raw-device but no VLAN id: name it vlanN or add 'vlan-id N'"))
            } else if portNames.contains(name) || looksPhysical(name) {
                kind = .physical
            }
            if let v = vlan, !(1...4094).contains(v.id) {
                diagnostics.append(.error(first.file, first.line, "iface \(name): VLAN id \(v.id) is outside 1-4094"))
            }
            result.append(NetworkInterface(
                name: name, kind: kind, auto: stanzas.contains { $0.auto }, methods: methods,
                addresses: addresses, gateways: gateways, mtu: int("mtu", in: InputLimits.mtu), hwaddress: merged["hwaddress"]?.value,
                bridge: bridge, bond: bond, vlan: vlan, hooks: hooks, otherOptions: other,
                file: first.file, line: first.line))
        }
        return (result, diagnostics)
    }

    /// `eno1.40` → (eno1, 40); `bond0.10.20` → (bond0.10, 20); `vlan40` + raw device → (raw, 40).
    static func vlanFromName(_ name: String, rawDevice: String?, explicitID: Int?) -> VLANSettings? {
        if let dot = name.lastIndex(of: "."), let id = Int(name[name.index(after: dot)...]), dot > name.startIndex {
            return VLANSettings(id: explicitID ?? id, rawDevice: rawDevice ?? String(name[..<dot]))
        }
        if let raw = rawDevice {
            if let id = explicitID { return VLANSettings(id: id, rawDevice: raw) }
            let digits = name.reversed().prefix { $0.isASCIIDigit }
            if !digits.isEmpty, let id = Int(String(digits.reversed())) { return VLANSettings(id: id, rawDevice: raw) }
        }
        return nil
    }

    static func looksPhysical(_ name: String) -> Bool {
        ["eth", "en", "nic", "wl", "ib"].contains { name.hasPrefix($0) } && !name.contains(".")
    }
}

extension InterfaceStanza {
    /// This stanza as `ifquery -o json` prints it, for the differential test against ifupdown2.
    public var ifqueryView: IfqueryInterface {
        var method = self.method
        if family == "inet", let m = method, m.contains("dhcp") { method = "dhcp" }
        let config = aligned
        return IfqueryInterface(name: name, addrMethod: method, addrFamily: family, auto: auto,
                                config: Dictionary(uniqueKeysWithValues: orderedKeys.map { ($0, config[$0]!) }))
    }
}

/// The fields `ifquery -o json` prints for one stanza.
public struct IfqueryInterface: Sendable, Hashable, Codable, CustomStringConvertible {
    public var name: String
    public var addrMethod: String?
    public var addrFamily: String?
    public var auto: Bool
    public var config: [String: [String]]

    public init(name: String, addrMethod: String?, addrFamily: String?, auto: Bool, config: [String: [String]]) {
        self.name = name
        self.addrMethod = addrMethod
        self.addrFamily = addrFamily
        self.auto = auto
        self.config = config
    }

    /// Reads one element of ifquery's JSON array.
    public init?(json: JSONValue) {
        guard let name = json["name"]?.stringValue, let auto = json["auto"]?.boolValue else { return nil }
        var config: [String: [String]] = [:]
        for (key, value) in json["config"]?.objectMembers ?? [] {
            config[key] = value.arrayValue.map { $0.compactMap(\.stringValue) } ?? [value.stringValue ?? ""]
        }
        self.init(name: name, addrMethod: json["addr_method"]?.stringValue, addrFamily: json["addr_family"]?.stringValue,
                  auto: auto, config: config)
    }

    public var description: String {
        let cfg = config.keys.sorted().map { "\($0)=\(config[$0]!)" }.joined(separator: " ")
        return "\(name) \(addrFamily ?? "-") \(addrMethod ?? "-") auto=\(auto) {\(cfg)}"
    }
}
