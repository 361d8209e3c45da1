import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixViews

/// Where a node's drain journal lives unless --journal says otherwise.
enum JournalLocation {
    static func path(for node: String, explicit: String?) -> String {
        explicit ?? StateDirectory().journal(for: node)
    }
}

/// Node names as Proxmox allows them (host names): they become file names under the state directory.
enum NodeArgument {
    static func validate(_ node: String) throws {
        let allowed = node.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
        guard !node.isEmpty, node.count <= 63, allowed, !node.hasPrefix("."), !node.hasPrefix("-") else {
            throw ValidationError("'\(node)' is not a node name: Proxmox node names are host names (letters, digits, '-' and '.')")
        }
    }
}

#if DEBUG
/// Writes a record, then (test hook, debug builds only) SIGKILLs this process after the N-th one,
/// to prove resumption. Release builds, the ones that ship, have no such hook.
final class CrashHookJournal: DrainJournal, @unchecked Sendable {
    let inner: SQLiteDrainJournal
    let crashAfter: Int?
    private var written = 0
    private let lock = NSLock()
    init(_ inner: SQLiteDrainJournal, crashAfter: Int?) { self.inner = inner; self.crashAfter = crashAfter }
    func records() async throws -> [DrainRecord] { try await inner.records() }
    func append(_ record: DrainRecord) async throws {
        try await inner.append(record)
        let n = lock.withLock { written += 1; return written }
        if let crashAfter, n == crashAfter { kill(getpid(), SIGKILL) }
    }
}
#endif

extension PVE2Nix {
    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every guest off the node through the Proxmox VE API, journaled and resumable.",
            discussion: """
            Carries out the plan's drain as its schedule says (`plan` shows it): moves start in the schedule's order, each once the moves it was planned to follow have ended, HA-managed moves alone; --concurrency N caps the moves in flight below what the schedule groups (a plan saved without a schedule runs in plan order, one at a time or N). Right before each action it checks quorum, the target and where the guest really is; it waits on each task by its UPID with a bound, and for HA-managed guests until HA shows them on the target; then it runs the guest's health probes from site.toml. Guests that cannot migrate (local disks with snapshots) are shut down, backed up to the shared backup storage, restored on the target under a free VMID, checked, and only then removed from the node. Every step is written to a SQLite journal before and after it acts; run the same command again after any crash or error and it resumes, never asking twice for a migration, restore or removal. Only one drain of a node runs at a time. At the end the node is read again: anything still on it is listed, and the exit status is 1.

            Credentials come from the environment, never the command line:
              PVE2NIX_TOKEN_ID=user@realm!name and PVE2NIX_TOKEN_SECRET (or PVE2NIX_TOKEN_SECRET_FILE), or
              PVE2NIX_USER and PVE2NIX_PASSWORD (or PVE2NIX_PASSWORD_FILE) for a ticket.

            Examples:
              PVE2NIX_TOKEN_ID='pve2nix@pve!drain' PVE2NIX_TOKEN_SECRET_FILE=~/.pve2nix-token \\
                pve2nix drain villa-pve-01 --site Examples/villa --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem
              pve2nix plan villa-pve-01 --site villa-bundle --out villa-pve-01.plan.json   # review it, then:
              pve2nix drain villa-pve-01 --plan villa-pve-01.plan.json --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem
              pve2nix status villa-pve-01
              pve2nix drain villa-pve-01 ... --fingerprint 'AB:CD:…' --concurrency 2 --json > drain.json
              scripts/demo-drain     # against the simulator, with health checks
            """
        )

        @Argument(help: ArgumentHelp("The node to empty.", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @OptionGroup var api: APIOptions

        @Option(name: .long, help: ArgumentHelp("The journal file (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        @Option(name: .long, help: "Seconds between polls of a task or of HA.")
        var pollInterval: Double = 2

        @Option(name: .long, help: "Give up waiting for one task (a migration, shutdown, backup, restore or removal) after this many seconds.")
        var taskTimeout: Double = 3600

        @Option(name: .long, help: "Give up waiting for HA to show a guest on its target after this many seconds.")
        var haTimeout: Double = 600

        @Option(name: .long, help: "Give up on one API request after this many seconds without an answer (reads are retried).")
        var requestTimeout: Double = 30

        @Option(name: .long, help: "At most this many moves in flight at once (default: as the plan's schedule groups them; one at a time for a plan without a schedule).")
        var concurrency: Int?

        @Flag(name: .long, help: "Skip the health probes from site.toml after each move.")
        var noHealthChecks = false

        @Flag(name: .long, help: "Start a new run on purpose although the node has an unfinished run of another plan (that run is kept, marked abandoned).")
        var newRun = false

        func validate() throws {
            guard pollInterval >= 0.001, taskTimeout >= pollInterval, haTimeout >= pollInterval else {
                throw ValidationError("--poll-interval must be at least 0.001 seconds and below --task-timeout and --ha-timeout")
            }
            guard requestTimeout > 0 else { throw ValidationError("--request-timeout must be positive") }
            if let concurrency, !(1...16).contains(concurrency) { throw ValidationError("--concurrency must be between 1 and 16") }
            guard pollInterval.isFinite, taskTimeout.isFinite, haTimeout.isFinite, requestTimeout.isFinite,
                  taskTimeout <= 7 * 86_400, haTimeout <= 7 * 86_400, requestTimeout <= 86_400 else {
                throw ValidationError("timeouts must be finite and at most a week (--request-timeout at most a day)")
            }
            try NodeArgument.validate(node)
        }

        func run() async throws {
            let reviewed = try ReviewedPlan.resolve(node: node, options: options)
            let (site, plan) = (reviewed.site, reviewed.plan)
            guard site.node(NodeName(node)) != nil else {
                throw Failure.exit("the bundle \(reviewed.bundle) has no files of \(node) (nodes/\(node)/ is missing): capture it again before draining.", code: 2)
            }
            let (client, credentials) = try api.makeClient(requestTimeout: requestTimeout)
            let journalPath = JournalLocation.path(for: node, explicit: journal)
            let acting: ActingRun
            do {
                acting = try ActingRun.start(node: node, journalPath: journalPath, planHash: reviewed.hash, newRun: newRun)
            } catch {
                try? await client.shutdown()
                throw Failure.exit(error.localizedDescription)
            }
            let store = SQLiteDrainJournal(store: acting.journal, run: acting.run.id)
            #if DEBUG
            let crashAfter = ProcessInfo.processInfo.environment["PVE2NIX_TEST_CRASH_AFTER_RECORDS"].flatMap(Int.init)
            let journaled: any DrainJournal = crashAfter == nil ? store : CrashHookJournal(store, crashAfter: crashAfter)
            #else
            let journaled: any DrainJournal = store
            #endif
            var executor = DrainExecutor(api: client, journal: journaled, clock: ContinuousClock())
            executor.limits.pollInterval = .milliseconds(Int(pollInterval * 1000))
            executor.limits.taskTimeout = .milliseconds(Int(taskTimeout * 1000))
            executor.limits.haTimeout = .milliseconds(Int(haTimeout * 1000))
            executor.limits.concurrency = concurrency
            if noHealthChecks { executor.probeCount = { _ in nil } } else { executor.probe(site.intent.probes) }
            // The node's notes say a drain is under way, so that a pve2nix elsewhere stops.
            let user = ProcessInfo.processInfo.environment["USER"] ?? "root"
            executor.marker = DrainMarker(owner: "\(user)@\(ProcessInfo.processInfo.hostName) (journal \(URL(fileURLWithPath: journalPath).standardizedFileURL.path))",
                                          since: ISO8601DateFormatter().string(from: Date()))
            let total = plan.drain.moves.count
            let counter = ProgressCounter()
            // Progress goes out line by line, unbuffered, even through a pipe; with --json it goes to
            // standard error and standard output carries only the report.
            let progress = options.json ? FileHandle.standardError : FileHandle.standardOutput
            @Sendable func say(_ line: String) { progress.write(Data((line + "\n").utf8)) }
            executor.progress = { event in
                if let (counted, text) = DrainEventText.line(for: event, node: node) {
                    if case .attention = event { FileHandle.standardError.write(Data("pve2nix: \(text)\n".utf8)); return }
                    say(counted ? "[\(counter.next())/\(total)] \(text)" : "      \(text)")
                }
            }
            say("Draining \(node) with plan \(reviewed.hash) through \(api.endpoint) (\(credentials)); journal \(journalPath) (run \(store.run))")
            var report = DrainReport(node: node, journal: journalPath)
            do {
                let outcome = try await executor.run(plan.drain, node: NodeName(node))
                try await client.shutdown()
                withExtendedLifetime(acting) {}
                report.record(outcome)
                if options.json {
                    print(try JSONOutput.encode(report))
                } else {
                    say("Moved \(outcome.moved.count), already done \(outcome.alreadyDone.count), left \(outcome.left.count).")
                    for r in report.renumbered { say("  renumbered: \(r.vmid) now runs as \(r.copy) (backup and restore; VMIDs are unique cluster-wide)") }
                    if report.empty { say("\(node) carries no guests any more.") }
                    for l in report.left { say("  left: \(l.vmid): \(l.why)") }
                    for h in report.healthFailures { say("  health: \(h.vmid): \(h.failures.joined(separator: "; "))") }
                }
                if !report.empty || !report.healthFailures.isEmpty { throw ExitCode(1) }
            } catch let error as DrainError {
                try? await client.shutdown()
                try stopped("\(error)", report)
            } catch let error as ProxmoxClientError {
                try? await client.shutdown()
                try stopped("\(error.localizedDescription) The journal says where things stand ('pve2nix status \(node)'); run the drain again to resume.", report)
            } catch let error as ProxmoxAPIError {
                try? await client.shutdown()
                try stopped("\(error). The journal says where things stand ('pve2nix status \(node)'); run the drain again to resume.", report)
            }
        }

        private func stopped(_ why: String, _ report: DrainReport) throws -> Never {
            FileHandle.standardError.write(Data("pve2nix: drain stopped: \(why)\n".utf8))
            if options.json {
                var report = report
                report.error = why
                report.empty = false
                if let text = try? JSONOutput.encode(report) { print(text) }
            }
            throw ExitCode(1)
        }
    }
}


final class ProgressCounter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func next() -> Int { lock.withLock { n += 1; return n } }
}
