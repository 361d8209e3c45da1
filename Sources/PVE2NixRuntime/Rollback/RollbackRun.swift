import Foundation
import PVE2NixCore

/// Carries out what a rollback can do by itself, from the run's position: reboot the node out
/// of the installer (its disks untouched) and wait for Proxmox, then migrate the drained guests
/// back. Each step is journaled (stage `rollback`) and skipped when done; every wait is bounded.
public struct RollbackRun: Sendable {
    public struct Limits: Sendable, Hashable {
        public var bootWait: Duration = .seconds(15 * 60)
        public var poll: Duration = .seconds(5)
        public var migration: Duration = .seconds(3600)
        public var command: Duration = .seconds(60)
        public init() {}
    }

    public let assessment: RollbackAssessment
    public let target: SSHTarget
    public let connect: @Sendable (SSHTarget) async throws -> any RemoteShell
    public let tasks: ProxmoxTasks
    public let log: any RunLog
    public var limits = Limits()
    public var progress: @Sendable (String) -> Void = { _ in }
    /// Path B pinned the installer's key for the node's address in place of the node's own: the
    /// pins, and the node's Proxmox host key (from the capture), to pin it back before waiting.
    public var pins: (any HostKeyPinning)?
    public var nodeKey: SSHPublicKey?

    public init(assessment: RollbackAssessment, target: SSHTarget, connect: @escaping @Sendable (SSHTarget) async throws -> any RemoteShell,
                tasks: ProxmoxTasks, log: any RunLog) {
        self.assessment = assessment
        self.target = target
        self.connect = connect
        self.tasks = tasks
        self.log = log
    }

    /// The guests it could not bring back, each with why (the manual steps are in the assessment).
    public func run() async throws -> [VMID: String] {
        let node = assessment.node
        guard assessment.position == .drained || assessment.position == .installer else {
            if assessment.position == .wiped { throw RollbackError.wiped(node) }
            return [:]
        }
        // Known before anything is done: a node rebooted into Proxmox must be reachable with a key pve2nix trusts.
        let pinBack = try await nodeKeyToPinBack()
        if assessment.position == .installer { try await leaveInstaller(pinningBack: pinBack) } else if let pinBack { try await pin(pinBack) }
        guard try await tasks.poll(limit: limits.bootWait, { try await tasks.cluster().online.contains(node) ? true : nil }) != nil else {
            throw RollbackError.nodeNotOnline(node, waited: limits.bootWait)
        }
        var left: [VMID: String] = [:]
        for guest in assessment.guests where guest.automated {
            do { try await bringBack(guest) } catch { left[guest.vmid] = error.localizedDescription }
        }
        return left
    }

    func record(_ subject: RunSubject, _ phase: RunPhase, _ detail: String, facts: RunFacts = RunFacts()) async throws {
        try await log.append(RunEntry(stage: .rollback, subject: subject, phase: phase, facts: facts, detail: detail))
    }

    /// Reboots the installer (which runs from memory) so the node boots Proxmox from its disks.
    func leaveInstaller(pinningBack pinBack: PinBack? = nil) async throws {
        let node = assessment.node
        if let shell = try? await connect(target) {
            let release = (try? await shell.run("cat /etc/os-release", timeout: limits.command))?.standardOutputText ?? ""
            if NodeCheck.isInstaller(release) {
                let boot = (try? await shell.run("cat /proc/sys/kernel/random/boot_id", timeout: limits.command))?.standardOutputText.trimmingCharacters(in: .whitespacesAndNewlines)
                try await record(.node, .requested, "rebooting \(node) out of the installer", facts: RunFacts(bootID: boot))
                progress("rebooting \(node) out of the installer (its disks are untouched)")
                // The connection drops as it goes down: that is the expected answer.
                _ = try? await shell.run("systemctl reboot || reboot", timeout: .seconds(20))
            }
            try? await shell.close()
        }
        if let pinBack { try await pin(pinBack) }
        progress("waiting up to \(limits.bootWait.components.seconds) s for \(node) to answer as Proxmox with its pinned key")
        let polls = max(1, Int((limits.bootWait / limits.poll).rounded(.up)))
        for _ in 0..<polls {
            do {
                let shell = try await connect(target)
                let release = try await shell.run("cat /etc/os-release", timeout: limits.command).standardOutputText
                let name = try await shell.run("cat /proc/sys/kernel/hostname", timeout: limits.command).standardOutputText.trimmingCharacters(in: .whitespacesAndNewlines)
                try? await shell.close()
                if !NodeCheck.isInstaller(release), name.split(separator: ".").first.map(String.init) == node.rawValue {
                    try await record(.node, .done, "\(node) runs Proxmox again")
                    return
                }
            } catch let error as RemoteShellError {
                if case .hostKeyChanged = error { throw error }
            }
            try await tasks.clock.sleep(for: limits.poll)
        }
        throw RollbackError.proxmoxNotBack(node, waited: limits.bootWait)
    }

    /// After path B the node's address is pinned to the installer's key: the Proxmox key the boot
    /// image replaced (the journal names its fingerprint) goes back, and only that one.
    struct PinBack { var installer: SSHPublicKey; var nodeKey: SSHPublicKey; var pins: any HostKeyPinning }

    func nodeKeyToPinBack() async throws -> PinBack? {
        guard let boot = try await log.entries().last(where: { $0.stage == .bootImage && $0.subject == .node && $0.phase == .requested }),
              let installer = boot.facts.hostKey.flatMap({ try? SSHPublicKey(parsing: $0) }) else { return nil }
        let replaced = boot.facts.hostKeyFingerprint
        guard let pins, let nodeKey, replaced == nodeKey.fingerprint.description else {
            throw RollbackError.nodeKeyUnknown(assessment.node, fingerprint: replaced)
        }
        return PinBack(installer: installer, nodeKey: nodeKey, pins: pins)
    }

    func pin(_ back: PinBack) async throws {
        let node = assessment.node
        if try back.pins.fingerprint(for: target) == back.nodeKey.fingerprint { return }
        try back.pins.repin(target, to: back.nodeKey, replacing: back.installer.fingerprint)
        try await record(.node, .verified, "pinned \(node)'s Proxmox host key \(back.nodeKey.fingerprint) again for \(target), in place of the boot image's installer key")
        progress("pinned \(node)'s Proxmox host key \(back.nodeKey.fingerprint) again (the boot image's installer key is no longer trusted)")
    }

    func bringBack(_ guest: RollbackAssessment.GuestBack) async throws {
        if let way = guest.restore { return try await RestoreBack(run: self, guest: guest, way: way).carryOut() }
        let node = assessment.node
        let view = try await tasks.cluster()
        guard let now = view.guests[guest.nowVMID] else { throw RollbackError.guestGone(guest.vmid) }
        if now.node == node {
            try await record(.guest(guest.vmid), .done, "\(guest.vmid) is on \(node)")
            return
        }
        guard now.node == guest.on else { throw RollbackError.guestElsewhere(guest.vmid, expected: guest.on, found: now.node) }
        if let lock = now.lock { throw RollbackError.guestLocked(guest.vmid, lock) }
        let online = guest.kind == .qemu && now.status == "running"
        let request: ProxmoxRequest = guest.kind == .qemu
            ? .migrateVM(node: now.node, vmid: guest.vmid, target: node, online: online, withLocalDisks: guest.command?.contains("with-local-disks") == true)
            : .migrateCT(node: now.node, vmid: guest.vmid, target: node, restart: now.status == "running")
        progress("migrating \(guest.kind.rawValue) \(guest.vmid) (\(guest.name)) from \(now.node) back to \(node)")
        try await record(.guest(guest.vmid), .planned, "migrate back from \(now.node)", facts: RunFacts(target: node.rawValue))
        let upid = try await tasks.start(request, what: "migrating \(guest.vmid) back")
        try await record(.guest(guest.vmid), .requested, "migrating back", facts: RunFacts(target: node.rawValue, upid: upid.rawValue))
        switch try await tasks.wait(for: upid, limit: limits.migration) {
        case .ok:
            try await record(.guest(guest.vmid), .done, "\(guest.vmid) is back on \(node)", facts: RunFacts(target: node.rawValue, upid: upid.rawValue))
        case .failed(let status):
            try await record(.guest(guest.vmid), .failed, "migration back failed: \(status)")
            throw RollbackError.migrationFailed(guest.vmid, status)
        case .timedOut:
            try await record(.guest(guest.vmid), .failed, "migration back did not end within \(limits.migration.components.seconds) s")
            throw RollbackError.migrationFailed(guest.vmid, "did not end within \(limits.migration.components.seconds) s; its task may still run: look at it in the task log before running again")
        }
    }
}

/// Why a rollback stopped.
public enum RollbackError: LocalizedError, Sendable, Equatable {
    case wiped(NodeName)
    case nodeNotOnline(NodeName, waited: Duration)
    case proxmoxNotBack(NodeName, waited: Duration)
    case guestGone(VMID)
    case guestElsewhere(VMID, expected: NodeName, found: NodeName)
    case guestLocked(VMID, String)
    case migrationFailed(VMID, String)
    case vmidTaken(VMID, by: String, node: NodeName)
    case nodeKeyUnknown(NodeName, fingerprint: String?)
    case copyChanged(VMID, copy: VMID, String)
    case taskFailed(VMID, String, String)
    case archiveMissing(VMID, copy: VMID, storage: String)

    public var errorDescription: String? {
        switch self {
        case .wiped(let node): "the wipe of \(node) started: pve2nix cannot undo it by itself. Follow the printed runbook (reinstall Proxmox, rejoin, bring the guests back)."
        case .nodeNotOnline(let node, let waited): "\(node) did not come online in the cluster within \(waited.components.seconds) s: nothing was migrated. Look at its console, then run the rollback again."
        case .proxmoxNotBack(let node, let waited): "\(node) did not answer as Proxmox within \(waited.components.seconds) s after leaving the installer. Look at its console (noVNC from a peer); its disks were not touched."
        case .guestGone(let id): "guest \(id) is not in the cluster any more: nothing was done to it."
        case .guestElsewhere(let id, let expected, let found): "guest \(id) is on \(found), not on \(expected) where the drain put it: someone moved it; left as it is."
        case .guestLocked(let id, let lock): "guest \(id) is locked (\(lock)): left as it is; run again once the lock is gone."
        case .migrationFailed(let id, let status): "migrating guest \(id) back failed: \(status)."
        case .nodeKeyUnknown(let node, let fp): "the boot image's installer key is pinned for \(node), and the Proxmox host key it replaced (\(fp ?? "none recorded")) is not in the capture bundle (nodes/\(node)/ssh_host_ed25519_key.pub): pve2nix cannot wait for Proxmox with a key it trusts. Read the key's fingerprint on the node's console ('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub'), pin it, and run the rollback again."
        case .vmidTaken(let id, let by, let node): "VMID \(id) is taken by '\(by)' on \(node): the drain's copy is left where it is. Restore it by hand under another VMID (the printed command), or free \(id) and run the rollback again."
        case .copyChanged(let id, let copy, let why): "guest \(id)'s copy \(copy) \(why): left as it is; nothing was removed."
        case .taskFailed(let id, let what, let status): "bringing guest \(id) back: the \(what) failed (\(status)). Look at the task log, then run the rollback again: it resumes."
        case .archiveMissing(let id, let copy, let storage): "the backup of \(id)'s copy \(copy) ended but no archive of it is on \(storage): nothing was restored; run the rollback again."
        }
    }
}
