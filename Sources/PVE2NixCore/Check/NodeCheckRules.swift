import Foundation

/// The judgements of `pve2nix check`, as pure functions of what was read: the cluster's status
/// and resources, the node's meminfo, the generated tree. The runtime reads; these decide.
public enum NodeCheckRules {
    /// The kexec installer runs from RAM: 1.5 GiB is nixos-anywhere's documented minimum (swap
    /// does not count); below 2 GiB it is tight.
    public static let kexecMinimumBytes: Int64 = 3 * ByteFormat.gibibyte / 2
    public static let kexecComfortableBytes: Int64 = 2 * ByteFormat.gibibyte

    /// No guest of any kind (VM, container, template) left on `node`, from `/cluster/resources`.
    public static func drained(resources: JSONValue, node: NodeName) -> PreflightCheck {
        let left = (resources.arrayValue ?? []).compactMap { entry -> String? in
            guard entry["node"]?.stringValue == node.rawValue, let id = entry["vmid"]?.intValue else { return nil }
            let kind = entry["type"]?.stringValue ?? "guest"
            let template = entry["template"]?.intValue == 1 || entry["template"]?.boolValue == true
            return "\(kind) \(id)\(template ? " (template)" : "")\(entry["name"]?.stringValue.map { " \($0)" } ?? "")"
        }
        guard left.isEmpty else {
            return PreflightCheck("drained", .fail, "\(left.count) guest\(left.count == 1 ? "" : "s") still on \(node): \(left.sorted().joined(separator: ", ")). Run 'pve2nix drain \(node)' (it resumes) or move them by hand.")
        }
        return PreflightCheck("drained", .pass, "no VM, container or template is on \(node) (read from the cluster now)")
    }

    /// Quorum now, and after `leaving` is gone for good (its votes leave the expected count, the
    /// votes of the nodes online now stay). Votes come from corosync.conf when the bundle has it.
    public static func quorum(status: JSONValue, corosync: CorosyncConfig?, leaving: NodeName) -> [PreflightCheck] {
        let entries = status.arrayValue ?? []
        let quorate = entries.first { $0["type"]?.stringValue == "cluster" }?["quorate"]?.boolValue ?? false
        let members = entries.filter { $0["type"]?.stringValue == "node" }
        let online = Set(members.filter { $0["online"]?.boolValue == true }.compactMap { $0["name"]?.stringValue })
        let names = Set(members.compactMap { $0["name"]?.stringValue })
        func votes(_ name: String) -> Int { corosync?.nodes.first { $0.name.rawValue == name }?.quorumVotes ?? 1 }
        var checks = [quorate
            ? PreflightCheck("quorum-now", .pass, "the cluster is quorate (\(online.count) of \(names.count) nodes online)")
            : PreflightCheck("quorum-now", .fail, "the cluster is not quorate now (\(online.count) of \(names.count) nodes online): nothing may change until it is. Bring the peers back first.")]
        let remaining = names.subtracting([leaving.rawValue])
        let expected = remaining.map(votes).reduce(0, +)
        let present = remaining.intersection(online).map(votes).reduce(0, +)
        let needed = expected / 2 + 1
        if corosync?.hasQDevice == true {
            checks.append(PreflightCheck("quorum-after", .fail, "the cluster has a QDevice: remove it first ('pvecm qdevice remove'), as the Proxmox docs require before a node leaves, then check again"))
        } else if remaining.isEmpty {
            checks.append(PreflightCheck("quorum-after", .fail, "\(leaving) is the cluster's only member: there is no cluster to keep"))
        } else if present >= needed && remaining.count >= 2 {
            checks.append(PreflightCheck("quorum-after", .pass, "without \(leaving): \(present) of \(expected) votes online, \(needed) needed"))
        } else if remaining.count < 2 && present >= needed {
            checks.append(PreflightCheck("quorum-after", .warn, "without \(leaving) one node is left (\(remaining.sorted().joined())): it keeps quorum only alone, with 'pvecm expected 1' (an operator's decision; Proxmox warns against cluster changes while expected votes are set)"))
        } else {
            checks.append(PreflightCheck("quorum-after", .fail, "without \(leaving): \(present) of \(expected) votes online, \(needed) needed: the cluster would lose quorum. Bring the offline peers back first."))
        }
        return checks
    }

    /// Every peer the drain sent guests to, and the peer the API answers on, online.
    public static func peersOnline(status: JSONValue, peers: [NodeName]) -> PreflightCheck {
        let online = Set((status.arrayValue ?? []).filter { $0["type"]?.stringValue == "node" && $0["online"]?.boolValue == true }.compactMap { $0["name"]?.stringValue })
        let down = peers.filter { !online.contains($0.rawValue) }.map(\.rawValue)
        guard down.isEmpty else { return PreflightCheck("peers-online", .fail, "offline: \(down.joined(separator: ", ")). The guests moved there are not running; bring them back first.") }
        return PreflightCheck("peers-online", .pass, "\(peers.map(\.rawValue).joined(separator: ", ")) online")
    }

    /// Enough RAM for the kexec installer, from the node's `/proc/meminfo` read now. Install path
    /// B boots the installer image and needs no kexec: there a shortfall is only said, as the plan does.
    public static func kexecMemory(meminfo: String, installPath: InstallPath? = nil) -> PreflightCheck {
        let (info, diagnostics) = MeminfoParser.parse(meminfo, file: "/proc/meminfo")
        guard let total = info?.totalBytes else {
            return PreflightCheck("kexec-memory", .fail, "cannot read MemTotal from the node's /proc/meminfo: \(diagnostics.first?.message ?? "empty")")
        }
        if total < kexecMinimumBytes, installPath == .bootImage {
            return PreflightCheck("kexec-memory", .warn, "\(ByteFormat.string(total)) of RAM: too little for the kexec installer (needs \(ByteFormat.string(kexecMinimumBytes))), but the plan's install path B boots the installer image and uses no kexec")
        }
        if total < kexecMinimumBytes {
            return PreflightCheck("kexec-memory", .fail, "\(ByteFormat.string(total)) of RAM: the kexec installer needs at least \(ByteFormat.string(kexecMinimumBytes)) (swap does not count). Use install path B (boot the installer image).")
        }
        if total < kexecComfortableBytes {
            return PreflightCheck("kexec-memory", .warn, "\(ByteFormat.string(total)) of RAM: enough for the kexec installer, but tight; build the install with --no-disko-deps or use path B")
        }
        return PreflightCheck("kexec-memory", .pass, "\(ByteFormat.string(total)) of RAM for the kexec installer (needs \(ByteFormat.string(kexecMinimumBytes)))")
    }

    /// What `readlink /root/.ssh/authorized_keys` says about who a key added there reaches.
    public static func authorizedKeys(readlink: String?) -> PreflightCheck {
        let target = readlink?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if target.hasPrefix("/etc/pve/priv/authorized_keys") {
            return PreflightCheck("authorized-keys", .warn, "/root/.ssh/authorized_keys is a link to the cluster-wide /etc/pve/priv/authorized_keys: a key added there opens root on every node. pve2nix adds none there and records any key it adds elsewhere, to remove it afterwards.")
        }
        return PreflightCheck("authorized-keys", .pass, target.isEmpty ? "/root/.ssh/authorized_keys is the node's own file" : "/root/.ssh/authorized_keys links to \(target)")
    }
}

/// The identity of a set of systemd-networkd units: what a rehearsal proved and what `check`
/// compares with the generated tree about to be installed.
public enum NetworkUnitsHash {
    /// SHA-256 (hex) over every unit's name and text, in name order.
    public static func of(_ units: [String: String]) -> String {
        let text = units.keys.sorted().map { "\($0)\u{0}\(units[$0]!)\u{0}" }.joined()
        return MessageDigest.sha256(Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
