/// What a person does at the rack for install path B: write the installer image to a USB stick,
/// boot the node from it, and which of the node's disks will be wiped and which must stay.
///
/// pve2nix cannot boot the node from a stick itself, so these are printed, then it waits.
public struct RackInstructions: Sendable, Hashable, Codable {
    /// One disk of the node as a person recognises it in a boot menu or on a label.
    public struct Disk: Sendable, Hashable, Codable {
        public var byId: String
        public var model: String?
        public var serial: String?
        public var sizeBytes: Int64?
        /// For a disk to leave alone: what it holds, as the plan saw it.
        public var detail: String?
    }

    public var node: NodeName
    /// The ISO file in the Nix store.
    public var image: String
    /// Where the installer will answer once booted.
    public var address: String
    public var waitSeconds: Int64
    /// The disks the install wipes (the install disk and its mirrors).
    public var wiped: [Disk]
    /// Every other disk the plan saw: the install never touches them.
    public var leaveAlone: [Disk]

    public init(plan: ConversionPlan, image: String, address: String, waitSeconds: Int64) {
        node = plan.node
        self.image = image
        self.address = address
        self.waitSeconds = waitSeconds
        wiped = plan.disk?.installTargets.map { Disk(byId: $0.byId.path, model: $0.model, serial: $0.serial, sizeBytes: $0.sizeBytes) } ?? []
        let planned = Set(plan.disk?.installTargets.map(\.kernelName) ?? [])
        leaveAlone = (plan.disk?.untouched ?? []).filter { $0.kind == .disk && !planned.contains($0.name) }
            .map { Disk(byId: $0.name, model: nil, serial: nil, sizeBytes: nil, detail: $0.detail) }
    }

    /// The instructions as numbered lines, each complete on its own.
    public var lines: [String] {
        var l: [String] = []
        l.append("The installer image for \(node) is built: \(image)")
        l.append("It holds a private SSH host key that pve2nix pinned for this install: keep the ISO and the stick private, and wipe the stick afterwards (the key is used once).")
        l.append("1. On the machine you run pve2nix on, put a USB stick in (NOT a disk of \(node)) and find its device with 'lsblk -d -o NAME,SIZE,MODEL,TRAN' (TRAN usb).")
        l.append("2. Write the image to it (replace /dev/sdX with the stick; everything on the stick is lost):")
        l.append("   dd if=\(ShellQuoting.quote(image)) of=/dev/sdX bs=4M conv=fsync status=progress")
        l.append("3. At \(node): it runs Proxmox still, drained. Plug the stick in, reboot it, and choose the stick once in the firmware's one-time boot menu (often F11 or F12); do not change the boot order.")
        l.append("4. The installer comes up with \(node)'s own network at \(address). Nothing is wiped until pve2nix has checked the disks and you have confirmed.")
        if wiped.isEmpty {
            l.append("   The plan names no install disk: pve2nix will refuse to wipe anything.")
        } else {
            l.append("   Will be wiped (after the confirmation): " + wiped.map(Self.describe).joined(separator: "; "))
        }
        if leaveAlone.isEmpty {
            l.append("   The plan saw no other disk.")
        } else {
            l.append("   Leave alone (never touched; do not unplug them either): " + leaveAlone.map(Self.describe).joined(separator: "; "))
        }
        l.append("5. Leave the stick in until pve2nix has rebooted \(node) into NixOS; then take it out. pve2nix waits up to \(waitSeconds) s for the installer and says every minute how the wait stands.")
        return l
    }

    static func describe(_ d: Disk) -> String {
        var parts = [d.byId]
        if let m = d.model { parts.append("model \(m)") }
        if let s = d.serial { parts.append("serial \(s)") }
        if let b = d.sizeBytes { parts.append(Self.size(b)) }
        if let detail = d.detail { parts.append(detail) }
        return parts.joined(separator: ", ")
    }

    static func size(_ bytes: Int64) -> String {
        let gb = Double(bytes) / 1_000_000_000
        return gb >= 1000 ? "\((gb / 1000 * 10).rounded() / 10) TB" : "\(Int(gb.rounded())) GB"
    }
}
