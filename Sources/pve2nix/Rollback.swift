import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo the run from where it stands: leave the installer, move the guests back; after the wipe, the runbook.",
            discussion: """
            Reads the journal to see how far the run got:
              drained    the node runs Proxmox; pve2nix migrates the guests back, and brings a guest the drain
                         restored under another VMID back under its own (the copy backed up, restored on the
                         node when its old VMID is free, checked, only then the copy removed); guests whose
                         disks went to another storage, and HA-managed ones, are listed with the commands
              installer  the disks are untouched: pve2nix reboots the node out of the installer, waits for
                         Proxmox with the pinned host key, then moves the guests back
              wiped      Proxmox is gone: pve2nix prints the reinstall-and-rejoin runbook with the guests to
                         bring back; the guests keep running on the peers meanwhile
            Every step it does is journaled (stage rollback); run again after a failure to go on.

            Exit status: 0 done (or only manual steps left, printed); 1 a step failed; 2 bad input.

            Examples:
              pve2nix rollback villa-pve-01 --plan villa-pve-01.plan.json --dry-run
              pve2nix rollback villa-pve-01 --plan villa-pve-01.plan.json --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem
            """
        )

        @Argument(help: ArgumentHelp("The node whose run to undo.", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @Option(name: .long, help: ArgumentHelp("The Proxmox VE API of a peer (https://HOST:8006); not needed with --dry-run.", valueName: "url"))
        var endpoint: String?

        @Option(name: .long, help: ArgumentHelp("The cluster's CA certificate (PEM).", valueName: "file"))
        var caFile: String?

        @Option(name: .long, help: ArgumentHelp("The API certificate's SHA-256 fingerprint instead of --ca-file.", valueName: "sha256"))
        var fingerprint: String?

        @Option(name: .long, help: ArgumentHelp("How to reach the node: [USER@]HOST[:PORT] (default: root at the plan's management address).", valueName: "target"))
        var ssh: String?

        @OptionGroup var sshOptions: SSHOptions

        @Option(name: .long, help: ArgumentHelp("The journal (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Show where the run stands and every step of the rollback; change nothing.")
        var dryRun = false

        func validate() throws {
            try NodeArgument.validate(node)
            if let ssh { do { _ = try SSHTarget(parsing: ssh) } catch { throw ValidationError("--ssh \(ssh): \(error.localizedDescription)") } }
            if !dryRun && endpoint == nil { throw ValidationError("give --endpoint (the API of a peer), or --dry-run to only see the steps") }
        }

        func run() async throws {
            let reviewed = try ReviewedPlan.resolve(node: node, options: options)
            let journalPath = JournalLocation.path(for: node, explicit: journal)
            guard FileManager.default.fileExists(atPath: journalPath) else {
                throw Failure.exit("no journal at \(journalPath): no run of \(node) was recorded there, so there is nothing to undo (give --journal if it is elsewhere).", code: 2)
            }
            let entries: [RunEntry]
            do {
                let store = try SQLiteRunJournal.openForReading(path: journalPath)
                let run = try store.runs(of: node).last { $0.planHash == reviewed.hash }
                entries = try run.map { r in try store.entries(run: r.id).map(\.entry) } ?? []
            } catch { throw Failure.exit("cannot read the journal \(journalPath): \(error.localizedDescription)", code: 2) }
            let assessment = RollbackAssessment.assess(plan: reviewed.plan, entries: entries)
            show(assessment)
            if dryRun || assessment.position == .untouched || assessment.position == .wiped { return }

            let target = try NodeTarget.resolve(ssh, plan: reviewed.plan)
            let pins = sshOptions.pins(site: reviewed.site.cluster?.name ?? "default")
            if assessment.position == .installer, (try? pins.fingerprint(for: target)) ?? nil == nil {
                throw Failure.exit("no host key is pinned for \(target) in \(pins.path): pve2nix reaches the installer only with the pinned key.", code: 2)
            }
            let api: APIOptions
            do {
                api = try APIOptions.parse(["--endpoint", endpoint ?? ""] + (caFile.map { ["--ca-file", $0] } ?? []) + (fingerprint.map { ["--fingerprint", $0] } ?? []))
            } catch { throw Failure.exit(APIOptions.message(for: error), code: 2) }
            let (client, _) = try api.makeClient()
            let acting: ActingRun
            do { acting = try ActingRun.start(node: node, journalPath: journalPath, planHash: reviewed.hash, newRun: false) }
            catch { try? await client.shutdown(); throw Failure.exit(error.localizedDescription) }
            defer { withExtendedLifetime(acting) {} }
            let runner = SubprocessRunner()
            let sshOptions = self.sshOptions
            var rollback = RollbackRun(assessment: assessment, target: target, connect: { t in try sshOptions.shell(t, pins: pins, runner: runner) },
                                       tasks: ProxmoxTasks(api: client, clock: ContinuousClock()), log: SQLiteRunLog(store: acting.journal, run: acting.run.id))
            rollback.progress = { print(TerminalText.safe("• " + $0)) }
            // After path B: the Proxmox key the boot image's pin replaced, from the capture.
            rollback.pins = pins
            let captured = URL(fileURLWithPath: reviewed.bundle).appendingPathComponent("nodes/\(node)/ssh_host_ed25519_key.pub").path
            rollback.nodeKey = (try? String(contentsOfFile: captured, encoding: .utf8)).flatMap { try? SSHPublicKey(parsing: $0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            let left: [VMID: String]
            do { left = try await rollback.run() } catch {
                try? await client.shutdown()
                throw Failure.exit(error.localizedDescription)
            }
            try? await client.shutdown()
            for (id, why) in left.sorted(by: { $0.key < $1.key }) { print(TerminalText.safe("✗ \(id): \(why)")) }
            let manual = assessment.steps.filter { !$0.automated }
            if !manual.isEmpty { print("Left for you (\(manual.count)): see the steps marked 'you' above.") }
            if !left.isEmpty { throw ExitCode(1) }
        }

        func show(_ a: RollbackAssessment) {
            if options.json {
                Swift.print((try? JSONOutput.encode(a)) ?? "{}")
                return
            }
            Swift.print(TerminalText.safe("Rollback of \(a.node): \(a.position.rawValue). \(a.summary)"))
            for (i, s) in a.steps.enumerated() {
                Swift.print(TerminalText.safe("\(i + 1). [\(s.automated ? "pve2nix" : "you")] \(s.what)"))
                if let c = s.command { Swift.print(TerminalText.safe("     $ \(c)")) }
            }
        }
    }
}
