import PVE2NixCore

extension ReportHTMLView {
    /// The network before and after, side by side, what changes, and the rehearsal of exactly this configuration.
    func networkSection() -> String {
        let n = document.plan.network
        var out = "<section id=\"network\"><h2>Network before and after</h2>"
        out += "<p>Management address <strong>\(HTML.escape(n.managementAddress ?? "unknown"))</strong> on <code>\(HTML.escape(n.managementInterface ?? "?"))</code>\(n.managementVLAN.map { " (VLAN \($0))" } ?? ""), MAC <code>\(HTML.escape(n.managementMAC ?? "?"))</code>, gateway \(HTML.escape(n.defaultGateway ?? "none")). After: systemd-networkd, strategy <code>\(HTML.escape(document.strategy.rawValue))</code>; every NIC matched by its permanent MAC.</p>"
        out += "<p class=\"legend\">\(HTML.badge("~ changed", "changed")) \(HTML.badge("+ new", "added")) \(HTML.badge("− removed", "removed")) \(HTML.badge("management", "mgmt"))</p>"
        out += "<div class=\"sides\"><figure class=\"side\" id=\"network-before\"><figcaption>Before: Proxmox (<code>/etc/network/interfaces</code>)</figcaption>"
        out += NetworkDiagram(topology: document.before, side: "before").render()
        out += "</figure><figure class=\"side\" id=\"network-after\"><figcaption>After: NixOS (systemd-networkd)</figcaption>"
        out += NetworkDiagram(topology: document.after, side: "after").render()
        out += "</figure></div>"
        out += changesTable()
        var notes: [String] = n.translatedHooks.map { "<li>hook <code>\(HTML.escape($0.interface)) \(HTML.escape($0.phase)) \(HTML.escape($0.command))</code> carried over as a .link setting (<code>\(HTML.escape($0.file)):\($0.line)</code>)</li>" }
        notes += n.hooks.map { "<li class=\"fail-text\">hook <code>\(HTML.escape($0.interface)) \(HTML.escape($0.phase)) \(HTML.escape($0.command))</code> has no networkd equivalent: write it by hand (<code>\(HTML.escape($0.file)):\($0.line)</code>)</li>" }
        notes += n.unsupported.map { "<li class=\"fail-text\">unsupported (Open vSwitch): <code>\(HTML.escape($0))</code></li>" }
        notes += document.generatorDiagnostics.map { "<li>\(HTML.escape($0.rendered))</li>" }
        if !notes.isEmpty { out += "<h3>Hooks and notes</h3><ul>\(notes.joined())</ul>" }
        out += rehearsalPart()
        return out + "</section>"
    }

    private func changesTable() -> String {
        var rows: [[String]] = [], classes: [String?] = []
        for d in document.after.devices where d.change != .same {
            rows.append([HTML.badge(d.change == .added ? "+ new" : "~ changed", d.change.rawValue), "<code>\(HTML.escape(d.name))</code>", HTML.escape(d.kind.rawValue),
                         HTML.escape(d.change == .added ? [d.addresses.joined(separator: ", "), d.lower.isEmpty ? "" : "on \(d.lower.joined(separator: ", "))"].filter { !$0.isEmpty }.joined(separator: "; ") : d.differences.joined(separator: "; "))])
            classes.append(nil)
        }
        for d in document.before.devices where d.change == .removed {
            rows.append([HTML.badge("− removed", "removed"), "<code>\(HTML.escape(d.name))</code>", HTML.escape(d.kind.rawValue), "not in the new configuration"])
            classes.append(nil)
        }
        guard !rows.isEmpty else { return "<p>No device changes: the same devices, addresses and VLANs after the conversion.</p>" }
        return HTML.table(["change", "device", "kind", "what"], rows, caption: "What changes", classes: classes)
    }

    private func rehearsalPart() -> String {
        var out = "<h3 id=\"rehearsal\">Rehearsal of this configuration</h3>"
        let hash = String(document.networkUnitsHash.prefix(12))
        guard let r = document.rehearsal else {
            return out + "<p>\(HTML.badge("not rehearsed", "warn")) No rehearsal is recorded for these network units (hash <code>\(HTML.escape(hash))</code>)\(document.run == nil ? "; give --journal to look in another journal" : ""). Run <code>pve2nix rehearse \(HTML.escape(document.plan.node.rawValue)) --site …\(document.strategy == .vlanAwareBridge ? "" : " --network-strategy \(HTML.escape(document.strategy.rawValue))")</code> before installing.</p>"
        }
        out += "<p>\(HTML.badge(r.passed ? "✓ PASS" : "✗ FAIL", r.passed ? "pass" : "fail")) rehearsed \(HTML.escape(r.at)) (\(HTML.escape(r.variant))), units hash <code>\(HTML.escape(hash))</code>.</p>"
        guard let report = r.report else {
            return out + "<p>The journal kept only the overall result of this rehearsal, not each check: rehearse again to record them.</p>"
        }
        out += HTML.table(["result", "phase", "check", "detail"], report.results.map { c in
            let cls = c.status == .pass ? "pass" : c.status == .notBlamed ? "warn" : "fail"
            let word = c.status == .pass ? "✓ PASS" : c.status == .notBlamed ? "! \(c.status.rawValue)" : "✗ \(c.status.rawValue)"
            return [HTML.badge(word, cls), HTML.escape(c.phase.rawValue), HTML.escape(c.description), HTML.escape(c.detail)]
        }, caption: "Each check of the rehearsal")
        if !report.notes.isEmpty { out += "<ul>" + report.notes.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>" }
        return out
    }
}
