import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

/// Where a node's drain journal lives unless --journal says otherwise.
enum JournalLocation {
    static func path(for node: String, explicit: String?) -> String {
        if let explicit { return explicit }
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_STATE_HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/state")
        return base.appendingPathComponent("pve2nix/\(node).journal.sqlite").path
    }
}

/// Writes a record, then (test hook) SIGKILLs this process after the N-th one, to prove resumption.
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

/// How to reach the API: shared by drain and capture.
struct APIOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A cluster node's API, e.g. https://10.1.10.12:8006 (for a drain: a peer, not the node being drained).", valueName: "url"))
    var endpoint: String

    @Option(name: .long, help: ArgumentHelp("The cluster CA (/etc/pve/pve-root-ca.pem) to verify the API's certificate.", valueName: "file"))
    var caFile: String?

    @Option(name: .long, help: ArgumentHelp("Trust the endpoint by its certificate's SHA-256 fingerprint instead of a CA ('pvenode cert info' on that node), e.g. AB:CD:….", valueName: "sha256"))
    var fingerprint: String?

    @Flag(name: .long, help: "DANGEROUS: do not verify the API's TLS certificate.")
    var insecureSkipTLSVerify = false

    @Flag(name: .long, help: "DANGEROUS: allow a plain http:// endpoint (credentials travel in clear).")
    var allowPlainHTTP = false

    func validate() throws {
        let trusts = [caFile != nil, fingerprint != nil, insecureSkipTLSVerify].filter { $0 }.count
        if trusts > 1 { throw ValidationError("give one of --ca-file, --fingerprint and --insecure-skip-tls-verify") }
        if trusts == 0 && !endpoint.hasPrefix("http://") {
            throw ValidationError("give --ca-file with the cluster's pve-root-ca.pem, or --fingerprint with the node certificate's SHA-256 fingerprint (or, knowingly, --insecure-skip-tls-verify)")
        }
        if let fingerprint, CertificateFingerprint(fingerprint) == nil {
            throw ValidationError("--fingerprint \(fingerprint) is not a SHA-256 fingerprint: 64 hex digits, colons allowed (as 'pvenode cert info' prints it)")
        }
    }

    func makeClient(requestTimeout: Double = 30) throws -> (LiveProxmoxClient, ProxmoxCredentials) {
        let credentials = try Self.credentials()
        if insecureSkipTLSVerify { FileHandle.standardError.write(Data("pve2nix: WARNING: TLS verification is OFF: anyone on the path can read the credentials.\n".utf8)) }
        guard let url = URL(string: endpoint) else { throw ValidationError("--endpoint \(endpoint) is not a URL") }
        let client = try LiveProxmoxClient(endpoint: url, credentials: credentials,
                                           trust: caFile.map { .caFile($0) } ?? fingerprint.flatMap(CertificateFingerprint.init).map { .fingerprint($0) } ?? .insecureSkipVerification,
                                           allowPlainHTTP: allowPlainHTTP,
                                           requestTimeout: .milliseconds(Int64(requestTimeout * 1000)))
        return (client, credentials)
    }

    /// Secrets from the environment or files only: never from argv, where `ps` shows them.
    static func credentials() throws -> ProxmoxCredentials {
        let env = ProcessInfo.processInfo.environment
        func secret(_ name: String) throws -> String? {
            if let v = env[name], !v.isEmpty { return v }
            if let file = env[name + "_FILE"] {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(name)_FILE (\(file))") }
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return nil
        }
        if let id = env["PVE2NIX_TOKEN_ID"], let s = try secret("PVE2NIX_TOKEN_SECRET") { return .token(id: id, secret: s) }
        if let user = env["PVE2NIX_USER"], let p = try secret("PVE2NIX_PASSWORD") { return .password(username: user, password: p) }
        throw ValidationError("no credentials: set PVE2NIX_TOKEN_ID and PVE2NIX_TOKEN_SECRET(_FILE), or PVE2NIX_USER and PVE2NIX_PASSWORD(_FILE)")
    }
}

extension PVE2Nix {
    struct Capture: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Capture the API parts of a bundle from a live cluster (or the simulator).",
            discussion: """
            Writes bundle.toml, cluster/status.json, resources.json, ha-resources.json (and HA rules or groups), storage.cfg, corosync.conf, nodes/<node>/status.json and every guest's current config, in the capture bundle format 'plan' reads. Add the SSH parts of the node to convert (interfaces, ip-link.json, ip-addr.json, lsblk.json, disk-by-id.txt, meminfo, firmware, hostid) by hand for now. A file you changed since pve2nix wrote it is never overwritten. Credentials as for drain.

            Example:
              PVE2NIX_TOKEN_ID='pve2nix@pve!ro' PVE2NIX_TOKEN_SECRET_FILE=~/.pve2nix-token \\
                pve2nix capture --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --out villa-bundle
            """
        )

        @OptionGroup var api: APIOptions

        @Option(name: .long, help: ArgumentHelp("The bundle directory to write.", valueName: "dir"))
        var out: String

        func run() async throws {
            let (client, credentials) = try api.makeClient()
            let stamp = ISO8601DateFormatter().string(from: Date())
            let result: (files: [String: String], notes: [String])
            do {
                result = try await SiteCapturer(api: client).capture(capturedAt: stamp, endpoint: api.endpoint)
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                FileHandle.standardError.write(Data("pve2nix: capture failed (\(credentials)): \(error)\n".utf8))
                throw ExitCode(1)
            }
            let writer = GeneratedTreeWriter(directory: URL(fileURLWithPath: out))
            let files = result.files.keys.sorted().map { GeneratedFile(path: $0, contents: result.files[$0]!) }
            let conflicts = writer.conflicts(files)
            guard conflicts.isEmpty else {
                for c in conflicts { print(c.diff) }
                FileHandle.standardError.write(Data("pve2nix: nothing written: \(conflicts.map(\.path).joined(separator: ", ")) changed since pve2nix wrote them.\n".utf8))
                throw ExitCode(1)
            }
            try writer.write(files)
            print("Captured \(files.count) files into \(out)")
            for note in result.notes { print("  note: \(note)") }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every guest off the node through the Proxmox VE API, journaled and resumable.",
            discussion: """
            Carries out the plan's drain, one guest at a time (or --concurrency N): right before each action it checks quorum, the target and where the guest really is; it waits on each task by its UPID with a bound, and for HA-managed guests until HA shows them on the target; then it runs the guest's health probes from site.toml. Guests that cannot migrate (local disks with snapshots) are shut down, backed up to the shared backup storage, restored on the target under a free VMID, checked, and only then removed from the node. Every step is written to a SQLite journal before and after it acts; run the same command again after any crash or error and it resumes, never repeating a request that may have gone out. Only one drain of a node runs at a time. At the end the node is read again: anything still on it is listed, and the exit status is 1.

            Credentials come from the environment, never the command line:
              PVE2NIX_TOKEN_ID=user@realm!name and PVE2NIX_TOKEN_SECRET (or PVE2NIX_TOKEN_SECRET_FILE), or
              PVE2NIX_USER and PVE2NIX_PASSWORD (or PVE2NIX_PASSWORD_FILE) for a ticket.

            Examples:
              PVE2NIX_TOKEN_ID='pve2nix@pve!drain' PVE2NIX_TOKEN_SECRET_FILE=~/.pve2nix-token \\
                pve2nix drain villa-pve-01 --site Examples/villa --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem
              pve2nix status villa-pve-01
              pve2nix drain villa-pve-01 ... --fingerprint 'AB:CD:…' --concurrency 2 --json > drain.json
              scripts/demo-drain     # against the simulator, with health checks
            """
        )

        @Argument(help: ArgumentHelp("The node to empty.", valueName: "node"))
        var node: String

        @OptionGroup var options: SiteOptions

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

        @Option(name: .long, help: "Moves in flight at once (each migration shares the network with the others).")
        var concurrency: Int = 1

        @Flag(name: .long, help: "Skip the health probes from site.toml after each move.")
        var noHealthChecks = false

        func validate() throws {
            guard pollInterval > 0, taskTimeout >= pollInterval, haTimeout >= pollInterval else {
                throw ValidationError("--poll-interval must be positive and below --task-timeout and --ha-timeout")
            }
            guard requestTimeout > 0 else { throw ValidationError("--request-timeout must be positive") }
            guard (1...16).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 16") }
        }

        func run() async throws {
            let site = try BundleReading.load(options.site)
            let plan = Planner(site: site).plan(node: NodeName(node))
            guard site.node(NodeName(node)) != nil else { throw ValidationError("the bundle has no node '\(node)'") }
            let (client, credentials) = try api.makeClient(requestTimeout: requestTimeout)
            let journalPath = JournalLocation.path(for: node, explicit: journal)
            let lock = try DrainLock(journalPath: journalPath)
            let store = try SQLiteDrainJournal(path: journalPath)
            let crashAfter = ProcessInfo.processInfo.environment["PVE2NIX_TEST_CRASH_AFTER_RECORDS"].flatMap(Int.init)
            var executor = DrainExecutor(api: client, journal: CrashHookJournal(store, crashAfter: crashAfter), clock: ContinuousClock())
            executor.limits.pollInterval = .milliseconds(Int(pollInterval * 1000))
            executor.limits.taskTimeout = .milliseconds(Int(taskTimeout * 1000))
            executor.limits.haTimeout = .milliseconds(Int(haTimeout * 1000))
            executor.limits.concurrency = concurrency
            if noHealthChecks { executor.probeCount = { _ in nil } } else { executor.probe(site.intent.probes) }
            let total = plan.drain.moves.count
            let counter = ProgressCounter()
            // Progress goes out line by line, unbuffered, even through a pipe; with --json it goes to
            // standard error and standard output carries only the report.
            let progress = options.json ? FileHandle.standardError : FileHandle.standardOutput
            @Sendable func say(_ line: String) { progress.write(Data((line + "\n").utf8)) }
            executor.progress = { event in
                switch event {
                case .starting(_, let what): say("[\(counter.next())/\(total)] \(what)")
                case .requested(_, let upid): say("      requested \(upid)")
                case .waiting(_, let what): say("      \(what)")
                case .moved(let id, let target): say("      \(id) is on \(target)")
                case .renumbered(let id, let copy): say("      the original \(id) is removed; the guest lives on as \(copy)")
                case .checked(_, let what): say("      \(what)")
                case .skipped(let id, let why): say("[\(counter.next())/\(total)] \(id): \(why)")
                case .left(let id, let why): say("[\(counter.next())/\(total)] \(id) stays: \(why)")
                case .attention(let id, let what): FileHandle.standardError.write(Data("pve2nix: ATTENTION \(id): \(what)\n".utf8))
                }
            }
            say("Draining \(node) through \(api.endpoint) (\(credentials)); journal \(journalPath)")
            var report = DrainReport(node: node, journal: journalPath)
            do {
                let outcome = try await executor.run(plan.drain, node: NodeName(node))
                try await client.shutdown()
                _ = lock
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

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a node's drain journal: where every guest stands.",
            discussion: "Example:\n  pve2nix status villa-pve-01"
        )

        @Argument(help: ArgumentHelp("The node.", valueName: "node"))
        var node: String

        @Option(name: .long, help: ArgumentHelp("The journal file.", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() throws {
            let path = JournalLocation.path(for: node, explicit: journal)
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no journal at \(path): no drain of \(node) has run (or give --journal)") }
            let store = try SQLiteDrainJournal(path: path)
            let history = try store.history()
            var latest: [VMID: DrainRecord] = [:]
            for h in history { latest[h.record.vmid] = h.record }
            if json {
                struct Entry: Encodable { var at: Date; var record: DrainRecord }
                struct Report: Encodable { var node: String; var journal: String; var schema: String; var guests: [DrainRecord]; var history: [Entry] }
                print(try JSONOutput.encode(Report(node: node, journal: path, schema: try store.schemaVersions().last ?? "",
                                                   guests: latest.values.sorted { $0.vmid < $1.vmid }, history: history.map { Entry(at: $0.at, record: $0.record) })))
                return
            }
            print("Drain journal of \(node): \(path) (schema \(try store.schemaVersions().last ?? "?"), \(history.count) records)")
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

/// What `pve2nix drain --json` prints.
struct DrainReport: Encodable {
    struct Left: Encodable { var vmid: VMID; var why: String }
    struct Health: Encodable { var vmid: VMID; var failures: [String] }
    struct Renumbered: Encodable { var vmid: VMID; var copy: VMID }
    var node: String
    var journal: String
    var moved: [VMID] = []
    var alreadyDone: [VMID] = []
    var left: [Left] = []
    var healthFailures: [Health] = []
    var renumbered: [Renumbered] = []
    /// The node carries no guests: read from the cluster after the moves.
    var empty = false
    var error: String? = nil

    init(node: String, journal: String) {
        self.node = node
        self.journal = journal
    }

    mutating func record(_ o: DrainOutcome) {
        moved = o.moved.sorted()
        alreadyDone = o.alreadyDone.sorted()
        left = o.left.keys.sorted().map { Left(vmid: $0, why: o.left[$0]!) }
        healthFailures = o.healthFailures.keys.sorted().map { Health(vmid: $0, failures: o.healthFailures[$0]!) }
        renumbered = o.renumbered.keys.sorted().map { Renumbered(vmid: $0, copy: o.renumbered[$0]!) }
        empty = o.left.isEmpty
    }
}

final class ProgressCounter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func next() -> Int { lock.withLock { n += 1; return n } }
}
