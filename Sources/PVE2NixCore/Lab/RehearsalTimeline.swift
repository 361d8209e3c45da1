/// Where a rehearsal's wall time went: the guest's marks (seconds since its kernel started, read
/// from `/proc/uptime`) and the host's view of the whole VM run, from QEMU's start to its exit.
public struct RehearsalTimeline: Sendable, Hashable, Codable {
    public struct Mark: Sendable, Hashable, Codable {
        public var step: String
        public var seconds: Double
    }

    /// One span of the run between two marks.
    public struct Phase: Sendable, Hashable {
        public var name: String
        public var seconds: Double
    }

    public var marks: [Mark]
    /// QEMU's start to its exit, measured on the host; nil until the host sets it.
    public var hostSeconds: Double?

    public init(marks: [Mark], hostSeconds: Double? = nil) {
        self.marks = marks
        self.hostSeconds = hostSeconds
    }

    /// The spans the guest script marks, in the order they run. A span whose marks are missing
    /// (a run that ended early) is left out.
    static let spans: [(name: String, from: String?, to: String)] = [
        ("kernel", nil, "kernel-done"),
        ("initramfs, root mount, switch_root", "kernel-done", "init"),
        ("udevd, modules, NICs by MAC", "init", "nics"),
        ("switch and probes", "nics", "probes"),
        ("before: ifupdown2 (ifup -a)", "before-start", "before-ifup"),
        ("before: address, guest ports", "before-ifup", "before-ready"),
        ("before: checks", "before-ready", "before-checks"),
        ("teardown", "before-checks", "teardown"),
        ("after: udev for the NICs", "teardown", "after-udev"),
        ("after: networkd to wait-online", "after-udev", "after-online"),
        ("after: guest ports, networkd's PVIDs", "after-online", "after-ready"),
        ("after: checks", "after-ready", "after-checks"),
        ("power-off", "after-checks", "end"),
    ]

    public func seconds(at step: String) -> Double? { marks.first { $0.step == step }?.seconds }

    public var phases: [Phase] {
        var out: [Phase] = []
        for span in Self.spans {
            let from = span.from.map { seconds(at: $0) } ?? 0
            guard let from, let to = seconds(at: span.to) else { continue }
            out.append(Phase(name: span.name, seconds: max(0, to - from)))
        }
        // QEMU's own start (firmware, loading kernel and initramfs) and exit happen outside the guest's clock.
        if let host = hostSeconds, let end = seconds(at: "end") ?? marks.map(\.seconds).max() {
            out.append(Phase(name: "outside the guest (QEMU start, firmware, exit)", seconds: max(0, host - end)))
        }
        return out
    }

    /// The check that finished last in a phase, and when, counted from the phase's checks starting.
    public func slowestCheck(_ phase: RehearsalCheck.Phase) -> (id: String, seconds: Double)? {
        guard let start = seconds(at: "\(phase.rawValue)-ready") else { return nil }
        let prefix = "check-\(phase.rawValue)-"
        return marks.filter { $0.step.hasPrefix(prefix) }.max { $0.seconds < $1.seconds }
            .map { (String($0.step.dropFirst(prefix.count)), $0.seconds - start) }
    }
}
