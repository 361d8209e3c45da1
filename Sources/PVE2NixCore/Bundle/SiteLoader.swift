import Synchronization

/// Reads a capture bundle (format version 1) from a `FileTree` into a `Site`. Never throws:
/// every problem becomes a diagnostic and the rest is still read.
public struct SiteLoader: Sendable {
    public let tree: any FileTree
    /// When set, only this node's own files are read in full; of its peers only `status.json`
    /// (their capacity), which is all a plan for this node needs. Planning one node of a
    /// thousand-node site then reads a thousandth of the guest configs.
    public let focus: NodeName?
    private let lineEnds: LineEndRecorder
    public init(tree: any FileTree, focus: NodeName? = nil) {
        let recorder = LineEndRecorder()
        self.lineEnds = recorder
        self.tree = LineEndNormalizingTree(inner: tree, recorder: recorder)
        self.focus = focus
    }

    public func load() -> Site {
        var site = loadParts()
        // Files saved with Windows line ends are read as if they had Unix ones, and named.
        for path in lineEnds.paths {
            site.diagnostics.append(.warning(path, nil, "has CRLF (Windows) line ends; read as if each line ended in LF. Captures should be copied byte for byte (scp, not a Windows editor)."))
        }
        return site
    }

    private func loadParts() -> Site {
        var diagnostics: [Diagnostic] = []
        func collect<T>(_ pair: (T, [Diagnostic])) -> T {
            diagnostics.append(contentsOf: pair.1)
            return pair.0
        }
        func required(_ path: String, _ what: String) -> String? {
            guard let text = tree.read(path) else {
                diagnostics.append(.error(path, nil, "missing: \(what). Capture it again (see the README's capture bundle table)."))
                return nil
            }
            return text
        }

        let format = readFormat(&diagnostics)
        let cluster = required("cluster/status.json", "GET /cluster/status").flatMap { collect(CaptureDecoders.clusterStatus($0, file: "cluster/status.json")) }
        let resources = required("cluster/resources.json", "GET /cluster/resources?type=vm").map { collect(CaptureDecoders.resources($0, file: "cluster/resources.json")) } ?? []
        let ha = tree.read("cluster/ha-resources.json").map { collect(CaptureDecoders.haResources($0, file: "cluster/ha-resources.json")) } ?? []
        let rules = tree.read("cluster/ha-rules.json").map { collect(CaptureDecoders.haRules($0, file: "cluster/ha-rules.json")) } ?? []
        let groups = tree.read("cluster/ha-groups.json").map { collect(CaptureDecoders.haGroups($0, file: "cluster/ha-groups.json")) } ?? []
        let storages = required("cluster/storage.cfg", "/etc/pve/storage.cfg").map { collect(StorageConfigParser.parse($0, file: "cluster/storage.cfg")) } ?? []
        let corosync = required("cluster/corosync.conf", "/etc/pve/corosync.conf").map { collect(CorosyncParser.parse($0, file: "cluster/corosync.conf")) }
        let intent = tree.read("site.toml").map { collect(SiteIntentParser.parse($0, file: "site.toml")) } ?? SiteIntent()

        var nodes: [NodeCapture] = []
        let names = tree.list("nodes") ?? []
        if names.isEmpty { diagnostics.append(.error("nodes", nil, "the bundle has no nodes/<node>/ directories")) }
        // Every lookup below is by key: loading grows with the bundle, not with its square.
        var resourceByVMID: [VMID: GuestResource] = [:]
        for resource in resources where resourceByVMID[resource.vmid] == nil { resourceByVMID[resource.vmid] = resource }
        var nodeIndex: [NodeName: Int] = [:]
        for name in names {
            let node = NodeName(name)
            nodeIndex[node] = nodes.count
            if let focus, focus != node {
                nodes.append(loadPeer(node, diagnostics: &diagnostics))
            } else {
                nodes.append(loadNode(node, resources: resourceByVMID, diagnostics: &diagnostics))
            }
        }
        // Guests the cluster places on a captured node but whose config is missing.
        var present: [NodeName: Set<VMID>] = [:]
        for node in nodes { present[node.name] = Set(node.guests.map(\.vmid)) }
        var added: Set<Int> = []
        for resource in resources {
            guard let index = nodeIndex[resource.node], focus == nil || focus == resource.node,
                  present[resource.node]?.insert(resource.vmid).inserted == true else { continue }
            let dir = "nodes/\(resource.node)/\(resource.kind.configDirectory)"
            diagnostics.append(.info("cluster/resources.json", resource.line,
                "\(resource.kind.shortName) \(resource.vmid) is on \(resource.node) but \(dir)/\(resource.vmid).conf is not in the bundle; its blockers cannot be checked"))
            nodes[index].guests.append(collect(Guest.build(config: nil, resource: resource, node: resource.node)))
            added.insert(index)
        }
        for index in added { nodes[index].guests.sort { $0.vmid < $1.vmid } }
        return Site(format: format, cluster: cluster, resources: resources, haResources: ha, haRules: rules, haGroups: groups, storages: storages,
                    corosync: corosync, nodes: nodes, intent: intent, diagnostics: diagnostics)
    }

    private func readFormat(_ diagnostics: inout [Diagnostic]) -> Int {
        guard let text = tree.read("bundle.toml") else {
            diagnostics.append(.warning("bundle.toml", nil, "missing; assuming capture bundle format 1"))
            return 1
        }
        do {
            let table = try TOMLReader.parse(text)
            guard let format = table["format"]?.int else {
                diagnostics.append(.error("bundle.toml", nil, "no 'format = N' line; this pve2nix reads format 1"))
                return 1
            }
            if format != Site.supportedFormat {
                diagnostics.append(.error("bundle.toml", TOMLLineIndex(text).line(of: "format", inTable: nil),
                    "capture bundle format \(format) is not supported; this pve2nix reads format \(Site.supportedFormat). Capture again with a matching pve2nix."))
            }
            return format
        } catch {
            diagnostics.append(.error("bundle.toml", error.line, "not valid TOML: \(error.message)"))
        }
        return 1
    }

    /// A peer of the focus node: its capacity, nothing else.
    private func loadPeer(_ name: NodeName, diagnostics: inout [Diagnostic]) -> NodeCapture {
        let path = "nodes/\(name)/status.json"
        var status: NodeStatus? = nil
        if let text = tree.read(path) {
            let (value, found) = CaptureDecoders.nodeStatus(text, file: path)
            status = value
            diagnostics.append(contentsOf: found)
        }
        return NodeCapture(name: name, status: status, interfaces: [], interfaceStanzas: [], interfaceFiles: [], links: [], addresses: [],
                           disks: [], diskLinks: [], meminfo: nil, firmware: nil, hostID: nil, guests: [])
    }

    private func loadNode(_ name: NodeName, resources: [VMID: GuestResource], diagnostics: inout [Diagnostic]) -> NodeCapture {
        let dir = "nodes/\(name)"
        func collect<T>(_ pair: (T, [Diagnostic])) -> T {
            diagnostics.append(contentsOf: pair.1)
            return pair.0
        }
        func file(_ leaf: String) -> (path: String, text: String)? {
            tree.read("\(dir)/\(leaf)").map { ("\(dir)/\(leaf)", $0) }
        }
        let status = file("status.json").flatMap { collect(CaptureDecoders.nodeStatus($0.text, file: $0.path)) }
        var stanzas: [InterfaceStanza] = []
        var interfaceFiles: [String] = []
        var interfaces: [NetworkInterface] = []
        if let (path, text) = file("interfaces") {
            let tree = self.tree
            let parser = InterfacesParser(resolveSource: { pattern in SiteLoader.resolve(pattern, nodeDirectory: dir, tree: tree) })
            let document = parser.parse(text, file: path)
            diagnostics.append(contentsOf: document.diagnostics)
            stanzas = document.stanzas
            interfaceFiles = document.filesRead
            interfaces = collect(NetworkInterface.build(from: document))
        }
        let links = file("ip-link.json").map { collect(CaptureDecoders.ipLinks($0.text, file: $0.path)) } ?? []
        // What the kernel says is a plain NIC is physical, whatever its name looks like.
        for i in interfaces.indices where interfaces[i].kind == .other {
            if let link = links.first(where: { $0.name == interfaces[i].name || $0.altNames.contains(interfaces[i].name) }), link.isPhysical {
                interfaces[i].kind = .physical
            }
        }
        let addresses = file("ip-addr.json").map { collect(CaptureDecoders.ipAddresses($0.text, file: $0.path)) } ?? []
        let disks = file("lsblk.json").map { collect(CaptureDecoders.lsblk($0.text, file: $0.path)) } ?? []
        let diskLinks = file("disk-by-id.txt").map { collect(CaptureDecoders.diskByID($0.text, file: $0.path)) } ?? []
        let meminfo = file("meminfo").flatMap { collect(MeminfoParser.parse($0.text, file: $0.path)) }
        var firmware: Firmware? = nil
        if let (path, text) = file("firmware") {
            firmware = Firmware(rawValue: text.trimmingWhitespace().lowercased())
            if firmware == nil { diagnostics.append(.error(path, 1, "expected the word 'uefi' or 'bios', found '\(text.trimmingWhitespace())'")) }
        }
        var hostID: String? = nil
        if let (path, text) = file("hostid") {
            let value = text.trimmingWhitespace().lowercased()
            if value.count == 8, value.allSatisfy(\.isHexDigit) { hostID = value }
            else { diagnostics.append(.error(path, 1, "hostid must be 8 hex digits (the output of 'hostid'), found '\(value)'")) }
        }
        var guests: [Guest] = []
        for kind in [GuestKind.lxc, .qemu] {
            for entry in tree.list("\(dir)/\(kind.configDirectory)") ?? [] where entry.hasSuffix(".conf") {
                let path = "\(dir)/\(kind.configDirectory)/\(entry)"
                guard let vmid = VMID(String(entry.dropLast(5))) else {
                    diagnostics.append(.warning(path, nil, "file name is not <vmid>.conf; ignored"))
                    continue
                }
                guard let text = tree.read(path) else { continue }
                let config = GuestConfigParser.parse(text, kind: kind, vmid: vmid, file: path)
                diagnostics.append(contentsOf: config.diagnostics)
                let resource = resources[vmid]
                if let resource, resource.node != name {
                    diagnostics.append(.warning(path, nil, "the cluster lists \(vmid) on \(resource.node), not \(name); the config is stale or the capture raced a migration"))
                    continue
                }
                if resource == nil {
                    diagnostics.append(.warning(path, nil, "\(vmid) is not in cluster/resources.json; its run state is unknown"))
                }
                guests.append(collect(Guest.build(config: config, resource: resource, node: name)))
            }
        }
        guests.sort { $0.vmid < $1.vmid }
        var capture = NodeCapture(name: name, status: status, interfaces: interfaces, interfaceStanzas: stanzas, interfaceFiles: interfaceFiles,
                                  links: links, addresses: addresses, disks: disks, diskLinks: diskLinks, meminfo: meminfo,
                                  firmware: firmware, hostID: hostID, guests: guests)
        for path in interfaceFiles { capture.interfaceTexts[path] = tree.read(path) }
        return capture
    }

    /// Maps a `source` pattern on the node (`/etc/network/interfaces.d/*`) into the bundle.
    static func resolve(_ pattern: String, nodeDirectory: String, tree: any FileTree) -> [(path: String, contents: String)] {
        var relative = pattern
        if relative.hasPrefix("/etc/network/") { relative = String(relative.dropFirst("/etc/network/".count)) }
        else if relative.hasPrefix("/") { relative = String(relative.dropFirst()) }
        var parts = relative.split(separator: "/").map(String.init)
        guard let leaf = parts.popLast() else { return [] }
        let directory = ([nodeDirectory] + parts).joined(separator: "/")
        let names: [String]
        if leaf.contains(where: { "*?[".contains($0) }) {
            names = (tree.list(directory) ?? []).filter { GlobPattern.matches(leaf, $0) }.sorted()
        } else {
            names = [leaf]
        }
        return names.compactMap { name in
            let path = "\(directory)/\(name)"
            return tree.read(path).map { (path, $0) }
        }
    }
}

extension SiteLoader {
    /// `resolve` for tests that exercise `source` lines against an in-memory tree.
    public static func resolveForTests(_ pattern: String, node: String, tree: any FileTree) -> [(path: String, contents: String)] {
        resolve(pattern, nodeDirectory: node, tree: tree)
    }
}

/// Paths whose text had CRLF line ends, in the order they were first read.
final class LineEndRecorder: Sendable {
    private let state = Mutex<(order: [String], seen: Set<String>)>(([], []))

    func record(_ path: String) {
        state.withLock { s in
            if s.seen.insert(path).inserted { s.order.append(path) }
        }
    }

    var paths: [String] { state.withLock { $0.order } }
}

/// A file tree that turns CRLF line ends into LF and tells the recorder which files had them.
struct LineEndNormalizingTree: FileTree {
    let inner: any FileTree
    let recorder: LineEndRecorder

    func read(_ path: String) -> String? {
        guard let text = inner.read(path) else { return nil }
        guard text.utf8.contains(13) else { return text }
        // Swift treats "\r\n" as one Character; split on it and rejoin with "\n".
        let lines = text.split(separator: "\r\n" as Character, omittingEmptySubsequences: false)
        guard lines.count > 1 else { return text }
        recorder.record(path)
        return lines.joined(separator: "\n")
    }

    func list(_ directory: String) -> [String]? { inner.list(directory) }
}
