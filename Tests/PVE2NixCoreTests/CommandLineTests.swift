import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// Runs the built `pve2nix` binary as a user would.
@Suite struct CommandLineTests {
    static var binary: URL? {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [dir, dir.deletingLastPathComponent()].map { $0.appendingPathComponent("pve2nix") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, out: String) {
        guard let binary else {
            Issue.record("pve2nix binary not found next to the test bundle; build it with 'swift build'")
            return (-1, "")
        }
        return try ProcessOutput.run(binary, arguments, in: Fixtures.packageRoot)
    }

    @Test func planVillaExitsZeroWithJSON() throws {
        let (status, out) = try Self.run(["plan", "villa-pve-01", "--site", "Examples/villa", "--json"])
        #expect(status == 0)
        let json = try JSONReader.parse(out)
        #expect(json["schemaVersion"]?.intValue == 1)
        #expect(json["install"]?["path"]?.stringValue == "B")
    }

    @Test func planWithErrorsStillPrintsAndExitsOne() throws {
        let (status, out) = try Self.run(["plan", "villa-pve-09", "--site", "Examples/villa"])
        #expect(status == 1)
        #expect(out.contains("no node 'villa-pve-09'"))
        #expect(out.contains("Preflight:"))
    }

    @Test func missingBundleExitsTwo() throws {
        #expect(try Self.run(["plan", "x", "--site", "/nonexistent-bundle"]).status == 2)
    }

    @Test func inspectPrintsEveryNode() throws {
        let (status, out) = try Self.run(["inspect", "--site", "Examples/villa"])
        #expect(status == 0)
        for node in ["villa-pve-01", "villa-pve-02", "villa-pve-03"] { #expect(out.contains("Node \(node)")) }
    }
}
