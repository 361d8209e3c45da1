import Foundation
import PVE2NixCore

/// What no API reaches, done on one peer over SSH: `/etc/pve` is the cluster file system, so a
/// change there is every node's.
extension ClusterRemoval {
    /// A node name as the API's `pve-node` format allows it: nothing else becomes a path.
    static func isPlainNodeName(_ name: String) -> Bool {
        guard let first = name.first, let last = name.last, name.count <= 63 else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } && first != "-" && last != "-"
    }

    /// The peer file a step edits.
    func keyFile(_ step: ClusterRemovalStep) -> String? {
        switch step {
        case .authorizedKeys: "\(pveRoot)/priv/authorized_keys"
        case .knownHosts: "\(pveRoot)/priv/known_hosts"
        default: nil
        }
    }

    func runOnPeer(_ shell: any RemoteShell, _ command: String) async throws -> RemoteCommandResult {
        try await shell.run(command, timeout: limits.commandTimeout)
    }

    /// `/etc/pve/nodes/<node>` and only that: refused while it holds guest configs.
    func removeNodeDirectory(_ shell: any RemoteShell) async throws -> StepResult {
        let step = ClusterRemovalStep.nodeDirectory
        guard Self.isPlainNodeName(node.rawValue) else { throw ClusterRemovalError.oddNodeName(node) }
        let dir = "\(pveRoot)/nodes/\(node)"
        let list = "find \(ShellQuoting.quote(dir)) -mindepth 1"
        progress(.command(list))
        let found = try await runOnPeer(shell, list)
        if found.status != 0 {
            guard found.standardErrorText.contains("No such file") else {
                throw ClusterRemovalError.peerCommandFailed(peer: shell.target.description, command: list, status: found.status, detail: found.standardErrorText)
            }
            try await record(step, .done, "already gone: \(dir)")
            return StepResult("already gone: \(dir)", alreadyDone: true)
        }
        let files = found.standardOutputText.split(separator: "\n").map(String.init)
        let guests = files.filter { ($0.contains("/qemu-server/") || $0.contains("/lxc/")) && $0.hasSuffix(".conf") }
        guard guests.isEmpty else { throw ClusterRemovalError.guestConfigsLeft(node, guests) }
        let remove = "rm -rf -- \(ShellQuoting.quote(dir))"
        progress(.command(remove))
        for f in files { progress(.removedLine(file: dir, line: f)) }
        if options.dryRun { return StepResult("would remove \(dir) (\(files.count) entries)") }
        try await record(step, .planned, "removing \(dir): \(files.joined(separator: " "))")
        let removed = try await runOnPeer(shell, remove)
        guard removed.status == 0 else {
            throw ClusterRemovalError.peerCommandFailed(peer: shell.target.description, command: remove, status: removed.status, detail: removed.standardErrorText)
        }
        let after = try await runOnPeer(shell, list)
        guard after.status != 0 else {
            throw ClusterRemovalError.peerCommandFailed(peer: shell.target.description, command: remove, status: 0, detail: "\(dir) is still there")
        }
        try await record(step, .done, "removed \(dir) (\(files.count) entries)")
        return StepResult("removed \(dir) (\(files.count) entries)")
    }

    /// The node's lines out of a `priv` key file: read, edit, write atomically, read back.
    func editKeyFile(_ step: ClusterRemovalStep, _ shell: any RemoteShell) async throws -> StepResult {
        guard let path = keyFile(step) else { return StepResult("", alreadyDone: true) }
        progress(.command("read \(path)"))
        let data: Data
        do {
            data = try await shell.read(file: path)
        } catch let error as RemoteShellError {
            if case .commandFailed(_, _, _, let detail) = error, detail.contains("No such file") {
                try await record(step, .done, "already clean: \(path) does not exist")
                return StepResult("already clean: \(path) does not exist", alreadyDone: true)
            }
            throw error
        }
        let text = String(decoding: data, as: UTF8.self)
        let edit = step == .authorizedKeys ? keys.authorizedKeys(text) : keys.knownHosts(text)
        guard edit.changed else {
            try await record(step, .done, "already clean: no line of \(node) in \(path)")
            return StepResult("already clean: no line of \(node) in \(path)", alreadyDone: true)
        }
        for line in edit.removed { progress(.removedLine(file: path, line: line)) }
        progress(.command("write \(path) (atomically, mode 0600) without \(edit.removed.count) line(s)"))
        if options.dryRun { return StepResult("would remove \(edit.removed.count) line(s) from \(path)", removed: edit.removed) }
        try await record(step, .planned, "removing from \(path): \(edit.removed.joined(separator: " | "))")
        try await shell.write(Data(edit.text.utf8), to: path, mode: 0o600)
        let back = try await shell.read(file: path)
        guard back == Data(edit.text.utf8) else { throw ClusterRemovalError.peerWriteUnverified(peer: shell.target.description, path: path) }
        try await record(step, .done, "removed \(edit.removed.count) line(s) from \(path)")
        return StepResult("removed \(edit.removed.count) line(s) from \(path)", removed: edit.removed)
    }
}
