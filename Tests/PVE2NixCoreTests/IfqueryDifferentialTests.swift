import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// Holds our interfaces parser to Debian's ifupdown2 (`ifquery -o json`) on every interface,
/// method, family and attribute of the corpus in Tests/Fixtures/interfaces.
@Suite struct IfqueryDifferentialTests {
    static let corpusDirectory = Fixtures.fixtures.appendingPathComponent("interfaces")

    static let corpus: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: corpusDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".interfaces") }.sorted()
    }()

    /// Where we deliberately differ from Debian's ifupdown2 3.0.0, and why.
    static let knownDifferences: [String: String] = [
        "15-source-directory.interfaces":
            "ifupdown2 3.0.0 does not know 'source-directory' and files it as an attribute of the stanza before it; Debian's ifupdown and Proxmox's ifupdown2 fork read the directory (run-parts names only), and so do we.",
    ]

    @Test func corpusIsLargeEnough() {
        #expect(Self.corpus.count >= 20)
    }

    @Test(arguments: corpus)
    func agreesWithIfquery(_ name: String) throws {
        let work = try Self.stage()
        defer { try? FileManager.default.removeItem(at: work) }
        let file = work.appendingPathComponent(name)
        let text = try String(contentsOf: file, encoding: .utf8)

        let parser = InterfacesParser(resolveSource: { pattern in Self.resolveOnDisk(pattern) })
        let ours = parser.parse(text, file: name)
        // For a known difference ifquery is asked only for what it can see: the main file's stanzas.
        var names = Self.knownDifferences[name] == nil ? ours.names : []
        for n in Self.declaredNames(text) where !names.contains(n) { names.append(n) }

        let theirs = try Self.ifquery(file: file, names: names)
        var expected = Dictionary(grouping: theirs, by: \.name)
        var actual = Dictionary(grouping: ours.stanzas.map(\.ifqueryView), by: \.name)

        if name == "15-source-directory.interfaces" {
            // 3.0.0 files the line under eno1; we read vmbr0 from the directory and skip 'ignored.cfg'.
            #expect(expected["eno1"]?.first?.config["source-directory"] != nil)
            expected["eno1"] = expected["eno1"]?.map { var i = $0; i.config["source-directory"] = nil; return i }
            #expect(actual["vmbr0"]?.first?.config["address"] == ["10.17.0.2/24"])
            #expect(actual["vmbr9"] == nil)
            actual["vmbr0"] = nil
        } else {
            #expect(Self.knownDifferences[name] == nil)
        }
        #expect(Set(expected.keys) == Set(actual.keys), "interface names differ from ifquery in \(name)")
        for key in expected.keys.sorted() {
            let e = (expected[key] ?? []).map(\.description).sorted()
            let a = (actual[key] ?? []).map(\.description).sorted()
            #expect(a == e, "\(name): \(key) differs from ifquery")
        }
    }

    /// Copies the corpus to a temporary directory, with `@DIR@` replaced by its path.
    static func stage() throws -> URL {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-ifq-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: corpusDirectory, to: work)
        for entry in FileManager.default.enumerator(atPath: work.path)!.compactMap({ $0 as? String }) {
            let url = work.appendingPathComponent(entry)
            guard let text = try? String(contentsOf: url, encoding: .utf8), text.contains("@DIR@") else { continue }
            try text.replacingOccurrences(of: "@DIR@", with: work.path).write(to: url, atomically: true, encoding: .utf8)
        }
        return work
    }

    static func resolveOnDisk(_ pattern: String) -> [(path: String, contents: String)] {
        let url = URL(fileURLWithPath: pattern)
        let dir = url.deletingLastPathComponent().path
        let leaf = url.lastPathComponent
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { GlobPattern.matches(leaf, $0) }.sorted()
        return names.compactMap { n in (try? String(contentsOfFile: dir + "/" + n, encoding: .utf8)).map { (dir + "/" + n, $0) } }
    }

    /// Names of every `iface` line, found without our parser, so a stanza we miss still gets asked for.
    static func declaredNames(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "iface" else { return nil }
            return String(words[1].split(separator: ":")[0])
        }
    }

    static func ifquery(file: URL, names: [String]) throws -> [IfqueryInterface] {
        let path = ["/usr/sbin/ifquery", "/sbin/ifquery"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            Issue.record("ifquery not found: install Debian's ifupdown2 (scripts/setup does)")
            return []
        }
        let (_, out) = try ProcessOutput.run(URL(fileURLWithPath: path), ["-i", file.path, "-o", "json"] + names)
        let json = try JSONReader.parse(out)
        return (json.arrayValue ?? []).compactMap(IfqueryInterface.init(json:))
    }
}
