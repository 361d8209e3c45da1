import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixViews

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

