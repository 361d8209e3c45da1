/// `containers.nix`: one NixOS container per guest the plan rehomes as nspawn, its VLAN address
/// from the guest's `net0`, its `/data` bind mounts, and the host side `vb-<name>` network.
struct ContainersModule {
    let site: Site
    let capture: NodeCapture
    let guests: [Guest]
    let names: [VMID: String]
    let network: NetworkdConfig
    let stateVersion: String

    struct Output {
        var expr: NixExpr
        var networkdUnits: [NetworkdUnit]
    }

    func build(diagnostics: inout [Diagnostic]) -> Output {
        var containers: [NixBinding] = []
        var services: [NixBinding] = []
        var vbUnits: [NetworkdUnit] = []
        var mounts: [String: NixExpr] = [:]
        for guest in guests.sorted(by: { $0.vmid < $1.vmid }) {
            let name = names[guest.vmid]!
            guard let nic = guest.nics.first, let bridge = nic.bridge else {
                diagnostics.append(.error(guest.file, nil, "ct \(guest.vmid) has no net0 on a bridge; a NixOS container needs one"))
                continue
            }
            guard let attach = network.attachments[.init(bridge: bridge, vlan: nic.vlanTag)] else {
                diagnostics.append(.error(guest.file, nic.line, "ct \(guest.vmid): bridge \(bridge) is not part of the generated network"))
                continue
            }
            var b: [NixBinding] = [
                NixBinding(["autoStart"], true),
                NixBinding(["privateNetwork"], true),
                NixBinding(["hostBridge"], .string(attach.bridge)),
            ]
            if let address = nic.address {
                b.append(NixBinding(["localAddress"], .string(address.family == .inet ? address.description : address.address)))
            } else {
                diagnostics.append(.warning(guest.file, nic.line, "ct \(guest.vmid) (\(name)) has no static address; set containers.\(name).localAddress"))
            }
            for volume in guest.volumes where volume.key != "rootfs" {
                guard case .hostPath(let path) = volume.source, let target = volume.mountPath else {
                    if volume.key != "rootfs" {
                        diagnostics.append(.warning(guest.file, volume.line, "ct \(guest.vmid): \(volume.key) (\(volume.source.description)) is a storage volume; copy its data into the container by hand"))
                    }
                    continue
                }
                b.append(NixBinding(["bindMounts", target], .set([("hostPath", .string(path)), ("isReadOnly", .bool(volume.readOnly))])))
                if let storage = site.storages.first(where: { s in s.shared && s.mountPath.map { path == $0 || path.hasPrefix($0 + "/") } ?? false }),
                   let mount = storage.mountPath, storage.type == "nfs", let server = storage.properties["server"], let export = storage.properties["export"] {
                    var options: [NixExpr] = ["nofail", "x-systemd.automount"]
                    if let o = storage.properties["options"] { options += o.split(separator: ",").map { .string(String($0)) } }
                    mounts[mount] = .set([("device", .string("\(server):\(export)")), ("fsType", "nfs"), ("options", .list(options))])
                }
            }
            var inner: [NixBinding] = []
            if let gw = nic.gateway {
                inner.append(NixBinding("networking.defaultGateway", .set([("address", .string(gw)), ("interface", "eth0")])))
            }
            let dns = guestNameservers(guest)
            if !dns.isEmpty { inner.append(NixBinding("networking.nameservers", .list(dns.map { .string($0) }))) }
            inner.append(NixBinding("networking.useHostResolvConf", false))
            inner.append(NixBinding("system.stateVersion", .string(stateVersion),
                                    comment: "The service ct \(guest.vmid) ran goes here, declared, for example:\n  services.\(name).enable = true;\npve2nix does not guess it: port its configuration from the old container."))
            b.append(NixBinding(["config"], .lambda(params: [], ellipsis: true, body: .attrs(inner))))
            let renamed = name != guest.name ? " (renamed from '\(guest.name)': names are limited to [a-z0-9-]{1,11})" : ""
            containers.append(NixBinding([name], .attrs(b), comment: "ct \(guest.vmid) \(guest.name)\(renamed), \(guest.description.split(separator: "\n").first.map(String.init) ?? "")".trimmingCharacters(in: ", ")))
            var limits: [(String, NixExpr)] = [("MemoryMax", .string("\(guest.memoryBytes / ByteFormat.mebibyte)M"))]
            if guest.vcpus > 0 { limits.append(("CPUQuota", .string("\(guest.vcpus * 100)%"))) }
            services.append(NixBinding(["container@\(name)", "serviceConfig"], .set(limits)))

            var network: [(String, NetworkdValue)] = [("Bridge", .string(attach.bridge)), ("LinkLocalAddressing", .string("no"))]
            network.sort { $0.0 < $1.0 }
            var sections: [NetworkdUnit.Section] = [.init(.matchConfig, [("Name", .string("vb-\(name)"))]), .init(.networkConfig, network)]
            if let vid = attach.vlan { sections.append(.init(.bridgeVLANs, [("PVID", .int(vid)), ("EgressUntagged", .int(vid))])) }
            vbUnits.append(NetworkdUnit(name: "45-vb-\(name)", kind: .network, sections: sections, origin: "ct \(guest.vmid) \(nic.key) (\(guest.file ?? "?"):\(nic.line)); sorts before systemd's 80-container-vb.network"))
        }
        var body: [NixBinding] = [NixBinding(["containers"], .attrs(containers))]
        if !services.isEmpty { body.append(NixBinding(["systemd", "services"], .attrs(services), comment: "memory and CPU limits from the Proxmox configs")) }
        if !vbUnits.isEmpty {
            body.append(NixBinding(["systemd", "network", "networks"], .attrs(vbUnits.map { NixBinding([$0.name], $0.nixValue, comment: $0.origin) })))
        }
        if !mounts.isEmpty {
            body.append(NixBinding(["fileSystems"], .attrs(mounts.keys.sorted().map { NixBinding([$0], mounts[$0]!) }), comment: "NAS shares the containers bind-mount, as Proxmox mounted them"))
        }
        return Output(expr: .lambda(params: [], ellipsis: true, body: .attrs(body)), networkdUnits: vbUnits)
    }

    /// The container's own `nameserver:`, else the host's DNS servers from the interfaces file.
    private func guestNameservers(_ guest: Guest) -> [String] {
        if !guest.nameservers.isEmpty { return guest.nameservers }
        return capture.interfaces.flatMap { $0.otherOptions["dns-nameservers"] ?? [] }.flatMap { $0.splitOnWhitespace() }
    }
}
