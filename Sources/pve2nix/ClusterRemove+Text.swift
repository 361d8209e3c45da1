import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// How `cluster-remove` says what it plans and does, line by line.
enum ClusterRemoveText {
    static func plan(_ plan: ClusterRemovalPlan) -> [String] {
        var lines = ["Plan: \(plan.remainingNodes.count) node(s) remain (\(plan.remainingNodes.map(\.rawValue).joined(separator: ", "))); votes online after: \(plan.onlineVotesAfter) of \(plan.expectedVotesAfter)."]
        lines += plan.steps.enumerated().map { "  \($0.offset + 1). \($0.element.text(for: plan.node))" }
        lines += plan.notes.map { "  note: \($0)" }
        lines += plan.blockers.map { "  refused: \($0)" }
        return lines
    }

    static func line(_ event: ClusterRemovalEvent, node: String, dryRun: Bool) -> String {
        let would = dryRun ? "would " : ""
        switch event {
        case .peer(let node, let target): return "Acting from peer \(node) over SSH (\(target))."
        case .starting(let step): return "→ \(step.text(for: NodeName(node)))"
        case .call(let text): return "    \(would)send \(text)"
        case .command(let text): return "    \(would)run on the peer: \(text)"
        case .waiting(let text): return "    \(dryRun ? "would " : "")\(text)"
        case .removedLine(let file, let line): return "    \(dryRun ? "would remove" : "removing") from \(file): \(line)"
        case .done(_, let detail): return "    ✓ \(detail)"
        case .skipped(_, let detail): return "    – \(detail)"
        }
    }

    static func summary(_ outcome: ClusterRemovalOutcome, node: String) -> String {
        if outcome.dryRun { return "Dry run: nothing was changed and no journal entry was written." }
        return "\(node) is out of the cluster: \(outcome.done.count) step(s) done, \(outcome.alreadyDone.count) already done. Check with 'pvecm nodes' on a peer."
    }
}

/// The `--json` report of `cluster-remove`.
struct ClusterRemoveReport: Encodable {
    var node: String
    var planHash: String
    var journal: String
    var dryRun: Bool
    var plan: ClusterRemovalPlan?
    var peer: String?
    var done: [String] = []
    var alreadyDone: [String] = []
    var removedLines: [String: [String]] = [:]
    var removed = false
    var error: String?

    init(node: String, planHash: String, journal: String, dryRun: Bool) {
        self.node = node
        self.planHash = planHash
        self.journal = journal
        self.dryRun = dryRun
    }

    mutating func record(_ outcome: ClusterRemovalOutcome) {
        plan = outcome.plan
        peer = outcome.peer?.rawValue
        done = outcome.done
        alreadyDone = outcome.alreadyDone
        removedLines = outcome.removedLines
        removed = !outcome.dryRun
    }
}
