import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// Where a node's conversion stands, read from its journal: `pve2nix status`, human and JSON.
public struct RunStatusReport: Sendable, Encodable {
    /// One stage of the current run: how many subjects it touched and where they stand.
    public struct Stage: Sendable, Encodable {
        public var stage: RunStage
        public var subjects: Int
        public var done: Int
        public var failed: Int
        public var lastPhase: RunPhase?
        public var lastDetail: String?
        public var lastAt: Date?
    }
    public struct Entry: Sendable, Encodable {
        public var at: Date
        public var run: Int64
        public var entry: RunEntry
    }

    public var node: String
    public var journal: String
    public var schema: String
    public var runs: [RunInfo]
    /// The newest run: the one an acting command resumes when it is open.
    public var current: RunInfo?
    public var stages: [Stage]
    /// The drain's marker on the node (its notes), as last written.
    public var marker: String?
    /// The drain's newest record of each guest, over every run.
    public var guests: [DrainRecord]
    public var history: [Entry]

    public init(node: String, journal: String, schema: String, runs: [RunInfo], entries all: [(entry: RunEntry, at: Date, run: Int64)]) {
        self.node = node
        self.journal = journal
        self.schema = schema
        self.runs = runs
        let current = runs.last
        self.current = current
        history = all.map { Entry(at: $0.at, run: $0.run, entry: $0.entry) }
        let mine = all.filter { $0.run == current?.id }
        stages = RunStage.allCases.compactMap { stage in
            let of = mine.filter { $0.entry.stage == stage }
            guard let last = of.last else { return nil }
            var latest: [RunSubject: RunPhase] = [:]
            for e in of { latest[e.entry.subject] = e.entry.phase }
            return Stage(stage: stage, subjects: latest.count, done: latest.values.filter { $0 == .done }.count,
                         failed: latest.values.filter { $0 == .failed }.count, lastPhase: last.entry.phase, lastDetail: last.entry.detail, lastAt: last.at)
        }
        // The drain's guests across every run: a run started anew still shows what an earlier one left.
        let drain = all.compactMap { e in DrainRecord(entry: e.entry) }
        marker = drain.last { $0.step == .marker }?.detail
        var latest: [VMID: DrainRecord] = [:]
        // VMID 0 carries records about the node itself (its marker), not a guest.
        for r in drain where r.vmid.rawValue != 0 { latest[r.vmid] = r }
        guests = latest.values.sorted { $0.vmid < $1.vmid }
    }

    /// The drain records of one guest, over every run, oldest first.
    public func drainSteps(of vmid: VMID) -> [DrainRecord] {
        history.compactMap { DrainRecord(entry: $0.entry) }.filter { $0.vmid == vmid }
    }
}
