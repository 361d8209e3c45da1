import PVE2NixCore

extension ReportHTMLView {
    /// Every disk as a bar of its partitions, destroyed (red, hatched, "DESTROYED") or kept (green,
    /// "kept"); pools and volume groups drawn as brackets across the disks they span.
    func disksSection() -> String {
        let map = document.disks
        var out = "<section id=\"disks\"><h2>Disk map</h2>"
        if let disk = document.plan.disk {
            out += "<p>The install wipes <strong class=\"destroyed-text\">\(HTML.escape(disk.byId.path))</strong>\(disk.mirrors.isEmpty ? "" : " and its mirror\(disk.mirrors.count > 1 ? "s" : "") \(disk.mirrors.map { HTML.escape($0.byId.path) }.joined(separator: ", "))"): \(HTML.escape(disk.reason)).</p>"
        } else {
            out += "<p class=\"fail-text\">No install disk was chosen: see the diagnostics.</p>"
        }
        out += "<p class=\"legend\">\(HTML.badge("DESTROYED", "destroyed")) wiped by the install \(HTML.badge("kept", "kept")) left as it is</p>"
        out += diskSVG(map)
        let rows = map.disks.map { d -> [String] in
            [HTML.badge(d.fate == .destroyed ? "DESTROYED" : "kept", d.fate.rawValue),
             "<code class=\"nw\">\(HTML.escape(d.kernelName))</code>",
             "<code>\(HTML.escape(d.byId ?? "none"))</code>" + (d.otherIds.isEmpty ? "" : "<br><small>also \(d.otherIds.map { "<code>\(HTML.escape($0))</code>" }.joined(separator: ", "))</small>"),
             HTML.escape(d.model ?? "?"), "<code>\(HTML.escape(d.serial ?? "none"))</code>", "<code>\(HTML.escape(d.wwn ?? "none"))</code>",
             "<span class=\"nw\">\(HTML.escape(ByteFormat.string(d.sizeBytes)))</span>", HTML.escape(d.transport ?? "?"),
             d.partitions.map { p in "<code>\(HTML.escape(p.name))</code> \(HTML.escape(ByteFormat.string(p.sizeBytes)))\(p.fstype.map { " " + HTML.escape($0) } ?? "")\(p.mountpoints.isEmpty ? "" : " on " + HTML.escape(p.mountpoints.joined(separator: ", ")))" }.joined(separator: "<br>"),
             HTML.escape(d.reason)]
        }
        out += HTML.table(["fate", "disk", "by-id", "model", "serial", "WWN", "size", "bus", "partitions", "why"], rows, caption: "Disks of \(document.plan.node)",
                          classes: map.disks.map { $0.fate == .destroyed ? "destroyed-row" : nil })
        if let disk = document.plan.disk, !disk.destroys.isEmpty {
            out += "<details open><summary>Everything the install destroys (\(disk.destroys.count))</summary><ul class=\"destroys\">"
            out += disk.destroys.map { "<li>\(HTML.badge("DESTROYED", "destroyed")) \(HTML.escape($0.kind.rawValue)) <code>\(HTML.escape($0.name))</code>: \(HTML.escape($0.detail))</li>" }.joined()
            out += "</ul></details>"
        }
        return out + "</section>"
    }

    private func diskSVG(_ map: DiskMap) -> String {
        guard !map.disks.isEmpty else { return "<p class=\"empty\">No disks captured.</p>" }
        let labelWidth = 250.0, barWidth = 560.0, rowHeight = 66.0, top = 8.0
        let groupX0 = labelWidth + barWidth + 24
        var svg = "<defs><pattern id=\"hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" class=\"hatch-bg\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" class=\"hatch-line\"/></pattern></defs>"
        for (row, disk) in map.disks.enumerated() {
            let y = top + Double(row) * rowHeight
            svg += HTML.svgText(0, y + 14, "\(disk.kernelName) · \(ByteFormat.string(disk.sizeBytes))", cls: "name")
            svg += HTML.svgText(0, y + 29, HTML.clip(disk.model ?? "unknown model", 32))
            svg += HTML.svgText(0, y + 44, HTML.clip("serial \(disk.serial ?? "none")", 32), cls: "note")
            let parts = disk.partitions
            let fate = disk.fate.rawValue
            svg += "<g class=\"disk \(fate)\"><title>\(HTML.escape("\(disk.byId ?? disk.kernelName): \(fate)"))</title>"
            if parts.isEmpty {
                svg += "<rect x=\"\(HTML.n(labelWidth))\" y=\"\(HTML.n(y))\" width=\"\(HTML.n(barWidth))\" height=\"30\" class=\"seg\"/>"
                svg += HTML.svgText(labelWidth + 6, y + 19, "\(disk.fate == .destroyed ? "DESTROYED" : "kept") · whole disk", cls: "seg-label")
            } else {
                let minimum = 46.0
                let total = Double(max(disk.sizeBytes, parts.reduce(0) { $0 + $1.sizeBytes }, 1))
                let raw = parts.map { max(minimum, barWidth * Double($0.sizeBytes) / total) }
                let scale = min(1, barWidth / raw.reduce(0, +))
                var x = labelWidth
                for (part, w0) in zip(parts, raw) {
                    let w = w0 * scale
                    svg += "<rect x=\"\(HTML.n(x))\" y=\"\(HTML.n(y))\" width=\"\(HTML.n(w))\" height=\"30\" class=\"seg\"><title>\(HTML.escape("\(part.name) \(ByteFormat.string(part.sizeBytes)) \(part.fstype ?? "") \(part.mountpoints.joined(separator: " ")) — \(fate)"))</title></rect>"
                    let label = "\(part.name) \(ByteFormat.string(part.sizeBytes))\(part.fstype.map { " \($0)" } ?? "")"
                    svg += HTML.svgText(x + 4, y + 19, HTML.clip(label, max(1, Int((w - 6) / SVGMetrics.charWidth))), cls: "seg-label")
                    x += w
                }
            }
            svg += "</g>"
            let mark = disk.fate == .destroyed ? "✗ DESTROYED" : "✓ kept"
            svg += HTML.svgText(labelWidth, y + 46, "\(mark) · \(HTML.clip(disk.byId ?? "no by-id link", 60))", cls: disk.fate == .destroyed ? "destroyed-text" : "kept-text")
        }
        let rows = Dictionary(map.disks.enumerated().map { ($1.kernelName, $0) }, uniquingKeysWith: { a, _ in a })
        var labelsRight = groupX0
        var labelsAtRow: [Int: Int] = [:]
        for (i, group) in map.groups.enumerated() {
            let members = group.disks.compactMap { rows[$0] }.sorted()
            guard let first = members.first, let last = members.last else { continue }
            let gx = groupX0 + Double(i) * 18
            let y1 = top + Double(first) * rowHeight + 15, y2 = top + Double(last) * rowHeight + 15
            svg += "<g class=\"group \(group.fate.rawValue)\"><title>\(HTML.escape("\(group.kind) \(group.name): \(group.disks.joined(separator: ", ")) — \(group.fate.rawValue)"))</title>"
            svg += "<line x1=\"\(HTML.n(gx))\" y1=\"\(HTML.n(y1))\" x2=\"\(HTML.n(gx))\" y2=\"\(HTML.n(y2))\" class=\"span\"/>"
            for m in members {
                let my = top + Double(m) * rowHeight + 15
                svg += "<line x1=\"\(HTML.n(labelWidth + barWidth))\" y1=\"\(HTML.n(my))\" x2=\"\(HTML.n(gx))\" y2=\"\(HTML.n(my))\" class=\"tick\"/><circle cx=\"\(HTML.n(gx))\" cy=\"\(HTML.n(my))\" r=\"3.5\"/>"
            }
            let label = "\(group.kind) \(group.name) (\(group.fate == .destroyed ? "DESTROYED" : "kept"))"
            let lx = groupX0 + Double(map.groups.count) * 18 + 6
            let stacked = labelsAtRow[first, default: 0]
            labelsAtRow[first] = stacked + 1
            svg += HTML.svgText(lx, y1 + 4 + Double(stacked) * 14, HTML.clip(label, 44), cls: group.fate == .destroyed ? "destroyed-text" : "kept-text")
            labelsRight = max(labelsRight, lx + SVGMetrics.width(HTML.clip(label, 44)))
            svg += "</g>"
        }
        let width = max(labelWidth + barWidth + 8, labelsRight + 8)
        let height = top + Double(map.disks.count) * rowHeight
        return "<svg class=\"disks\" role=\"group\" aria-label=\"Disk map\" viewBox=\"0 0 \(HTML.n(width)) \(HTML.n(height))\" width=\"\(HTML.n(width))\" height=\"\(HTML.n(height))\" xmlns=\"http://www.w3.org/2000/svg\">\(svg)</svg>"
    }
}
