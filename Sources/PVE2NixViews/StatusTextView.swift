import PVE2NixCore
import PVE2NixRuntime

/// `pve2nix status` as text.
public struct StatusTextView {
    public let report: RunStatusReport

    public init(report: RunStatusReport) { self.report = report }

    public func render() -> String {
        var out = ""
        func line(_ s: String) { out += s + "\n" }
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        line("Journal of \(report.node): \(report.journal) (schema \(report.schema), \(report.history.count) entries)")
        guard let run = report.current else {
            line("  no run yet.")
            return out
        }
        let plan = run.planHash == RunInfo.unknownPlan ? "a plan from before plan hashes" : "plan \(run.planHash)"
        line("Run \(run.id) of \(plan), started \(run.startedAt): \(run.state.rawValue)")
        for earlier in report.runs.dropLast() { line("  earlier: run \(earlier.id) of plan \(earlier.planHash), started \(earlier.startedAt): \(earlier.state.rawValue)") }
        line("  \(pad("STAGE", 15)) \(pad("SUBJECTS", 22)) LAST")
        for stage in RunStage.allCases {
            guard let s = report.stages.first(where: { $0.stage == stage }) else {
                line("  \(pad(stage.rawValue, 15)) not started")
                continue
            }
            let counts = "\(s.done) done\(s.failed > 0 ? ", \(s.failed) failed" : "") of \(s.subjects)"
            line("  \(pad(stage.rawValue, 15)) \(pad(counts, 22)) \(s.lastPhase?.rawValue ?? ""): \(s.lastDetail ?? "")")
        }
        guard !report.guests.isEmpty || report.marker != nil else { return out }
        line("")
        line("Drain:")
        if let marker = report.marker { line("  node notes: \(marker)") }
        line("  \(pad("VMID", 6)) \(pad("STEP", 9)) \(pad("PHASE", 10)) \(pad("TARGET", 14)) DETAIL")
        for r in report.guests {
            line("  \(pad(String(r.vmid.rawValue), 6)) \(pad(r.step.rawValue, 9)) \(pad(r.phase.rawValue, 10)) \(pad(r.target?.rawValue ?? "-", 14)) \(r.detail)")
            // A backup-restore between its shutdown and its end: say what that means for the guest.
            let steps = report.drainSteps(of: r.vmid)
            if r.phase != .done, steps.contains(where: { $0.step == .shutdown }) {
                let copy = steps.last { $0.copy != nil && $0.step == .restore && $0.phase == .verified }?.copy
                let archive = steps.last { $0.archive != nil }?.archive
                line("         the original is stopped on the node\(archive.map { "; archive \($0)" } ?? "")\(copy.map { "; its copy \($0) runs on \(r.target?.rawValue ?? "the target")" } ?? ""). Run the drain again to finish.")
            }
        }
        return out
    }
}
