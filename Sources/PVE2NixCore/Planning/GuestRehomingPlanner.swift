/// Decides where each guest lives after the conversion: NixOS containers come back as nspawn,
/// other containers as Incus pets, VMs and templates stay on the peers; `site.toml` overrides.
struct GuestRehomingPlanner {
    let site: Site
    let drain: DrainPlan
    let serviceVLAN: Int?

    func plan(guests: [Guest], diagnostics: inout [Diagnostic]) -> [GuestOutcome] {
        guests.map { guest in
            let move = drain.moves.first { $0.vmid == guest.vmid }
            var (rehome, reason) = defaultRehoming(guest)
            if let chosen = site.intent.guests[guest.vmid]?.rehome {
                rehome = chosen
                reason = "chosen in site.toml"
                if chosen == .nspawn && (guest.kind == .qemu || guest.ostype != "nixos") {
                    diagnostics.append(.error("site.toml", site.intent.guests[guest.vmid]?.line,
                        "guest \(guest.vmid) (\(guest.kind == .qemu ? "a VM" : "ostype \(guest.ostype ?? "unknown")")) cannot be an nspawn container: NixOS containers run NixOS only. Use rehome = \"incus\" or \"stay\"."))
                }
                if chosen == .incus && guest.kind == .qemu {
                    reason += " (an Incus VM: the disk image is imported from its backup)"
                }
            }
            let nic = guest.nics.first { $0.address != nil } ?? guest.nics.first
            if rehome == .nspawn, nic?.address == nil {
                diagnostics.append(.warning(guest.file, nic?.line,
                    "guest \(guest.vmid) comes back as an nspawn container but its \(nic?.key ?? "net0") has no static address; the container needs one (or set it in site.toml later)"))
            }
            return GuestOutcome(vmid: guest.vmid, kind: guest.kind, name: guest.name, ostype: guest.ostype, rehome: rehome,
                                interimNode: move?.to, reason: reason, address: nic?.address?.description, vlan: nic?.vlanTag)
        }
    }

    private func defaultRehoming(_ guest: Guest) -> (Rehoming, String) {
        if guest.template { return (.stay, "templates stay on the peers") }
        if guest.kind == .qemu { return (.stay, "VMs stay on the peers: a converted node runs no hypervisor") }
        if guest.ostype == "nixos" { return (.nspawn, "a NixOS container: cattle, rebuilt as a declarative systemd-nspawn container") }
        return (.incus, "a \(guest.ostype ?? "non-NixOS") container: a pet that keeps its own OS under Incus")
    }
}

/// Chooses how NixOS gets onto the node.
struct InstallPathPlanner {
    static let kexecMinimumBytes: Int64 = 5 * ByteFormat.gibibyte / 2

    let site: Site
    let capture: NodeCapture
    let network: NetworkPlan

    func plan(diagnostics: inout [Diagnostic]) -> InstallPlan {
        let intent = site.intent
        let memory = capture.memoryTotalBytes
        var reasons: [String] = []
        let enoughForKexec = memory.map { $0 >= Self.kexecMinimumBytes }
        if !intent.outOfBandConsole {
            reasons.append("no out-of-band console: the node's only console is noVNC on its peers, so everything is drained first and nothing is touched that cannot be reached again over the network")
        }
        let first = intent.convertedNodes.isEmpty
        let onBridgeOrVLAN = network.managementInterface.flatMap { capture.interface($0) }.map { $0.kind == .vlan || $0.kind == .bridge || $0.kind == .bond } ?? false

        var path: InstallPath
        if let chosen = intent.nodes[capture.name]?.installPath {
            path = chosen
            reasons.insert("chosen in site.toml", at: 0)
        } else if intent.installTool == .clan {
            path = .clan
            reasons.insert("site.toml chooses clan as the install tool", at: 0)
        } else if first {
            path = .bootImage
            reasons.insert("first node of the site: nothing is proven yet, so install from a boot image that comes up with the node's management address before anything is wiped", at: 0)
        } else if enoughForKexec == false {
            path = .bootImage
            reasons.insert("the kexec installer needs at least \(ByteFormat.string(Self.kexecMinimumBytes)) of RAM; the node has \(ByteFormat.string(memory ?? 0))", at: 0)
        } else {
            path = .kexec
            reasons.insert("\(intent.convertedNodes.map(\.rawValue).joined(separator: ", ")) already converted: the generated network is proven, so install in place via kexec", at: 0)
        }
        if let memory {
            reasons.append("RAM \(ByteFormat.string(memory)): \(enoughForKexec! ? "enough" : "NOT enough") for the kexec installer (needs \(ByteFormat.string(Self.kexecMinimumBytes)); swap does not survive kexec)")
        } else {
            diagnostics.append(.warning("nodes/\(capture.name)/meminfo", nil, "missing: the node's RAM is unknown, so kexec cannot be judged"))
        }
        if onBridgeOrVLAN {
            reasons.append("the management address sits on \(network.managementInterface!) (a bridge/VLAN/bond): the stock kexec installer restores only flat addresses per MAC, so pve2nix must give the installer this network")
        }
        if path == .clan {
            // From clan-core's code (install-facts §4): what the wrapper must make up for.
            reasons.append("clan machines install --host-key-check has no effect (its value is discarded) and clan passes nixos-anywhere no host-key check: pve2nix checks the node's pinned key itself before each step")
            reasons.append("clan's sshd service generates a new host key for the installed system: pin that key after the install, from the pinned installer, before trusting the node again")
        }
        if path == .kexec, enoughForKexec == false {
            diagnostics.append(.error("site.toml", intent.nodes[capture.name]?.line,
                "install path A (kexec) needs at least \(ByteFormat.string(Self.kexecMinimumBytes)) of RAM; \(capture.name) has \(ByteFormat.string(memory ?? 0)). Use install_path = \"B\"."))
        }
        return InstallPlan(path: path, reasons: reasons, memoryBytes: memory, firmware: capture.firmware)
    }
}
