import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show where a node's conversion stands: its run, stage by stage, and every guest of the drain.",
            discussion: """
            Reads the node's journal: the runs (each bound to the hash of the plan it carries out), the stages of the newest run (capture, drain, generate, rehearse, check, install phases, validate, cluster-remove, cutover) with how many subjects each touched and where they stand, and the drain's guests. It never creates or changes a journal. Exit status: 0 shown; 1 no journal; 2 the file is not a journal.

            Examples:
              pve2nix status villa-pve-01
              pve2nix status villa-pve-01 --journal /tmp/pve2nix-demo/journal.sqlite --json
            """
        )

        @Argument(help: ArgumentHelp("The node.", valueName: "node"))
        var node: String

        @Option(name: .long, help: ArgumentHelp("The journal file (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func validate() throws { try NodeArgument.validate(node) }

        func run() throws {
            let path = JournalLocation.path(for: node, explicit: journal)
            let report: RunStatusReport
            do {
                report = try RunStatusReport(node: node, journal: try SQLiteRunJournal.openForReading(path: path))
            } catch JournalReadError.missing {
                throw Failure.exit("no journal at \(path): nothing of \(node) has run from this machine\(journal == nil ? " (give --journal if it wrote elsewhere)" : ""). Nothing to show.")
            } catch let error as JournalReadError {
                throw Failure.exit(error.localizedDescription, code: 2)
            }
            if json {
                print(try JSONOutput.encode(report))
                return
            }
            print(TerminalText.safe(StatusTextView(report: report).render()), terminator: "")
        }
    }
}

/// `pve2nix status` as text.
struct StatusTextView {
    let report: RunStatusReport

    func render() -> String {
        var out = ""
        func line(_ s: String) { out += s + "\n" }
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        line("Journal of \(report.node): \(report.journal) (schema \(report.schema), \(report.history.count) entries)")
        guard let run = report.current else {
            line("  no run yet.")
            return out
        }
        let plan = run.planHash == RunJournalError.unknownPlan ? "a plan from before plan hashes" : "plan \(run.planHash)"
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
