import PVE2NixCore
import PVE2NixRuntime

/// The reads a client or an operator makes, in the shape the schema's `returns` gives them: the
/// cluster, its nodes, the guests per node and their current status, the node's config.
extension FakeProxmoxCluster {
    /// The pve-manager version: the first node's captured `pveversion` when it is of the schema's release.
    func version() -> JSONValue {
        let release = schema?.release ?? "9.1"
        let captured = seed.nodes.lazy.compactMap { n in self.captured.nodeStatus[n.name].flatMap { try? JSONReader.parse($0) }.flatMap { ($0["data"] ?? $0)["pveversion"]?.stringValue } }.first
        var version = "\(release).0", repoid = "0123456789abcdef"
        if let parts = captured?.split(separator: "/"), parts.count >= 3, parts[1].hasPrefix(release) {
            version = String(parts[1])
            repoid = String(parts[2])
        }
        return Self.object([("version", Self.str(version)), ("release", Self.str(release)), ("repoid", Self.str(repoid)), ("console", Self.str("html5"))])
    }

    func resource(_ vmid: VMID) -> GuestResource? { seed.resources.first { $0.vmid == vmid } }

    func nodeList() -> JSONValue {
        .array(online.sorted { $0.key < $1.key }.map { node, up in
            let status = seed.node(node)?.status
            var m: [(String, JSONValue)] = [("node", Self.str(node.rawValue)), ("id", Self.str("node/\(node)")), ("type", Self.str("node")),
                                            ("status", Self.str(up ? "online" : "offline")), ("level", Self.str(""))]
            if up {
                m += [("cpu", .number(0.05, line: 0)), ("maxcpu", Self.num(status?.cpus ?? 4)), ("maxmem", Self.num(status?.memoryTotalBytes ?? 16 << 30)),
                      ("mem", Self.num(status?.memoryUsedBytes ?? 4 << 30)), ("uptime", Self.num(3_456_789))]
            }
            if let fp = sslFingerprint { m.append(("ssl_fingerprint", Self.str(fp))) }
            return Self.object(m)
        }, line: 0)
    }

    func clusterStatus() -> JSONValue {
        let name = seed.cluster?.name ?? "cluster"
        var items = [Self.object([("id", Self.str("cluster")), ("name", Self.str(name)), ("type", Self.str("cluster")),
                                  ("quorate", Self.num(quorate ? 1 : 0)), ("nodes", Self.num(online.count)), ("version", Self.num(seed.cluster?.version ?? 1))])]
        let serving = servingNode
        for (i, (node, up)) in online.sorted(by: { $0.key < $1.key }).enumerated() {
            let member = seed.cluster?.members.first { $0.name == node }
            items.append(Self.object([("id", Self.str("node/\(node)")), ("type", Self.str("node")), ("name", Self.str(node.rawValue)),
                                      ("online", Self.num(up ? 1 : 0)), ("ip", Self.str(member?.ip ?? "")), ("nodeid", Self.num(member?.nodeID ?? i + 1)),
                                      ("local", Self.num(node == serving ? 1 : 0)), ("level", Self.str(""))]))
        }
        return .array(items, line: 0)
    }

    /// `GET /cluster/resources`: guests (`type=vm`), nodes, storages; guests only with `VM.Audit`.
    func clusterResources(_ request: ProxmoxRequest) -> JSONValue {
        let type = request.parameters["type"]?.text
        var items: [JSONValue] = []
        if type == nil || type == "node" {
            for (node, up) in online.sorted(by: { $0.key < $1.key }) {
                items.append(Self.object([("id", Self.str("node/\(node)")), ("type", Self.str("node")), ("node", Self.str(node.rawValue)),
                                          ("status", Self.str(up ? "online" : "offline")), ("level", Self.str(""))]))
            }
        }
        if type == nil || type == "vm" {
            for (id, g) in guests.sorted(by: { $0.key < $1.key }) where audits(id) {
                let r = resource(id)
                var m: [(String, JSONValue)] = [
                    ("id", Self.str("\(g.kind.rawValue)/\(id)")), ("vmid", Self.num(id.rawValue)), ("type", Self.str(g.kind.rawValue)), ("name", Self.str(g.name)),
                    ("node", Self.str(g.node.rawValue)), ("status", Self.str(g.status)), ("template", Self.num(g.template ? 1 : 0)),
                    ("maxmem", Self.num(r?.maxMemoryBytes ?? memoryBytes(id))), ("maxdisk", Self.num(r?.maxDiskBytes ?? diskBytes(id, localOnly: false))),
                    ("maxcpu", .number(r?.maxCPU ?? 1, line: 0)), ("uptime", Self.num(g.status == "running" ? 1_234_567 : 0)),
                ]
                if let lock = g.lock { m.append(("lock", Self.str(lock))) }
                if let h = ha.resources[id] { m.append(("hastate", Self.str(h.crmState))) }
                if let tags = r?.tags, !tags.isEmpty { m.append(("tags", Self.str(tags.joined(separator: ";")))) }
                items.append(Self.object(m))
            }
        }
        if type == nil || type == "storage" {
            for (node, _) in online.sorted(by: { $0.key < $1.key }) {
                for s in seed.storages where s.isAvailable(on: node) {
                    items.append(Self.object([("id", Self.str("storage/\(node)/\(s.id)")), ("type", Self.str("storage")), ("storage", Self.str(s.id)),
                                              ("node", Self.str(node.rawValue)), ("status", Self.str("available")), ("shared", Self.num(s.shared ? 1 : 0)),
                                              ("plugintype", Self.str(s.type))]))
                }
            }
        }
        return .array(items, line: 0)
    }

    func nextID() -> JSONValue {
        var id = 100
        while guests[VMID(id)] != nil { id += 1 }
        // The API hands the id back as a string.
        return Self.str(String(id))
    }

    func corosyncNodes() -> JSONValue {
        .array((seed.corosync?.nodes ?? []).filter { !membership.removed.contains($0.name) }.map { n in
            Self.object([("node", Self.str(n.name.rawValue)), ("name", Self.str(n.name.rawValue)), ("nodeid", Self.num(n.nodeID ?? 0)),
                         ("quorum_votes", Self.num(n.quorumVotes)), ("ring0_addr", Self.str(n.ringAddresses.first ?? ""))])
        }, line: 0)
    }

    func storageList() -> JSONValue {
        .array(seed.storages.map { s in
            Self.object([("storage", Self.str(s.id)), ("type", Self.str(s.type))] + s.properties.sorted { $0.key < $1.key }.map { ($0.key, Self.str($0.value)) })
        }, line: 0)
    }

    /// The captured answer as the node gave it, or one made from what the bundle knows.
    func nodeStatus(_ request: ProxmoxRequest) throws -> JSONValue {
        let node = NodeName(request.pathParameters["node"]?.text ?? "")
        if let text = captured.nodeStatus[node], let json = try? JSONReader.parse(text) { return json["data"] ?? json }
        let s = seed.node(node)?.status
        let total = s?.memoryTotalBytes ?? 16 << 30, used = s?.memoryUsedBytes ?? 4 << 30
        let release = schema?.release ?? "9.1"
        return Self.object([
            ("cpu", .number(0.05, line: 0)), ("uptime", Self.num(3_456_789)), ("pveversion", Self.str(s?.pveVersion ?? "pve-manager/\(release).0/0123456789abcdef")),
            ("kversion", Self.str(s?.kernelVersion ?? "Linux 6.14.11-4-pve")), ("loadavg", .array(["0.10", "0.10", "0.10"].map(Self.str), line: 0)),
            ("cpuinfo", Self.object([("cpus", Self.num(s?.cpus ?? 4)), ("cores", Self.num(s?.cpus ?? 4)), ("sockets", Self.num(1)), ("model", Self.str(s?.cpuModel ?? "QEMU Virtual CPU"))])),
            ("memory", Self.object([("total", Self.num(total)), ("used", Self.num(used)), ("free", Self.num(total - used)), ("available", Self.num(total - used))])),
            ("rootfs", Self.object([("total", Self.num(100 << 30)), ("used", Self.num(10 << 30)), ("free", Self.num(90 << 30)), ("avail", Self.num(85 << 30))])),
            ("current-kernel", Self.object([("sysname", Self.str("Linux")), ("release", Self.str("6.14.11-4-pve")), ("machine", Self.str("x86_64")), ("version", Self.str("#1 SMP PREEMPT_DYNAMIC"))])),
            ("boot-info", Self.object([("mode", Self.str(seed.node(node)?.firmware == .bios ? "legacy-bios" : "efi"))])),
        ])
    }

    // MARK: Node config

    func nodeConfigDigest(_ node: NodeName) -> String {
        var h: UInt64 = 0x8422_2325_cbf2_9ce4
        for b in (nodeConfigs[node] ?? [:]).sorted(by: { $0.key < $1.key }).map({ "\($0.key): \($0.value)\n" }).joined().utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16).leftPadded(16)
        return String((hex + hex + hex).prefix(40))
    }

    /// `GET /nodes/{node}/config`: what `/etc/pve/nodes/<node>/config` holds (`description` is its comment).
    func nodeConfig(_ request: ProxmoxRequest) -> JSONValue {
        let node = NodeName(request.pathParameters["node"]?.text ?? "")
        let only = request.parameters["property"]?.text
        let values = (nodeConfigs[node] ?? [:]).filter { only == nil || only == "all" || $0.key == only }
        return Self.object(values.sorted { $0.key < $1.key }.map { ($0.key, Self.str($0.value)) } + [("digest", Self.str(nodeConfigDigest(node)))])
    }

    func setNodeConfig(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let node = NodeName(request.pathParameters["node"]?.text ?? "")
        try requireQuorum(where_)
        if let digest = request.parameters["digest"]?.text, digest != nodeConfigDigest(node) {
            throw ProxmoxAPIError(status: 500, reason: "detected modified configuration - file changed by other user? Try again.", request: where_)
        }
        var config = nodeConfigs[node] ?? [:]
        for key in (request.parameters["delete"]?.text ?? "").split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " }) { config[String(key)] = nil }
        for (key, value) in request.parameters where !["node", "delete", "digest"].contains(key) { config[key] = value.text }
        nodeConfigs[node] = config
        return .null(line: 0)
    }

    // MARK: Guests per node

    func guestList(_ request: ProxmoxRequest) -> JSONValue {
        let node = NodeName(request.pathParameters["node"]?.text ?? "")
        let kind: GuestKind = request.template.hasSuffix("/qemu") ? .qemu : .lxc
        return .array(guests.filter { $0.value.node == node && $0.value.kind == kind && audits($0.key) }.sorted { $0.key < $1.key }.map { guestSummary($0.key, $0.value) }, line: 0)
    }

    func guestSummary(_ vmid: VMID, _ g: Guest) -> JSONValue {
        let r = resource(vmid)
        var m: [(String, JSONValue)] = [("vmid", Self.num(vmid.rawValue)), ("name", Self.str(g.name)), ("status", Self.str(g.status)),
                                        ("maxmem", Self.num(r?.maxMemoryBytes ?? memoryBytes(vmid))), ("maxdisk", Self.num(r?.maxDiskBytes ?? diskBytes(vmid, localOnly: false))),
                                        ("cpus", .number(r?.maxCPU ?? 1, line: 0)), ("uptime", Self.num(g.status == "running" ? 1_234_567 : 0))]
        if g.template { m.append(("template", Self.num(1))) }
        if let lock = g.lock { m.append(("lock", Self.str(lock))) }
        if g.kind == .qemu { m.append(("qmpstatus", Self.str(g.status))) }
        if let tags = r?.tags, !tags.isEmpty { m.append(("tags", Self.str(tags.joined(separator: ";")))) }
        return Self.object(m)
    }

    /// `…/status/current`: the summary plus the guest's HA state.
    func guestStatus(_ request: ProxmoxRequest) throws -> JSONValue {
        let (vmid, _, guest) = try guestOnNode(request)
        var members = guestSummary(vmid, guest).objectMembers ?? []
        var haMembers: [(String, JSONValue)] = [("managed", Self.num(ha.resources[vmid] == nil ? 0 : 1))]
        if let r = ha.resources[vmid] {
            haMembers += [("state", Self.str(r.crmState)), ("request_state", Self.str(r.state))]
            if let g = r.group { haMembers.append(("group", Self.str(g))) }
        }
        members.append((key: "ha", value: Self.object(haMembers)))
        return .object(members, line: 0)
    }
}
