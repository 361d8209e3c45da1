/// Builds the conversion plan for one node from a parsed site. Pure: the same site gives the same plan.
public struct Planner: Sendable {
    public let site: Site
    public init(site: Site) { self.site = site }

    public func plan(node: NodeName) -> ConversionPlan {
        var diagnostics = site.diagnostics
        let capture = site.node(node)
        if capture == nil {
            let known = site.nodes.map(\.name.rawValue).joined(separator: ", ")
            diagnostics.append(.error("nodes/\(node)", nil, "the bundle has no node '\(node)'; captured nodes: \(known.isEmpty ? "none" : known)"))
        }
        let empty = NodeCapture(name: node, status: nil, interfaces: [], interfaceStanzas: [], interfaceFiles: [], links: [], addresses: [],
                                disks: [], diskLinks: [], meminfo: nil, firmware: nil, hostID: nil, guests: [])
        let node_ = capture ?? empty
        if capture != nil {
            let dir = "nodes/\(node)"
            for (leaf, what) in [("interfaces", "/etc/network/interfaces"), ("lsblk.json", "lsblk -J -b -O"), ("disk-by-id.txt", "ls -l /dev/disk/by-id"),
                                 ("ip-link.json", "ip -j -d link show"), ("ip-addr.json", "ip -j addr show"), ("firmware", "uefi or bios"),
                                 ("status.json", "GET /nodes/\(node)/status"), ("meminfo", "/proc/meminfo")] {
                let present: Bool
                switch leaf {
                case "interfaces":
                    present = !(node_.interfaceTexts["\(dir)/interfaces"] ?? "").trimmingWhitespace().isEmpty
                case "lsblk.json": present = !node_.disks.isEmpty
                case "disk-by-id.txt": present = !node_.diskLinks.isEmpty
                case "ip-link.json": present = !node_.links.isEmpty
                case "ip-addr.json": present = !node_.addresses.isEmpty
                case "status.json": present = node_.status != nil
                case "meminfo": present = node_.meminfo != nil
                default: present = node_.firmware != nil
                }
                if !present && !diagnostics.contains(where: { $0.file == "\(dir)/\(leaf)" && $0.severity == .error }) {
                    diagnostics.append(.error("\(dir)/\(leaf)", nil, "missing or empty: \(what) of the node to convert. Capture it again; the plan cannot be trusted without it."))
                }
            }
        }
        let drain = DrainPlanner(site: site, node: node).plan(diagnostics: &diagnostics)
        let disk = capture == nil ? nil : DiskPlanner(site: site, capture: node_).plan(diagnostics: &diagnostics)
        let network = NetworkPlanner(site: site, capture: node_).plan(diagnostics: &diagnostics)
        let guests = GuestRehomingPlanner(site: site, drain: drain, serviceVLAN: site.intent.serviceVLAN).plan(guests: node_.guests, diagnostics: &diagnostics)
        let install = InstallPathPlanner(site: site, capture: node_, network: network).plan(diagnostics: &diagnostics)
        diagnostics = Self.ordered(diagnostics)
        if capture != nil {
            // Whatever `generate` would refuse with its default options, the plan says already.
            var draft = ConversionPlan(schemaVersion: ConversionPlan.currentSchemaVersion, node: node, site: nil, drain: drain, disk: disk,
                                       network: network, guests: guests, install: install, preflight: [], diagnostics: [])
            var options = GenerateOptions()
            options.sshKeys = ["ssh-ed25519 plan-check"]
            let generated = HostGenerator(site: site, plan: draft, options: options).generate()
            let known = Set(diagnostics.map { "\($0.file ?? "")|\($0.line ?? 0)|\($0.message)" })
            for d in generated.diagnostics where d.severity == .error && !known.contains("\(d.file ?? "")|\(d.line ?? 0)|\(d.message)") {
                if d.message.hasPrefix("the plan chose no install disk") { continue }
                diagnostics.append(Diagnostic(.error, file: d.file, line: d.line, HostGenerator.refusalPrefix + d.message))
            }
            diagnostics = Self.ordered(diagnostics)
        }
        let preflight = Preflight(site: site, node: node, capture: capture, drain: drain, disk: disk, network: network,
                                  install: install, diagnostics: diagnostics).checks()
        return ConversionPlan(schemaVersion: ConversionPlan.currentSchemaVersion, node: node, site: site.intent.name ?? site.cluster?.name,
                              drain: drain, disk: disk, network: network, guests: guests, install: install,
                              preflight: preflight, diagnostics: diagnostics)
    }

    /// Errors first, then by file and line, without repeats.
    static func ordered(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        var seen = Set<Diagnostic>()
        return diagnostics.filter { seen.insert($0).inserted }.sorted {
            ($0.severity, $0.file ?? "", $0.line ?? 0, $0.message) < ($1.severity, $1.file ?? "", $1.line ?? 0, $1.message)
        }
    }
}
