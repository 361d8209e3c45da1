import Foundation
import PVE2NixCore

/// `pve2nix validate`: named checks that the node booted the system pve2nix built and carries
/// its services: read over SSH with the pinned key, each a pass or a fail with why.
public struct NodeValidation: Sendable {
    /// A generated NixOS container the host must run.
    public struct Container: Sendable, Hashable {
        public var name: String
        public var vmid: VMID
        /// The container's address without its prefix length.
        public var address: String?
        /// Host paths bind-mounted into it, with the shared storage's mount point they live on (if any).
        public var mounts: [(hostPath: String, storageMount: String?)]

        public init(name: String, vmid: VMID, address: String?, mounts: [(hostPath: String, storageMount: String?)]) {
            self.name = name
            self.vmid = vmid
            self.address = address
            self.mounts = mounts
        }

        public static func == (a: Self, b: Self) -> Bool { a.name == b.name && a.vmid == b.vmid && a.address == b.address && a.mounts.map(\.hostPath) == b.mounts.map(\.hostPath) }
        public func hash(into h: inout Hasher) { h.combine(name); h.combine(vmid) }

        /// The containers the generated host runs, from the site's guests and the generated names.
        public static func of(site: Site, plan: ConversionPlan, names: [VMID: String]) -> [Container] {
            plan.guests.filter { $0.rehome == .nspawn }.compactMap { (outcome: GuestOutcome) -> Container? in
                guard let name = names[outcome.vmid] else { return nil }
                let guest = site.node(plan.node)?.guests.first { $0.vmid == outcome.vmid }
                let mounts: [(hostPath: String, storageMount: String?)] = (guest?.volumes ?? []).compactMap { v in
                    guard v.key != "rootfs", case .hostPath(let path) = v.source else { return nil }
                    let storage = site.storages.first { s in s.shared && s.mountPath.map { path == $0 || path.hasPrefix($0 + "/") } ?? false }
                    return (path, storage?.mountPath)
                }
                return Container(name: name, vmid: outcome.vmid, address: outcome.address.map { String($0.prefix { $0 != "/" }) }, mounts: mounts)
            }
        }
    }

    public let plan: ConversionPlan
    public let target: SSHTarget
    public let connect: @Sendable (SSHTarget) async throws -> any RemoteShell
    /// From the journal: the toplevel pve2nix built and the installer's last boot id.
    public var expectedToplevel: String?
    public var installerBootID: String?
    public var containers: [Container] = []
    public var probes: [HealthProbe] = []
    /// Runs the probes from here; the failures, each with why.
    public var probe: @Sendable ([HealthProbe]) async -> [String] = { _ in [] }
    public var commandTimeout: Duration = .seconds(30)

    public init(plan: ConversionPlan, target: SSHTarget, connect: @escaping @Sendable (SSHTarget) async throws -> any RemoteShell) {
        self.plan = plan
        self.target = target
        self.connect = connect
    }

    public func run() async -> [PreflightCheck] {
        let shell: any RemoteShell
        do { shell = try await connect(target) } catch {
            return [PreflightCheck("host-key", .fail, "\(target) did not answer with the pinned host key: \(error.localizedDescription)")]
        }
        defer { Task { try? await shell.close() } }
        func out(_ command: String) async -> (Int32, String) {
            guard let r = try? await shell.run(command, timeout: commandTimeout) else { return (255, "") }
            return (r.status, r.standardOutputText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var checks: [PreflightCheck] = []
        // The first command opens the connection: a changed key or a dead node is said as such.
        let hostname: String
        do {
            hostname = try await shell.run("cat /proc/sys/kernel/hostname", timeout: commandTimeout).standardOutputText.trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            return [PreflightCheck("host-key", .fail, "\(target): \(error.localizedDescription)")]
        }
        checks.append(hostname.split(separator: ".").first.map(String.init) == plan.node.rawValue
            ? PreflightCheck("host-key", .pass, "\(target) answers with the pinned key and is \(plan.node)")
            : PreflightCheck("host-key", .fail, "\(target) answers with the pinned key but calls itself '\(hostname)', not \(plan.node)"))
        let bootID = await out("cat /proc/sys/kernel/random/boot_id").1
        switch installerBootID {
        case nil: checks.append(PreflightCheck("boot-id", .fail, "the journal holds no installer boot id to compare with (boot \(bootID))"))
        case bootID?: checks.append(PreflightCheck("boot-id", .fail, "the boot id is still the installer's (\(bootID)): the node did not reboot"))
        case let installer?: checks.append(PreflightCheck("boot-id", .pass, "boot \(bootID), not the installer's \(installer)"))
        }
        let booted = await out("readlink -f /run/booted-system").1
        if let expected = expectedToplevel {
            checks.append(booted == expected ? PreflightCheck("booted-system", .pass, "/run/booted-system is the built \(expected)")
                : PreflightCheck("booted-system", .fail, "/run/booted-system is '\(booted)', not the built \(expected)"))
        } else {
            checks.append(PreflightCheck("booted-system", .fail, "the journal records no built system to compare /run/booted-system (\(booted)) with"))
        }
        let release = await out("cat /etc/os-release").1
        checks.append(NodeCheck.isInstaller(release) ? PreflightCheck("not-installer", .fail, "/etc/os-release still says VARIANT_ID=installer")
            : PreflightCheck("not-installer", .pass, "the installer is gone"))
        // Right after boot it says "starting": wait for the boot to finish, bounded.
        let state = await out("timeout 25 systemctl is-system-running --wait").1
        let failed = await out("systemctl list-units --failed --plain --no-legend --no-pager").1
            .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        checks.append(state == "running" && failed.isEmpty ? PreflightCheck("system-running", .pass, "systemctl is-system-running: running; no failed units")
            : PreflightCheck("system-running", .fail, "systemctl is-system-running: \(state.isEmpty ? "(no answer)" : state)" + (failed.isEmpty ? "" : "; failed: \(failed.joined(separator: ", "))")))
        for c in containers {
            var problems: [String] = []
            if await out("systemctl is-active container@\(ShellQuoting.quote(c.name)).service").1 != "active" { problems.append("container@\(c.name) is not active") }
            if let a = c.address, await out("ping -c 1 -W 2 \(ShellQuoting.quote(a))").0 != 0 { problems.append("\(a) does not answer ping from the host") }
            for m in c.mounts {
                let (status, fs) = await out("ls -d \(ShellQuoting.quote(m.hostPath)) >/dev/null && findmnt -n -o TARGET --target \(ShellQuoting.quote(m.hostPath))")
                if status != 0 { problems.append("\(m.hostPath) is missing") }
                else if let mount = m.storageMount, fs != mount { problems.append("\(m.hostPath) is not on \(mount) (it is on \(fs))") }
            }
            checks.append(problems.isEmpty ? PreflightCheck("container \(c.name)", .pass, "running\(c.address.map { ", answers at \($0)" } ?? "")\(c.mounts.isEmpty ? "" : ", \(c.mounts.map(\.hostPath).joined(separator: ", ")) mounted")")
                : PreflightCheck("container \(c.name)", .fail, problems.joined(separator: "; ")))
        }
        if !probes.isEmpty {
            let failures = await probe(probes)
            checks.append(failures.isEmpty ? PreflightCheck("health-probes", .pass, "\(probes.count) probe\(probes.count == 1 ? "" : "s") answered")
                : PreflightCheck("health-probes", .fail, failures.joined(separator: "; ")))
        }
        return checks
    }
}
