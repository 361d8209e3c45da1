import Foundation
import PVE2NixCore
import PVE2NixTesting
import PVE2NixViews
import Testing

/// Numbers, nesting and patterns from a capture that once trapped or hung: each is now an error
/// naming file and line, and plan, inspect and generate still run.
@Suite struct InputNumberTests {
    static let ct = "nodes/villa-pve-01/lxc/101.conf"
    static let vm = "nodes/villa-pve-01/qemu-server/120.conf"

    /// Loads villa with `change` applied, and runs everything the CLI runs on it.
    static func run(_ change: (inout [String: String]) -> Void) -> (site: Site, plan: ConversionPlan, diagnostics: [Diagnostic]) {
        var files = Fixtures.villaFiles()
        change(&files)
        let site = SiteLoader(tree: InMemoryFileTree(files)).load()
        let plan = Planner(site: site).plan(node: "villa-pve-01")
        _ = PlanTextView(plan: plan).render()
        _ = InspectTextView(site: site).render()
        let host = HostGenerator(site: site, plan: plan, options: GenerateOptions()).generate()
        return (site, plan, plan.diagnostics + host.diagnostics)
    }

    static func replacing(_ path: String, _ old: String, _ new: String) -> (inout [String: String]) -> Void {
        { files in
            let text = files[path]!
            precondition(text.contains(old), "\(path) has no '\(old)'")
            files[path] = text.replacingOccurrences(of: old, with: new)
        }
    }

    static func line(of needle: String, in text: String) -> Int? {
        text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(needle) }.map { $0 + 1 }
    }

    static func expectError(_ diagnostics: [Diagnostic], file: String, line: Int?, containing words: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        let hit = diagnostics.first { $0.severity == .error && $0.file == file && $0.line == line && $0.message.contains(words) }
        #expect(hit != nil, "no error at \(file):\(line.map(String.init) ?? "-") containing '\(words)'; got \(diagnostics.filter { $0.file == file }.map(\.rendered))",
                sourceLocation: sourceLocation)
    }

    // MARK: The reproductions of the issue

    @Test func hugeContainerMemoryIsAnErrorNotAnOverflow() {
        let (site, _, diagnostics) = Self.run(Self.replacing(Self.ct, "memory: 512", "memory: 17592186044416"))
        Self.expectError(diagnostics, file: Self.ct, line: Self.line(of: "memory: 512", in: Fixtures.villaFiles()[Self.ct]!), containing: "memory")
        // The resource list's figure stands in, so the drain still sees a size.
        #expect(site.node("villa-pve-01")?.guests.first { $0.vmid == VMID(101) }?.memoryBytes == 536_870_912)
    }

    @Test func hugeMemTotalIsAnErrorNotAnOverflow() {
        let (site, _, diagnostics) = Self.run(Self.replacing("nodes/villa-pve-01/meminfo", "MemTotal:       32696512 kB", "MemTotal: 9223372036854775 kB"))
        Self.expectError(diagnostics, file: "nodes/villa-pve-01/meminfo", line: 1, containing: "MemTotal")
        #expect(site.node("villa-pve-01")?.meminfo == nil)
    }

    @Test func hugeDiskSizeIsAnErrorNotAnOverflow() {
        let (site, _, diagnostics) = Self.run(Self.replacing(Self.vm, "size=32G", "size=9000000000T"))
        let line = Self.line(of: "scsi0:", in: Fixtures.villaFiles()[Self.vm]!)
        Self.expectError(diagnostics, file: Self.vm, line: line, containing: "size=9000000000T")
        #expect(site.node("villa-pve-01")?.guests.first { $0.vmid == VMID(120) }?.volumes.first { $0.key == "scsi0" }?.sizeBytes == nil)
    }

    // MARK: Ranges that make sense

    @Test(arguments: [("cores: 1", "cores: -1", "cores"), ("memory: 512", "memory: 0", "memory"), ("cores: 1", "cores: 9223372036854775807", "cores")])
    func containerNumbersOutOfRange(old: String, new: String, key: String) {
        let (_, _, diagnostics) = Self.run(Self.replacing(Self.ct, old, new))
        Self.expectError(diagnostics, file: Self.ct, line: Self.line(of: old, in: Fixtures.villaFiles()[Self.ct]!), containing: key)
    }

    @Test func coresTimesSocketsCannotOverflow() {
        let (_, _, diagnostics) = Self.run { files in
            Self.replacing(Self.vm, "cores: 2", "cores: 8192")(&files)
            Self.replacing(Self.vm, "sockets: 1", "sockets: 8192")(&files)
        }
        Self.expectError(diagnostics, file: Self.vm, line: Self.line(of: "cores: 2", in: Fixtures.villaFiles()[Self.vm]!), containing: "cores x sockets")
    }

    @Test func apiNumbersOutOfRange() {
        let resources = Fixtures.villaFiles()["cluster/resources.json"]!
        let (_, _, diagnostics) = Self.run { files in
            var text = resources
            text = text.replacingOccurrences(of: "\"maxcpu\": 1,", with: "\"maxcpu\": 1e308,", options: [], range: text.range(of: "\"maxcpu\": 1,"))
            text = text.replacingOccurrences(of: "\"maxmem\": 2147483648,", with: "\"maxmem\": -1,", options: [], range: text.range(of: "\"maxmem\": 2147483648,"))
            files["cluster/resources.json"] = text
        }
        Self.expectError(diagnostics, file: "cluster/resources.json", line: Self.line(of: "\"maxcpu\": 1,", in: resources), containing: "maxcpu")
        Self.expectError(diagnostics, file: "cluster/resources.json", line: Self.line(of: "\"maxmem\": 2147483648,", in: resources), containing: "maxmem")
    }

    @Test func nodeStatusFreeBelowZeroCannotOverflow() {
        let path = "nodes/villa-pve-02/status.json"
        let (_, _, diagnostics) = Self.run {
            $0[path] = "{\n\"memory\": {\n\"total\": 1000000000000000000,\n\"free\": -9100000000000000000\n},\n\"cpuinfo\": {\"cpus\": 4}\n}\n"
        }
        Self.expectError(diagnostics, file: path, line: 3, containing: "total")
        Self.expectError(diagnostics, file: path, line: 4, containing: "free")
    }

    @Test func nonFiniteJSONNumberIsASyntaxError() {
        let (_, _, diagnostics) = Self.run { $0["cluster/ha-resources.json"] = "[\n{\"sid\": \"ct:102\", \"max_restart\": 1e400}\n]" }
        Self.expectError(diagnostics, file: "cluster/ha-resources.json", line: 2, containing: "out of range")
    }

    @Test func haNodeListOfColonsIsNoTrap() {
        let (site, _, _) = Self.run { $0["cluster/ha-rules.json"] = "[{\"rule\":\"r\",\"type\":\"node-affinity\",\"resources\":\"ct:102\",\"nodes\":\":,::\"}]" }
        #expect(site.haRules.isEmpty)
    }

    @Test func vcpuOvercommitOutOfRange() {
        let (site, _, diagnostics) = Self.run(Self.replacing("site.toml", "vcpu_overcommit = 4.0", "vcpu_overcommit = 1e308"))
        Self.expectError(diagnostics, file: "site.toml", line: Self.line(of: "vcpu_overcommit", in: Fixtures.villaFiles()["site.toml"]!), containing: "vcpu_overcommit")
        #expect(site.intent.vcpuOvercommit == 4.0)
    }

    @Test func unpairedSurrogateInJSONIsNoTrap() throws {
        let value = try JSONReader.parse(#"["\ud800\u0041"]"#)
        #expect(value.arrayValue?.first?.stringValue == "\u{FFFD}")
    }

    // MARK: Recursion and patterns

    @Test(arguments: ["[", "{\"a\":"])
    func deepJSONIsAnErrorNotAStackOverflow(_ opener: String) {
        let (_, _, diagnostics) = Self.run { $0["nodes/villa-pve-01/lsblk.json"] = String(repeating: opener, count: 100_000) }
        Self.expectError(diagnostics, file: "nodes/villa-pve-01/lsblk.json", line: 1, containing: "nested")
    }

    @Test func deepTOMLKeyIsAnErrorNotAStackOverflow() {
        let key = Array(repeating: "a", count: 100_000).joined(separator: ".")
        let (_, _, diagnostics) = Self.run { $0["site.toml"] = "[\(key)]\n" }
        Self.expectError(diagnostics, file: "site.toml", line: 1, containing: "dotted parts")
    }

    @Test func pathologicalGlobIsFast() {
        let start = ContinuousClock.now
        #expect(!GlobPattern.matches(String(repeating: "*a", count: 40) + "b", String(repeating: "a", count: 200)))
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(GlobPattern.matches("*.cfg", "eth0.cfg"))
        #expect(!GlobPattern.matches("*", ".hidden"))
        #expect(GlobPattern.matches("[!x]?[a-c]*", "yzb"))
        #expect(GlobPattern.matches("a[", "a["))
    }

    @Test func fileSourcingItselfIsAnError() {
        let path = "nodes/villa-pve-01/interfaces.d/mgmt-ipv6"
        let (_, _, diagnostics) = Self.run { $0[path] = $0[path]! + "source /etc/network/interfaces.d/*\n" }
        #expect(diagnostics.contains { $0.severity == .error && $0.file == path && $0.line == 4 && $0.message.contains("loop") })
    }

    @Test func globMatchingThousandsOfFilesIsBounded() {
        let (site, _, diagnostics) = Self.run { files in
            for i in 0..<5000 { files["nodes/villa-pve-01/interfaces.d/extra\(i)"] = "iface dummy\(i) inet manual\n" }
        }
        #expect(diagnostics.contains { $0.severity == .error && $0.file == "nodes/villa-pve-01/interfaces" && $0.line != nil && $0.message.contains("files in all") })
        #expect(site.node("villa-pve-01")?.interfaceFiles.count == InterfacesParser().maxFilesRead)
    }

    @Test func sourceFanOutIsBounded() {
        let start = ContinuousClock.now
        let (_, _, diagnostics) = Self.run { files in
            // Ten levels of ten files, each sourcing every file of the next level: 10^9 reads unbounded.
            for level in 0..<10 {
                for i in 0..<10 {
                    files["nodes/villa-pve-01/l\(level)/f\(i)"] = "source /etc/network/l\(level + 1)/*\n"
                }
            }
            files["nodes/villa-pve-01/interfaces"]! += "source /etc/network/l0/*\n"
        }
        #expect(diagnostics.contains { $0.severity == .error && $0.file?.hasPrefix("nodes/villa-pve-01/") == true && $0.line != nil && $0.message.contains("files in all") })
        #expect(ContinuousClock.now - start < .seconds(20))
    }
}
