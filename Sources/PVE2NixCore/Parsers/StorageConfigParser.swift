/// One storage definition from `/etc/pve/storage.cfg`.
public struct StorageDefinition: Sendable, Hashable, Codable {
    public var id: String
    public var type: String
    public var properties: [String: String]
    public var line: Int

    /// Types whose storage is reachable from every node, whatever the config says.
    static let alwaysShared: Set<String> = ["nfs", "cifs", "rbd", "cephfs", "iscsi", "iscsidirect", "zfs", "pbs", "glusterfs"]

    public var shared: Bool { Self.alwaysShared.contains(type) || properties["shared"] == "1" }

    /// Nodes this storage is limited to; nil means every node.
    public var nodes: Set<NodeName>? {
        guard let list = properties["nodes"] else { return nil }
        return Set(list.split(separator: ",").map { NodeName($0.trimmingWhitespace()) })
    }

    public var contents: Set<String> {
        Set((properties["content"] ?? "").split(separator: ",").map { $0.trimmingWhitespace() })
    }

    public var disabled: Bool { properties["disable"] == "1" }

    public func isAvailable(on node: NodeName) -> Bool { !disabled && (nodes?.contains(node) ?? true) }

    /// Where a file-based storage is mounted on the node (`/mnt/pve/<id>` for network storages).
    public var mountPath: String? {
        if let path = properties["path"] { return path }
        if ["nfs", "cifs", "cephfs", "glusterfs"].contains(type) { return "/mnt/pve/\(id)" }
        return nil
    }
}

public enum StorageConfigParser {
    static let knownTypes: Set<String> = ["dir", "lvm", "lvmthin", "zfspool", "zfs", "nfs", "cifs", "rbd", "cephfs",
                                          "iscsi", "iscsidirect", "pbs", "glusterfs", "btrfs", "esxi"]

    public static func parse(_ text: String, file: String) -> (storages: [StorageDefinition], diagnostics: [Diagnostic]) {
        var storages: [StorageDefinition] = []
        var diagnostics: [Diagnostic] = TextChecks.binaryContent(text, file: file).map { [$0] } ?? []
        if let empty = TextChecks.emptiness(text, file: file, what: "every Proxmox node has at least the 'local' storage, so the capture is incomplete. Capture /etc/pve/storage.cfg again.") {
            diagnostics.append(.error(file, nil, empty.message))
        }
        var lineNumber = 0
        for raw in TextChecks.lines(text) {
            lineNumber += 1
            let line = String(raw)
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if line.first?.isWhitespace == false {
                // `<type>: <id>`
                let parts = trimmed.split(separator: ":", maxSplits: 1).map { $0.trimmingWhitespace() }
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    diagnostics.append(.error(file, lineNumber, "expected '<type>: <storage id>' but found '\(trimmed.prefix(80))'"))
                    continue
                }
                if !knownTypes.contains(parts[0]) {
                    diagnostics.append(.warning(file, lineNumber, "unknown storage type '\(parts[0])' for storage '\(parts[1])'"))
                }
                if storages.contains(where: { $0.id == parts[1] }) {
                    diagnostics.append(.error(file, lineNumber, "storage '\(parts[1])' is defined twice"))
                }
                storages.append(StorageDefinition(id: parts[1], type: parts[0], properties: [:], line: lineNumber))
            } else {
                guard !storages.isEmpty else {
                    diagnostics.append(.error(file, lineNumber, "property line before any '<type>: <id>' header"))
                    continue
                }
                let parts = trimmed.splitOnWhitespace(maxSplits: 1)
                // A property without a value is a flag, e.g. `sparse`.
                storages[storages.count - 1].properties[parts[0]] = parts.count == 2 ? parts[1] : "1"
            }
        }
        return (storages, diagnostics)
    }
}
