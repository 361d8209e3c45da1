import Foundation
import PVE2NixCore

/// The generated tree as `check` sees it, read by the caller: the units, the Nix files, and
/// whether the files are still the ones pve2nix wrote.
public struct GeneratedTreeSnapshot: Sendable {
    public var directory: String
    /// `networkd/` units by file name.
    public var units: [String: String]
    /// Absolute paths of the `.nix` files to parse.
    public var nixFiles: [String]
    /// Files the manifest lists that are missing or were changed by hand.
    public var changedFiles: [String]
    public var exists = true
    /// Whether pve2nix's manifest is there: without it, nothing says the tree is pve2nix's.
    public var hasManifest = true
    /// The text of `disko.nix`: the disks the install would wipe.
    public var disko: String?

    public init(directory: String, units: [String: String], nixFiles: [String], changedFiles: [String], exists: Bool = true) {
        self.exists = exists
        self.directory = directory
        self.units = units
        self.nixFiles = nixFiles
        self.changedFiles = changedFiles
    }
}

/// `pve2nix check`: the preflight right before anything destructive. Reads the cluster through
/// the API, the node over SSH (with its pinned key), and the generated tree; changes nothing.
public struct NodeCheck: Sendable {
    public let plan: ConversionPlan
    public let site: Site
    public let api: any ProxmoxAPI
    public let shell: (any RemoteShell)?
    public let processes: any ProcessRunner
    public var clock: any Clock<Duration> = ContinuousClock()
    /// Backup archives the drain made (vmid → volid), from the journal.
    public var archives: [VMID: String] = [:]
    /// The node's host key fingerprint as pinned, and as the bundle recorded it.
    public var pinnedFingerprint: HostKeyFingerprint?
    public var recordedFingerprint: HostKeyFingerprint?
    public var generated: GeneratedTreeSnapshot?
    /// The network units' hash of the last rehearsal that passed, with what ran.
    public var rehearsed: (hash: String, detail: String)?
    public var commandTimeout: Duration = .seconds(60)
    public var progress: @Sendable (String) -> Void = { _ in }

    public init(plan: ConversionPlan, site: Site, api: any ProxmoxAPI, shell: (any RemoteShell)?, processes: any ProcessRunner) {
        self.plan = plan
        self.site = site
        self.api = api
        self.shell = shell
        self.processes = processes
    }

    /// Every check, in order; a check that cannot be made is a `fail` that says why.
    public func run() async -> [PreflightCheck] {
        var checks: [PreflightCheck] = []
        checks += await clusterChecks()
        checks += await nodeChecks()
        checks += await generatedChecks()
        return checks
    }

    func clusterChecks() async -> [PreflightCheck] {
        progress("reading the cluster through the API")
        let tasks = ProxmoxTasks(api: api, clock: clock)
        do {
            let status = try await tasks.read(.clusterStatus())
            let resources = try await tasks.read(.clusterResources())
            var checks = [NodeCheckRules.drained(resources: resources, node: plan.node)]
            checks += NodeCheckRules.quorum(status: status, corosync: site.corosync, leaving: plan.node)
            let peers = Array(Set(plan.drain.moves.compactMap(\.to))).sorted()
            checks.append(NodeCheckRules.peersOnline(status: status, peers: peers.isEmpty ? plan.drain.peers.map(\.node) : peers))
            checks.append(await archivesCheck(tasks: tasks, status: status))
            return checks
        } catch {
            return [PreflightCheck("cluster", .fail, "cannot read the cluster through the API: \(error.localizedDescription.trimmingCharacters(in: CharacterSet(charactersIn: "."))). Nothing can be checked there; fix the connection and check again.")]
        }
    }

    func archivesCheck(tasks: ProxmoxTasks, status: JSONValue) async -> PreflightCheck {
        guard !archives.isEmpty else { return PreflightCheck("backup-archives", .pass, "no guest was moved by backup and restore") }
        let online = (status.arrayValue ?? []).filter { $0["type"]?.stringValue == "node" && $0["online"]?.boolValue == true }
            .compactMap { $0["name"]?.stringValue }.filter { $0 != plan.node.rawValue }.sorted()
        guard let peer = online.first else { return PreflightCheck("backup-archives", .fail, "no peer is online to read the backup storage from") }
        var missing: [String] = []
        for (vmid, volid) in archives.sorted(by: { $0.key < $1.key }) {
            let storage = String(volid.prefix { $0 != ":" })
            do {
                let content = try await tasks.read(.storageContent(node: NodeName(peer), storage: storage, vmid: vmid))
                if !(content.arrayValue ?? []).contains(where: { $0["volid"]?.stringValue == volid }) { missing.append("\(vmid): \(volid)") }
            } catch {
                missing.append("\(vmid): \(volid) (cannot read \(storage): \(error.localizedDescription))")
            }
        }
        guard missing.isEmpty else {
            return PreflightCheck("backup-archives", .fail, "archives of guests moved by backup and restore are not on the backup storage: \(missing.joined(separator: "; ")). They are the only copy of the guest's history: find them before the disk is wiped.")
        }
        return PreflightCheck("backup-archives", .pass, "\(archives.count) archive\(archives.count == 1 ? "" : "s") of the backup-restore moves on the backup storage")
    }

    func nodeChecks() async -> [PreflightCheck] {
        guard let shell else {
            return [PreflightCheck("ssh", .fail, "no SSH target: give --ssh [USER@]HOST[:PORT] to check the node's host key, memory and disks")]
        }
        progress("reading \(plan.node) over SSH (\(shell.target))")
        var checks: [PreflightCheck] = []
        do {
            let meminfo = try await shell.run("cat /proc/meminfo", timeout: commandTimeout)
            // Connected: the node presented the pinned key (the shell checks strictly). That the
            // key is this node's and not another pinned host's, its name says.
            let hostname = try await shell.run("cat /proc/sys/kernel/hostname", timeout: commandTimeout).standardOutputText
            let release = try await shell.run("cat /etc/os-release", timeout: commandTimeout).standardOutputText
            checks.append(hostKeyCheck(hostname: hostname.trimmingCharacters(in: .whitespacesAndNewlines), inInstaller: Self.isInstaller(release)))
            checks.append(NodeCheckRules.kexecMemory(meminfo: meminfo.standardOutputText, installPath: plan.install.path))
            let link = try await shell.run("readlink /root/.ssh/authorized_keys || true", timeout: commandTimeout)
            checks.append(NodeCheckRules.authorizedKeys(readlink: link.standardOutputText))
            checks.append(try await diskCheck(shell))
        } catch let error as RemoteShellError {
            if case .hostKeyChanged = error { checks.append(PreflightCheck("host-key", .fail, error.localizedDescription)) }
            else { checks.append(PreflightCheck("ssh", .fail, error.localizedDescription)) }
        } catch {
            checks.append(PreflightCheck("ssh", .fail, "reading \(plan.node) over SSH failed: \(error.localizedDescription)"))
        }
        return checks
    }

    static func isInstaller(_ osRelease: String) -> Bool {
        osRelease.split(separator: "\n").contains { $0 == "VARIANT_ID=installer" || $0 == "VARIANT_ID=\"installer\"" }
    }

    func hostKeyCheck(hostname: String, inInstaller: Bool) -> PreflightCheck {
        guard let pinned = pinnedFingerprint else { return PreflightCheck("host-key", .fail, "no host key is pinned for \(plan.node)") }
        // The kexec installer keeps the node's host keys but not its name.
        if !inInstaller, hostname.split(separator: ".").first.map(String.init) != plan.node.rawValue {
            return PreflightCheck("host-key", .fail, "the host at \(shell?.target.description ?? "the SSH target") is '\(hostname)', not \(plan.node): it presented a key pinned for that address, but it is another machine. Check --ssh.")
        }
        if let recorded = recordedFingerprint, recorded != pinned {
            return PreflightCheck("host-key", .fail, "the pinned key \(pinned) differs from the one the bundle recorded (\(recorded)): capture again with --ssh to see which is right")
        }
        return PreflightCheck("host-key", .pass, "\(plan.node) presented its pinned key \(pinned)\(recordedFingerprint == nil ? "" : ", the one the bundle recorded")")
    }

    /// The disk-identity gate, on `lsblk` and by-id links read now.
    func diskCheck(_ shell: any RemoteShell) async throws -> PreflightCheck {
        try await DiskGateProbe.check(plan: plan, shell: shell, timeout: commandTimeout)
    }

    /// The imported pools (of `names`) with a member on one of the planned disks.
    public static func importedPools(_ names: [String], on planned: [DiskTarget], devices: [BlockDevice], links: [DiskIDLink]) -> [String] {
        let wanted = Set(names.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        guard !wanted.isEmpty else { return [] }
        let kernels = Set(planned.compactMap { p in links.first { $0.name == p.byId.linkName }?.target })
        var found: Set<String> = []
        for disk in devices where kernels.contains(disk.kernelName) {
            for d in [disk] + disk.allDescendants where d.fstype == "zfs_member" {
                if let label = d.label, wanted.contains(label) { found.insert(label) }
            }
        }
        return found.sorted()
    }

    /// Every `/dev/disk/by-id/…` path quoted in a Nix text.
    static func byIDPaths(in text: String) -> [String] {
        text.split(separator: "\"").map(String.init).filter { $0.hasPrefix("/dev/disk/by-id/") && !$0.contains(" ") }
    }

    func generatedChecks() async -> [PreflightCheck] {
        guard let generated else {
            return [PreflightCheck("generated-config", .fail, "no generated configuration: give --generated DIR (written by 'pve2nix generate')")]
        }
        var checks: [PreflightCheck] = []
        guard generated.exists else {
            return [PreflightCheck("generated-config", .fail, "\(generated.directory) does not exist: give --generated the directory 'pve2nix generate \(plan.node) --out DIR' wrote"),
                    PreflightCheck("network-rehearsed", .fail, "no generated network units to compare with a rehearsal")]
        }
        let wiped = Set(Self.byIDPaths(in: generated.disko ?? ""))
        let planned = Set(plan.disk?.installTargets.map(\.byId.path) ?? [])
        if !generated.hasManifest {
            checks.append(PreflightCheck("generated-config", .fail, "\(generated.directory) has no \(".pve2nix-manifest"): it is not a tree 'pve2nix generate' wrote. Generate it: pve2nix generate \(plan.node) --site DIR --out DIR"))
        } else if wiped != planned {
            checks.append(PreflightCheck("generated-config", .fail, "\(generated.directory)/disko.nix would wipe \(wiped.isEmpty ? "no /dev/disk/by-id disk" : wiped.sorted().joined(separator: ", ")), but plan \(plan.node) names \(planned.sorted().joined(separator: ", ")): the tree was generated from another plan. Generate it again from the plan's bundle."))
        } else if !generated.changedFiles.isEmpty {
            checks.append(PreflightCheck("generated-config", .fail, "\(generated.directory): \(generated.changedFiles.joined(separator: ", ")) missing or changed since pve2nix wrote them; generate again"))
        } else if generated.nixFiles.isEmpty {
            checks.append(PreflightCheck("generated-config", .fail, "\(generated.directory) holds no .nix files: is it a tree 'pve2nix generate' wrote?"))
        } else {
            progress("parsing \(generated.nixFiles.count) Nix files with nix-instantiate")
            var broken: [String] = []
            for file in generated.nixFiles {
                var request = ProcessRequest("nix-instantiate", ["--parse", file], environment: ["NIX_REMOTE": "dummy://"], timeout: .seconds(60))
                request.acceptsFailure = true
                do {
                    let result = try await processes.run(request) { _ in }
                    if !result.status.isSuccess { broken.append("\(file): \(result.standardErrorText.split(separator: "\n").first ?? "")") }
                } catch {
                    broken.append("\(file): \(error.localizedDescription)")
                }
            }
            checks.append(broken.isEmpty
                ? PreflightCheck("generated-config", .pass, "\(generated.nixFiles.count) Nix files in \(generated.directory) parse with nix-instantiate")
                : PreflightCheck("generated-config", .fail, broken.joined(separator: "; ")))
        }
        let hash = NetworkUnitsHash.of(generated.units)
        if generated.units.isEmpty {
            checks.append(PreflightCheck("network-rehearsed", .fail, "\(generated.directory)/networkd holds no units"))
        } else if let rehearsed, rehearsed.hash == hash {
            checks.append(PreflightCheck("network-rehearsed", .pass, "these \(generated.units.count) network units (\(hash.prefix(12))) passed a rehearsal (\(rehearsed.detail))"))
        } else {
            checks.append(PreflightCheck("network-rehearsed", .fail, "no passing rehearsal of these network units (\(hash.prefix(12)))\(rehearsed.map { "; the last one that passed ran other units (\($0.hash.prefix(12)))" } ?? ""). Run 'pve2nix rehearse \(plan.node) --site DIR --generated \(generated.directory)'."))
        }
        return checks
    }
}
