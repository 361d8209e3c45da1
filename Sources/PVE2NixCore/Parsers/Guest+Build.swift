extension Guest {
    static let vmDiskPrefixes = ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate", "unused"]

    /// Builds the plan's view of a guest from its config (when captured) and its resource entry.
    public static func build(config: GuestConfigFile?, resource: GuestResource?, node: NodeName) -> (Guest, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        let file = config?.file
        let section = config?.current ?? ConfigSection(name: "", entries: [], line: 1)
        let kind = config?.kind ?? resource?.kind ?? .qemu
        let vmid = config?.vmid ?? resource?.vmid ?? VMID(0)

        var nics: [GuestNIC] = []
        for entry in section.indexed("net") {
            let p = PropertyString(entry.value)
            var mac: String? = p["hwaddr"]
            var model: String? = p["name"]
            if kind == .qemu {
                for m in ["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"] where p[m] != nil {
                    model = m
                    mac = p[m]
                }
                if model == nil, let d = p.defaultValue { model = d }
            }
            var address: CIDRAddress? = nil
            var mode: String? = nil
            if let ip = p["ip"] {
                if ip == "dhcp" || ip == "manual" || ip == "auto" { mode = ip }
                else if let cidr = CIDRAddress.parse(ip) { address = cidr }
                else { diagnostics.append(.error(file, entry.line, "\(entry.key): ip=\(ip) is not an address with a prefix")) }
            }
            var tag: Int? = nil
            if let t = p["tag"] {
                tag = Int(t)
                if tag == nil || !(1...4094).contains(tag!) { diagnostics.append(.error(file, entry.line, "\(entry.key): tag=\(t) is not a VLAN id 1-4094")) }
            }
            nics.append(GuestNIC(key: entry.key, name: model, mac: mac?.lowercased(), bridge: p["bridge"], vlanTag: tag,
                                 address: address, addressMode: mode, gateway: p["gw"], firewall: p.flag("firewall"), line: entry.line))
        }

        var volumes: [GuestVolume] = []
        var devices: [GuestDevice] = []
        func volume(_ entry: ConfigEntry) {
            let p = PropertyString(entry.value)
            let source = VolumeSource(p.defaultValue ?? p["volume"] ?? p["file"] ?? "")
            var size: Int64? = nil
            if let text = p["size"] {
                size = ByteFormat.parseProxmoxSize(text)
                if size.map({ !InputLimits.diskBytes.contains($0) }) ?? true {
                    diagnostics.append(.error(file, entry.line, "\(entry.key): size=\(text.prefix(40)) is not a size like 32G of at most 1 EiB: the config is damaged. Fix the line or capture the config again."))
                    size = nil
                }
            }
            volumes.append(GuestVolume(key: entry.key, source: source, mountPath: p["mp"], sizeBytes: size,
                                       isCDROM: p["media"] == "cdrom", markedShared: p.flag("shared"), readOnly: p.flag("ro"), line: entry.line))
        }
        if kind == .lxc {
            if let rootfs = section.entry("rootfs") { volume(rootfs) }
            else if config != nil { diagnostics.append(.error(file, section.line, "container config has no rootfs")) }
            section.indexed("mp").forEach(volume)
            for entry in section.indexed("dev") { devices.append(GuestDevice(kind: .containerDevice, key: entry.key, value: entry.value, line: entry.line)) }
            for entry in section.entries where entry.key.hasPrefix("lxc.") {
                let k = entry.key
                if k.hasPrefix("lxc.mount.entry") || k.hasPrefix("lxc.cgroup2.devices.allow") || k.hasPrefix("lxc.cgroup.devices.allow")
                    || k.hasPrefix("lxc.mount.") || k.hasPrefix("lxc.hook.") {
                    devices.append(GuestDevice(kind: .rawLXC, key: k, value: entry.value, line: entry.line))
                }
            }
        } else {
            for prefix in vmDiskPrefixes { section.indexed(prefix).forEach(volume) }
            for entry in section.indexed("hostpci") { devices.append(GuestDevice(kind: .pci, key: entry.key, value: entry.value, line: entry.line)) }
            for entry in section.indexed("usb") where !PropertyString(entry.value).defaultValue.map({ $0 == "spice" }).orFalse
                && PropertyString(entry.value)["host"] != "spice" {
                devices.append(GuestDevice(kind: .usb, key: entry.key, value: entry.value, line: entry.line))
            }
            // `serialN: socket` is a virtual console; a device path is host hardware.
            for entry in section.indexed("serial") where entry.value != "socket" {
                devices.append(GuestDevice(kind: .serial, key: entry.key, value: entry.value, line: entry.line))
            }
            for entry in section.indexed("virtiofs") { devices.append(GuestDevice(kind: .virtiofs, key: entry.key, value: entry.value, line: entry.line)) }
        }

        func int(_ key: String, in range: ClosedRange<Int>, _ what: String) -> Int? {
            guard let e = section.entry(key) else { return nil }
            guard let n = Int(e.value) else {
                diagnostics.append(.error(file, e.line, "\(key): '\(e.value.prefix(40))' is not a whole number of \(what) (\(range.spelled))"))
                return nil
            }
            guard range.contains(n) else {
                diagnostics.append(.error(file, e.line, "\(key): \(n) is outside \(range.spelled) \(what): the config is damaged. Fix the line or capture the config again."))
                return nil
            }
            return n
        }
        // At most 2^30 MiB, so the product stays far inside Int64.
        let memoryMiB = int("memory", in: InputLimits.guestMemoryMiB, "MiB").map { Int64($0) * ByteFormat.mebibyte }
        let vcpus: Int
        if kind == .qemu {
            let cores = int("cores", in: InputLimits.cpus, "cores"), sockets = int("sockets", in: InputLimits.cpus, "sockets")
            var total = (cores ?? 1) * (sockets ?? 1)
            if total > InputLimits.cpus.upperBound, let e = section.entry("cores") {
                diagnostics.append(.error(file, e.line, "cores x sockets is \(total) vCPUs, more than \(InputLimits.cpus.upperBound): the config is damaged. Fix the line or capture the config again."))
                total = 1
            }
            vcpus = int("vcpus", in: InputLimits.cpus, "vCPUs") ?? total
        } else {
            vcpus = int("cores", in: InputLimits.cpus, "cores") ?? Self.wholeCPUs(resource?.maxCPU ?? 0)
        }
        let template = (section["template"] == "1") || (resource?.template ?? false)
        let name = section[kind == .qemu ? "name" : "hostname"] ?? resource?.name ?? "\(vmid)"
        if let resource, let config, resource.kind != config.kind {
            diagnostics.append(.error(config.file, 1, "the cluster lists \(vmid) as \(resource.kind.rawValue) but its config is under \(config.kind.configDirectory)/"))
        }
        let guest = Guest(
            vmid: vmid, kind: kind, name: name, node: node,
            status: resource?.status ?? "unknown", template: template,
            memoryBytes: memoryMiB ?? resource?.maxMemoryBytes ?? (kind == .qemu ? 512 : 512) * ByteFormat.mebibyte,
            vcpus: max(vcpus, resource.map { Self.wholeCPUs($0.maxCPU) } ?? 1, 1),
            ostype: section["ostype"], nameservers: (section["nameserver"] ?? "").splitOnWhitespace().filter { !$0.isEmpty }, nics: nics, volumes: volumes, devices: devices,
            pendingKeys: config?.pending?.entries.map(\.key) ?? [],
            snapshots: config?.snapshots.map(\.name) ?? [],
            lock: section["lock"] ?? resource?.lock, haState: resource?.haState, tags: resource?.tags ?? [],
            description: config?.description ?? "", file: file)
        return (guest, diagnostics)
    }
}

extension Guest {
    /// The API's `maxcpu` (fractional with a CPU limit) as whole CPUs; 0 when it is no CPU count,
    /// which the decoder has already reported.
    static func wholeCPUs(_ value: Double) -> Int {
        guard value.isFinite, value > 0, value <= Double(InputLimits.cpus.upperBound) else { return 0 }
        return Int(value.rounded(.up))
    }
}

extension Optional where Wrapped == Bool {
    var orFalse: Bool { self ?? false }
}
