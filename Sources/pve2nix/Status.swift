import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a node's drain journal: where every guest stands.",
            discussion: """
            Only reads the journal; it never creates or changes one. Exit status: 0 shown; 1 no journal; 2 the file is not a journal.

            Examples:
              pve2nix status villa-pve-01
              pve2nix status villa-pve-01 --journal /tmp/pve2nix-demo/journal.sqlite --json
            """
        )

        @Argument(help: ArgumentHelp("The node.", valueName: "node"))
        var node: String

        @Option(name: .long, help: ArgumentHelp("The journal file.", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func validate() throws { try NodeArgument.validate(node) }

        func run() throws {
            let path = JournalLocation.path(for: node, explicit: journal)
            let store: SQLiteDrainJournal
            do {
                store = try SQLiteDrainJournal.openForReading(path: path)
            } catch JournalReadError.missing {
                throw Failure.exit("no journal at \(path): no drain of \(node) has run from this machine\(journal == nil ? " (give --journal if it wrote elsewhere)" : ""). Nothing to show.")
            } catch let error as JournalReadError {
                throw Failure.exit(error.localizedDescription, code: 2)
            }
            let history = try store.history()
            var latest: [VMID: DrainRecord] = [:]
            // VMID 0 carries records about the node itself (its marker), not a guest.
            for h in history where h.record.vmid.rawValue != 0 { latest[h.record.vmid] = h.record }
            let marker = history.last { $0.record.step == .marker }?.record.detail
            if json {
                struct Entry: Encodable { var at: Date; var record: DrainRecord }
                struct Report: Encodable { var node: String; var journal: String; var schema: String; var marker: String?; var guests: [DrainRecord]; var history: [Entry] }
                print(try JSONOutput.encode(Report(node: node, journal: path, schema: try store.schemaVersions().last ?? "", marker: marker,
                                                   guests: latest.values.sorted { $0.vmid < $1.vmid }, history: history.map { Entry(at: $0.at, record: $0.record) })))
                return
            }
            print("Drain journal of \(node): \(path) (schema \(try store.schemaVersions().last ?? "?"), \(history.count) records)")
            if let marker { print("  node notes: \(marker)") }
            func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
            print("  \(pad("VMID", 6)) \(pad("STEP", 9)) \(pad("PHASE", 10)) \(pad("TARGET", 14)) DETAIL")
            for r in latest.values.sorted(by: { $0.vmid < $1.vmid }) {
                print("  \(pad(String(r.vmid.rawValue), 6)) \(pad(r.step.rawValue, 9)) \(pad(r.phase.rawValue, 10)) \(pad(r.target?.rawValue ?? "-", 14)) \(r.detail)")
                // A backup-restore between its shutdown and its end: say what that means for the guest.
                let steps = history.map(\.record).filter { $0.vmid == r.vmid }
                if r.phase != .done, steps.contains(where: { $0.step == .shutdown }) {
                    let copy = steps.last { $0.copy != nil && $0.step == .restore && $0.phase == .verified }?.copy
                    let archive = steps.last { $0.archive != nil }?.archive
                    print("         the original is stopped on the node\(archive.map { "; archive \($0)" } ?? "")\(copy.map { "; its copy \($0) runs on \(r.target?.rawValue ?? "the target")" } ?? ""). Run the drain again to finish.")
                }
            }
        }
    }
}
