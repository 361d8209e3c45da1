import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix report` run as a user would: the journal's run and rehearsal on the page, a journal
/// never created, an existing file never replaced without --force, clear errors for bad paths.
@Suite struct ReportCommandTests {
    static func run(_ arguments: [String], state: URL) async throws -> ProcessOutput.Result {
        let binary = try #require(CommandLineTests.binary, "pve2nix binary not found next to the test bundle; build it with 'swift build'")
        return try await offloaded { try ProcessOutput.capture(binary, ["report"] + arguments, in: Fixtures.packageRoot, environment: ["XDG_STATE_HOME": state.path], timeout: 120) }
    }

    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-report-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func theJournalsRunAndRehearsalAreDrawn() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let site = Fixtures.loadSite(Fixtures.villa)
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        var options = GenerateOptions()
        options.acceptDropping = true
        let host = HostGenerator(site: site, plan: plan, options: options).generate()
        let units = Dictionary(uniqueKeysWithValues: host.files.filter { $0.path.hasPrefix("networkd/") }.map { (String($0.path.dropFirst(9)), $0.contents) })
        let report = try JSONDecoder().decode(RehearsalReport.self, from: Data("""
            {"node":"villa-pve-01","variant":"vlan-aware-bridge","completed":true,"notes":[],"results":[
             {"phase":"after","id":"mgmt","description":"the admin PC reaches 10.1.10.11 on VLAN 10","status":"PASS","detail":"ok"}]}
            """.utf8))
        let path = dir.appendingPathComponent("j.sqlite").path
        let journal = try SQLiteRunJournal(path: path)
        try journal.recordRehearsal(networkHash: NetworkUnitsHash.of(units), report: report, detail: "vlan-aware-bridge")
        let run = try journal.begin(node: "villa-pve-01", planHash: "aaaaaaaa", newRun: false)
        try journal.append(RunEntry(stage: .drain, subject: .guest(VMID(101)), phase: .requested, detail: "migrate"), run: run.id)
        try journal.append(RunEntry(stage: .drain, subject: .guest(VMID(101)), phase: .done, detail: "done"), run: run.id)
        let out = dir.appendingPathComponent("r.html")
        let result = try await Self.run(["villa-pve-01", "--site", "Examples/villa", "--journal", path, "-o", out.path, "--json"], state: dir)
        #expect(result.status == 0, "\(result.err)")
        let json = try JSONReader.parse(result.out)
        #expect(json["path"]?.stringValue == out.path)
        #expect(json["planHash"]?.stringValue?.count == 8)
        let html = try String(contentsOf: out, encoding: .utf8)
        #expect(html.contains("the admin PC reaches 10.1.10.11 on VLAN 10"))
        #expect(html.contains("✓ PASS"))
        #expect(html.contains("id=\"run\"") && html.contains("actual"))
        #expect(html.contains("other plan"), "the run is of plan aaaaaaaa, not of this one")
    }

    @Test func aMissingJournalIsNeverCreated() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = dir.appendingPathComponent("none.sqlite").path
        let out = dir.appendingPathComponent("r.html").path
        let given = try await Self.run(["villa-pve-01", "--site", "Examples/villa", "--journal", journal, "-o", out], state: dir)
        #expect(given.status == 2)
        #expect(given.err.contains("no journal at \(journal)"))
        #expect(!FileManager.default.fileExists(atPath: journal))
        #expect(!FileManager.default.fileExists(atPath: out))
        // Without --journal the default journal is read only if it exists: none is created.
        let plain = try await Self.run(["villa-pve-01", "--site", "Examples/villa", "-o", out], state: dir)
        #expect(plain.status == 0, "\(plain.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("pve2nix").path))
    }

    @Test func outputPathsAreChecked() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("r.html").path
        try "mine".write(toFile: out, atomically: true, encoding: .utf8)
        let refused = try await Self.run(["villa-pve-01", "--site", "Examples/villa", "-o", out], state: dir)
        #expect(refused.status == 1)
        #expect(refused.err.contains("--force"))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "mine")
        let forced = try await Self.run(["villa-pve-01", "--site", "Examples/villa", "-o", out, "--force"], state: dir)
        #expect(forced.status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
        let missing = try await Self.run(["villa-pve-01", "--site", "Examples/villa", "-o", dir.appendingPathComponent("no/such/r.html").path], state: dir)
        #expect(missing.status == 1)
        #expect(missing.err.contains("does not exist"))
        let usage = try await Self.run(["villa-pve-01", "--site", "Examples/villa"], state: dir)
        #expect(usage.status == 64)
        let help = try await Self.run(["--help"], state: dir)
        #expect(help.out.contains("Examples:") && help.out.contains("--journal"))
    }
}
