/// One check of a rehearsal, as the lab reports it.
public struct RehearsalCheck: Sendable, Hashable, Codable {
    public enum Phase: String, Sendable, Hashable, Codable { case before, after, compare }
    public var phase: Phase
    public var id: String
    /// What was tried, in words.
    public var description: String
    /// True when the check passes if the probe is answered, false when it passes if it is not.
    public var expectReach: Bool
}

/// A node NIC in the lab: its Proxmox name, the MAC it must carry, and its point-to-point link.
public struct LabNIC: Sendable, Hashable, Codable {
    public var name: String
    public var mac: String
    public var switchMAC: String
    public var link: Int
    /// The switch segment this NIC's cable goes to: 0 for the management path, and one of its own
    /// for every other group of NICs (a second bridge's uplink is on another network at a real site).
    public var segment: Int = 0
}

/// Everything a rehearsal run needs: the NICs to give QEMU and the files for the guest.
public struct RehearsalScenario: Sendable, Hashable {
    public var node: NodeName
    public var nics: [LabNIC]
    /// Files for the guest, relative to /lab/scenario.
    public var files: [String: String]
    public var checks: [RehearsalCheck]
    /// Expected MAC behind each host address, from the capture.
    public var expectedMACs: [String: String]
    /// Whether the switch side needs LACP-capable NICs (virtio with a reported speed).
    public var lacp: Bool
}

/// A VLAN on the lab switch; `vid` 1 is the native (untagged) VLAN.
struct LabVLAN: Hashable {
    var vid: Int
}

/// Builds a rehearsal scenario from the model: every host address, gateway, guest port and VLAN
/// in the capture becomes probes and checks; nothing is written for one site.
public struct RehearsalScenarioBuilder: Sendable {
    public let site: Site
    public let plan: ConversionPlan
    /// The generated unit files (`networkd/NAME`), what the "after" state runs.
    public let units: [String: String]
    public let strategy: NetworkStrategy
    /// Present the NICs to the guest in reverse order, so kernel names differ from the capture's.
    public let reverseNICOrder: Bool
    public let afterPorts: [VMID: GuestPort]
    public let afterManagementInterface: String?
    /// Run the guest script under `set -x`, on the console.
    public var trace = false

    public init(site: Site, plan: ConversionPlan, generated: GeneratedHost, units: [String: String]? = nil, strategy: NetworkStrategy, reverseNICOrder: Bool) {
        self.site = site
        self.plan = plan
        self.units = units ?? Dictionary(uniqueKeysWithValues: generated.files.filter { $0.path.hasPrefix("networkd/") }.map { (String($0.path.dropFirst("networkd/".count)), $0.contents) })
        self.strategy = strategy
        self.reverseNICOrder = reverseNICOrder
        self.afterPorts = generated.guestPorts
        self.afterManagementInterface = generated.managementInterface
    }

    public func build() -> (RehearsalScenario?, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        guard let capture = site.node(plan.node) else {
            return (nil, [.error(nil, nil, "the bundle has no node \(plan.node)")])
        }
        // Node NICs: every physical NIC the interfaces file or the live links know.
        let physical = capture.interfaces.filter { $0.kind == .physical }.map(\.name)
        var nics: [LabNIC] = []
        for (i, name) in physical.enumerated() {
            guard let mac = capture.link(name)?.matchMAC else {
                diagnostics.append(.error("nodes/\(capture.name)/ip-link.json", nil, "\(name) has no MAC in ip-link.json; the lab cannot give its NIC the real address"))
                continue
            }
            nics.append(LabNIC(name: name, mac: mac, switchMAC: "52:54:00:99:" + hex2(i / 256) + ":" + hex2(i % 256), link: i + 1))
        }
        // Segments: NICs joined through a bridge, bond or VLAN form one; the management path is 0.
        let segments = Self.segments(capture: capture, management: plan.network.uplinks.map(\.name))
        for i in nics.indices { nics[i].segment = segments.ofNIC[nics[i].name] ?? 0 }
        if reverseNICOrder { nics.reverse() }
        func segment(of iface: String?) -> Int { iface.flatMap { segments.ofInterface[$0] } ?? 0 }
        func seg(_ n: Int) -> String { n == 0 ? "" : "SEG=\(n) " }

        // Where each host address lives: its VLAN on the switch (1 = native/untagged).
        var hostAddresses: [(address: CIDRAddress, vid: Int, iface: String, mac: String?)] = []
        for iface in capture.interfaces where iface.kind != .loopback {
            for a in iface.addresses where a.family == .inet {
                // A probe needs room in the subnet: /31 and /32 (point-to-point) cannot be probed this way.
                guard (8...30).contains(a.prefixLength) else {
                    diagnostics.append(.warning(iface.file, iface.line, "\(a) on \(iface.name) has no room for a probe in its subnet; the rehearsal does not check it"))
                    continue
                }
                hostAddresses.append((a, vlanOnSwitch(iface, capture: capture), iface.name, macBehind(iface, capture: capture)))
            }
        }
        let gateways = capture.interfaces.flatMap(\.gateways).filter { IPv4.parse($0) != nil }

        // Guests that come back (nspawn or Incus) with a static IPv4 address.
        let returning = plan.guests.filter { $0.rehome != .stay }.compactMap { o in capture.guests.first { $0.vmid == o.vmid }.map { (o, $0) } }
        var ports: [(outcome: GuestOutcome, guest: Guest, nic: GuestNIC, address: CIDRAddress)] = []
        for (o, g) in returning {
            guard let nic = g.nics.first, let a = nic.address, a.family == .inet, (8...29).contains(a.prefixLength) else { continue }
            ports.append((o, g, nic, a))
        }

        var vlans = Set(hostAddresses.map(\.vid))
        for p in ports { vlans.insert(p.nic.vlanTag ?? 1) }
        vlans.insert(1)
        let sortedVLANs = vlans.sorted()

        var checks: [RehearsalCheck] = []
        var script = ScriptWriter()
        script.line("NODE_NICS=\"" + nics.map { "\($0.name)=\($0.mac)" }.joined(separator: " ") + "\"")
        script.line("SWITCH_NICS=\"" + nics.map { "\($0.name)=\($0.switchMAC)" }.joined(separator: " ") + "\"")
        script.line("VLANS=\"" + sortedVLANs.map(String.init).joined(separator: " ") + "\"")
        script.line("SWITCH_SEGMENTS=\"" + nics.map { "\($0.name)=\($0.segment)" }.joined(separator: " ") + "\"")
        let bondUplink = capture.interfaces.first { $0.kind == .bond && ["802.3ad", "4"].contains($0.bond!.mode) }
        if let bond = bondUplink {
            script.line("SWITCH_BOND=\"\(bond.bond!.slaves.joined(separator: " "))\"")
            script.line("SWITCH_BOND_MODE=802.3ad")
        }
        let mgmt = plan.network.managementInterface
        script.line("MGMT_IFACE=\(shellWord(mgmt ?? ""))")
        script.line("AFTER_MGMT_IFACE=\(shellWord(afterManagementInterface ?? ""))")
        script.line("GUEST_PORTS=\"" + ports.map { "\($0.guest.vmid)" }.joined(separator: " ") + "\"")
        script.blank()
        script.line("setup_probes() {")
        var used = Set(hostAddresses.map(\.address.address) + ports.map(\.address.address) + gateways)
        func free(in cidr: CIDRAddress, from top: Int) -> String {
            var host = top
            while true {
                let candidate = hostAddress(cidr, host)
                if !used.contains(candidate) { used.insert(candidate); return candidate }
                host -= 1
            }
        }
        // Gateways: from the interfaces file and the guests' gw=, each on its subnet's VLAN.
        var gatewayVLAN: [String: (vid: Int, prefix: Int, segment: Int)] = [:]
        for h in hostAddresses { for g in gateways where h.address.contains(g) { gatewayVLAN[g] = (h.vid, h.address.prefixLength, segment(of: h.iface)) } }
        for p in ports { if let g = p.nic.gateway, IPv4.parse(g) != nil { gatewayVLAN[g] = (p.nic.vlanTag ?? 1, p.address.prefixLength, segment(of: p.nic.bridge)) } }
        for (g, where_) in gatewayVLAN.sorted(by: { $0.key < $1.key }) {
            script.line("  \(seg(where_.segment))probe gw-\(where_.vid)-\(g.replacingOccurrences(of: ".", with: "-")) \(where_.vid) \(g)/\(where_.prefix) 192.0.2.1/32")
        }
        var probeLines: [String] = []
        var checkLines: [(phase: String, line: String)] = []
        for h in hostAddresses {
            let ip = h.address.address
            let tag = ip.replacingOccurrences(of: ".", with: "-")
            let admin = free(in: h.address, from: 250)
            let hostSegment = segment(of: h.iface)
            probeLines.append("  \(seg(hostSegment))probe adm-\(tag) \(h.vid) \(admin)/\(h.address.prefixLength)")
            checks.append(RehearsalCheck(phase: .before, id: "reach-\(ip)", description: "\(ip) (\(h.iface)) answers a probe on VLAN \(h.vid)", expectReach: true))
            checks.append(RehearsalCheck(phase: .after, id: "reach-\(ip)", description: "\(ip) (\(h.iface)) answers a probe on VLAN \(h.vid)", expectReach: true))
            checkLines.append(("both", "  check_reach adm-\(tag) \(ip) reach-\(ip) yes mac"))
            if let mac = h.mac {
                checks.append(RehearsalCheck(phase: .compare, id: "mac-\(ip)", description: "\(ip) is behind \(mac) (the capture's MAC) before and after", expectReach: true))
                _ = mac
            }
            for other in sortedVLANs where other != h.vid {
                let spy = free(in: h.address, from: 240)
                probeLines.append("  \(seg(hostSegment))probe spy-\(other)-\(tag) \(other) \(spy)/\(h.address.prefixLength)")
                let desc = "\(ip) does not answer from VLAN \(other == 1 ? "1 (untagged)" : String(other)) (a probe there with an address in its subnet)"
                checks.append(RehearsalCheck(phase: .before, id: "isolated-\(ip)-from-\(other)", description: desc, expectReach: false))
                checks.append(RehearsalCheck(phase: .after, id: "isolated-\(ip)-from-\(other)", description: desc, expectReach: false))
                checkLines.append(("both", "  check_reach spy-\(other)-\(tag) \(ip) isolated-\(ip)-from-\(other) no"))
            }
        }
        if !gateways.isEmpty {
            checks.append(RehearsalCheck(phase: .before, id: "default-route", description: "the node reaches 192.0.2.1 beyond its gateway \(gateways[0])", expectReach: true))
            checks.append(RehearsalCheck(phase: .after, id: "default-route", description: "the node reaches 192.0.2.1 beyond its gateway \(gateways[0])", expectReach: true))
            checkLines.append(("both", "  check_reach_root 192.0.2.1 default-route yes"))
        }
        var portLines: [String] = []
        // Neighbours and spies are shared by every guest of the same subnet: a probe per (subnet, VLAN).
        var shared: [String: (name: String, address: String)] = [:]
        func sharedProbe(_ kind: String, subnet: CIDRAddress, vid: Int, top: Int, segment: Int) -> (name: String, address: String) {
            let key = "\(kind)|\(networkAddress(subnet))|\(vid)|\(segment)"
            if let p = shared[key] { return p }
            let address = free(in: subnet, from: top)
            let name = "\(kind)-\(vid)-\(networkAddress(subnet).replacingOccurrences(of: ".", with: "-"))\(segment == 0 ? "" : "-s\(segment)")"
            probeLines.append("  \(seg(segment))probe \(name) \(vid) \(address)/\(subnet.prefixLength)")
            shared[key] = (name, address)
            return (name, address)
        }
        for p in ports {
            let id = "\(p.guest.kind.shortName)\(p.guest.vmid)"
            let vid = p.nic.vlanTag ?? 1
            let neighbour = sharedProbe("nb", subnet: p.address, vid: vid, top: 248, segment: segment(of: p.nic.bridge)).address
            portLines.append("  GUEST_\(p.guest.vmid)=\"\(shellWord(p.guest.name)) \(p.nic.bridge ?? "") \(vid) \(p.address) \(p.nic.gateway ?? "-") \(p.nic.mac ?? "-") \(p.outcome.rehome.rawValue)\"")
            if let port = afterPorts[p.guest.vmid] {
                portLines.append("  AFTER_\(p.guest.vmid)=\"\(port.hostInterface) \(port.bridge) \(port.configuredByNetworkd ? "networkd" : "self") \(port.vlan.map(String.init) ?? "-")\"")
            } else {
                diagnostics.append(.warning(p.guest.file, p.nic.line, "\(p.guest.name) has no port in the generated configuration; the after-phase checks for it will fail"))
                portLines.append("  AFTER_\(p.guest.vmid)=\"inc\(p.guest.vmid) missing-bridge self -\"")
            }
            for phase in [RehearsalCheck.Phase.before, .after] {
                if let gw = p.nic.gateway {
                    checks.append(RehearsalCheck(phase: phase, id: "\(id)-gateway", description: "\(p.guest.name) (\(p.address)) reaches its gateway \(gw) on VLAN \(vid)", expectReach: true))
                }
                checks.append(RehearsalCheck(phase: phase, id: "\(id)-neighbour", description: "\(p.guest.name) reaches a neighbour \(neighbour) on VLAN \(vid)", expectReach: true))
            }
            if let gw = p.nic.gateway { checkLines.append(("both", "  check_reach ct-\(p.guest.vmid) \(gw) \(id)-gateway yes")) }
            checkLines.append(("both", "  check_reach ct-\(p.guest.vmid) \(neighbour) \(id)-neighbour yes"))
            for other in sortedVLANs where other != vid {
                let spy = sharedProbe("cspy", subnet: p.address, vid: other, top: 238, segment: segment(of: p.nic.bridge)).address
                for phase in [RehearsalCheck.Phase.before, .after] {
                    checks.append(RehearsalCheck(phase: phase, id: "\(id)-isolated-from-\(other)", description: "\(p.guest.name) cannot reach a host on VLAN \(other == 1 ? "1 (untagged)" : String(other)) in its own subnet", expectReach: false))
                }
                checkLines.append(("both", "  check_reach ct-\(p.guest.vmid) \(spy) \(id)-isolated-from-\(other) no"))
            }
        }
        probeLines.forEach { script.line($0) }
        script.line("}")
        script.blank()
        script.line("guest_ports() {")
        portLines.forEach { script.line($0) }
        script.line("  :")
        script.line("}")
        script.blank()
        // Checks run in parallel; wait for them only (networkd runs in the background too).
        script.line("run_checks() {")
        script.line("  local pids=")
        for c in checkLines { script.line(c.line + " & pids=\"$pids $!\"") }
        script.line("  wait $pids")
        script.line("}")

        var files: [String: String] = ["scenario.sh": script.text, "init.sh": LabGuestScript.text]
        if trace { files["trace"] = "1\n" }
        // The "before" network: the node's own files, with the captured MACs pinned where
        // Debian's ifupdown2 would otherwise pick different ones than Proxmox did.
        for path in capture.interfaceFiles {
            let rel = path.hasPrefix("nodes/\(capture.name)/") ? String(path.dropFirst("nodes/\(capture.name)/".count)) : path
            let original = site.node(plan.node).flatMap { _ in sourceText(path) } ?? ""
            files["etc-network/\(rel)"] = pinMACs(original, file: path, capture: capture)
        }
        for (name, text) in units { files["networkd/\(name)"] = text }
        var expected: [String: String] = [:]
        for h in hostAddresses { if let m = h.mac { expected[h.address.address] = m } }
        let lacp = bondUplink != nil
        return (RehearsalScenario(node: plan.node, nics: nics, files: files, checks: checks, expectedMACs: expected, lacp: lacp), diagnostics)
    }

    /// Which switch segment each NIC and interface is on. Interfaces joined as bridge ports, bond
    /// members or VLAN parents share one; the one holding a management uplink is 0, the others
    /// are numbered in the order of their first NIC.
    static func segments(capture: NodeCapture, management: [String]) -> (ofNIC: [String: Int], ofInterface: [String: Int]) {
        var parent: [String: String] = [:]
        func find(_ x: String) -> String {
            var root = x
            while let p = parent[root], p != root { root = p }
            var node = x
            while let p = parent[node], p != root { parent[node] = root; node = p }
            return root
        }
        func union(_ a: String, _ b: String) {
            let (ra, rb) = (find(a), find(b))
            if ra != rb { parent[ra] = rb }
        }
        for iface in capture.interfaces {
            parent[iface.name] = parent[iface.name] ?? iface.name
            for port in iface.bridge?.ports ?? [] { parent[port] = parent[port] ?? port; union(iface.name, port) }
            for slave in iface.bond?.slaves ?? [] { parent[slave] = parent[slave] ?? slave; union(iface.name, slave) }
            if let raw = iface.vlan?.rawDevice { parent[raw] = parent[raw] ?? raw; union(iface.name, raw) }
        }
        let physical = capture.interfaces.filter { $0.kind == .physical }.map(\.name)
        let managementGroups = Set(management.map(find))
        var number: [String: Int] = [:]
        for group in managementGroups { number[group] = 0 }
        var next = 1
        for nic in physical where number[find(nic)] == nil {
            number[find(nic)] = next
            next += 1
        }
        var ofNIC: [String: Int] = [:], ofInterface: [String: Int] = [:]
        for nic in physical { ofNIC[nic] = number[find(nic)] ?? 0 }
        for name in parent.keys { ofInterface[name] = number[find(name)] ?? 0 }
        return (ofNIC, ofInterface)
    }

    /// Text of a bundle file, as the planner read it (kept in the stanzas' files).
    private func sourceText(_ path: String) -> String? { site.node(plan.node)?.interfaceTexts[path] }

    private func vlanOnSwitch(_ iface: NetworkInterface, capture: NodeCapture) -> Int {
        if let v = iface.vlan {
            // A VLAN on a VLAN-aware bridge or on a NIC/bond: tagged on the wire with its id.
            return v.id
        }
        if let b = iface.bridge, b.vlanAware { return b.pvid ?? 1 }
        return 1
    }

    /// The MAC a probe sees behind an address: the interface's own, as the capture shows it.
    private func macBehind(_ iface: NetworkInterface, capture: NodeCapture) -> String? {
        capture.link(iface.name)?.mac
    }

    private func networkAddress(_ cidr: CIDRAddress) -> String { hostAddress(cidr, 0, raw: true) }

    private func hostAddress(_ cidr: CIDRAddress, _ host: Int, raw: Bool = false) -> String {
        guard let base = IPv4.parse(cidr.address) else { return cidr.address }
        let size = UInt32(1) << UInt32(32 - cidr.prefixLength)
        let network = base & ~(size - 1)
        let n = raw ? network : network + UInt32(min(max(host, 1), Int(size) - 2))
        return "\(n >> 24).\((n >> 16) & 255).\((n >> 8) & 255).\(n & 255)"
    }

    /// Adds `hwaddress` to bridges and bonds that have none, with the MAC the capture shows.
    private func pinMACs(_ text: String, file: String, capture: NodeCapture) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let stanzas = capture.interfaceStanzas.filter { $0.file == file }.sorted { $0.line > $1.line }
        for s in stanzas {
            guard let iface = capture.interface(s.name), iface.kind == .bridge || iface.kind == .bond, iface.hwaddress == nil,
                  s.family == "inet" || s.family == nil, let mac = capture.link(s.name)?.mac, s.line <= lines.count else { continue }
            lines.insert("\thwaddress \(mac)", at: s.line)
        }
        return lines.joined(separator: "\n")
    }
}

struct ScriptWriter {
    var text = ""
    mutating func line(_ s: String) { text += s + "\n" }
    mutating func blank() { text += "\n" }
}

func hex2(_ n: Int) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[(n >> 4) & 15], digits[n & 15]])
}

func shellWord(_ s: String) -> String {
    s.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=@".contains($0) } && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
