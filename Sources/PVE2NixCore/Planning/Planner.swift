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
            for (leaf, what) in [("interfaces", "/etc/network/interfaces"), ("lsblk.json", "lsblk -J -b -O"), ("disk-by-id.txt", "ls -l /dev/disk/by-id"),
                                 ("ip-link.json", "ip -j -d link show"), ("ip-addr.json", "ip -j addr show"), ("firmware", "uefi or bios")] {
                let present: Bool
                switch leaf {
                case "interfaces": present = !node_.interfaceFiles.isEmpty
                case "lsblk.json": present = !node_.disks.isEmpty
                case "disk-by-id.txt": present = !node_.diskLinks.isEmpty
                case "ip-link.json": present = !node_.links.isEmpty
                case "ip-addr.json": present = !node_.addresses.isEmpty
                default: present = node_.firmware != nil
                }
                if !present && !diagnostics.contains(where: { $0.file == "nodes/\(node)/\(leaf)" }) {
                    diagnostics.append(.error("nodes/\(node)/\(leaf)", nil, "missing or empty: \(what) of the node to convert"))
                }
            }
        }
        let drain = DrainPlanner(site: site, node: node).plan(diagnostics: &diagnostics)
        let disk = capture == nil ? nil : DiskPlanner(site: site, capture: node_).plan(diagnostics: &diagnostics)
        let network = NetworkPlanner(site: site, capture: node_).plan(diagnostics: &diagnostics)
        let guests = GuestRehomingPlanner(site: site, drain: drain, serviceVLAN: site.intent.serviceVLAN).plan(guests: node_.guests, diagnostics: &diagnostics)
        let install = InstallPathPlanner(site: site, capture: node_, network: network).plan(diagnostics: &diagnostics)
        diagnostics = Self.ordered(diagnostics)
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
