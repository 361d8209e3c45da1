import PVE2NixCore
import PVE2NixRuntime

extension ReportHTMLView {
    func guestsSection() -> String {
        let node = document.plan.node.rawValue
        let rows = document.plan.guests.map { g -> [String] in
            let home: String = switch g.rehome {
            case .nspawn: "nspawn on \(node)"
            case .incus: "Incus on \(node)"
            case .stay: "stays on \(g.interimNode?.rawValue ?? "?")"
            }
            return ["<code>\(g.kind.shortName) \(g.vmid)</code>", HTML.escape(g.name), HTML.escape(home), HTML.escape(g.address ?? ""), g.vlan.map(String.init) ?? "", HTML.escape(g.reason)]
        }
        return "<section id=\"guests\"><h2>Guests after the conversion</h2>" + HTML.table(["guest", "name", "lives", "address", "VLAN", "why"], rows) + "</section>"
    }

    func installSection() -> String {
        let install = document.plan.install
        var out = "<section id=\"install\"><h2>Install path</h2><p class=\"path\">Path <strong>\(HTML.escape(install.path.title))</strong>"
        out += "\(install.firmware.map { ", firmware \(HTML.escape($0.rawValue))" } ?? "")\(install.memoryBytes.map { ", RAM \(HTML.escape(ByteFormat.string($0)))" } ?? "")</p>"
        out += "<ul>" + install.reasons.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul></section>"
        return out
    }

    func preflightSection() -> String {
        let checks = document.plan.preflight
        let rows = checks.map { c -> [String] in
            let (word, cls) = switch c.status { case .pass: ("✓ PASS", "pass"); case .warn: ("! WARN", "warn"); case .fail: ("✗ FAIL", "fail") }
            return [HTML.badge(word, cls), "<code>\(HTML.escape(c.check))</code>", HTML.escape(c.detail)]
        }
        let fails = checks.filter { $0.status == .fail }.count, warns = checks.filter { $0.status == .warn }.count
        return "<section id=\"preflight\"><h2>Preflight</h2><p>\(checks.count - fails - warns) pass, \(warns) warn, \(fails) fail. These are the plan's checks, made offline from the bundle; <code>pve2nix check</code> repeats the live ones before anything destructive.</p>"
            + HTML.table(["result", "check", "detail"], rows, classes: checks.map { $0.status == .fail ? "fail-row" : nil }) + "</section>"
    }

    func rollbackSection() -> String {
        let phases = document.run?.stagePhases ?? [:]
        var rows: [[String]] = []
        var classes: [String?] = []
        for step in document.rollback.steps {
            var row = ["<code>\(HTML.escape(step.stage.rawValue))</code>",
                       step.afterWipe ? HTML.badge("after the wipe", "destroyed") : HTML.badge("Proxmox intact", "kept"),
                       HTML.escape(step.changes), HTML.escape(step.undo)]
            if document.run != nil { row.append(phases[step.stage].map { HTML.escape($0.rawValue) } ?? "not run") }
            rows.append(row)
            classes.append(step.stage == RollbackGuide.wipeStage ? "wipe-row" : nil)
        }
        return "<section id=\"rollback\"><h2>Rollback, stage by stage</h2><p>Until <code>\(RollbackGuide.wipeStage.rawValue)</code> the node still boots Proxmox: reboot it and move the guests back. From <code>\(RollbackGuide.wipeStage.rawValue)</code> on, going back means reinstalling Proxmox, rejoining the cluster and restoring from the drain's copies and the recorded backups.</p>"
            + HTML.table(["stage", "state of the node", "what it changes", "how to undo it"] + (document.run == nil ? [] : ["this run"]), rows, classes: classes) + "</section>"
    }

    func diagnosticsSection() -> String {
        let diagnostics = document.plan.diagnostics
        guard !diagnostics.isEmpty else { return "<section id=\"diagnostics\"><h2>Diagnostics</h2><p>None.</p></section>" }
        let rows = diagnostics.map { d -> [String] in
            [HTML.badge(d.severity.rawValue, d.severity == .error ? "fail" : d.severity == .warning ? "warn" : "info"),
             d.file.map { "<code>\(HTML.escape($0))\(d.line.map { ":\($0)" } ?? "")</code>" } ?? "", HTML.escape(d.message)]
        }
        return "<section id=\"diagnostics\"><h2>Diagnostics</h2>" + HTML.table(["severity", "where", "message"], rows, classes: diagnostics.map { $0.severity == .error ? "fail-row" : nil }) + "</section>"
    }

    func runSection() -> String {
        guard let run = document.run else { return "" }
        let matches = run.info.planHash == document.planHash
        var out = "<section id=\"run\"><h2>The run</h2><p>Run \(run.info.id) of plan <code>\(HTML.escape(run.info.planHash))</code>, started \(HTML.escape(run.info.startedAt)), \(HTML.escape(run.info.state.rawValue)); journal <code>\(HTML.escape(run.journal))</code>.</p>"
        if !matches { out += "<p class=\"fail-text\">\(HTML.badge("other plan", "fail")) This run carries out plan \(HTML.escape(run.info.planHash)), not the plan \(HTML.escape(document.planHash)) shown here.</p>" }
        let rows = run.entries.suffix(400).map { e -> [String] in
            [HTML.escape(e.at), HTML.escape(e.entry.stage.rawValue), HTML.escape(e.entry.subject.description), HTML.escape(e.entry.phase.rawValue), HTML.escape(e.entry.detail)]
        }
        out += "<details><summary>Journal entries (\(run.entries.count)\(run.entries.count > 400 ? ", the last 400 shown" : ""))</summary>" + HTML.table(["time", "stage", "subject", "phase", "detail"], rows) + "</details>"
        return out + "</section>"
    }
}
