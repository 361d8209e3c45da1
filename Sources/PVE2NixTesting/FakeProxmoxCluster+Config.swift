import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// Guest configs: read (pending changes applied unless `current=1`, or a snapshot's), and changed
/// as an operator does before a drain (`qm set --delete usb0`, `pct set --mp0 …,shared=1`). Real
/// host devices in a VM and bind or device mounts in a CT are root@pam's to change.
extension FakeProxmoxCluster {
    func guestConfig(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let file = try configFile(request, where_)
        var entries = file.current.entries.map { ($0.key, $0.value) }
        if let name = request.parameters["snapshot"]?.text {
            guard let snap = file.snapshots.first(where: { $0.name == name }) else { throw ProxmoxAPIError(status: 500, reason: "snapshot '\(name)' does not exist", request: where_) }
            entries = snap.entries.map { ($0.key, $0.value) }
        } else if !Self.flag(request.parameters["current"]), let pending = file.pending {
            let deleted = Set((pending["delete"] ?? "").split(separator: ",").map(String.init))
            entries = entries.filter { !deleted.contains($0.0) && pending[$0.0] == nil }
                + pending.entries.filter { $0.key != "delete" }.map { ($0.key, $0.value) }
        }
        var members = entries.map { ($0.0, Self.str($0.1)) }
        if !file.description.isEmpty && request.parameters["snapshot"] == nil { members.append(("description", Self.str(file.description))) }
        members.append(("digest", Self.str(configDigest(VMID(Self.int(request.pathParameters["vmid"]) ?? 0)))))
        return Self.object(members)
    }

    func pendingChanges(_ request: ProxmoxRequest) throws -> JSONValue {
        let file = try configFile(request, "\(request)")
        var items: [JSONValue] = file.current.entries.map { e in
            var m: [(String, JSONValue)] = [("key", Self.str(e.key)), ("value", Self.str(e.value))]
            if let p = file.pending?[e.key] { m.append(("pending", Self.str(p))) }
            return Self.object(m)
        }
        for e in file.pending?.entries ?? [] where file.current[e.key] == nil {
            items.append(Self.object([("key", Self.str(e.key)), ("pending", Self.str(e.value))]))
        }
        return .array(items, line: 0)
    }

    func snapshotList(_ request: ProxmoxRequest) throws -> JSONValue {
        let file = try configFile(request, "\(request)")
        var items = file.snapshots.map { s in Self.object([("name", Self.str(s.name)), ("description", Self.str("")), ("snaptime", Self.str(s["snaptime"] ?? "0"))]) }
        items.append(Self.object([("name", Self.str("current")), ("description", Self.str("You are here!"))]))
        return .array(items, line: 0)
    }

    func configDigest(_ vmid: VMID) -> String {
        var h: UInt64 = 0x9ce4_8422_2325_cbf2
        for b in (configText(vmid) ?? "").utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16).leftPadded(16)
        return String((hex + hex + hex).prefix(40))
    }

    /// `PUT …/config` (and the VM's asynchronous `POST …/config`): set keys, `delete` others.
    func changeGuestConfig(_ request: ProxmoxRequest) throws -> JSONValue {
        let where_ = "\(request)"
        let (vmid, node, guest) = try guestOnNode(request)
        let what = guest.kind == .qemu ? "VM" : "CT"
        try requireQuorum(where_)
        if let lock = guest.lock { throw ProxmoxAPIError(status: 500, reason: "\(what) is locked (\(lock))", request: where_) }
        if let digest = request.parameters["digest"]?.text, digest != configDigest(vmid) {
            throw ProxmoxAPIError(status: 500, reason: "detected modified configuration - file changed by other user? Try again.", request: where_)
        }
        let meta: Set<String> = ["node", "vmid", "delete", "digest", "revert", "skiplock", "background_delay", "force"]
        let deletions = (request.parameters["delete"]?.text ?? "").split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " }).map(String.init)
        let sets = request.parameters.filter { !meta.contains($0.key) }.map { ($0.key, $0.value.text) }.sorted { $0.0 < $1.0 }
        let current = GuestConfigParser.parse(configText(vmid) ?? "", kind: guest.kind, vmid: vmid, file: "").current
        let caller = ProxmoxCaller.current
        for (key, value) in sets.map({ ($0.0, Optional($0.1)) }) + deletions.map({ ($0, current[$0]) }) where !caller.isRoot {
            if let why = rootOnly(guest.kind, key, value ?? "") { throw ProxmoxAPIError(status: guest.kind == .qemu ? 500 : 403, reason: why, request: where_) }
        }
        configs[vmid] = Self.edit(configText(vmid) ?? "", set: sets, delete: deletions)
        if let name = sets.first(where: { $0.0 == (guest.kind == .qemu ? "name" : "hostname") })?.1 { guests[vmid]?.name = name }
        if request.method == .post { return startTask("qmconfig", node: node, vmid: vmid, effect: .none, seconds: 1, polls: 1) }
        return .null(line: 0)
    }

    /// What only root@pam may set or remove, and how Proxmox says so.
    func rootOnly(_ kind: GuestKind, _ key: String, _ value: String) -> String? {
        let p = PropertyString(value)
        let indexed = { (prefix: String) in key.hasPrefix(prefix) && key.count > prefix.count && key.dropFirst(prefix.count).allSatisfy(\.isNumber) }
        switch kind {
        case .qemu:
            if indexed("usb"), p["mapping"] == nil, let host = p["host"] ?? p.defaultValue, host.lowercased() != "spice" { return "only root can set '\(key)' config for real devices" }
            if indexed("hostpci"), p["mapping"] == nil { return "only root can set '\(key)' config for non-mapped devices" }
            if indexed("serial") || indexed("parallel"), value.hasPrefix("/dev/") { return "only root can set '\(key)' config for real devices" }
            if ["args", "hookscript", "lock"].contains(key) { return "only root can set '\(key)' config" }
        case .lxc:
            if key == "rootfs" || indexed("mp") {
                switch VolumeSource(p.defaultValue ?? p["volume"] ?? "") {
                case .hostPath: return "Permission check failed (mount point type bind is only allowed for root@pam)"
                case .device: return "Permission check failed (mount point type device is only allowed for root@pam)"
                default: break
                }
            }
            if key.hasPrefix("lxc.") || key == "lock" { return "Permission check failed (only root can modify '\(key)')" }
        }
        return nil
    }

    /// The config text with keys of the current section set or removed; other sections untouched.
    static func edit(_ text: String, set: [(String, String)], delete: [String]) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let end = lines.firstIndex { $0.hasPrefix("[") } ?? lines.count
        var head = Array(lines[..<end]), tail = Array(lines[end...])
        while head.last == "" { head.removeLast() }
        func key(_ line: String) -> String? {
            guard !line.hasPrefix("#"), let colon = line.firstIndex(where: { $0 == ":" || $0 == "=" }) else { return nil }
            return String(line[..<colon]).trimmingCharacters(in: .whitespaces)
        }
        let changed = Set(delete + set.map(\.0))
        var description: [String]? = nil
        if let d = set.first(where: { $0.0 == "description" })?.1 { description = d.split(separator: "\n", omittingEmptySubsequences: false).map { "#\($0)" } }
        if delete.contains("description") { description = [] }
        if let description { head = description + head.filter { !$0.hasPrefix("#") } }
        head = head.filter { key($0).map { !changed.contains($0) } ?? true }
        head += set.filter { $0.0 != "description" }.map { "\($0.0): \($0.1)" }
        if !tail.isEmpty { tail.insert("", at: 0) }
        return (head + tail).joined(separator: "\n") + (tail.isEmpty ? "\n" : "")
    }
}
