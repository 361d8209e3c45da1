import Foundation
import PVE2NixCore

/// Install paths A, B and C, one nixos-anywhere phase per call (path C: one `clan machines
/// install` per phase, after pve2nix's own kexec), with pve2nix's own checks between the phases: the pinned host key on every connection, the installer awaited with a bound, the
/// disk gate and a typed confirmation right before the wipe, and every step journaled so that a
/// rerun after a crash resumes and never wipes twice.
public struct InstallRun: Sendable {
    /// The time bounds of each step.
    public struct Limits: Sendable, Hashable {
        public var build: Duration = .seconds(4 * 3600)
        public var kexecPhase: Duration = .seconds(20 * 60)
        public var installerWait: Duration = .seconds(10 * 60)
        /// Path B: from the rack instructions until the installer booted from the stick answers.
        public var imageWait: Duration = .seconds(3600)
        /// How often a long wait says how it stands.
        public var progress: Duration = .seconds(60)
        public var diskoPhase: Duration = .seconds(30 * 60)
        public var installPhase: Duration = .seconds(3 * 3600)
        public var rebootPhase: Duration = .seconds(10 * 60)
        public var bootWait: Duration = .seconds(15 * 60)
        public var poll: Duration = .seconds(5)
        public var command: Duration = .seconds(60)
        public init() {}
    }

    /// What the operator sees while it runs.
    public enum Event: Sendable, Hashable {
        case step(String)
        /// A `### … ###` progress marker of nixos-anywhere.
        case marker(phase: String, text: String)
        /// Every output line of a program, for the phase's full log.
        case line(phase: String, ProcessOutputLine)
        /// Path B: what to do at the rack, once the image is built.
        case rack(RackInstructions)
    }

    /// pve2nix's own key for nixos-anywhere: pre-authorised in the node's `authorized_keys2` (a
    /// plain file, unlike Proxmox's cluster-wide `authorized_keys`), so ssh-copy-id finds it works and appends nothing.
    public struct InstallKey: Sendable, Hashable {
        public var privateKeyPath: String
        public var publicKey: String
        public init(privateKeyPath: String, publicKey: String) {
            self.privateKeyPath = privateKeyPath
            self.publicKey = publicKey
        }
    }

    public let plan: ConversionPlan
    public let tree: String
    public let target: SSHTarget
    public let key: InstallKey
    /// Opens a strict shell (pinned host key) to `target`; a new connection on each call.
    public let connect: @Sendable (SSHTarget) async throws -> any RemoteShell
    public let processes: any ProcessRunner
    public let log: any RunLog
    /// The point of no return: true when the operator typed the node name and plan hash (or passed them).
    public let confirm: @Sendable (String) async -> Bool
    public var limits = Limits()
    public var clock: any Clock<Duration> = ContinuousClock()
    public var nixosAnywhere = "nixos-anywhere"
    public var nix = "nix"
    /// Path C: the clan that runs the disko, install and reboot phases (with `nixosAnywhereEnvironment`).
    public var clan = "clan"
    /// Added to nixos-anywhere's environment (pve2nix's strict `ssh` first on PATH).
    public var nixosAnywhereEnvironment: [String: String] = [:]
    public var events: @Sendable (Event) -> Void = { _ in }
    /// A file of the generated tree by its relative path (`disko.nix`, `facter.json`), nil when missing.
    public var treeFile: @Sendable (String) -> Data? = { _ in nil }
    /// Whether pve2nix's install key alone logs in to the node (no agent, no other key): else
    /// nixos-anywhere's ssh-copy-id would append a key to the cluster-wide authorized_keys.
    public var verifyInstallKey: @Sendable () async -> Bool = { false }
    /// Path B only: the installer's host key and the pins it changes.
    public var bootImageSetup: BootImageSetup?
    /// Path C only: the pins that the installed system's new host key goes into.
    public var clanSetup: ClanSetup?

    public init(plan: ConversionPlan, tree: String, target: SSHTarget, key: InstallKey, connect: @escaping @Sendable (SSHTarget) async throws -> any RemoteShell,
                processes: any ProcessRunner, log: any RunLog, confirm: @escaping @Sendable (String) async -> Bool) {
        self.plan = plan
        self.tree = tree
        self.target = target
        self.key = key
        self.connect = connect
        self.processes = processes
        self.log = log
        self.confirm = confirm
    }

    /// Carries the install out from wherever the journal says it stands, up to the installed
    /// system answering after its first boot.
    public func run() async throws {
        let path = plan.install.path
        guard path == .kexec || path == .bootImage || path == .clan else { throw InstallError.pathNotSupported(path) }
        try await requirePassedChecks()
        if try await done(.reboot) { events(.step("the installed system already booted (journal): nothing to do; run 'pve2nix validate'")); return }
        // Path C reaches the installer as path A does: the gate must run in it before clan wipes.
        let kexecs = path == .kexec || path == .clan
        if kexecs, try await !done(.kexec) { try await kexec() }
        if kexecs, try await !done(.disko) { try await ensureHardwareReport() }
        if path == .bootImage, try await !done(.bootImage) { try await bootImage() }
        let paths = try await build()
        if try await !done(.disko) {
            _ = try await awaitInstaller()
            try await disko(paths)
        }
        if try await !done(.install) {
            _ = try await awaitInstaller()
            try await install(paths)
        }
        try await reboot(paths)
    }

    // MARK: Journal

    func done(_ stage: RunStage) async throws -> Bool { try await log.latest(stage)?.phase == .done }

    func record(_ stage: RunStage, _ phase: RunPhase, _ detail: String, facts: RunFacts = RunFacts()) async throws {
        try await log.append(RunEntry(stage: stage, subject: .node, phase: phase, facts: facts, detail: detail))
    }

    /// The newest result of each check must be a pass (or a warning).
    func requirePassedChecks() async throws {
        var latest: [String: RunEntry] = [:]
        for e in try await log.entries() where e.stage == .check && e.subject == .node {
            latest[String(e.detail.prefix { $0 != " " })] = e
        }
        guard !latest.isEmpty else { throw InstallError.checkNotPassed("no check was recorded in this run") }
        let failed = latest.filter { $0.value.phase == .failed }.keys.sorted()
        guard failed.isEmpty else { throw InstallError.checkNotPassed("failed: \(failed.joined(separator: ", "))") }
        if plan.install.path != .bootImage, latest["network-rehearsed"] == nil {
            throw InstallError.checkNotPassed("path \(plan.install.path.rawValue) boots the kexec installer and needs the rehearsal of its network units; none was checked")
        }
    }

    // MARK: Phases

    func kexec() async throws {
        let shell = try await connect(target)
        defer { Task { try? await shell.close() } }
        if try await isInstaller(shell) {
            try await record(.kexec, .done, "the node already runs the installer")
            return
        }
        let hostname = try await text(shell, "cat /proc/sys/kernel/hostname")
        guard hostname.split(separator: ".").first.map(String.init) == plan.node.rawValue else {
            throw InstallError.notThisNode(host: target.description, hostname: hostname, node: plan.node.rawValue)
        }
        try await authorizeInstallKey(shell)
        guard await verifyInstallKey() else { throw InstallError.installKeyDoesNotLogIn(target.description) }
        let bootID = try await text(shell, "cat /proc/sys/kernel/random/boot_id")
        let image = try await buildOutput(.kexecInstaller) + "/" + NixBuildCall.kexecTarballName
        try await record(.kexec, .requested, "kexec into the installer built at \(image)", facts: RunFacts(bootID: bootID, storePath: image))
        let call = NixosAnywhereCall(phase: .kexec, target: target, identityFile: key.privateKeyPath, source: .flake(directory: tree, attribute: plan.node.rawValue),
                                     kexecImage: image, hardwareReport: tree + "/facter.json", postKexecPort: target.port)
        try await runPhase(call, limit: limits.kexecPhase, state: "The node may be running Proxmox or the installer; nothing was wiped.")
        let installer = try await awaitInstaller()
        try await record(.kexec, .done, "the installer answers with the pinned key", facts: RunFacts(bootID: installer))
    }

    func disko(_ paths: StorePaths) async throws {
        try requireTreeWipesThePlannedDisks()
        let shell = try await connect(target)
        defer { Task { try? await shell.close() } }
        // Once a wipe was asked for, the disk may be laid out, half laid out, or untouched.
        let started = try await log.entries().contains { $0.stage == .disko && $0.phase == .requested }
        if started {
            if try await laidOutByDisko(shell) {
                guard try await shell.run("mountpoint -q /mnt", timeout: limits.command).status == 0 else { throw InstallError.installTargetNotMounted }
                try await record(.disko, .done, "the disk is already laid out by disko and mounted (the earlier run wiped it)")
                return
            }
            // A wipe whose nixos-anywhere was killed may still run on the node: never start a second one.
            let name = (paths.disko as NSString).lastPathComponent
            if try await shell.run("pgrep -f -- \(ShellQuoting.quote(name))", timeout: limits.command).status == 0 { throw InstallError.wipeStillRunning(name) }
            if let refusal = try await gateVerdict(shell) { throw InstallError.diskNeitherPlannedNorLaidOut(refusal) }
        } else if let refusal = try await gateVerdict(shell) {
            try await record(.disko, .failed, "gate refused: \(refusal)")
            throw InstallError.gateRefused(refusal)
        }
        let disks = ([plan.disk?.byId.path] + (plan.disk?.mirrors.map(\.byId.path) ?? [])).compactMap { $0 }.joined(separator: ", ")
        guard await confirm("This wipes \(disks) on \(plan.node) and everything on it. Type the node name, then the plan hash, to go on.") else {
            throw InstallError.notConfirmed
        }
        // The confirmation may have taken a while: the gate again, right before the wipe.
        if let refusal = try await gateVerdict(shell) {
            try await record(.disko, .failed, "gate refused after the confirmation: \(refusal)")
            throw InstallError.gateRefused(refusal)
        }
        try await record(.disko, .requested, "wiping \(disks)", facts: RunFacts(storePath: paths.disko))
        let call = NixosAnywhereCall(phase: .disko, target: target, identityFile: key.privateKeyPath, source: .storePaths(disko: paths.disko, toplevel: paths.toplevel))
        try await runPhase(call, limit: limits.diskoPhase, state: "The disk may be partly wiped; the node runs the installer.")
        let after = try await connect(target)
        defer { Task { try? await after.close() } }
        guard try await laidOutByDisko(after), try await after.run("mountpoint -q /mnt", timeout: limits.command).status == 0 else {
            throw InstallError.phaseFailed(phase: "disko", detail: "it ended but the disk does not show disko's partitions mounted on /mnt", state: "The node runs the installer.")
        }
        try await record(.disko, .done, "\(disks) laid out by disko")
    }

    /// The disko script is built from the generated tree: it must name exactly the plan's disks.
    func requireTreeWipesThePlannedDisks() throws {
        guard let data = treeFile("disko.nix") else { throw InstallError.treeNotThePlans("the generated tree has no disko.nix") }
        let named = Set(NodeCheck.byIDPaths(in: String(decoding: data, as: UTF8.self)))
        let planned = Set(plan.disk?.installTargets.map(\.byId.path) ?? [])
        guard named == planned, !planned.isEmpty else {
            throw InstallError.treeNotThePlans("disko.nix names \(named.sorted().joined(separator: ", ")), the plan \(planned.sorted().joined(separator: ", "))")
        }
    }

    /// Path A builds with nixos-facter's report: when a crash skipped it, nixos-anywhere's kexec
    /// phase runs again (it skips the kexec itself in the installer) to write it.
    func ensureHardwareReport() async throws {
        if let data = treeFile("facter.json"), data.count > 2 { return }
        let call = NixosAnywhereCall(phase: .kexec, target: target, identityFile: key.privateKeyPath, source: .flake(directory: tree, attribute: plan.node.rawValue),
                                     hardwareReport: tree + "/facter.json", postKexecPort: target.port)
        events(.step("facter.json is missing from the generated tree: nixos-facter runs in the installer"))
        try await runPhase(call, limit: limits.kexecPhase, state: "The node runs the installer; nothing was wiped.")
        guard let data = treeFile("facter.json"), data.count > 2 else { throw InstallError.hardwareReportMissing(tree + "/facter.json") }
    }

    func install(_ paths: StorePaths) async throws {
        let shell = try await connect(target)
        defer { Task { try? await shell.close() } }
        // Run again whenever it is not journaled done: nixos-install sets the profile before it
        // installs the boot loader, so the profile alone does not prove a bootable disk.
        guard try await shell.run("mountpoint -q /mnt", timeout: limits.command).status == 0 else { throw InstallError.installTargetNotMounted }
        try await record(.install, .requested, "installing \(paths.toplevel)", facts: RunFacts(storePath: paths.toplevel))
        // Path B: the installer's key is a throw-away baked into the ISO; the system gets its own (see reboot).
        let call = NixosAnywhereCall(phase: .install, target: target, identityFile: key.privateKeyPath, source: .storePaths(disko: paths.disko, toplevel: paths.toplevel),
                                     copyHostKeys: plan.install.path != .bootImage)
        try await runPhase(call, limit: limits.installPhase, state: "The disk is wiped; the node runs the installer. Nothing was rebooted.")
        let found = try await installedProfile(shell) ?? "(none)"
        guard found == paths.toplevel else { throw InstallError.installNotVerified(expected: paths.toplevel, found: found) }
        try await record(.install, .done, "/mnt holds \(paths.toplevel)", facts: RunFacts(storePath: paths.toplevel))
    }

    func reboot(_ paths: StorePaths) async throws {
        // After a crash the node may be the installer still, rebooting, or the installed system.
        let journaledKey = try await installedKeyFromJournal()
        guard let now = try await poll(limits.bootWait, what: "the node", newKey: journaledKey, accept: { _ in true }) else {
            throw InstallError.bootNotReached(host: target.description, waited: limits.bootWait, detail: "nothing answered with the pinned key")
        }
        if !now.installer {
            let shell = try await connect(target)
            let booted = (try? await text(shell, "readlink -f /run/booted-system")) ?? ""
            try? await shell.close()
            guard booted == paths.toplevel else { throw InstallError.bootedOther(expected: paths.toplevel, found: booted.isEmpty ? "(none)" : booted) }
            try await record(.reboot, .done, "the installed system runs (boot \(now.bootID))", facts: RunFacts(bootID: now.bootID))
            return
        }
        var newKey: SSHPublicKey?
        if plan.install.path == .bootImage {
            let shell = try await connect(target)
            defer { Task { try? await shell.close() } }
            newKey = try await installedSystemKey(shell)
        } else if plan.install.path == .clan {
            newKey = try await clanSystemKey()
        }
        try await record(.reboot, .requested, "rebooting the installer (boot \(now.bootID)) into the installed system" + (newKey.map { "; its host key is \($0.fingerprint)" } ?? ""),
                         facts: RunFacts(bootID: now.bootID, hostKeyFingerprint: newKey?.fingerprint.description, hostKey: newKey?.description))
        let call = NixosAnywhereCall(phase: .reboot, target: target, identityFile: key.privateKeyPath, source: .storePaths(disko: paths.disko, toplevel: paths.toplevel))
        try await runPhase(call, limit: limits.rebootPhase, state: "The system is installed; the node may still run the installer.")
        // Only now: nixos-anywhere's reboot call still had to meet the installer's key.
        if let newKey { try repinToInstalledSystem(newKey) }
        let booted = try await awaitInstalledSystem(leaving: now.bootID)
        try await record(.reboot, .done, "the installed system answers with the pinned key (boot \(booted))", facts: RunFacts(bootID: booted))
    }
}
