import PVE2NixCore

/// Captures the API parts of a bundle (format 1) through the Proxmox API: cluster status and
/// resources, HA, storage.cfg and corosync's nodelist rebuilt from the API, node status and
/// every guest's current config. The SSH parts (interfaces, lsblk, by-id, hostid…) come later.
public struct SiteCapturer: Sendable {
    public let api: any ProxmoxAPI
    public init(api: any ProxmoxAPI) { self.api = api }

    /// Bundle-relative path → contents, and notes on what could not be read.
    public func capture(capturedAt: String, endpoint: String) async throws -> (files: [String: String], notes: [String]) {
        var files: [String: String] = [:]
        var notes: [String] = []
        let status = try await api.send(.clusterStatus())
        let resources = try await api.send(.clusterResources())
        files["cluster/status.json"] = status.serialized + "\n"
        files["cluster/resources.json"] = resources.serialized + "\n"
        files["cluster/ha-resources.json"] = try await api.send(.haResources()).serialized + "\n"
        for (request, file) in [(ProxmoxRequest.haRules(), "cluster/ha-rules.json"), (.haGroups(), "cluster/ha-groups.json")] {
            do { files[file] = try await api.send(request).serialized + "\n" } catch let e as ProxmoxAPIError { notes.append("\(file): not captured (\(e.status) \(e.reason))") }
        }
        files["cluster/storage.cfg"] = Self.storageConfig(try await api.send(.storageList()))
        let clusterName = status.arrayValue?.first { $0["type"]?.stringValue == "cluster" }?["name"]?.stringValue
        files["cluster/corosync.conf"] = Self.corosync(try await api.send(.clusterNodes()), clusterName: clusterName)

        for entry in status.arrayValue ?? [] where entry["type"]?.stringValue == "node" {
            guard let name = entry["name"]?.stringValue else { continue }
            guard entry["online"]?.boolValue == true else { notes.append("nodes/\(name): offline, status not captured"); continue }
            files["nodes/\(name)/status.json"] = try await api.send(.nodeStatus(NodeName(name))).serialized + "\n"
        }
        for guest in resources.arrayValue ?? [] {
            guard let id = guest["vmid"]?.intValue, let node = guest["node"]?.stringValue,
                  let kind = guest["type"]?.stringValue.flatMap(GuestKind.init(rawValue:)) else { continue }
            let n = NodeName(node), vmid = VMID(id)
            do {
                var text = Self.guestConfig(try await api.send(.guestConfig(kind, node: n, vmid: vmid)))
                // Pending changes and snapshots are sections of the file the plan must see.
                let pending = try await api.send(.pendingChanges(kind, node: n, vmid: vmid)).arrayValue ?? []
                let changes = pending.compactMap { p -> String? in
                    guard let key = p["key"]?.stringValue, let value = p["pending"]?.stringValue else { return nil }
                    return "\(key): \(value)\n"
                }
                if !changes.isEmpty { text += "\n[\(kind == .qemu ? "PENDING" : "pve:pending")]\n" + changes.joined() }
                for snap in try await api.send(.snapshots(kind, node: n, vmid: vmid)).arrayValue ?? [] {
                    guard let name = snap["name"]?.stringValue, name != "current" else { continue }
                    text += "\n[\(name)]\n" + Self.guestConfig(try await api.send(.snapshotConfig(kind, node: n, vmid: vmid, snapshot: name)))
                }
                files["nodes/\(node)/\(kind.configDirectory)/\(id).conf"] = text
            } catch let e as ProxmoxAPIError {
                notes.append("nodes/\(node)/\(kind.configDirectory)/\(id).conf: not captured (\(e.status) \(e.reason))")
            }
        }
        files["bundle.toml"] = """
        # pve2nix capture bundle (API parts; add the SSH parts: interfaces, ip-link.json, ip-addr.json,
        # lsblk.json, disk-by-id.txt, meminfo, firmware, hostid)
        format = 1
        captured = "\(capturedAt)"
        captured_from = "\(endpoint)"

        """
        return (files, notes)
    }

    /// `/etc/pve/storage.cfg` from `GET /storage`.
    static func storageConfig(_ list: JSONValue) -> String {
        var out = ""
        for s in list.arrayValue ?? [] {
            guard let id = s["storage"]?.stringValue, let type = s["type"]?.stringValue else { continue }
            out += "\(type): \(id)\n"
            for (key, value) in (s.objectMembers ?? []) where !["storage", "type", "digest"].contains(key) {
                out += "\t\(key) \(value.stringValue ?? value.serialized)\n"
            }
            out += "\n"
        }
        return out
    }

    /// The nodelist part of `/etc/pve/corosync.conf` from `GET /cluster/config/nodes`.
    static func corosync(_ list: JSONValue, clusterName: String?) -> String {
        var out = "totem {\n  cluster_name: \(clusterName ?? "unknown")\n}\n\nnodelist {\n"
        for n in list.arrayValue ?? [] {
            out += "  node {\n"
            for key in ["name", "nodeid", "quorum_votes", "ring0_addr", "ring1_addr"] {
                if let v = n[key]?.stringValue, !v.isEmpty { out += "    \(key): \(v)\n" }
            }
            out += "  }\n"
        }
        return out + "}\n"
    }

    /// A guest config file from `GET …/config`: the description as leading `#` lines.
    static func guestConfig(_ config: JSONValue) -> String {
        var out = ""
        if let d = config["description"]?.stringValue {
            for line in d.split(separator: "\n", omittingEmptySubsequences: false) {
                out += "#" + String(line).replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: ":", with: "%3A") + "\n"
            }
        }
        for (key, value) in (config.objectMembers ?? []).sorted(by: { $0.key < $1.key }) where key != "description" && key != "digest" {
            out += "\(key): \(value.stringValue ?? value.serialized)\n"
        }
        return out
    }
}
