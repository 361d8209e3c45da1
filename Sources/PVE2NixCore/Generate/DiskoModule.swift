/// `disko.nix`: the planned disk(s) only, by id. GPT; UEFI gets an ESP, BIOS a 1M EF02 partition;
/// ext4 by default, ZFS on request or when the old root was mirrored.
struct DiskoModule {
    let disk: DiskPlan
    let firmware: Firmware
    let filesystem: GenerateOptions.Filesystem
    let capture: NodeCapture

    /// Not `rpool`: disko re-imports and reuses an existing pool of the same name.
    static let poolName = "zroot"

    func build(diagnostics: inout [Diagnostic]) -> NixExpr {
        let targets = [disk.byId] + disk.mirrors.map(\.byId)
        let mirrored = targets.count > 1
        let useZFS = filesystem == .zfs || mirrored
        if mirrored && filesystem == .ext4 {
            diagnostics.append(.info("nodes/\(capture.name)/lsblk.json", nil, "the root was mirrored over \(targets.count) disks; disko.nix recreates the mirror as a ZFS pool '\(Self.poolName)' (ext4 cannot mirror)"))
        }
        if useZFS && capture.hostID == nil {
            diagnostics.append(.warning("nodes/\(capture.name)/hostid", nil, "ZFS needs networking.hostId; no hostid was captured, so configuration.nix has none. Set one (8 hex digits)."))
        }
        var disks: [NixBinding] = []
        for (index, target) in targets.enumerated() {
            let name = index == 0 ? "main" : "mirror\(index)"
            var partitions: [NixBinding] = []
            if firmware == .bios {
                partitions.append(NixBinding(["boot"], .set([("size", "1M"), ("type", "EF02")]), comment: "BIOS boot partition for GRUB"))
            }
            if firmware == .uefi {
                let mount = index == 0 ? "/boot" : "/boot-fallback\(index)"
                partitions.append(NixBinding(["ESP"], .set([
                    ("type", "EF00"), ("size", "1G"),
                    ("content", .set([("type", "filesystem"), ("format", "vfat"), ("mountpoint", .string(mount)), ("mountOptions", .list(["umask=0077"]))])),
                ]), comment: index == 0 ? nil : "systemd-boot installs to /boot only: copy it here so this disk can boot alone"))
            }
            let content: NixExpr = useZFS
                ? .set([("type", "zfs"), ("pool", .string(Self.poolName))])
                : .set([("type", "filesystem"), ("format", "ext4"), ("mountpoint", "/")])
            partitions.append(NixBinding(["root"], .set([("size", "100%"), ("content", content)])))
            disks.append(NixBinding([name], .set([
                ("type", "disk"), ("device", .string(target.path)),
                ("content", .set([("type", "gpt"), ("partitions", .attrs(partitions))])),
            ])))
        }
        var devices: [NixBinding] = [NixBinding(["disk"], .attrs(disks))]
        if useZFS {
            devices.append(NixBinding(["zpool", Self.poolName], .set([
                ("type", "zpool"), ("mode", .string(mirrored ? "mirror" : "")),
                ("options", .set([("ashift", "12")])),
                ("rootFsOptions", .set([("compression", "zstd"), ("acltype", "posixacl"), ("xattr", "sa"), ("mountpoint", "none"), ("com.sun:auto-snapshot", "false")])),
                ("datasets", .attrs([
                    NixBinding(["root"], .set([("type", "zfs_fs"), ("mountpoint", "/"), ("options", .set([("mountpoint", "legacy")]))])),
                    NixBinding(["nix"], .set([("type", "zfs_fs"), ("mountpoint", "/nix"), ("options", .set([("mountpoint", "legacy")]))])),
                    NixBinding(["var"], .set([("type", "zfs_fs"), ("mountpoint", "/var"), ("options", .set([("mountpoint", "legacy")]))])),
                ])),
            ])))
            if capture.disks.contains(where: { d in ([d] + d.allDescendants).contains { $0.fstype == "zfs_member" && $0.label == Self.poolName } }) {
                diagnostics.append(.error("nodes/\(capture.name)/lsblk.json", nil, "a ZFS pool named '\(Self.poolName)' already exists on this node; disko would re-import and reuse it. Rename or destroy it first."))
            }
        }
        return .lambda(params: [], ellipsis: true, body: .attrs([NixBinding(["disko", "devices"], .attrs(devices))]))
    }
}
