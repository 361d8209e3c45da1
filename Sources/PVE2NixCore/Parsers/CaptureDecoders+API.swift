extension CaptureDecoders {
    public static func clusterStatus(_ text: String, file: String) -> (ClusterStatus?, [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return (nil, parseDiagnostics) }
        guard let list = unwrapData(json).arrayValue else {
            return (nil, [.error(file, json.line, "expected the 'data' array of GET /cluster/status")])
        }
        var diagnostics: [Diagnostic] = []
        var status = ClusterStatus(name: nil, quorate: false, nodeCount: nil, version: nil, members: [])
        var sawCluster = false
        for entry in list {
            switch entry["type"]?.stringValue {
            case "cluster":
                sawCluster = true
                status.name = entry["name"]?.stringValue
                status.quorate = flag(entry, "quorate", file: file, &diagnostics) ?? false
                status.nodeCount = entry["nodes"]?.intValue
                status.version = entry["version"]?.intValue
            case "node":
                guard let name = entry["name"]?.stringValue else {
                    diagnostics.append(.error(file, entry.line, "node entry without 'name'"))
                    continue
                }
                let nodeID = integer(entry, "nodeid", in: InputLimits.nodeID, "a corosync node id", file: file, &diagnostics)
                if entry["online"] == nil {
                    diagnostics.append(.warning(file, entry.line, "node \(name.prefix(40)) has no 'online' field; it is taken to be offline. Capture GET /cluster/status again."))
                }
                status.members.append(ClusterMember(name: NodeName(name), nodeID: nodeID, ip: entry["ip"]?.stringValue,
                                                    online: flag(entry, "online", file: file, &diagnostics) ?? false, line: entry.line))
            default:
                diagnostics.append(.warning(file, entry.line, "entry of unknown type '\(entry["type"]?.stringValue ?? "none")' ignored"))
            }
        }
        if !sawCluster {
            diagnostics.append(.warning(file, json.line, "no 'type: cluster' entry: a single node outside a cluster? Quorum is assumed lost."))
        }
        return (status, parseDiagnostics + diagnostics)
    }

    public static func resources(_ text: String, file: String) -> ([GuestResource], [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return ([], parseDiagnostics) }
        guard let list = unwrapData(json).arrayValue else {
            return ([], [.error(file, json.line, "expected the 'data' array of GET /cluster/resources?type=vm")])
        }
        var diagnostics: [Diagnostic] = []
        var guests: [GuestResource] = []
        for entry in list {
            let type = entry["type"]?.stringValue
            guard type == "qemu" || type == "lxc" else { continue }
            guard let number = entry["vmid"]?.intValue, let node = entry["node"]?.stringValue else {
                diagnostics.append(.error(file, entry.line, "guest entry without 'vmid' or 'node'"))
                continue
            }
            guard let vmid = VMID(String(number)) else {
                diagnostics.append(.error(file, entry["vmid"]?.line ?? entry.line, "'vmid': \(number) is not a VMID (100-999999999): the capture is damaged. Capture it again."))
                continue
            }
            var maxCPU = entry["maxcpu"]?.doubleValue ?? 0
            if !(0...Double(InputLimits.cpus.upperBound)).contains(maxCPU) {
                diagnostics.append(.error(file, entry["maxcpu"]?.line ?? entry.line, "'maxcpu': \(maxCPU) is not a CPU count (0-\(InputLimits.cpus.upperBound)): the capture is damaged. Capture it again."))
                maxCPU = 0
            } else if let value = entry["maxcpu"], !value.isNull, value.doubleValue == nil {
                diagnostics.append(.error(file, value.line, "'maxcpu': \(value.description.prefix(40)) is not a CPU count: the capture is damaged. Capture it again."))
            }
            let lock = entry["lock"]?.stringValue
            guests.append(GuestResource(
                vmid: vmid, kind: type == "qemu" ? .qemu : .lxc, name: entry["name"]?.stringValue ?? "\(vmid)",
                node: NodeName(node), status: entry["status"]?.stringValue ?? "unknown",
                maxMemoryBytes: integer(entry, "maxmem", in: InputLimits.memoryBytes, "a memory size in bytes", file: file, &diagnostics) ?? 0,
                maxCPU: maxCPU,
                maxDiskBytes: integer(entry, "maxdisk", in: InputLimits.diskBytes, "a disk size in bytes", file: file, &diagnostics) ?? 0,
                template: flag(entry, "template", file: file, &diagnostics) ?? false,
                haState: entry["hastate"]?.stringValue, lock: lock?.isEmpty == true ? nil : lock,
                tags: (entry["tags"]?.stringValue ?? "").split(whereSeparator: { $0 == ";" || $0 == "," || $0 == " " }).map(String.init),
                line: entry.line))
        }
        var seen: [VMID: Int] = [:]
        for g in guests {
            if let first = seen[g.vmid] {
                diagnostics.append(.error(file, g.line, "VMID \(g.vmid) appears twice (first at line \(first)); VMIDs are unique cluster-wide"))
            }
            seen[g.vmid] = g.line
        }
        return (guests, parseDiagnostics + diagnostics)
    }

    public static func nodeStatus(_ text: String, file: String) -> (NodeStatus?, [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return (nil, parseDiagnostics) }
        let data = unwrapData(json)
        guard let memory = data["memory"], let cpuinfo = data["cpuinfo"], memory["total"]?.isNull == false, cpuinfo["cpus"]?.isNull == false else {
            return (nil, parseDiagnostics + [.error(file, data.line, "expected GET /nodes/<node>/status with memory.total and cpuinfo.cpus")])
        }
        var diagnostics: [Diagnostic] = []
        let total = integer(memory, "total", in: 1...InputLimits.memoryBytes.upperBound, "a memory size in bytes", file: file, &diagnostics)
        let cpus = integer(cpuinfo, "cpus", in: InputLimits.cpus, "a CPU count", file: file, &diagnostics)
        // Both within memoryBytes: the difference cannot overflow.
        let free = integer(memory, "free", in: InputLimits.memoryBytes, "a memory size in bytes", file: file, &diagnostics)
        let used = integer(memory, "used", in: InputLimits.memoryBytes, "a memory size in bytes", file: file, &diagnostics)
        guard let total, let cpus else { return (nil, parseDiagnostics + diagnostics) }
        return (NodeStatus(memoryTotalBytes: total, memoryUsedBytes: used ?? max(0, total - (free ?? 0)), cpus: cpus, cpuModel: cpuinfo["model"]?.stringValue,
                           pveVersion: data["pveversion"]?.stringValue, kernelVersion: data["kversion"]?.stringValue), parseDiagnostics + diagnostics)
    }

    /// `ct:102` / `vm:100` / bare `102`.
    static func serviceID(_ sid: String) -> (GuestKind?, VMID?) {
        let parts = sid.split(separator: ":")
        if parts.count == 2 { return (parts[0] == "ct" ? .lxc : parts[0] == "vm" ? .qemu : nil, VMID(String(parts[1]))) }
        return (nil, VMID(sid))
    }

    /// `node1:2,node2` (name and optional priority) as names; empty items are skipped.
    static func nodeNames(_ list: String) -> [NodeName] {
        list.split(separator: ",").compactMap { item in
            let name = (item.split(separator: ":").first ?? "").trimmingWhitespace()
            return name.isEmpty ? nil : NodeName(name)
        }
    }

    public static func haResources(_ text: String, file: String) -> ([HAResource], [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return ([], parseDiagnostics) }
        guard let list = unwrapData(json).arrayValue else {
            return ([], [.error(file, json.line, "expected the 'data' array of GET /cluster/ha/resources")])
        }
        var diagnostics: [Diagnostic] = []
        let resources: [HAResource] = list.compactMap { entry in
            guard let sid = entry["sid"]?.stringValue, case let (kind?, vmid?) = serviceID(sid) else {
                diagnostics.append(.error(file, entry.line, "HA resource without a 'sid' like 'ct:102' or 'vm:100'"))
                return nil
            }
            return HAResource(vmid: vmid, kind: kind, state: entry["state"]?.stringValue ?? "started",
                              group: entry["group"]?.stringValue, line: entry.line)
        }
        return (resources, parseDiagnostics + diagnostics)
    }

    public static func haRules(_ text: String, file: String) -> ([HANodeAffinityRule], [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return ([], parseDiagnostics) }
        guard let list = unwrapData(json).arrayValue else {
            return ([], [.error(file, json.line, "expected the 'data' array of GET /cluster/ha/rules")])
        }
        var diagnostics: [Diagnostic] = []
        var rules: [HANodeAffinityRule] = []
        for entry in list where entry["type"]?.stringValue == "node-affinity" {
            if flag(entry, "disable", file: file, &diagnostics) == true { continue }
            let vmids = (entry["resources"]?.stringValue ?? "").split(separator: ",").compactMap { serviceID($0.trimmingWhitespace()).1 }
            // `node[:priority]` entries.
            let nodes = nodeNames(entry["nodes"]?.stringValue ?? "")
            if vmids.isEmpty || nodes.isEmpty {
                diagnostics.append(.warning(file, entry.line, "node-affinity rule without resources or nodes ignored"))
                continue
            }
            rules.append(HANodeAffinityRule(rule: entry["rule"]?.stringValue ?? "?", vmids: vmids, nodes: nodes,
                                            strict: flag(entry, "strict", file: file, &diagnostics) ?? false, line: entry.line))
        }
        return (rules, parseDiagnostics + diagnostics)
    }

    public static func haGroups(_ text: String, file: String) -> ([HAGroup], [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return ([], parseDiagnostics) }
        guard let list = unwrapData(json).arrayValue else {
            return ([], [.error(file, json.line, "expected the 'data' array of GET /cluster/ha/groups")])
        }
        var diagnostics: [Diagnostic] = []
        let groups: [HAGroup] = list.compactMap { entry in
            guard let name = entry["group"]?.stringValue, let nodes = entry["nodes"]?.stringValue else {
                diagnostics.append(.error(file, entry.line, "HA group without 'group' or 'nodes'"))
                return nil
            }
            return HAGroup(group: name, nodes: nodeNames(nodes),
                           restricted: flag(entry, "restricted", file: file, &diagnostics) ?? false, line: entry.line)
        }
        return (groups, parseDiagnostics + diagnostics)
    }
}
