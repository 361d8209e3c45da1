import PVE2NixCore

/// Draws one side of the network as SVG: NICs on the left, then bonds, VLANs and bridges by what
/// they sit on, and the guests' ports on the right, grouped by bridge and VLAN.
struct NetworkDiagram {
    let topology: NetworkTopology
    let side: String

    private struct Box {
        var id: String
        var lines: [(text: String, cls: String?)]
        var cls: String
        var column: Int
        var x = 0.0, y = 0.0, width = 0.0
        var title: String
        var height: Double { Double(lines.count) * SVGMetrics.lineHeight + 10 }
    }

    func render() -> String {
        let devices = topology.devices
        guard !devices.isEmpty else { return "<p class=\"empty\">No network captured for this side.</p>" }
        let depth = depths()
        var boxes: [Box] = devices.map { d in
            var lines: [(String, String?)] = [(HTML.clip("\(d.name) · \(d.kind.rawValue)\(d.vlanID.map { " \($0)" } ?? "")", 40), "name")]
            if let mac = d.mac { lines.append(("MAC \(mac)", nil)) }
            lines += d.addresses.map { (HTML.clip($0, 40), "addr") }
            lines += d.gateways.map { (HTML.clip("gw \($0)", 40), nil) }
            lines += d.notes.map { (HTML.clip($0, 40), "note") }
            if d.carriesManagement { lines.append(("management address", "mgmt")) }
            switch d.change {
            case .same: break
            case .added: lines.append(("+ new", "chg"))
            case .removed: lines.append(("− not in the new config", "chg"))
            // What differs is spelled out on the after side (and in the table of changes).
            case .changed: lines += [("~ changed", "chg")] + (side == "after" ? d.differences.map { (HTML.clip($0, 40), "chg") } : [])
            }
            let title = ([d.name, d.kind.rawValue] + d.addresses + d.notes + d.differences).joined(separator: "\n")
            return Box(id: d.name, lines: lines, cls: "dev \(d.kind.rawValue) \(d.change.rawValue)", column: depth[d.name] ?? 0, title: title)
        }
        let guestColumn = (boxes.map(\.column).max() ?? 0) + 1
        var groups: [(bridge: String, vlan: Int?, guests: [NetworkTopology.AttachedGuest])] = []
        for g in topology.guests {
            if let i = groups.firstIndex(where: { $0.bridge == g.bridge && $0.vlan == g.vlan }) { groups[i].guests.append(g) } else { groups.append((g.bridge, g.vlan, [g])) }
        }
        for group in groups {
            var lines: [(String, String?)] = [("\(group.bridge)\(group.vlan.map { " · VLAN \($0)" } ?? " · untagged")", "name")]
            lines += group.guests.map { g in (HTML.clip("\(g.kind.shortName) \(g.vmid) \(g.name)\(g.address.map { " \($0)" } ?? "")", 46), nil) }
            let title = group.guests.map { "\($0.kind.shortName) \($0.vmid) \($0.name) \($0.address ?? "") \($0.hostInterface ?? "")" }.joined(separator: "\n")
            boxes.append(Box(id: "guests:\(group.bridge):\(group.vlan ?? 0)", lines: lines, cls: "guests", column: guestColumn, title: title))
        }
        layout(&boxes)
        var svg = ""
        let index = Dictionary(boxes.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        func edge(_ from: Box, _ to: Box, cls: String) {
            let x1 = from.x + from.width, y1 = from.y + 12, x2 = to.x, y2 = to.y + 12
            let mid = (x1 + x2) / 2
            svg += "<path class=\"\(cls)\" d=\"M\(HTML.n(x1)) \(HTML.n(y1)) C\(HTML.n(mid)) \(HTML.n(y1)) \(HTML.n(mid)) \(HTML.n(y2)) \(HTML.n(x2)) \(HTML.n(y2))\"/>"
        }
        for d in devices {
            guard let upper = index[d.name] else { continue }
            for lower in d.lower { if let l = index[lower], boxes[l].column < boxes[upper].column { edge(boxes[l], boxes[upper], cls: "edge") } }
        }
        for group in groups {
            if let b = index[group.bridge], let g = index["guests:\(group.bridge):\(group.vlan ?? 0)"] { edge(boxes[b], boxes[g], cls: "edge guest-edge") }
        }
        for box in boxes {
            svg += "<g class=\"\(box.cls)\"><title>\(HTML.escape(box.title))</title>"
            svg += "<rect x=\"\(HTML.n(box.x))\" y=\"\(HTML.n(box.y))\" width=\"\(HTML.n(box.width))\" height=\"\(HTML.n(box.height))\" rx=\"4\"/>"
            for (i, line) in box.lines.enumerated() {
                svg += HTML.svgText(box.x + 6, box.y + 17 + Double(i) * SVGMetrics.lineHeight, line.text, cls: line.cls)
            }
            svg += "</g>"
        }
        let width = (boxes.map { $0.x + $0.width }.max() ?? 0) + 4
        let height = (boxes.map { $0.y + $0.height }.max() ?? 0) + 4
        return "<svg class=\"net\" role=\"group\" aria-label=\"Network \(HTML.escape(side))\" viewBox=\"0 0 \(HTML.n(width)) \(HTML.n(height))\" width=\"\(HTML.n(width))\" height=\"\(HTML.n(height))\" xmlns=\"http://www.w3.org/2000/svg\">\(svg)</svg>"
    }

    /// Column of each device: NICs (and anything standing alone) first, then one past what it sits on.
    private func depths() -> [String: Int] {
        var memo: [String: Int] = [:]
        let byName = Dictionary(topology.devices.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func depth(_ name: String, _ seen: Set<String>) -> Int {
            if let d = memo[name] { return d }
            guard let device = byName[name], !seen.contains(name) else { return 0 }
            let lowers = device.lower.filter { byName[$0] != nil }
            let d = device.kind == .nic || lowers.isEmpty ? (device.kind == .nic ? 0 : 1) : 1 + (lowers.map { depth($0, seen.union([name])) }.max() ?? 0)
            memo[name] = d
            return d
        }
        for d in topology.devices { _ = depth(d.name, []) }
        return memo
    }

    /// Columns left to right; within a column, boxes follow what they sit on, to keep lines short.
    private func layout(_ boxes: inout [Box]) {
        let columns = (boxes.map(\.column).max() ?? 0) + 1
        var x = 0.0
        var rank: [String: Double] = [:]
        let lowerOf = Dictionary(topology.devices.map { ($0.name, $0.lower) }, uniquingKeysWith: { a, _ in a })
        for column in 0..<columns {
            var members = boxes.indices.filter { boxes[$0].column == column }
            let width = (members.map { i in boxes[i].lines.map { SVGMetrics.width($0.text) }.max() ?? 0 }.max() ?? 0) + 14
            func key(_ i: Int) -> Double? {
                if boxes[i].id.hasPrefix("guests:") { return rank[String(boxes[i].id.split(separator: ":")[1])] }
                let ranks = (lowerOf[boxes[i].id] ?? []).compactMap { rank[$0] }
                return ranks.isEmpty ? nil : ranks.reduce(0, +) / Double(ranks.count)
            }
            members = members.enumerated().sorted { a, b in
                (key(a.element) ?? 1e9, a.offset) < (key(b.element) ?? 1e9, b.offset)
            }.map(\.element)
            var y = 0.0
            for i in members {
                // Level with what it sits on where there is room, so the lines stay short.
                y = max(y, key(i) ?? 0)
                boxes[i].x = x
                boxes[i].y = y
                boxes[i].width = width
                rank[boxes[i].id] = y
                y += boxes[i].height + 12
            }
            x += width + 44
        }
    }
}
