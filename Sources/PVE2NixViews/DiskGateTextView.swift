import PVE2NixCore

/// Renders the disk gate's verdict for a person: one line per finding, then the verdict.
public struct DiskGateTextView {
    public let verdict: DiskGateVerdict
    /// What the planned disks came from: `plan 1a2b3c4d (FILE)` or `a new plan from DIR`.
    public let source: String
    public let node: String

    public init(verdict: DiskGateVerdict, node: String, source: String) {
        self.verdict = verdict
        self.node = node
        self.source = source
    }

    public func render() -> String {
        var lines = ["pve2nix disk-check for \(node), against \(source)"]
        for finding in verdict.findings {
            let mark = switch finding.outcome { case .pass: "✓"; case .warn: "!"; case .fail: "✗" }
            lines.append("\(mark) \(finding.rule.rawValue) \(finding.rule.name): \(finding.message)")
        }
        let failed = verdict.failures.count
        let warned = verdict.findings.filter { $0.outcome == .warn }.count
        let notes = warned == 0 ? "" : " (\(warned) could not be fully checked: read the lines marked !)"
        switch verdict.decision {
        case .proceed:
            lines.append("PROCEED: every check passed\(notes); the planned disks may be wiped.")
        case .refuse:
            lines.append("REFUSE: \(failed) of \(verdict.findings.count) checks failed; do not wipe anything. Fix what the lines marked ✗ say and check again.")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
