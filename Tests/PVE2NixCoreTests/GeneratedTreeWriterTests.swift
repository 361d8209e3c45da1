import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixTesting
import Testing

/// `generate` (and `capture`) never destroy or half-write: every path it would write or remove is
/// checked first, the new tree replaces the old one in one step, and the user's files stay theirs.
@Suite struct GeneratedTreeWriterTests {
    static let files = [
        GeneratedFile(path: "configuration.nix", contents: "{ }\n"),
        GeneratedFile(path: "network.nix", contents: "{ network = 1; }\n"),
        GeneratedFile(path: "networkd/10-a.network", contents: "[Match]\nName=a\n"),
        GeneratedFile(path: "incus-import.sh", contents: "#!/bin/sh\n", executable: true),
    ]

    static func temporary() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func conflictPaths(_ body: () throws -> Void) -> [String] {
        do {
            try body()
            return []
        } catch GeneratedTreeError.conflicts(let list) {
            return list.map(\.path)
        } catch {
            return ["unexpected: \(error)"]
        }
    }

    @Test func aDirectoryWhereAFileGoesIsAConflictAndTheUsersFilesStay() throws {
        let base = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: base) }
        let out = base.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out.appendingPathComponent("network.nix"), withIntermediateDirectories: true)
        try "mine\n".write(to: out.appendingPathComponent("network.nix/keep.txt"), atomically: true, encoding: .utf8)
        let conflicts = Self.conflictPaths { try GeneratedTreeWriter(directory: out).write(Self.files) }
        #expect(conflicts == ["network.nix"])
        #expect(try String(contentsOf: out.appendingPathComponent("network.nix/keep.txt"), encoding: .utf8) == "mine\n")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("configuration.nix").path), "nothing written")
    }

    @Test func aFileThatIsNotUTF8IsAConflictNotOverwritten() throws {
        let out = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: out) }
        try GeneratedTreeWriter(directory: out).write(Self.files)
        let bytes = Data([0xff, 0xfe, 0x00, 0x41])
        try bytes.write(to: out.appendingPathComponent("configuration.nix"))
        let writer = GeneratedTreeWriter(directory: out)
        #expect(writer.conflicts(Self.files).first?.reason.contains("not UTF-8") == true)
        #expect(Self.conflictPaths { try writer.write(Self.files) } == ["configuration.nix"])
        #expect(try Data(contentsOf: out.appendingPathComponent("configuration.nix")) == bytes)
    }

    @Test func aFileWhereADirectoryGoesStopsBeforeAnythingIsWritten() throws {
        let out = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: out) }
        try "x\n".write(to: out.appendingPathComponent("networkd"), atomically: true, encoding: .utf8)
        #expect(Self.conflictPaths { try GeneratedTreeWriter(directory: out).write(Self.files) } == ["networkd"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == ["networkd"])
    }

    @Test func neverWritesThroughASymlinkedDirectoryOrAPlantedLink() throws {
        let base = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: base) }
        let out = base.appendingPathComponent("out"), elsewhere = base.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: out.appendingPathComponent("networkd"), withDestinationURL: elsewhere)
        #expect(Self.conflictPaths { try GeneratedTreeWriter(directory: out).write(Self.files) } == ["networkd"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path).isEmpty)

        // A link planted at the name an older pve2nix used for its temporary file.
        try FileManager.default.removeItem(at: out.appendingPathComponent("networkd"))
        let victim = elsewhere.appendingPathComponent("victim")
        try "precious\n".write(to: victim, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: out.appendingPathComponent(".network.nix.pve2nix-tmp"), withDestinationURL: victim)
        try GeneratedTreeWriter(directory: out).write(Self.files)
        #expect(try String(contentsOf: victim, encoding: .utf8) == "precious\n")
        #expect(GeneratedTreeWriter.manifestMismatches(in: out).isEmpty)
    }

    @Test func filesNoLongerGeneratedAreRemovedWhenUnchangedAndAConflictWhenChanged() throws {
        let out = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: out) }
        try "my notes\n".write(to: out.appendingPathComponent("NOTES.md"), atomically: true, encoding: .utf8)
        let notesInode = try FileManager.default.attributesOfItem(atPath: out.appendingPathComponent("NOTES.md").path)[.systemFileNumber] as? Int
        try GeneratedTreeWriter(directory: out).write(Self.files)
        var next = Self.files.filter { $0.path != "networkd/10-a.network" }
        next.append(GeneratedFile(path: "networkd/20-b.network", contents: "[Match]\nName=b\n"))
        let outcome = try GeneratedTreeWriter(directory: out).write(next)
        #expect(outcome.removed == ["networkd/10-a.network"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("networkd").path) == ["20-b.network"])
        // The user's own file is the same file (same inode), untouched.
        let after = try FileManager.default.attributesOfItem(atPath: out.appendingPathComponent("NOTES.md").path)[.systemFileNumber] as? Int
        #expect(after == notesInode)
        #expect(try String(contentsOf: out.appendingPathComponent("NOTES.md"), encoding: .utf8) == "my notes\n")

        // Going back to the first options is not mistaken for an edit ...
        try GeneratedTreeWriter(directory: out).write(Self.files)
        // ... but a changed file that would be removed is.
        try "[Match]\nName=a\n# mine\n".write(to: out.appendingPathComponent("networkd/10-a.network"), atomically: true, encoding: .utf8)
        #expect(Self.conflictPaths { try GeneratedTreeWriter(directory: out).write(next) } == ["networkd/10-a.network"])
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("networkd/10-a.network").path))
    }

    @Test func aVersionOneManifestIsReadAndReplacedByVersionTwo() throws {
        let out = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: out) }
        for f in Self.files {
            let url = out.appendingPathComponent(f.path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try f.contents.write(to: url, atomically: true, encoding: .utf8)
        }
        let v1 = Self.files.map { "\(Fingerprint.of($0.contents))  \($0.path)" }.joined(separator: "\n") + "\n"
        try v1.write(to: out.appendingPathComponent(".pve2nix-manifest"), atomically: true, encoding: .utf8)
        var changed = Self.files
        changed[0].contents = "{ changed = true; }\n"
        try GeneratedTreeWriter(directory: out).write(changed)
        let manifest = try String(contentsOf: out.appendingPathComponent(".pve2nix-manifest"), encoding: .utf8)
        #expect(manifest.hasPrefix("# pve2nix manifest 2"))
        #expect(manifest.contains("sha256:"))
    }

    @Test func anUnwritablePlaceIsSaidInPlainWords() throws {
        let base = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: base) }
        let file = base.appendingPathComponent("plain-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        do {
            try GeneratedTreeWriter(directory: file.appendingPathComponent("out")).write(Self.files)
            Issue.record("wrote below a file")
        } catch let error as GeneratedTreeError {
            #expect(error.localizedDescription.contains("cannot create \(file.path)"))
            #expect(!error.localizedDescription.contains("NSCocoaErrorDomain"))
        }
        do {
            try GeneratedTreeWriter(directory: file).write(Self.files)
            Issue.record("wrote over a file")
        } catch let error as GeneratedTreeError {
            #expect(error.localizedDescription.contains("is a file, not a directory"))
        }
    }
}

extension GeneratedTreeWriterTests {
    /// Every regular file under `dir` (but the manifest) and every path the manifest lists.
    static func treeAndManifest(_ dir: URL) throws -> (files: Set<String>, listed: Set<String>) {
        var files = Set<String>()
        let enumerator = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey], options: [])!
        for case let url as URL in enumerator where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            let relative = String(url.standardizedFileURL.path.dropFirst(dir.standardizedFileURL.path.count + 1))
            if relative != ".pve2nix-manifest" { files.insert(relative) }
        }
        let manifest = (try? String(contentsOf: dir.appendingPathComponent(".pve2nix-manifest"), encoding: .utf8)) ?? ""
        let listed = Set(manifest.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            line.range(of: "  ").map { String(line[$0.upperBound...]) }
        })
        return (files, listed)
    }

    static func generateProcess(_ out: URL, strategy: String) throws -> Process {
        let process = Process()
        process.executableURL = try #require(CommandLineTests.binary)
        process.arguments = ["generate", "villa-pve-01", "--site", Fixtures.villa.path, "--out", out.path, "--without-ssh-key", "--network-strategy", strategy]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// `generate` killed at many moments, and two at once: the directory is always one whole tree
    /// with a manifest that matches it, and the next run succeeds and leaves no temporary files.
    @Test(.timeLimit(.minutes(5)))
    func killedAndConcurrentRunsLeaveOneWholeTree() async throws {
        let base = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: base) }
        let out = base.appendingPathComponent("villa")
        let strategies = ["vlan-aware-bridge", "per-vlan-bridges"]
        try await offloaded {
            for i in 0..<16 {
                let process = try Self.generateProcess(out, strategy: strategies[i % 2])
                Thread.sleep(forTimeInterval: Double(i % 8) * 0.03)
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                if FileManager.default.fileExists(atPath: out.path) {
                    let (files, listed) = try Self.treeAndManifest(out)
                    #expect(files == listed, "run \(i): files and manifest disagree")
                    #expect(GeneratedTreeWriter.manifestMismatches(in: out).isEmpty, "run \(i)")
                }
            }
            let a = try Self.generateProcess(out, strategy: strategies[0]), b = try Self.generateProcess(out, strategy: strategies[1])
            a.waitUntilExit()
            b.waitUntilExit()
            #expect(a.terminationStatus == 0 && b.terminationStatus == 0)
            let (files, listed) = try Self.treeAndManifest(out)
            #expect(files == listed)
            #expect(GeneratedTreeWriter.manifestMismatches(in: out).isEmpty)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: base.path).filter { $0 != "villa" }
            #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        }
    }
}
