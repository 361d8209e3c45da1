import PVE2NixCore

/// Who is draining a node, written into the node's notes (its `description`) so that a pve2nix on
/// another machine sees it and stops. The local node lock cannot see another machine; this can.
public struct DrainMarker: Sendable, Hashable {
    public static let prefix = "pve2nix-drain:"
    /// Names the run: user, host and journal, so the same run finds its own marker after a crash.
    public var owner: String
    /// When the marker was set, as the user reads it.
    public var since: String

    public init(owner: String, since: String) {
        self.owner = owner
        self.since = since
    }

    public var line: String { "\(Self.prefix) in progress by \(owner) since \(since)" }

    /// The marker lines in a description, each with its owner.
    public static func markers(in description: String) -> [(line: String, owner: String)] {
        description.split(separator: "\n", omittingEmptySubsequences: false).compactMap { raw in
            let line = String(raw)
            guard line.hasPrefix(prefix) else { return nil }
            let rest = line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
            guard let by = rest.range(of: "in progress by ") else { return (line, rest) }
            let owner = rest[by.upperBound...].components(separatedBy: " since ").first ?? ""
            return (line, owner)
        }
    }

    public static func removing(_ owner: String, from description: String) -> String {
        var lines = description.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeAll { $0.hasPrefix(prefix) && markers(in: $0).first?.owner == owner }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.joined(separator: "\n")
    }
}

extension DrainExecutor {
    /// Sets this run's marker on `node`, or stops when another run's marker is there. Uses the
    /// config's digest, so that of two runs setting a marker at once, one is refused.
    func claim(_ node: NodeName, as marker: DrainMarker) async throws {
        for attempt in 0..<3 {
            let config = try await read(.nodeConfig(node))
            let description = config["description"]?.stringValue ?? ""
            let found = DrainMarker.markers(in: description)
            if let other = found.first(where: { $0.owner != marker.owner }) { throw DrainError.markedByAnother(node, marker: other.line) }
            if !found.isEmpty { return }
            let updated = description.isEmpty ? marker.line : description + "\n\n" + marker.line
            do {
                _ = try await api.send(.setNodeDescription(node, updated, digest: config["digest"]?.stringValue))
                try await journal.append(DrainRecord(vmid: VMID(0), phase: .done, step: .marker, target: node, detail: "marked \(node): \(marker.line)"))
                return
            } catch let error as ProxmoxAPIError where error.status == 400 || error.status == 500 {
                // Changed since we read it (someone else's marker?): read again and decide.
                if attempt == 2 { throw error }
            }
        }
    }

    /// Removes this run's marker from `node`'s notes, leaving the rest as it was.
    func release(_ node: NodeName, as marker: DrainMarker) async throws {
        let config = try await read(.nodeConfig(node))
        let description = config["description"]?.stringValue ?? ""
        guard DrainMarker.markers(in: description).contains(where: { $0.owner == marker.owner }) else { return }
        _ = try await api.send(.setNodeDescription(node, DrainMarker.removing(marker.owner, from: description), digest: config["digest"]?.stringValue))
        try await journal.append(DrainRecord(vmid: VMID(0), phase: .done, step: .marker, target: node, detail: "unmarked \(node)"))
    }
}
