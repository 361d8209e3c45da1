/// How the node's bridges are rebuilt in systemd-networkd.
public enum NetworkStrategy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Keep the topology: VLAN-aware bridges stay VLAN-aware, with PVIDs per port.
    case vlanAwareBridge = "vlan-aware-bridge"
    /// One plain bridge per VLAN on the uplink (`uplink.40` → `br40`); no PVIDs.
    case perVLANBridges = "per-vlan-bridges"
}

/// A guest port on the host bridge: an nspawn container's `vb-<name>` or an Incus NIC.
public struct ContainerPort: Sendable, Hashable {
    public var hostInterface: String
    public var bridge: String
    public var vlan: Int?
}

/// The generated network: units, and where guests of each VLAN attach.
public struct NetworkdConfig: Sendable, Hashable {
    public var units: [NetworkdUnit]
    /// For each (Proxmox bridge, VLAN tag) a guest used: the bridge to attach to and the VLAN to tag
    /// its port with (nil with per-VLAN bridges).
    public var attachments: [GuestAttachmentKey: GuestAttachment]

    public struct GuestAttachmentKey: Sendable, Hashable {
        public var bridge: String
        public var vlan: Int?
    }

    public struct GuestAttachment: Sendable, Hashable {
        public var bridge: String
        public var vlan: Int?
    }
}
