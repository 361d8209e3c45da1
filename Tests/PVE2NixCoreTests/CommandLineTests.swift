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
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.copyItem(at: Fixtures.villa, to: copy)
        try FileManager.default.removeItem(at: copy.appendingPathComponent("nodes/villa-pve-01/lsblk.json"))
        let (status, out) = try Self.run(["plan", "villa-pve-01", "--site", copy.path])
        #expect(status == 1)
        #expect(out.contains("nodes/villa-pve-01/lsblk.json"))
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

extension CommandLineTests {
    @Test func generateWritesTheTreeAndNothingOnError() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let out = base.appendingPathComponent("villa")
        let ok = try Self.run(["generate", "villa-pve-01", "--site", "Examples/villa", "--out", out.path, "--without-ssh-key"])
        #expect(ok.status == 0)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("network.nix").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("networkd/30-vmbr0.network").path))
        // An unknown node writes nothing.
        let bad = base.appendingPathComponent("bad")
        let failed = try Self.run(["generate", "villa-pve-09", "--site", "Examples/villa", "--out", bad.path, "--without-ssh-key"])
        #expect(failed.status == 2)
        #expect(!FileManager.default.fileExists(atPath: bad.path))
        // --into places the host under modules/hosts/<node> without a flake.nix.
        let repo = base.appendingPathComponent("repo")
        let into = try Self.run(["generate", "villa-pve-01", "--site", "Examples/villa", "--into", repo.path, "--without-ssh-key"])
        #expect(into.status == 0)
        #expect(FileManager.default.fileExists(atPath: repo.appendingPathComponent("modules/hosts/villa-pve-01/default.nix").path))
        #expect(!FileManager.default.fileExists(atPath: repo.appendingPathComponent("modules/hosts/villa-pve-01/flake.nix").path))
        #expect(into.out.contains("nixosConfigurations.villa-pve-01"))
    }
}

extension CommandLineTests {
    /// `inspect --json` is written a node at a time; it is still one JSON document with every node.
    @Test func inspectJSONIsOneDocumentWithEveryNode() throws {
        let (status, out) = try Self.run(["inspect", "--site", "Examples/villa", "--json"])
        #expect(status == 0)
        let json = try JSONReader.parse(out)
        #expect(json["nodes"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["villa-pve-01", "villa-pve-02", "villa-pve-03"])
        #expect(json["resources"]?.arrayValue?.isEmpty == false)
        #expect(json["format"]?.intValue == 1)
        #expect(json["nodes"]?.arrayValue?.first?["guestConfigTexts"] == nil)
        let one = try Self.run(["inspect", "--site", "Examples/villa", "--node", "villa-pve-01", "--json"])
        #expect(try JSONReader.parse(one.out)["nodes"]?.arrayValue?.count == 1)
    }
}
