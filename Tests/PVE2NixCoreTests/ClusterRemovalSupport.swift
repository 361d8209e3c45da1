import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting

/// A converted node's cluster as `cluster-remove` finds it: the node offline (its disk wiped),
/// its guests moved to a peer, the run journal showing disko done, and a peer's `/etc/pve`.
struct RemovalWorld {
    let cluster: FakeProxmoxCluster
    let peer: FakeClusterPeer
    let journal: InMemoryRunLog
    let clock = ImmediateClock()
    let node: NodeName
    let site: Site

    static let wiped = RunEntry(stage: .disko, subject: .node, phase: .done, detail: "disko formatted the disk")

    /// The villa cluster (3 nodes), or with `extraNode` a fourth member villa-pve-04.
    static func villa(extraNode: Bool = false, schema: ProxmoxSchema? = ProxmoxSchema.bundled(), node: NodeName = "villa-pve-01", wiped: Bool = true) async -> RemovalWorld {
        var files = Fixtures.villaFiles()
        if extraNode { files = withFourthNode(files) }
        return await make(files: files, schema: schema, node: node, wiped: wiped)
    }

    /// The office cluster (PVE 8: HA groups).
    static func office() async -> RemovalWorld {
        await make(files: Fixtures.files(under: Fixtures.fixtures.appendingPathComponent("sites/office")), schema: ProxmoxSchema.bundled("8.3"), node: "pve1", wiped: true)
    }

    static func make(files: [String: String], schema: ProxmoxSchema?, node: NodeName, wiped: Bool) async -> RemovalWorld {
        let tree = InMemoryFileTree(files)
        let site = SiteLoader(tree: tree).load()
        let cluster = FakeProxmoxCluster(site: site, bundle: tree, schema: schema)
        let peerNode = site.memberNames.first { $0 != node }!
        for vmid in await cluster.guests(on: node) { await cluster.relocate(vmid, to: peerNode) }
        await cluster.setOnline(node, false)
        let peer = FakeClusterPeer.seeded(site: site, target: SSHTarget(user: "root", host: "peer"))
        return RemovalWorld(cluster: cluster, peer: peer, journal: InMemoryRunLog(wiped ? [Self.wiped] : []), node: node, site: site)
    }

    static func withFourthNode(_ files: [String: String]) -> [String: String] {
        var files = files
        let entry = #"{"id": "node/villa-pve-04", "ip": "10.1.10.14", "level": "", "local": 0, "name": "villa-pve-04", "nodeid": 4, "online": 1, "type": "node"}"#
        var status = files["cluster/status.json"]!
        status = status.replacingOccurrences(of: #""nodes": 3"#, with: #""nodes": 4"#)
        let end = status.range(of: "]", options: .backwards)!
        status.replaceSubrange(end, with: ",\n  \(entry)\n]")
        files["cluster/status.json"] = status
        let block = "  node {\n    name: villa-pve-04\n    nodeid: 4\n    quorum_votes: 1\n    ring0_addr: 10.1.10.14\n  }\n}\n\nquorum {"
        files["cluster/corosync.conf"] = files["cluster/corosync.conf"]!.replacingOccurrences(of: "}\n\nquorum {", with: block)
        return files
    }

    /// The executor for this world, acting as root@pam (a ticket) unless `api` says otherwise.
    func removal(api: (any ProxmoxAPI)? = nil, journal: (any RunLog)? = nil, configure: (inout ClusterRemoval) -> Void = { _ in }) -> ClusterRemoval {
        let peer = self.peer
        var r = ClusterRemoval(node: node, api: api ?? cluster, journal: journal ?? self.journal, clock: clock) { _, _ in peer }
        r.keys = NodeKeyLines(node: node, addresses: site.cluster?.members.first { $0.name == node }?.ip.map { [$0] } ?? [],
                              hostKeys: [FakeClusterPeer.hostKey(node)])
        r.limits.pollInterval = .seconds(2)
        r.limits.replicationTimeout = .seconds(60)
        configure(&r)
        return r
    }

    var authorizedKeys: String { peer.text("/etc/pve/priv/authorized_keys") ?? "" }
    var knownHosts: String { peer.text("/etc/pve/priv/known_hosts") ?? "" }
}

/// Sends every request as another caller: an API token, or a user other than root@pam.
struct CallerAPI: ProxmoxAPI {
    let cluster: FakeProxmoxCluster
    let caller: ProxmoxCaller
    func send(_ request: ProxmoxRequest) async throws -> JSONValue { try await cluster.send(request, as: caller) }
}

/// Throws right after the k-th entry is written: like SIGKILL after that write.
actor CrashingRunLog: RunLog {
    let inner: InMemoryRunLog
    let crashAfter: Int
    var written = 0
    init(_ inner: InMemoryRunLog, crashAfter: Int) { self.inner = inner; self.crashAfter = crashAfter }
    func entries() async throws -> [RunEntry] { await inner.entries() }
    func append(_ entry: RunEntry) async throws {
        try await inner.append(entry)
        written += 1
        if written == crashAfter { throw SimulatedCrash() }
    }
}
