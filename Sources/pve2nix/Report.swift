import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixViews

extension PVE2Nix {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the plan as one self-contained HTML page: the network before and after, the disk map, the drain timeline and the run.",
            discussion: """
            The page needs no network to view and prints well: the network before and after side by side (what changes highlighted, with the rehearsal of exactly that configuration, check by check, when the journal has one), every disk with what the install destroys and what stays, the drain's moves per peer over time (estimated) with the peers' memory and the blockers, the preflight, the install path with its reasons and how to roll back each stage. With a journal it draws the actual run over the plan. It is drawn from the same plan as 'pve2nix plan', and a plan with errors is shown too.

            The journal is only read (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite when it exists); it is never created. The page is written whole or not at all, and an existing file is replaced only with --force.

            Examples:
              pve2nix report villa-pve-01 --site Examples/villa -o villa-pve-01.html
              pve2nix report villa-pve-01 --plan villa-pve-01.plan.json -o report.html --journal villa.journal.sqlite --force
            """
        )

        @Argument(help: ArgumentHelp("The node to convert.", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @Option(name: [.short, .long], help: ArgumentHelp("The HTML file to write.", valueName: "file"))
        var output: String

        @Option(name: .long, help: ArgumentHelp("The journal to read the run and rehearsals from (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite, if it exists).", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Replace the output file if it exists.")
        var force = false

        @Option(name: .long, help: "The network to show after: vlan-aware-bridge or per-vlan-bridges (as for generate).")
        var networkStrategy: String = NetworkStrategy.vlanAwareBridge.rawValue

        @Option(name: .long, help: "Moves at a time in the estimated timeline (as drain --concurrency).")
        var concurrency: Int = 1

        func validate() throws {
            try NodeArgument.validate(node)
            guard NetworkStrategy(rawValue: networkStrategy) != nil else { throw ValidationError("--network-strategy must be vlan-aware-bridge or per-vlan-bridges") }
            guard (1...16).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 16") }
            guard !output.isEmpty else { throw ValidationError("-o needs a file name") }
        }

        func run() throws {
            let reviewed = try ReviewedPlan.resolve(node: node, options: options, refusingErrors: false)
            let store = try openJournal()
            let now = ISO8601DateFormatter().string(from: Date())
            let document = ReportDocument(
                plan: reviewed.plan, planHash: reviewed.hash, site: reviewed.site, bundle: URL(fileURLWithPath: reviewed.bundle).standardizedFileURL.path,
                plannedAt: reviewed.savedAt ?? "\(now) (planned for this report)", generatedAt: now,
                strategy: NetworkStrategy(rawValue: networkStrategy)!, concurrency: concurrency,
                rehearsalFor: { hash in
                    (try? store?.rehearsal(networkHash: hash)).flatMap { $0 }.map {
                        ReportDocument.RecordedRehearsal(passed: $0.passed, variant: $0.detail, at: ISO8601DateFormatter().string(from: $0.at), report: $0.report)
                    }
                },
                run: try store.flatMap { try run(in: $0, planHash: reviewed.hash) })
            do {
                try ReportFile.write(ReportHTMLView(document: document).render(), to: output, force: force)
            } catch let error as ReportFileError {
                throw Failure.exit(error.localizedDescription, code: 1)
            }
            if options.json {
                struct Written: Encodable { var path: String; var planHash: String; var node: String }
                print(try JSONOutput.encode(Written(path: output, planHash: reviewed.hash, node: node)))
            } else {
                print(TerminalText.safe("Wrote the report of plan \(reviewed.hash) to \(output)"))
            }
        }

        /// The journal, read-only; nil when none is given and the default does not exist.
        private func openJournal() throws -> SQLiteRunJournal? {
            let path = JournalLocation.path(for: node, explicit: journal)
            do {
                return try SQLiteRunJournal.openForReading(path: path)
            } catch JournalReadError.missing {
                guard journal == nil else { throw Failure.exit("no journal at \(path): no report was written. Give --journal the file a run wrote, or leave --journal out.", code: 2) }
                return nil
            } catch let error as JournalReadError {
                throw Failure.exit(error.localizedDescription + " No report was written.", code: 2)
            }
        }

        /// The node's newest run of this plan, else its newest run (the page says it is of another plan).
        private func run(in store: SQLiteRunJournal, planHash: String) throws -> ReportDocument.ReportRun? {
            let runs = try store.runs(of: node)
            guard let chosen = runs.last(where: { $0.planHash == planHash }) ?? runs.last else { return nil }
            let entries = try store.entries(run: chosen.id)
            let origin = entries.first?.at ?? Date()
            let format = ISO8601DateFormatter()
            return ReportDocument.ReportRun(info: chosen, journal: store.path, entries: entries.map {
                .init(entry: $0.entry, seconds: $0.at.timeIntervalSince(origin), at: format.string(from: $0.at))
            })
        }
    }
}
