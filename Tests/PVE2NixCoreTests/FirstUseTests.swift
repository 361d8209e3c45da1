import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// The built `pve2nix` as a new user meets it: the default paths (a fresh HOME, no XDG_*, no
/// --journal), wrong names, run-time errors that are not argument errors, an endpoint that is not there.
@Suite struct FirstUseTests {
    static func run(_ arguments: [String], home: URL? = nil, environment: [String: String?] = [:]) throws -> ProcessOutput.Result {
        let binary = try #require(CommandLineTests.binary)
        var env = environment
        if let home {
            env["HOME"] = home.path
            env["XDG_STATE_HOME"] = .some(nil)
        }
        return try ProcessOutput.capture(binary, arguments, in: Fixtures.packageRoot, environment: env)
    }

    static func temporaryHome() throws -> URL {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        return home
    }

    @Test func aDirectoryThatIsNotABundleStopsEarlyAndPointsAtTheBundleInside() throws {
        let r = try Self.run(["plan", "villa-pve-01", "--site", "Examples"])
        #expect(r.status == 2)
        #expect(r.out.isEmpty, "no plan is printed: \(r.out.prefix(200))")
        #expect(r.err.contains("Examples is not a capture bundle"))
        #expect(r.err.contains("--site Examples/villa"))
        #expect(!r.err.contains("PASS"))
    }

    @Test func anUnknownNodeListsTheNodesAndSuggestsTheNearest() throws {
        for command in [["plan", "villa-pve-09", "--site", "Examples/villa"],
                        ["generate", "villa-pve-09", "--site", "Examples/villa", "--out", "/nonexistent/x", "--without-ssh-key"]] {
            let r = try Self.run(command)
            #expect(r.status == 2, "\(command)")
            #expect(r.out.isEmpty)
            #expect(r.err.contains("has no node 'villa-pve-09'"))
            #expect(r.err.contains("Did you mean 'villa-pve-01'?"))
            #expect(r.err.contains("villa-pve-01, villa-pve-02, villa-pve-03"))
        }
    }

    @Test func runTimeErrorsSayWhatHappenedWithoutTheUsage() throws {
        let inspect = try Self.run(["inspect", "--site", "Examples/villa", "--node", "nope"])
        #expect(inspect.status == 2)
        #expect(!inspect.err.contains("Usage:"))
        #expect(inspect.err.contains("no node 'nope'"))

        let key = try Self.run(["generate", "villa-pve-01", "--site", "Examples/villa", "--out", "/tmp/pve2nix-never", "--ssh-key", "/nonexistent/id.pub"])
        #expect(key.status == 2)
        #expect(!key.err.contains("Usage:"))
        #expect(key.err.contains("cannot read --ssh-key /nonexistent/id.pub: no such file"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/pve2nix-never"))
    }

    @Test func statusOnlyReadsAndNamesAFileThatIsNotAJournal() throws {
        let home = try Self.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let none = try Self.run(["status", "villa-pve-01"], home: home)
        #expect(none.status == 1)
        #expect(!none.err.contains("Usage:"))
        #expect(none.err.contains("no journal at \(home.path)/.local/state/pve2nix/villa-pve-01.journal.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent(".local").path), "status created something")

        let junk = home.appendingPathComponent("notes.txt")
        try "not a journal\n".write(to: junk, atomically: true, encoding: .utf8)
        let wrong = try Self.run(["status", "villa-pve-01", "--journal", junk.path], home: home)
        #expect(wrong.status == 2)
        #expect(wrong.err.contains("\(junk.path) is not a pve2nix journal"))
        #expect(try String(contentsOf: junk, encoding: .utf8) == "not a journal\n")
    }

    @Test func generateWantsAKeyOrAnExplicitNo() throws {
        let dir = try Self.temporaryHome()
        defer { try? FileManager.default.removeItem(at: dir) }
        let without = try Self.run(["generate", "villa-pve-01", "--site", "Examples/villa", "--out", dir.appendingPathComponent("a").path])
        #expect(without.status == 64)
        #expect(without.err.contains("--ssh-key"))
        #expect(without.err.contains("--without-ssh-key"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("a").path))
        let explicit = try Self.run(["generate", "villa-pve-01", "--site", "Examples/villa", "--out", dir.appendingPathComponent("b").path, "--without-ssh-key", "--json"])
        #expect(explicit.status == 0, "\(explicit.err)")
        let json = try JSONReader.parse(explicit.out)
        #expect(json["files"]?.arrayValue?.contains { $0.stringValue == "network.nix" } == true, "files is an array of paths")
    }

    @Test func anUnreachableEndpointSaysWhichHostAndWhatFailed() throws {
        // Port 1 on loopback: nothing listens there, the connection is refused.
        let env: [String: String?] = ["PVE2NIX_TOKEN_ID": "pve2nix@pve!drain", "PVE2NIX_TOKEN_SECRET": "s3cret-never-printed"]
        let home = try Self.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let capture = try Self.run(["capture", "--endpoint", "https://127.0.0.1:1", "--fingerprint", String(repeating: "AB", count: 32),
                                    "--out", home.appendingPathComponent("b").path], home: home, environment: env)
        #expect(capture.status == 1)
        #expect(capture.err.contains("cannot reach the Proxmox VE API at 127.0.0.1:1: connection refused"), "\(capture.err)")
        #expect(!capture.err.contains("s3cret"))
        #expect(!capture.err.contains("NIO"))
        let drain = try Self.run(["drain", "villa-pve-01", "--site", "Examples/villa", "--endpoint", "https://127.0.0.1:1",
                                  "--fingerprint", String(repeating: "AB", count: 32)], home: home, environment: env)
        #expect(drain.status == 1)
        #expect(drain.err.contains("cannot reach the Proxmox VE API at 127.0.0.1:1: connection refused"), "\(drain.err)")
    }
}

extension FirstUseTests {
    /// The documented drain with the default paths: no --journal, no XDG_STATE_HOME, a HOME with
    /// nothing under it yet. The journal and the node lock appear under ~/.local/state/pve2nix.
    @Test(.timeLimit(.minutes(3)))
    func theDocumentedDrainWorksWithTheDefaultPaths() async throws {
        let pki = try LiveClientSimulatorTests.makePKI()
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        let home = pki.dir.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try await offloaded {
            let sim = try SimulatorProcessTests.startSimulator(pki, [])
            let env: [String: String?] = ["PVE2NIX_TOKEN_ID": "pve2nix@pve!drain", "PVE2NIX_TOKEN_SECRET": "token-secret-123"]
            let drain = try Self.run(["drain", "villa-pve-01", "--site", Fixtures.villa.path, "--endpoint", "https://127.0.0.1:\(sim.port)",
                                      "--ca-file", pki.ca, "--poll-interval", "0.02", "--no-health-checks"], home: home, environment: env)
            #expect(drain.status == 0, "\(drain.err)")
            let state = home.appendingPathComponent(".local/state/pve2nix")
            #expect(drain.out.contains("journal \(state.path)/villa-pve-01.journal.sqlite"))
            #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent("villa-pve-01.journal.sqlite").path))
            #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent("locks/villa-pve-01.lock").path))
            let status = try Self.run(["status", "villa-pve-01"], home: home)
            #expect(status.status == 0, "\(status.err)")
            #expect(status.out.contains("Journal of villa-pve-01") && status.out.contains("drain "))
            withExtendedLifetime(sim) {}
        }
    }
}
