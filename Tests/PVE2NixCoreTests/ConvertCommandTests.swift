import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// `pve2nix convert --dry-run` as a user runs it: each stage's state from the journal, the exact
/// commands, nothing written.
@Suite struct ConvertCommandTests {
    struct Setup {
        var dir: URL
        var site: URL { dir.appendingPathComponent("site") }
        var plan: URL { dir.appendingPathComponent("plan.json") }
        var journal: URL { dir.appendingPathComponent("journal.sqlite") }
        var generated: URL { dir.appendingPathComponent("generated") }
        var hash = ""

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-convert-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Fixtures.villa, to: site)
            let toml = site.appendingPathComponent("site.toml")
            try Data((try String(contentsOf: toml, encoding: .utf8) + "\n[nodes.villa-pve-01]\ninstall_path = \"A\"\n").utf8).write(to: toml)
        }

        mutating func run(_ arguments: [String]) async throws -> ProcessOutput.Result {
            let binary = try #require(CommandLineTests.binary)
            let env: [String: String?] = ["HOME": dir.appendingPathComponent("home").path, "XDG_STATE_HOME": dir.appendingPathComponent("state").path]
            return try await offloaded { try ProcessOutput.capture(binary, arguments, environment: env, timeout: 120) }
        }

        mutating func convert(_ extra: [String] = []) async throws -> ProcessOutput.Result {
            try await run(["convert", "villa-pve-01", "--plan", plan.path, "--site", site.path, "--generated", generated.path, "--without-ssh-key",
                           "--endpoint", "https://10.1.10.12:8006", "--ca-file", "/dev/null", "--journal", journal.path, "--dry-run"] + extra)
        }
    }

    @Test func aDryRunShowsEveryStageAndTheInstallsCallsAndWritesNothing() async throws {
        var s = try Setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        #expect(try await s.run(["plan", "villa-pve-01", "--site", s.site.path, "--out", s.plan.path]).status == 0)
        let r = try await s.convert()
        #expect(r.status == 0, "\(r.out)\(r.err)")
        for stage in ["generate: to run", "rehearse: to run", "drain: to run", "check: to run", "install: to run", "validate: to run", "cluster-remove: to run"] {
            #expect(r.out.contains(stage), "\(stage) missing:\n\(r.out)")
        }
        for call in ["nixos-anywhere --phases kexec", "nixos-anywhere --phases disko", "nixos-anywhere --phases install", "nixos-anywhere --phases reboot", "--copy-host-keys"] {
            #expect(r.out.contains(call), "\(call) missing")
        }
        #expect(!FileManager.default.fileExists(atPath: s.generated.path) && !FileManager.default.fileExists(atPath: s.journal.path))
        #expect(!FileManager.default.fileExists(atPath: s.dir.appendingPathComponent("state").path), "the dry run made the state directory")
    }

    @Test func theJournalDecidesWhatIsSkipped() async throws {
        var s = try Setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        #expect(try await s.run(["plan", "villa-pve-01", "--site", s.site.path, "--out", s.plan.path]).status == 0)
        #expect(try await s.run(["generate", "villa-pve-01", "--site", s.site.path, "--out", s.generated.path, "--without-ssh-key"]).status == 0)
        let hash = try #require(try JSONReader.parse(String(contentsOf: s.plan, encoding: .utf8))["planHash"]?.stringValue)
        let store = try SQLiteRunJournal(path: s.journal.path)
        let run = try store.begin(node: "villa-pve-01", planHash: hash, newRun: false)
        try store.recordRehearsal(networkHash: NetworkUnitsHash.of(GeneratedTreeSnapshot.read(directory: s.generated.path).units), passed: true, detail: "test")
        try store.append(RunEntry(stage: .kexec, subject: .node, phase: .done, detail: "the installer answers"), run: run.id)
        let r = try await s.convert(["--json"])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let stages = try JSONReader.parse(r.out)["stages"]?.arrayValue ?? []
        func state(_ name: String) -> String { stages.first { $0["name"]?.stringValue == name }?["state"]?.stringValue ?? "missing" }
        #expect(state("generate").hasPrefix("done"))
        #expect(state("rehearse").hasPrefix("done"))
        #expect(state("drain").hasPrefix("done") && state("check").hasPrefix("done"), "once the install began, drain and check are over")
        #expect(state("install") == "to resume")
        let wrong = try await s.convert(["--yes", "00000000"])
        #expect(wrong.status == 2 && wrong.err.contains("not this plan's hash"), "\(wrong.err)")
    }
}
