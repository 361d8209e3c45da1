import PVE2NixCore

/// A capture bundle as the cluster looks once the operator has done what the plan asks before a
/// drain (its `action` blockers): USB, PCI and serial passthrough taken off, local ISOs ejected,
/// NAS bind mounts marked `shared=1`. The plan is made from the capture; the cluster the drain
/// meets is this. `devN` and raw `lxc.*` lines stay: Proxmox does not check them.
public struct OperatorPreparedTree: FileTree {
    public let inner: any FileTree
    public init(_ inner: any FileTree) { self.inner = inner }

    public func list(_ directory: String) -> [String]? { inner.list(directory) }

    public func read(_ path: String) -> String? {
        guard let text = inner.read(path) else { return nil }
        let parts = path.split(separator: "/")
        guard parts.count == 4, parts[0] == "nodes", parts[2] == "lxc" || parts[2] == "qemu-server", parts[3].hasSuffix(".conf") else { return text }
        return Self.prepare(text)
    }

    /// The main section of a guest config with the operator's changes; snapshots and pending
    /// sections as they were.
    public static func prepare(_ config: String) -> String {
        var inMain = true
        var out: [String] = []
        for raw in config.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("[") { inMain = false }
            guard inMain, let colon = line.firstIndex(of: ":") else { out.append(line); continue }
            let key = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            func indexed(_ prefix: String) -> Bool { key.hasPrefix(prefix) && key.dropFirst(prefix.count).allSatisfy(\.isNumber) && key.count > prefix.count }
            if indexed("usb") && !value.contains("spice") { continue }
            if indexed("hostpci") { continue }
            if indexed("serial") && value.hasPrefix("/dev/") { continue }
            if ["ide", "sata", "scsi"].contains(where: indexed), value.contains(":iso/"), value.contains("media=cdrom") {
                out.append("\(key): none,media=cdrom")
                continue
            }
            if indexed("mp"), value.hasPrefix("/"), !value.contains("shared=1") {
                out.append("\(key): \(value),shared=1")
                continue
            }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }
}

extension FakeProxmoxCluster {
    /// A cluster seeded from `root` as the operator leaves it before the drain (see `OperatorPreparedTree`).
    public static func prepared(_ tree: any FileTree) -> FakeProxmoxCluster {
        let prepared = OperatorPreparedTree(tree)
        return FakeProxmoxCluster(site: SiteLoader(tree: prepared).load(), bundle: prepared)
    }
}
