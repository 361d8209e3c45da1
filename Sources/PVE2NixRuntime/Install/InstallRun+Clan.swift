import Foundation
import PVE2NixCore

extension InstallRun {
    /// What path C needs beyond path A: the pins that the installed system's new host key goes into.
    public struct ClanSetup: Sendable {
        public var pins: any HostKeyPinning
        /// The key pinned for the node's address before the install: Proxmox's, which the kexec
        /// installer carries. The installed system's key replaces exactly this one.
        public var nodeKey: HostKeyFingerprint?

        public init(pins: any HostKeyPinning, nodeKey: HostKeyFingerprint?) {
            self.pins = pins
            self.nodeKey = nodeKey
        }
    }

    /// On path C every phase but the kexec is a `clan machines install` run.
    func clanCall(for call: NixosAnywhereCall) -> ClanInstallCall? {
        guard plan.install.path == .clan, ClanInstallCall.phases.contains(call.phase) else { return nil }
        return ClanInstallCall(phase: call.phase, machine: plan.node, flakeDirectory: tree, target: target, identityFile: key.privateKeyPath)
    }

    /// The host key the installed system will present. Clan's `sshd` service makes its own
    /// ed25519 key as a var at clan's first run (the disko phase) and installs it as a secret, so
    /// the public half in the generated tree is what the system will show: a file of the
    /// operator's own tree, written by clan on this machine, never read from the network. Without
    /// that var (the tree does not use clan's sshd service) the key is read, or made, under /mnt
    /// over the pinned installer connection, as path B does.
    func clanSystemKey() async throws -> SSHPublicKey {
        let varPath = ClanInstallCall.hostKeyVarPath(machine: plan.node)
        if let data = treeFile(varPath) {
            let line = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            do {
                let key = try SSHPublicKey(parsing: line)
                guard key.isEd25519 else { throw SSHParseError.notEd25519(found: key.algorithm) }
                events(.step("the installed system's host key is clan's sshd var \(varPath): \(key.fingerprint)"))
                return key
            } catch {
                throw InstallError.installedHostKeyUnreadable("\(tree)/\(varPath): \(error.localizedDescription)")
            }
        }
        events(.step("the tree has no clan sshd var (\(varPath)): reading the installed system's key under /mnt over the installer's pinned connection"))
        let shell = try await connect(target)
        defer { Task { try? await shell.close() } }
        return try await installedSystemKey(shell)
    }

    func repinToClanSystem(_ key: SSHPublicKey) throws {
        guard let setup = clanSetup else { throw InstallError.clanNotSetUp }
        try setup.pins.repin(target, to: key, replacing: setup.nodeKey)
        events(.step("pinned the installed system's host key \(key.fingerprint) for \(target) in place of the node's \(setup.nodeKey?.description ?? "(none)")"))
    }
}
