import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// `pve2nix disk-check` run as a user would: exit 0 proceed, 1 refuse, 2 unreadable input.
@Suite struct DiskCheckCommandTests {
    /// A copy of the villa bundle whose villa-pve-01 has the disks of the `pve-node` fixture, and a scratch directory.
    struct Scratch {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-disk-check-\(UUID().uuidString)")
        var bundle: URL { base.appendingPathComponent("villa") }

        init() throws {
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Fixtures.villa, to: bundle)
            for leaf in ["lsblk.json", "disk-by-id.txt"] {
                let target = bundle.appendingPathComponent("nodes/villa-pve-01/\(leaf)")
                try FileManager.default.removeItem(at: target)
                try FileManager.default.copyItem(at: Self.now("pve-node").appendingPathComponent(leaf), to: target)
            }
        }

        static func now(_ scenario: String) -> URL { Fixtures.fixtures.appendingPathComponent("disk-gate/\(scenario)") }

        func remove() { try? FileManager.default.removeItem(at: base) }
    }

    static func run(_ arguments: [String]) throws -> ProcessOutput.Result {
        let binary = try #require(CommandLineTests.binary, "pve2nix binary not found next to the test bundle; build it with 'swift build'")
        return try ProcessOutput.capture(binary, arguments, in: Fixtures.packageRoot)
    }

    @Test func proceedsWhenTheInstallerSeesThePlannedDisksAndSaysItPlannedAgain() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let result = try Self.run(["disk-check", "villa-pve-01", "--site", scratch.bundle.path, "--now", Scratch.now("pve-renamed").path])
        #expect(result.status == 0, "\(result.out)\(result.err)")
        #expect(result.err.contains("no --plan given: planned villa-pve-01 again"))
        let lines = result.out.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("✓ ") }.count == 6)
        #expect(lines.last?.hasPrefix("PROCEED") == true)
    }

    @Test func refusesAgainstASavedPlanWithEveryFindingInJSON() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let planFile = scratch.base.appendingPathComponent("villa-pve-01.plan.json").path
        let saved = try Self.run(["plan", "villa-pve-01", "--site", scratch.bundle.path, "--out", planFile])
        #expect(saved.status == 0, "\(saved.err)")
        let proceed = try Self.run(["disk-check", "villa-pve-01", "--plan", planFile, "--now", Scratch.now("pve-installer").path])
        #expect(proceed.status == 0, "\(proceed.out)\(proceed.err)")
        #expect(!proceed.err.contains("planned villa-pve-01 again"))

        let refuse = try Self.run(["disk-check", "villa-pve-01", "--plan", planFile, "--now", Scratch.now("pve-swap-in-use").path, "--json"])
        #expect(refuse.status == 1, "\(refuse.out)\(refuse.err)")
        let json = try JSONReader.parse(refuse.out)
        #expect(json["decision"]?.stringValue == "refuse")
        #expect(json["findings"]?.arrayValue?.count == 6)
        #expect(json["findings"]?.arrayValue?.contains { $0["outcome"]?.stringValue == "fail" && $0["rule"]?.intValue == 5 } == true)

        let human = try Self.run(["disk-check", "villa-pve-01", "--plan", planFile, "--now", Scratch.now("pve-vg-extended").path])
        #expect(human.status == 1)
        #expect(human.out.contains("✗ 6 "))
        #expect(human.out.split(separator: "\n").last?.hasPrefix("REFUSE") == true)
    }

    @Test func unreadableInputExitsTwoNamingTheFileAndLine() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let now = scratch.base.appendingPathComponent("now")
        try FileManager.default.createDirectory(at: now, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Scratch.now("pve-installer").appendingPathComponent("disk-by-id.txt"), to: now.appendingPathComponent("disk-by-id.txt"))
        // No lsblk.json yet.
        let missing = try Self.run(["disk-check", "villa-pve-01", "--site", scratch.bundle.path, "--now", now.path])
        #expect(missing.status == 2)
        #expect(missing.err.contains("lsblk.json is missing") && missing.err.contains("lsblk -J -b -O"), "\(missing.err)")
        // A partition starting before the disk does: a damaged capture, named with its line.
        let text = try String(contentsOf: Scratch.now("pve-installer").appendingPathComponent("lsblk.json"), encoding: .utf8)
            .replacingOccurrences(of: #""start": 2099200"#, with: #""start": -2099200"#)
        try text.write(to: now.appendingPathComponent("lsblk.json"), atomically: true, encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("-2099200") }.map { $0 + 1 }
        let damaged = try Self.run(["disk-check", "villa-pve-01", "--site", scratch.bundle.path, "--now", now.path])
        #expect(damaged.status == 2)
        #expect(damaged.err.contains("\(now.path)/lsblk.json:\(line ?? 0): error: 'start'"), "\(damaged.err)")
        #expect(damaged.out.isEmpty)
        // A plan file that is not one.
        let notAPlan = try Self.run(["disk-check", "villa-pve-01", "--plan", now.appendingPathComponent("disk-by-id.txt").path, "--now", now.path])
        #expect(notAPlan.status == 2)
    }
}
