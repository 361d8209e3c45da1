import PVE2NixCore

/// The disk-identity gate run over SSH on what the node shows now: `lsblk`, its by-id links and
/// its imported ZFS pools. `check` runs it on Proxmox; the install runs it in the installer,
/// strictly, right before the wipe.
public enum DiskGateProbe {
    /// The gate's verdict as a check: pass, warn (the running Proxmox uses the disk, as expected
    /// before the installer), or fail. In the installer, a disk in use fails too.
    public static func check(plan: ConversionPlan, shell: any RemoteShell, timeout commandTimeout: Duration) async throws -> PreflightCheck {
        guard let disk = plan.disk else { return PreflightCheck("disk-identity", .fail, "the plan chose no install disk") }
        let lsblk = try await shell.run("lsblk -J -b -O", timeout: commandTimeout)
        let byID = try await shell.run("ls -l /dev/disk/by-id", timeout: commandTimeout)
        let (devices, d1) = CaptureDecoders.lsblk(lsblk.standardOutputText, file: "lsblk -J -b -O (now)")
        let (links, d2) = CaptureDecoders.diskByID(byID.standardOutputText, file: "ls -l /dev/disk/by-id (now)")
        if let bad = (d1 + d2).first(where: { $0.severity == .error }) {
            return PreflightCheck("disk-identity", .fail, "cannot read the disks now: \(bad.rendered)")
        }
        let verdict = DiskGate.judge(planned: disk.installTargets, now: devices, links: links)
        let disks = disk.installTargets.map(\.byId.path).joined(separator: ", ")
        let inInstaller = NodeCheck.isInstaller(try await shell.run("cat /etc/os-release", timeout: commandTimeout).standardOutputText)
        // lsblk shows no mount point for a ZFS pool's members: an imported pool on the disk is in
        // use all the same (and disko would 'zpool destroy -f' it).
        let pools = try await shell.run("zpool list -H -o name 2>/dev/null || true", timeout: commandTimeout).standardOutputText
        let imported = NodeCheck.importedPools(pools.split(separator: "\n").map(String.init), on: disk.installTargets, devices: devices, links: links)
        var inUse = verdict.failures.filter { $0.rule == .nothingInUse }.map(\.message)
        if !imported.isEmpty { inUse.append("the ZFS pool\(imported.count == 1 ? "" : "s") \(imported.joined(separator: ", ")) on it \(imported.count == 1 ? "is" : "are") imported (zpool export, or reboot into the installer)") }
        let blocking = verdict.failures.filter { $0.rule != .nothingInUse }.map { "rule \($0.rule.rawValue) (\($0.rule.name)): \($0.message)" }
            + (inInstaller ? inUse.map { "rule 5 (nothing mounted or used as swap): \($0)" } : [])
        if blocking.isEmpty && inUse.isEmpty {
            return PreflightCheck("disk-identity", .pass, "\(disks): every rule of the gate holds (\(verdict.findings.count) findings)")
        }
        // On the running Proxmox the install disk holds / and swap: rule 5 can only hold in the
        // installer, where the gate runs again right before the wipe.
        if blocking.isEmpty {
            return PreflightCheck("disk-identity", .warn, "\(disks): the disks are the planned ones and alone; they are in use by the running system (\(inUse.joined(separator: " "))), as expected before the installer runs. The gate checks again, strictly, right before the wipe.")
        }
        return PreflightCheck("disk-identity", .fail, blocking.joined(separator: " | "))
    }

}
