import Foundation
import PVE2NixCore
import PVE2NixTesting
import PVE2NixViews
import Testing

/// Mutated bundles (numbers at the edges of their types, truncation, binary garbage, CRLF, empty
/// files, huge lines, deep nesting, duplicated, deleted and swapped lines) run through load, plan,
/// inspect and generate in process: no trap, every new diagnostic names a file, and a plan that
/// changes under a mutation that must be reported comes with a new diagnostic.
///
/// CI runs 300 seeded cases per site. On demand:
///   PVE2NIX_LAB=0 PVE2NIX_FUZZ_CASES=20000 PVE2NIX_FUZZ_SEED=7 swift test --filter FuzzTests
/// A trap kills the test process: PVE2NIX_FUZZ_VERBOSE=1 prints each case before it runs, and
/// PVE2NIX_FUZZ_SEED=S PVE2NIX_FUZZ_CASE=I replays one case.
@Suite struct FuzzTests {
    struct SiteUnderTest: Sendable {
        var name: String
        var files: [String: String]
        var node: NodeName
    }

    /// Outcome of one run, reduced to what the assertions compare.
    struct Outcome {
        var planJSON: String
        var diagnostics: [Diagnostic]
    }

    static let environment = ProcessInfo.processInfo.environment
    static let caseCount = environment["PVE2NIX_FUZZ_CASES"].flatMap { Int($0) } ?? 300
    static let seed = environment["PVE2NIX_FUZZ_SEED"].flatMap { UInt64($0) } ?? 20_261_120
    static let onlyCase = environment["PVE2NIX_FUZZ_CASE"].flatMap { Int($0) }
    static let verbose = environment["PVE2NIX_FUZZ_VERBOSE"] == "1"
    static let shards = 4

    /// The node each site converts; a site missing here converts the node it was captured from when
    /// that is in the bundle, else its first node.
    static let nodes: [String: NodeName] = ["villa": "villa-pve-01", "office": "pve1", "dmz": "villa-pve-01"]

    static let sites: [String: SiteUnderTest] = {
        var sites = ["villa": SiteUnderTest(name: "villa", files: Fixtures.villaFiles(), node: "villa-pve-01")]
        let root = Fixtures.fixtures.appendingPathComponent("sites")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] {
            let files = Fixtures.files(under: root.appendingPathComponent(name))
            guard !files.isEmpty else { continue }
            let captured = (try? TOMLReader.parse(files["bundle.toml"] ?? ""))?["captured_from"]?.string
            let names = Set(files.keys.filter { $0.hasPrefix("nodes/") }.map { String($0.split(separator: "/")[1]) })
            let node = nodes[name] ?? captured.flatMap { names.contains($0) ? NodeName($0) : nil } ?? names.sorted().first.map { NodeName($0) }
            sites[name] = SiteUnderTest(name: name, files: files, node: node ?? NodeName(name))
        }
        return sites
    }()

    static let baselines: [String: Outcome] = sites.mapValues { site in
        (try? run(site.files, node: site.node)) ?? Outcome(planJSON: "", diagnostics: [])
    }

    static var arguments: [(String, Int)] {
        sites.keys.sorted().flatMap { name in (0..<shards).map { (name, $0) } }
    }

    /// Everything `plan`, `inspect` and `generate` do with a bundle, in process.
    static func run(_ files: [String: String], node: NodeName) throws -> Outcome {
        let site = SiteLoader(tree: InMemoryFileTree(files)).load()
        let plan = Planner(site: site).plan(node: node)
        _ = PlanTextView(plan: plan).render()
        _ = InspectTextView(site: site).render()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let planJSON = String(decoding: try encoder.encode(plan), as: UTF8.self)
        _ = try encoder.encode(site)
        let host = HostGenerator(site: site, plan: plan, options: GenerateOptions()).generate()
        return Outcome(planJSON: planJSON, diagnostics: site.diagnostics + plan.diagnostics + host.diagnostics)
    }

    /// Diagnostics compared without their line: inserting a line moves every later line number,
    /// which must not count as something new being said.
    static func key(_ d: Diagnostic) -> String { "\(d.severity.rawValue)|\(d.file ?? "<site>")|\(d.message)" }

    /// Conclusions about the whole site that do not name a file yet (Planning/DrainPlanner.swift,
    /// Generate/HostGenerator.swift, Generate/DiskoModule.swift). Each follows from input that may be
    /// valid (a peer offline, a mirrored root), so it must say which file to look at; remove an entry
    /// once its diagnostic does.
    static let knownSiteWide = [
        "no --ssh-key given",
    ]

    static func isKnownSiteWide(_ d: Diagnostic) -> Bool { knownSiteWide.contains { d.message.hasPrefix($0) } }

    /// A value pve2nix passes through without reading (`hostpci0: …,x-vga=1`, a description) shows up
    /// as written in the plan: a reviewer sees it, so that change is not silent.
    static func showsVerbatim(_ mutation: BundleMutation, _ planJSON: String) -> Bool {
        guard case .edgeNumber(_, let value) = mutation else { return false }
        return planJSON.contains(value)
    }

    @Test func baselinesAreStable() throws {
        for (name, site) in Self.sites {
            let again = try Self.run(site.files, node: site.node)
            #expect(again.planJSON == Self.baselines[name]?.planJSON, "\(name): planning the same bundle twice gives different plans")
            #expect(!again.planJSON.isEmpty)
        }
    }

    @Test(arguments: arguments)
    func mutatedBundles(site name: String, shard: Int) throws {
        let site = try #require(Self.sites[name])
        let baseline = try #require(Self.baselines[name])
        let known = Set(baseline.diagnostics.map(Self.key))
        let mutator = BundleMutator(files: site.files)
        let indices = Self.onlyCase.map { [$0] } ?? Array(stride(from: shard, to: Self.caseCount, by: Self.shards))
        guard Self.onlyCase == nil || shard == 0 else { return }
        var failures: [String] = []
        for index in indices {
            let c = mutator.mutationCase(seed: Self.seed, index: index)
            if Self.verbose { FileHandle.standardError.write(Data("fuzz \(name): \(c)\n".utf8)) }
            let outcome: Outcome
            do {
                outcome = try Self.run(c.files, node: site.node)
            } catch {
                failures.append("\(name) \(c): inspect --json or plan --json cannot encode: \(error)")
                continue
            }
            let new = outcome.diagnostics.filter { !known.contains(Self.key($0)) }
            if let unplaced = new.first(where: { $0.file == nil && !Self.isKnownSiteWide($0) }) {
                failures.append("\(name) \(c): a diagnostic names no file: \(unplaced.rendered)")
            }
            if c.mutation.mustBeReported, outcome.planJSON != baseline.planJSON, new.isEmpty, !Self.showsVerbatim(c.mutation, outcome.planJSON) {
                failures.append("\(name) \(c): the plan changed and no new diagnostic says why")
            }
        }
        for failure in failures.prefix(25) { Issue.record(Comment(rawValue: failure)) }
        if failures.count > 25 { Issue.record(Comment(rawValue: "\(failures.count - 25) more fuzz failures in \(name) shard \(shard)")) }
    }
}
