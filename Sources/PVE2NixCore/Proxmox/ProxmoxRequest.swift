/// One request pve2nix can send to the Proxmox VE API (`/api2/json` + path). Every request the
/// client sends is built here, so the schema conformance test sees all of them.
public struct ProxmoxRequest: Sendable, Hashable, CustomStringConvertible {
    public enum Method: String, Sendable, Hashable { case get = "GET", post = "POST", put = "PUT", delete = "DELETE" }

    public var method: Method
    /// The schema's path template, e.g. `/nodes/{node}/lxc/{vmid}/migrate`.
    public var template: String
    public var pathParameters: [String: ProxmoxValue]
    /// Query parameters for GET/DELETE, the form body for POST/PUT.
    public var parameters: [String: ProxmoxValue]
    /// Root-only (no `permissions` in the schema): API tokens get 403, a ticket is needed.
    public var requiresTicket: Bool
    /// The first Proxmox VE major version that has this call (nil: all supported versions).
    public var since: Int? = nil

    public init(_ method: Method, _ template: String, path: [String: ProxmoxValue] = [:], parameters: [String: ProxmoxValue] = [:], requiresTicket: Bool = false) {
        self.method = method
        self.template = template
        self.pathParameters = path
        self.parameters = parameters
        self.requiresTicket = requiresTicket
    }

    /// The concrete path, parameters percent-encoded.
    public var path: String {
        var p = template
        for (name, value) in pathParameters {
            p = p.replacingOccurrences(of: "{\(name)}", with: ProxmoxValue.percentEncode(value.text))
        }
        return p
    }

    public var description: String { "\(method.rawValue) \(path)" }
}

/// A parameter value, typed as the schema types it.
public enum ProxmoxValue: Sendable, Hashable {
    case string(String), integer(Int), boolean(Bool), number(Double)

    /// How the API takes it in a query or a form body (booleans as 0/1).
    public var text: String {
        switch self {
        case .string(let s): s
        case .integer(let i): String(i)
        case .boolean(let b): b ? "1" : "0"
        case .number(let d): d == d.rounded() ? String(Int(d)) : String(d)
        }
    }

    public var schemaType: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .boolean: "boolean"
        case .number: "number"
        }
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters: for paths and form bodies.
    public static func percentEncode(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c)) { out.append(c) } else { out += "%" + hex2(Int(byte)).uppercased() }
        }
        return out
    }
}

/// The catalogue: every call pve2nix makes.
extension ProxmoxRequest {
    public static func clusterStatus() -> Self { .init(.get, "/cluster/status") }
    public static func clusterResources() -> Self { .init(.get, "/cluster/resources", parameters: ["type": .string("vm")]) }
    public static func haResources() -> Self { .init(.get, "/cluster/ha/resources") }
    public static func haStatus() -> Self { .init(.get, "/cluster/ha/status/current") }
    public static func nodes() -> Self { .init(.get, "/nodes") }
    public static func nodeStatus(_ node: NodeName) -> Self { .init(.get, "/nodes/{node}/status", path: ["node": .string(node.rawValue)]) }
    public static func nodeNetwork(_ node: NodeName) -> Self { .init(.get, "/nodes/{node}/network", path: ["node": .string(node.rawValue)]) }
    public static func nextID() -> Self { .init(.get, "/cluster/nextid") }
    public static func clusterNodes() -> Self { .init(.get, "/cluster/config/nodes") }

    /// The current config, without pending changes applied (`current=1`).
    public static func guestConfig(_ kind: GuestKind, node: NodeName, vmid: VMID) -> Self {
        .init(.get, "/nodes/{node}/\(kind.apiSegment)/{vmid}/config", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)],
              parameters: ["current": .boolean(true)])
    }

    /// A snapshot's config (`snapshot=NAME`).
    public static func snapshotConfig(_ kind: GuestKind, node: NodeName, vmid: VMID, snapshot: String) -> Self {
        .init(.get, "/nodes/{node}/\(kind.apiSegment)/{vmid}/config", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)],
              parameters: ["snapshot": .string(snapshot)])
    }

    /// Pending changes: `[{key, value, pending, delete}]`.
    public static func pendingChanges(_ kind: GuestKind, node: NodeName, vmid: VMID) -> Self {
        .init(.get, "/nodes/{node}/\(kind.apiSegment)/{vmid}/pending", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)])
    }

    /// Snapshots: `[{name, parent, snaptime, description}]`, plus the pseudo-snapshot `current`.
    public static func snapshots(_ kind: GuestKind, node: NodeName, vmid: VMID) -> Self {
        .init(.get, "/nodes/{node}/\(kind.apiSegment)/{vmid}/snapshot", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)])
    }

    public static func storageList() -> Self { .init(.get, "/storage") }
    public static func haGroups() -> Self { .init(.get, "/cluster/ha/groups") }
    /// HA rules replaced HA groups in Proxmox VE 9.
    public static func haRules() -> Self {
        var r = ProxmoxRequest(.get, "/cluster/ha/rules")
        r.since = 9
        return r
    }

    /// Changes a node-affinity rule's nodes (`node[:priority]` entries); PVE 9.
    public static func updateHARule(_ rule: String, nodes: String) -> Self {
        var r = ProxmoxRequest(.put, "/cluster/ha/rules/{rule}", path: ["rule": .string(rule)],
                               parameters: ["type": .string("node-affinity"), "nodes": .string(nodes)])
        r.since = 9
        return r
    }

    /// Changes an HA group's nodes (`node[:priority]` entries); PVE 8 and older.
    public static func updateHAGroup(_ group: String, nodes: String) -> Self {
        .init(.put, "/cluster/ha/groups/{group}", path: ["group": .string(group)], parameters: ["nodes": .string(nodes)])
    }

    /// A node's configuration, including its `description` (the notes in the GUI).
    public static func nodeConfig(_ node: NodeName) -> Self { .init(.get, "/nodes/{node}/config", path: ["node": .string(node.rawValue)]) }

    /// Sets a node's `description`; an empty one is deleted.
    /// With `digest`, Proxmox refuses the change when the config changed since it was read.
    public static func setNodeDescription(_ node: NodeName, _ description: String, digest: String? = nil) -> Self {
        var p: [String: ProxmoxValue] = description.isEmpty ? ["delete": .string("description")] : ["description": .string(description)]
        if let digest { p["digest"] = .string(digest) }
        return .init(.put, "/nodes/{node}/config", path: ["node": .string(node.rawValue)], parameters: p)
    }

    /// The VM migration precondition: allowed nodes, local disks and resources.
    public static func migratePrecondition(node: NodeName, vmid: VMID, target: NodeName) -> Self {
        .init(.get, "/nodes/{node}/qemu/{vmid}/migrate", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)], parameters: ["target": .string(target.rawValue)])
    }

    public static func migrateVM(node: NodeName, vmid: VMID, target: NodeName, online: Bool, withLocalDisks: Bool, targetStorage: String? = nil, bandwidthLimitKiB: Int? = nil) -> Self {
        var p: [String: ProxmoxValue] = ["target": .string(target.rawValue)]
        if online { p["online"] = .boolean(true) }
        if withLocalDisks { p["with-local-disks"] = .boolean(true) }
        if let s = targetStorage { p["targetstorage"] = .string(s) }
        if let b = bandwidthLimitKiB { p["bwlimit"] = .integer(b) }
        return .init(.post, "/nodes/{node}/qemu/{vmid}/migrate", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)], parameters: p)
    }

    /// Containers cannot live-migrate: a running one needs `restart`; on shutdown timeout the
    /// migration fails and the container keeps running.
    public static func migrateCT(node: NodeName, vmid: VMID, target: NodeName, restart: Bool, shutdownTimeout: Int = 180, targetStorage: String? = nil) -> Self {
        var p: [String: ProxmoxValue] = ["target": .string(target.rawValue)]
        if restart { p["restart"] = .boolean(true); p["timeout"] = .integer(shutdownTimeout) }
        if let s = targetStorage { p["target-storage"] = .string(s) }
        return .init(.post, "/nodes/{node}/lxc/{vmid}/migrate", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)], parameters: p)
    }

    /// A backup of one guest. `remove=0`: never prune the storage's older backups as a side effect;
    /// `protected=1`: no prune job removes this archive while the drain still needs it. Answers a
    /// UPID, or the literal string "OK" when the guest is not on `node`.
    /// `protected` and `notes-template` are newer than some clusters (`legacy` leaves them out).
    public static func vzdump(node: NodeName, vmid: VMID, storage: String, mode: String = "stop", notes: String? = nil, legacy: Bool = false) -> Self {
        var p: [String: ProxmoxValue] = ["vmid": .string(String(vmid.rawValue)), "storage": .string(storage), "mode": .string(mode), "compress": .string("zstd"),
                                         "remove": .boolean(false)]
        if !legacy {
            p["protected"] = .boolean(true)
            if let notes { p["notes-template"] = .string(notes) }
        }
        return .init(.post, "/nodes/{node}/vzdump", path: ["node": .string(node.rawValue)], parameters: p)
    }

    /// The guest config inside a backup archive: proof the archive is readable and whose it is.
    public static func extractConfig(node: NodeName, volume: String) -> Self {
        .init(.get, "/nodes/{node}/vzdump/extractconfig", path: ["node": .string(node.rawValue)], parameters: ["volume": .string(volume)])
    }

    /// A clean shutdown, bounded by `timeout` seconds; it fails (and the guest keeps running) rather than force a stop.
    public static func shutdownGuest(_ kind: GuestKind, node: NodeName, vmid: VMID, timeout: Int = 180) -> Self {
        .init(.post, "/nodes/{node}/\(kind.apiSegment)/{vmid}/status/shutdown", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)],
              parameters: ["timeout": .integer(timeout)])
    }

    public static func startGuest(_ kind: GuestKind, node: NodeName, vmid: VMID) -> Self {
        .init(.post, "/nodes/{node}/\(kind.apiSegment)/{vmid}/status/start", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)])
    }

    public static func restoreVM(node: NodeName, vmid: VMID, archive: String, storage: String, start: Bool) -> Self {
        .init(.post, "/nodes/{node}/qemu", path: ["node": .string(node.rawValue)],
              parameters: ["vmid": .integer(vmid.rawValue), "archive": .string(archive), "storage": .string(storage), "start": .boolean(start)])
    }

    /// `storage` defaults to `local` on the API side: always passed.
    public static func restoreCT(node: NodeName, vmid: VMID, archive: String, storage: String, start: Bool) -> Self {
        .init(.post, "/nodes/{node}/lxc", path: ["node": .string(node.rawValue)],
              parameters: ["vmid": .integer(vmid.rawValue), "ostemplate": .string(archive), "restore": .boolean(true), "storage": .string(storage), "start": .boolean(start)])
    }

    public static func deleteGuest(_ kind: GuestKind, node: NodeName, vmid: VMID) -> Self {
        .init(.delete, "/nodes/{node}/\(kind.apiSegment)/{vmid}", path: ["node": .string(node.rawValue), "vmid": .integer(vmid.rawValue)], parameters: ["purge": .boolean(true)])
    }

    public static func taskStatus(node: NodeName, upid: String) -> Self {
        .init(.get, "/nodes/{node}/tasks/{upid}/status", path: ["node": .string(node.rawValue), "upid": .string(upid)])
    }

    public static func storageContent(node: NodeName, storage: String, vmid: VMID) -> Self {
        .init(.get, "/nodes/{node}/storage/{storage}/content", path: ["node": .string(node.rawValue), "storage": .string(storage)],
              parameters: ["content": .string("backup"), "vmid": .integer(vmid.rawValue)])
    }

    /// Root-only: removing a node from the cluster needs a ticket, and quorum.
    public static func removeClusterNode(_ node: NodeName) -> Self {
        .init(.delete, "/cluster/config/nodes/{node}", path: ["node": .string(node.rawValue)], requiresTicket: true)
    }

    /// Storage replication jobs: `id` (`<vmid>-<n>`), `guest`, `target`, `source`, `remove_job`.
    public static func replicationJobs() -> Self { .init(.get, "/cluster/replication") }

    /// Marks a replication job for removal (`remove_job=full`, or `local` with `keep`); the runner on
    /// its source node removes it later. `force` drops the entry at once, without any cleanup.
    public static func deleteReplicationJob(_ id: String, keep: Bool = false, force: Bool = false) -> Self {
        var p: [String: ProxmoxValue] = [:]
        if keep { p["keep"] = .boolean(true) }
        if force { p["force"] = .boolean(true) }
        return .init(.delete, "/cluster/replication/{id}", path: ["id": .string(id)], parameters: p)
    }

    /// The QDevice as `corosync-qdevice-tool -sv` reports it; an empty object when there is none.
    public static func qdeviceStatus() -> Self { .init(.get, "/cluster/config/qdevice") }

    /// Deletes an HA rule (PVE 9).
    public static func deleteHARule(_ rule: String) -> Self {
        var r = ProxmoxRequest(.delete, "/cluster/ha/rules/{rule}", path: ["rule": .string(rule)])
        r.since = 9
        return r
    }

    /// Deletes an HA group (PVE 8 and older).
    public static func deleteHAGroup(_ group: String) -> Self { .init(.delete, "/cluster/ha/groups/{group}", path: ["group": .string(group)]) }

    public static func ticket(username: String, password: String) -> Self {
        .init(.post, "/access/ticket", parameters: ["username": .string(username), "password": .string(password)])
    }

    /// Everything the catalogue can build, with sample arguments, for the schema test.
    public static var catalogue: [ProxmoxRequest] {
        let n = NodeName("pve1"), t = NodeName("pve2"), id = VMID(100)
        return [
            clusterStatus(), clusterResources(), haResources(), haStatus(), nodes(), nodeStatus(n), nodeNetwork(n), nextID(), clusterNodes(),
            storageList(), haGroups(), haRules(),
            guestConfig(.qemu, node: n, vmid: id), guestConfig(.lxc, node: n, vmid: id),
            snapshotConfig(.qemu, node: n, vmid: id, snapshot: "s1"), snapshotConfig(.lxc, node: n, vmid: id, snapshot: "s1"),
            pendingChanges(.qemu, node: n, vmid: id), pendingChanges(.lxc, node: n, vmid: id), snapshots(.qemu, node: n, vmid: id), snapshots(.lxc, node: n, vmid: id),
            migratePrecondition(node: n, vmid: id, target: t),
            migrateVM(node: n, vmid: id, target: t, online: true, withLocalDisks: true, targetStorage: "local-lvm", bandwidthLimitKiB: 100_000),
            migrateCT(node: n, vmid: id, target: t, restart: true, targetStorage: "local-lvm"),
            vzdump(node: n, vmid: id, storage: "backup", notes: "pve2nix"), extractConfig(node: n, volume: "backup:backup/vzdump-lxc-100.tar.zst"),
            shutdownGuest(.qemu, node: n, vmid: id), shutdownGuest(.lxc, node: n, vmid: id), startGuest(.qemu, node: n, vmid: id), startGuest(.lxc, node: n, vmid: id),
            restoreVM(node: n, vmid: id, archive: "backup:backup/vzdump-qemu-100.vma.zst", storage: "local-lvm", start: true),
            restoreCT(node: n, vmid: id, archive: "backup:backup/vzdump-lxc-100.tar.zst", storage: "local-lvm", start: true),
            deleteGuest(.qemu, node: n, vmid: id), deleteGuest(.lxc, node: n, vmid: id),
            taskStatus(node: n, upid: "UPID:pve1:00001234:00ABCDEF:6745A1B2:qmigrate:100:root@pam:"),
            storageContent(node: n, storage: "backup", vmid: id), removeClusterNode(n), ticket(username: "root@pam", password: "secret"),
            updateHARule("dns-prefers-pve1", nodes: "pve2:2,pve3"), updateHAGroup("prefer-pve1", nodes: "pve2"),
            nodeConfig(n), setNodeDescription(n, "notes", digest: "0123456789abcdef0123456789abcdef01234567"), setNodeDescription(n, ""),
            replicationJobs(), deleteReplicationJob("100-0"), deleteReplicationJob("100-1", keep: true), deleteReplicationJob("100-2", force: true),
            qdeviceStatus(), deleteHARule("dns-prefers-pve1"), deleteHAGroup("prefer-pve1"),
        ]
    }
}

extension GuestKind {
    /// The API path segment: `qemu` or `lxc`.
    public var apiSegment: String { rawValue }
}
