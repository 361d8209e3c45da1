/// A systemd-networkd unit as NixOS models it: the attribute name is the file name, each section
/// an attribute group. Both `network.nix` and the plain files in `networkd/` are rendered from it.
public struct NetworkdUnit: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case netdev, network, link }

    public var name: String
    public var kind: Kind
    public var sections: [Section]
    /// A comment for review: where in the interfaces file this unit came from.
    public var origin: String?

    public struct Section: Sendable, Hashable {
        /// The NixOS attribute (`netdevConfig`, `bridgeVLANs`…), which fixes the unit section name.
        public var attribute: Attribute
        public var entries: [(key: String, value: NetworkdValue)]

        public static func == (a: Section, b: Section) -> Bool { a.attribute == b.attribute && a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.value) == b.entries.map(\.value) }
        public func hash(into h: inout Hasher) { h.combine(attribute); h.combine(entries.map(\.key)) }

        /// Entries with the same key merge: lists concatenate (repeated keys), a scalar set twice
        /// keeps the later value (a Nix attribute set cannot hold a key twice).
        public init(_ attribute: Attribute, _ entries: [(String, NetworkdValue)]) {
            self.attribute = attribute
            var merged: [(key: String, value: NetworkdValue)] = []
            for (key, value) in entries {
                guard let i = merged.firstIndex(where: { $0.key == key }) else { merged.append((key, value)); continue }
                switch (merged[i].value, value) {
                case (.list(let a), .list(let b)): merged[i].value = .list(a + b.filter { !a.contains($0) })
                case (.list(let a), let b): merged[i].value = .list(a.contains(b) ? a : a + [b])
                default: merged[i].value = value
                }
            }
            self.entries = merged
        }
    }

    /// NixOS's attribute groups and the unit sections they render to, in NixOS's order.
    public enum Attribute: String, Sendable, Hashable, CaseIterable {
        case matchConfig, netdevConfig, vlanConfig, bridgeConfig, bondConfig, linkConfig, networkConfig, bridgeVLANs

        public var sectionName: String {
            switch self {
            case .matchConfig: "Match"
            case .netdevConfig: "NetDev"
            case .vlanConfig: "VLAN"
            case .bridgeConfig: "Bridge"
            case .bondConfig: "Bond"
            case .linkConfig: "Link"
            case .networkConfig: "Network"
            case .bridgeVLANs: "BridgeVLAN"
            }
        }
    }

    public var fileName: String { "\(name).\(kind.rawValue)" }
}

/// A unit setting value: strings, integers, booleans, or a list (repeated keys).
public indirect enum NetworkdValue: Sendable, Hashable {
    case string(String), int(Int), bool(Bool), list([NetworkdValue])

    /// How NixOS writes it into a unit file.
    var unitText: [String] {
        switch self {
        case .string(let s): [s]
        case .int(let i): [String(i)]
        case .bool(let b): [b ? "true" : "false"]
        case .list(let items): items.flatMap(\.unitText)
        }
    }

    var nix: NixExpr {
        switch self {
        case .string(let s): .string(s)
        case .int(let i): .int(i)
        case .bool(let b): .bool(b)
        case .list(let items): .list(items.map(\.nix))
        }
    }
}

extension NetworkdUnit {
    /// The unit file NixOS writes to /etc/systemd/network: sections in NixOS's order, keys sorted
    /// (Nix attribute sets are sorted), lists as repeated keys, one `[BridgeVLAN]` per list element.
    public var unitFile: String {
        var blocks: [String] = []
        for attribute in Attribute.allCases {
            for section in sections where section.attribute == attribute {
                let lines = section.entries.sorted { $0.key < $1.key }.flatMap { e in e.value.unitText.map { "\(e.key)=\($0)" } }
                blocks.append("[\(attribute.sectionName)]\n" + lines.map { $0 + "\n" }.joined())
            }
        }
        return blocks.joined(separator: "\n")
    }

    /// This unit as the value of `systemd.network.<kind>s."<name>"`.
    public var nixValue: NixExpr {
        var bindings: [NixBinding] = []
        for attribute in Attribute.allCases {
            let matching = sections.filter { $0.attribute == attribute }
            guard !matching.isEmpty else { continue }
            func set(_ s: Section) -> NixExpr { .attrs(s.entries.sorted { $0.key < $1.key }.map { NixBinding([$0.key], $0.value.nix) }) }
            if attribute == .bridgeVLANs {
                bindings.append(NixBinding([attribute.rawValue], .list(matching.map(set))))
            } else {
                bindings.append(NixBinding([attribute.rawValue], set(matching[0])))
            }
        }
        return .attrs(bindings)
    }
}
