import PVE2NixCore
import PVE2NixRuntime

extension ReportHTMLView {
    /// The estimated drain per peer over time, the actual run over it, the peers' memory and the blockers.
    func drainSection() -> String {
        let plan = document.plan, timeline = document.timeline
        let a = timeline.assumptions
        var out = "<section id=\"drain\"><h2>Drain timeline</h2>"
        out += "<p><strong>Estimated</strong>, not measured: each move's bytes (memory for a live move, local disks when they are copied, twice for a backup and restore) over \(HTML.escape(ByteFormat.string(Int64(a.linkBytesPerSecond))))/s, plus \(HTML.n(a.overheadSeconds)) s per move and \(HTML.n(a.restartSeconds)) s for a shutdown and start, \(a.concurrency) at a time in plan order. About <strong>\(HTML.escape(DurationText.string(timeline.totalSeconds)))</strong> for \(timeline.slots.count) moves\(timeline.unscheduled.isEmpty ? "" : "; \(timeline.unscheduled.count) cannot move").\(document.run == nil ? "" : " The journal's actual run is drawn under each estimate.")</p>"
        out += "<p class=\"legend\"><span class=\"key est\"></span> move (estimated) <span class=\"key down\"></span> service down (hatched) \(document.run == nil ? "" : "<span class=\"key actual\"></span> actual, from the journal")</p>"
        out += timelineSVG()
        let spans = document.run?.drainSpans ?? [:]
        let rows = plan.drain.moves.map { m -> [String] in
            let slot = timeline.slots.first { $0.vmid == m.vmid }
            let actual = spans[m.vmid].map { "\(HTML.escape(DurationText.string($0.end - $0.start))) · \(HTML.escape($0.phase.rawValue))" } ?? (document.run == nil ? "" : "not in the journal")
            return ["<code class=\"nw\">\(m.kind.shortName) \(m.vmid)</code>", HTML.escape(m.name), HTML.escape(m.template ? "template" : m.status),
                    m.to.map { "<span class=\"nw\">\(HTML.escape($0.rawValue))</span>" } ?? "<strong class=\"fail-text\">cannot move</strong>", HTML.escape(m.method.rawValue),
                    HTML.escape(m.downtime.rawValue), slot.map { HTML.escape(DurationText.string($0.duration)) } ?? "–",
                    slot.map { $0.downtimeSeconds > 0 ? HTML.escape(DurationText.string($0.downtimeSeconds)) : "none" } ?? "–",
                    HTML.escape(m.reason)] + (document.run == nil ? [] : [actual])
        }
        out += HTML.table(["guest", "name", "state", "to", "method", "downtime class", "est. duration", "est. downtime", "why"] + (document.run == nil ? [] : ["actual"]),
                          rows, caption: "Moves in plan order", classes: plan.drain.moves.map { $0.method.movesGuest ? nil : "fail-row" })
        out += peersChart()
        let blockers = plan.drain.moves.flatMap { m in m.blockers.map { (m, $0) } }
        if blockers.isEmpty {
            out += "<h3>Blockers</h3><p>None.</p>"
        } else {
            let order: [Blocker.Severity] = [.blocks, .action, .note]
            let sorted = blockers.enumerated().sorted { (order.firstIndex(of: $0.element.1.severity)!, $0.offset) < (order.firstIndex(of: $1.element.1.severity)!, $1.offset) }.map(\.element)
            out += "<h3>Blockers</h3>" + HTML.table(["severity", "guest", "kind", "what", "where"], sorted.map { m, b in
                [HTML.badge(b.severity == .blocks ? "BLOCKS" : b.severity == .action ? "ACTION" : "note", "sev-\(b.severity.rawValue)"),
                 "<code>\(m.kind.shortName) \(m.vmid)</code> \(HTML.escape(m.name))", HTML.escape(b.kind.rawValue), HTML.escape(b.message),
                 b.file.map { "<code>\(HTML.escape($0))\(b.line.map { ":\($0)" } ?? "")</code>" } ?? ""]
            }, caption: "\(blockers.filter { $0.1.severity == .blocks }.count) block, \(blockers.filter { $0.1.severity == .action }.count) need an operator, \(blockers.filter { $0.1.severity == .note }.count) notes")
        }
        return out + "</section>"
    }

    private func timelineSVG() -> String {
        let timeline = document.timeline
        guard !timeline.slots.isEmpty else { return "<p class=\"empty\">Nothing to move.</p>" }
        let spans = document.run?.drainSpans ?? [:]
        let labelWidth = 230.0, chartWidth = 640.0, row = spans.isEmpty ? 22.0 : 32.0, header = 30.0
        let actualEnd = spans.values.map(\.end).max() ?? 0
        let total = max(timeline.totalSeconds, actualEnd, 1)
        let scale = chartWidth / total
        var svg = "<defs><pattern id=\"down\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" class=\"down-bg\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" class=\"down-line\"/></pattern></defs>"
        let step = Self.tickStep(total)
        var t = 0.0
        while t <= total + 0.001 {
            let x = labelWidth + t * scale
            svg += "<line x1=\"\(HTML.n(x))\" y1=\"\(HTML.n(header - 6))\" x2=\"\(HTML.n(x))\" y2=\"100%\" class=\"grid\"/>"
            svg += HTML.svgText(x, header - 10, DurationText.string(t), cls: "tick", anchor: "middle")
            t += step
        }
        var y = header
        let peers = timeline.slots.map(\.to).reduce(into: [NodeName]()) { if !$0.contains($1) { $0.append($1) } }
        for peer in peers {
            svg += HTML.svgText(0, y + 14, "→ \(peer.rawValue)", cls: "name")
            y += 20
            for slot in timeline.slots where slot.to == peer {
                svg += HTML.svgText(12, y + 13, HTML.clip("\(slot.kind.shortName) \(slot.vmid) \(slot.name)", 29))
                let x = labelWidth + slot.start * scale, w = max(3, slot.duration * scale)
                let cls = slot.downtimeSeconds > 0 ? "bar down" : "bar"
                svg += "<rect x=\"\(HTML.n(x))\" y=\"\(HTML.n(y + 2))\" width=\"\(HTML.n(w))\" height=\"14\" class=\"\(cls)\"><title>\(HTML.escape("\(slot.kind.shortName) \(slot.vmid) \(slot.name) → \(slot.to): \(slot.method.rawValue), estimated \(DurationText.string(slot.start)) to \(DurationText.string(slot.end)), down \(DurationText.string(slot.downtimeSeconds))"))</title></rect>"
                let label = "\(slot.method.rawValue) · \(DurationText.string(slot.duration))\(slot.downtimeSeconds > 0 ? " · down \(DurationText.string(slot.downtimeSeconds))" : " · no downtime")"
                let lx = x + w + 4 + SVGMetrics.width(label) > labelWidth + chartWidth + 200 ? x - 4 : x + w + 4
                svg += HTML.svgText(lx, y + 13, label, cls: "bar-label", anchor: lx < x ? "end" : nil)
                if let span = spans[slot.vmid] {
                    let ax = labelWidth + span.start * scale, aw = max(3, (span.end - span.start) * scale)
                    svg += "<rect x=\"\(HTML.n(ax))\" y=\"\(HTML.n(y + 19))\" width=\"\(HTML.n(aw))\" height=\"7\" class=\"actual \(span.phase.rawValue)\"><title>\(HTML.escape("actual: \(DurationText.string(span.end - span.start)), \(span.phase.rawValue)"))</title></rect>"
                    svg += HTML.svgText(ax + aw + 4, y + 27, "actual \(DurationText.string(span.end - span.start)) · \(span.phase.rawValue)", cls: "note")
                }
                y += row
            }
        }
        let width = labelWidth + chartWidth + 200
        return "<svg class=\"timeline\" role=\"group\" aria-label=\"Drain timeline (estimated)\" viewBox=\"0 0 \(HTML.n(width)) \(HTML.n(y + 4))\" width=\"\(HTML.n(width))\" height=\"\(HTML.n(y + 4))\" xmlns=\"http://www.w3.org/2000/svg\">\(svg)</svg>"
    }

    static func tickStep(_ total: Double) -> Double {
        for step in [15.0, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400] where total / step <= 8 { return step }
        return (total / 8).rounded(.up)
    }

    private func peersChart() -> String {
        let peers = document.plan.drain.peers
        guard !peers.isEmpty else { return "<h3>Peers</h3><p class=\"fail-text\">No peers to drain to.</p>" }
        let labelWidth = 150.0, barWidth = 520.0, row = 40.0
        let maxBytes = Double(max(peers.map { max($0.memoryTotalBytes, $0.memoryCommittedAfterBytes) }.max() ?? 1, 1))
        var svg = ""
        for (i, p) in peers.enumerated() {
            let y = Double(i) * row + 4
            let before = barWidth * Double(p.memoryCommittedBeforeBytes) / maxBytes
            let after = barWidth * Double(p.memoryCommittedAfterBytes) / maxBytes
            let usable = barWidth * Double(p.memoryUsableBytes) / maxBytes
            let total = barWidth * Double(p.memoryTotalBytes) / maxBytes
            svg += HTML.svgText(0, y + 14, "\(p.node.rawValue)\(p.online ? "" : " (OFFLINE)")", cls: "name")
            svg += "<rect x=\"\(HTML.n(labelWidth))\" y=\"\(HTML.n(y))\" width=\"\(HTML.n(total))\" height=\"18\" class=\"mem-total\"/>"
            svg += "<rect x=\"\(HTML.n(labelWidth))\" y=\"\(HTML.n(y))\" width=\"\(HTML.n(max(0, after)))\" height=\"18\" class=\"mem-after\"/>"
            svg += "<rect x=\"\(HTML.n(labelWidth))\" y=\"\(HTML.n(y))\" width=\"\(HTML.n(max(0, before)))\" height=\"18\" class=\"mem-before\"/>"
            svg += "<line x1=\"\(HTML.n(labelWidth + usable))\" y1=\"\(HTML.n(y - 3))\" x2=\"\(HTML.n(labelWidth + usable))\" y2=\"\(HTML.n(y + 21))\" class=\"mem-limit\"/>"
            svg += HTML.svgText(labelWidth, y + 32, "\(ByteFormat.string(p.memoryCommittedBeforeBytes)) → \(ByteFormat.string(p.memoryCommittedAfterBytes)) of \(ByteFormat.string(p.memoryUsableBytes)) usable (\(ByteFormat.string(p.memoryTotalBytes)) total); vCPU \(p.vcpusBefore) → \(p.vcpusAfter) of \(p.vcpuLimit)", cls: "note")
        }
        let height = Double(peers.count) * row + 4
        let width = labelWidth + max(barWidth + 10, peers.map { p in SVGMetrics.width("\(ByteFormat.string(p.memoryCommittedBeforeBytes)) → \(ByteFormat.string(p.memoryCommittedAfterBytes)) of \(ByteFormat.string(p.memoryUsableBytes)) usable (\(ByteFormat.string(p.memoryTotalBytes)) total); vCPU \(p.vcpusBefore) → \(p.vcpusAfter) of \(p.vcpuLimit)") + 10 }.max() ?? 0)
        var out = "<h3>Peers' memory before and after</h3><p class=\"legend\"><span class=\"key mem-before\"></span> committed before <span class=\"key mem-after\"></span> added by the drain <span class=\"key mem-total\"></span> total <span class=\"key mem-limit\"></span> usable limit (total less \(document.plan.drain.memoryHeadroomPercent)% headroom)</p>"
        out += "<svg class=\"peers\" role=\"group\" aria-label=\"Peers' memory\" viewBox=\"0 0 \(HTML.n(width)) \(HTML.n(height))\" width=\"\(HTML.n(width))\" height=\"\(HTML.n(height))\" xmlns=\"http://www.w3.org/2000/svg\">\(svg)</svg>"
        return out
    }
}
