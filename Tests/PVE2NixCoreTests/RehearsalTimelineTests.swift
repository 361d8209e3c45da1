import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// The rehearsal's timeline: the guest marks each step, the report reads the marks into phases.
@Suite struct RehearsalTimelineTests {
    /// Result lines as a villa run on the loaded lab machine sent them (trimmed to a few checks).
    static let captured = """
    TIME|init|11.17
    TIME|modules|12.58
    NOTE|nic|nic0 is eth0 (58:47:ca:71:2e:10)
    TIME|nics|13.13
    TIME|probes|17.72
    TIME|before-start|17.73
    TIME|before-ifup|40.03
    TIME|before-ready|43.07
    CHECK|before|default-route|PASS|ping 192.0.2.1 from the node: answered
    TIME|check-before-default-route|47.10
    TIME|check-before-ct105-isolated-from-10|52.90
    TIME|before-checks|52.93
    TIME|teardown|56.17
    TIME|after-udev|58.04
    TIME|after-online|64.13
    TIME|after-ports-attached|69.14
    TIME|after-ready|69.30
    TIME|after-checks|76.93
    TIME|kernel-done|4.807650
    TIME|root-mounted|8.644091
    TIME|end|77.22
    END
    """

    @Test func marksBecomePhasesInRunOrder() throws {
        let scenario = RehearsalScenarioTests.scenario(site: Fixtures.villa, node: "villa-pve-01")
        var report = RehearsalReport.read(Self.captured, scenario: scenario, variant: "test")
        report.timeline?.hostSeconds = 87.21
        let timeline = try #require(report.timeline)
        let phases = Dictionary(uniqueKeysWithValues: timeline.phases.map { ($0.name, $0.seconds) })
        #expect(timeline.phases.first?.name == "kernel")
        #expect(abs(phases["kernel"]! - 4.81) < 0.01)
        #expect(abs(phases["before: ifupdown2 (ifup -a)"]! - 22.30) < 0.01)
        #expect(abs(phases["after: networkd to wait-online"]! - 6.09) < 0.01)
        #expect(abs(phases["outside the guest (QEMU start, firmware, exit)"]! - 9.99) < 0.01)
        // The spans cover the guest's whole run but the probes-to-ifup gap of 0.01 s.
        let inGuest = timeline.phases.dropLast().map(\.seconds).reduce(0, +)
        #expect(abs(inGuest - 77.21) < 0.05)
        let slowest = try #require(timeline.slowestCheck(.before))
        #expect(slowest.id == "ct105-isolated-from-10" && abs(slowest.seconds - 9.83) < 0.01)
        // Timing lines are not notes.
        #expect(report.notes == ["nic nic0 is eth0 (58:47:ca:71:2e:10)"])
    }

    @Test func aRunThatEndedEarlyLeavesOutTheSpansItNeverReached() {
        let scenario = RehearsalScenarioTests.scenario(site: Fixtures.villa, node: "villa-pve-01")
        let report = RehearsalReport.read("TIME|init|9.0\nTIME|modules|10.5\nTIME|kernel-done|4.0\n", scenario: scenario, variant: "test")
        #expect(report.timeline?.phases.map(\.name) == ["kernel", "initramfs, root mount, switch_root"])
        #expect(!report.completed)
    }

    /// A report recorded before the timeline existed still decodes (the journal keeps them as JSON).
    @Test func reportsWithoutATimelineStillDecode() throws {
        let json = #"{"node":"villa-pve-01","variant":"v","results":[],"notes":[],"completed":true}"#
        let report = try JSONDecoder().decode(RehearsalReport.self, from: Data(json.utf8))
        #expect(report.timeline == nil && report.completed)
    }

    /// The guest script is bash that only runs inside the VM: at least let bash parse it here.
    @Test func guestScriptParses() throws {
        let scenario = RehearsalScenarioTests.scenario(site: Fixtures.villa, node: "villa-pve-01")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-init-\(UUID().uuidString).sh")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(try #require(scenario.files["init.sh"]).utf8).write(to: file)
        let bash = Process()
        bash.executableURL = URL(fileURLWithPath: "/bin/bash")
        bash.arguments = ["-n", file.path]
        try bash.run()
        bash.waitUntilExit()
        #expect(bash.terminationStatus == 0)
    }
}
