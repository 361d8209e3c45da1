import PVE2NixCore
import PVE2NixRuntime

/// Everything the HTML report shows, drawn from the same plan value as the text and JSON views,
/// the site's node model, and what the journal recorded (passed in as values: no I/O here).
public struct ReportDocument: Sendable {
    public var plan: ConversionPlan
    public var planHash: String
    /// The capture bundle the plan was made from.
    public var bundle: String
    /// When the plan was made (a saved plan's time, else the report's).
    public var plannedAt: String
    /// When this report was generated.
    public var generatedAt: String
    public var strategy: NetworkStrategy
    public var before: NetworkTopology
    public var after: NetworkTopology
    /// The hash of the generated network units: the rehearsal that proved them is recorded under it.
    public var networkUnitsHash: String
    /// What generating the new network reported (dropped hooks, refusals).
    public var generatorDiagnostics: [Diagnostic]
    public var rehearsal: RecordedRehearsal?
    public var disks: DiskMap
    public var timeline: DrainTimeline
    public var rollback: RollbackGuide
    public var run: ReportRun?

    /// A rehearsal recorded for exactly this network (by units hash).
    public struct RecordedRehearsal: Sendable, Hashable {
        public var passed: Bool
        public var variant: String
        public var at: String
        /// The check-by-check results; nil when the journal kept only pass or fail.
        public var report: RehearsalReport?

        public init(passed: Bool, variant: String, at: String, report: RehearsalReport?) {
            self.passed = passed
            self.variant = variant
            self.at = at
            self.report = report
        }
    }

    /// One run of the node's journal, its entries timed from the run's first entry.
    public struct ReportRun: Sendable, Hashable {
        public struct Entry: Sendable, Hashable {
            public var entry: RunEntry
            public var seconds: Double
            public var at: String
            public init(entry: RunEntry, seconds: Double, at: String) {
                self.entry = entry
                self.seconds = seconds
                self.at = at
            }
        }
        public var info: RunInfo
        public var journal: String
        public var entries: [Entry]

        public init(info: RunInfo, journal: String, entries: [Entry]) {
            self.info = info
            self.journal = journal
            self.entries = entries
        }

        /// Each drained guest's actual move, in seconds from the drain's first entry.
        public var drainSpans: [VMID: (start: Double, end: Double, phase: RunPhase)] {
            let drain = entries.filter { $0.entry.stage == .drain }
            guard let origin = drain.map(\.seconds).min() else { return [:] }
            var spans: [VMID: (start: Double, end: Double, phase: RunPhase)] = [:]
            for e in drain {
                guard case .guest(let vmid) = e.entry.subject else { continue }
                let t = e.seconds - origin
                if let s = spans[vmid] { spans[vmid] = (min(s.start, t), max(s.end, t), e.entry.phase) } else { spans[vmid] = (t, t, e.entry.phase) }
            }
            return spans
        }

        /// The newest phase of each stage in this run.
        public var stagePhases: [RunStage: RunPhase] {
            var out: [RunStage: RunPhase] = [:]
            for e in entries { out[e.entry.stage] = e.entry.phase }
            return out
        }
    }
}

extension ReportDocument {
    /// Builds the report of `plan`: the network before (the capture) and after (the units `generate`
    /// writes with `strategy`), the disk map, the estimated drain timeline and the rollback guide.
    /// `rehearsalFor` looks up the rehearsal recorded for a units hash.
    public init(plan: ConversionPlan, planHash: String, site: Site, bundle: String, plannedAt: String, generatedAt: String,
                strategy: NetworkStrategy = .vlanAwareBridge, concurrency: Int = 1,
                rehearsalFor: (String) -> RecordedRehearsal? = { _ in nil }, run: ReportRun? = nil) {
        self.plan = plan
        self.planHash = planHash
        self.bundle = bundle
        self.plannedAt = plannedAt
        self.generatedAt = generatedAt
        self.strategy = strategy
        self.rollback = .standard
        self.run = run
        let capture = site.node(plan.node)
        var options = GenerateOptions()
        options.strategy = strategy
        // As the rehearsal generates: hooks it cannot carry are listed, not refused, so the units hash the same.
        options.acceptDropping = true
        let host = HostGenerator(site: site, plan: plan, options: options).generate()
        let units = Dictionary(host.files.filter { $0.path.hasPrefix("networkd/") }.map { (String($0.path.dropFirst("networkd/".count)), $0.contents) },
                               uniquingKeysWith: { a, _ in a })
        networkUnitsHash = NetworkUnitsHash.of(units)
        // Only what generating the network said: the rest of generate's findings belong to other sections.
        generatorDiagnostics = host.diagnostics.filter { d in
            guard let file = d.file, !plan.diagnostics.contains(d) else { return false }
            return file.hasSuffix("/interfaces") || file.contains("/interfaces.d/") || file.hasSuffix("ip-link.json") || file.hasSuffix("ip-addr.json")
        }
        if let capture {
            let compared = NetworkTopology.compare(before: .before(capture: capture, plan: plan.network),
                                                   after: .after(units: units, capture: capture, plan: plan, guestPorts: host.guestPorts))
            before = compared.before
            after = compared.after
            disks = DiskMap.build(capture: capture, plan: plan.disk)
        } else {
            // A saved plan whose bundle no longer has the node: the plan's own parts still show.
            before = NetworkTopology(devices: [], guests: [])
            after = NetworkTopology(devices: [], guests: [])
            disks = DiskMap(disks: [], groups: [])
        }
        rehearsal = units.isEmpty ? nil : rehearsalFor(networkUnitsHash)
        let guests = capture?.guests ?? []
        timeline = DrainTimeline.estimate(plan.drain, diskBytes: DrainTimeline.localDiskBytes(of: guests, storages: site.storages),
                                          assumptions: .init(concurrency: concurrency))
    }
}
