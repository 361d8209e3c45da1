/// The outcome of a rehearsal: every expected check with what happened.
public struct RehearsalReport: Sendable, Hashable, Codable {
    public struct Result: Sendable, Hashable, Codable {
        public enum Status: String, Sendable, Hashable, Codable { case pass = "PASS", fail = "FAIL", missing = "MISSING", notBlamed = "BEFORE-FAILS" }
        public var phase: RehearsalCheck.Phase
        public var id: String
        public var description: String
        public var status: Status
        public var detail: String
    }

    public var node: NodeName
    public var variant: String
    public var results: [Result]
    public var notes: [String]
    public var completed: Bool
    /// Where the run's time went; nil in reports recorded before the guest marked its steps.
    public var timeline: RehearsalTimeline?

    /// Failures of the generated network (after and compare); a failure the Proxmox network shows
    /// too is reported but not blamed on the conversion.
    public var failed: [Result] { results.filter { $0.phase != .before && ($0.status == .fail || $0.status == .missing) } }
    public var passed: Bool { completed && failed.isEmpty }

    /// Reads the guest's result lines (`CHECK|phase|id|PASS|detail`, `MAC|phase|ip|mac`, `NOTE|…`,
    /// `TIME|step|seconds`).
    public static func read(_ text: String, scenario: RehearsalScenario, variant: String) -> RehearsalReport {
        var seen: [String: (status: String, detail: String)] = [:]
        var macs: [String: String] = [:]
        var notes: [String] = []
        var completed = false
        var marks: [RehearsalTimeline.Mark] = []
        for raw in text.split(separator: "\n") {
            let parts = raw.split(separator: "|", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
            switch parts.first {
            case "CHECK" where parts.count == 5: seen["\(parts[1])/\(parts[2])"] = (parts[3], parts[4])
            case "MAC" where parts.count >= 4: macs["\(parts[1])/\(parts[2])"] = parts[3]
            case "NOTE": notes.append(parts.dropFirst().joined(separator: " "))
            case "TIME" where parts.count >= 3:
                if let seconds = Double(parts[2]) { marks.append(.init(step: parts[1], seconds: seconds)) }
            case "END": completed = true
            default: break
            }
        }
        var results: [Result] = []
        for check in scenario.checks {
            switch check.phase {
            case .before, .after:
                if let r = seen["\(check.phase.rawValue)/\(check.id)"] {
                    results.append(Result(phase: check.phase, id: check.id, description: check.description, status: r.status == "PASS" ? .pass : .fail, detail: r.detail))
                } else {
                    results.append(Result(phase: check.phase, id: check.id, description: check.description, status: .missing, detail: "no result: the run ended before this check"))
                }
            case .compare:
                let ip = String(check.id.dropFirst("mac-".count))
                let expected = scenario.expectedMACs[ip] ?? "?"
                let before = macs["before/\(ip)"] ?? "none", after = macs["after/\(ip)"] ?? "none"
                let ok = after == expected && (before == expected || before == "none")
                results.append(Result(phase: .compare, id: check.id, description: check.description, status: ok ? .pass : .fail,
                                      detail: "capture \(expected), before \(before), after \(after)"))
            }
        }
        // A check the Proxmox network fails in the lab too is the lab's or the capture's problem.
        for i in results.indices where results[i].phase == .after && results[i].status == .fail {
            if results.contains(where: { $0.phase == .before && $0.id == results[i].id && $0.status == .fail }) {
                results[i].status = .notBlamed
                results[i].detail += " (the Proxmox network fails this check in the lab too: not caused by the conversion)"
            }
        }
        return RehearsalReport(node: scenario.node, variant: variant, results: results, notes: notes, completed: completed,
                               timeline: marks.isEmpty ? nil : RehearsalTimeline(marks: marks))
    }

    public func rendered() -> String {
        var out = "Rehearsal of \(node) (\(variant)): \(passed ? "PASS" : "FAIL")\n"
        for r in results {
            out += "  \(r.status.rawValue.padding(13)) \(r.phase.rawValue.padding(7)) \(r.description)\n"
            if r.status != .pass { out += "                        \(r.detail)\n" }
        }
        for n in notes { out += "  note: \(n)\n" }
        if !completed { out += "  the guest did not finish: see the console log\n" }
        let fails = failed.count
        let beforeFails = results.filter { $0.phase == .before && $0.status != .pass }.count
        if fails == 0 && completed {
            out += "All \(results.count - beforeFails) checks of the generated network passed\(beforeFails > 0 ? "; \(beforeFails) check(s) of the Proxmox network failed in the lab (see above)" : "")."
        } else {
            out += "\(fails) check(s) of the generated network failed: \(failed.map { "\($0.phase.rawValue) \($0.id)" }.joined(separator: ", "))."
        }
        out += "\n"
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
