import Foundation
import PVE2NixCore

/// The built outputs an install uses, as journaled.
public struct StorePaths: Sendable, Hashable {
    public var disko: String
    public var toplevel: String
}

extension InstallRun {
    // MARK: Shell helpers

    func text(_ shell: any RemoteShell, _ command: String) async throws -> String {
        let r = try await shell.run(command, timeout: limits.command)
        guard r.status == 0 else {
            throw RemoteShellError.commandFailed(host: shell.target.description, command: command, status: r.status, detail: r.standardErrorText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return r.standardOutputText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func isInstaller(_ shell: any RemoteShell) async throws -> Bool {
        NodeCheck.isInstaller(try await text(shell, "cat /etc/os-release"))
    }

    /// Adds pve2nix's key to `/root/.ssh/authorized_keys2`: a node-local file (Proxmox links
    /// `authorized_keys` to the cluster-wide one) that the kexec installer also copies.
    func authorizeInstallKey(_ shell: any RemoteShell) async throws {
        let path = "/root/.ssh/authorized_keys2"
        if try await shell.run("test -L \(path)", timeout: limits.command).status == 0 { throw InstallError.authorizedKeys2IsLink(path) }
        if try await shell.run("test -L /root/.ssh", timeout: limits.command).status == 0 { throw InstallError.authorizedKeys2IsLink("/root/.ssh") }
        let read = try await shell.run("test ! -e \(path) || cat \(path)", timeout: limits.command)
        guard read.status == 0 else { throw RemoteShellError.commandFailed(host: shell.target.description, command: "cat \(path)", status: read.status, detail: read.standardErrorText) }
        let existing = read.standardOutputText
        let line = key.publicKey.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !existing.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces) == line }) else { return }
        let updated = existing.isEmpty || existing.hasSuffix("\n") ? existing + line + "\n" : existing + "\n" + line + "\n"
        _ = try await text(shell, "mkdir -p -m 700 /root/.ssh")
        try await shell.write(Data(updated.utf8), to: path, mode: 0o600)
        events(.step("authorised pve2nix's install key in \(path) on \(plan.node) (node-local; not the cluster's authorized_keys)"))
    }

    // MARK: Builds

    /// Builds the disko script and the system once per run, and reuses the journaled paths after.
    func build() async throws -> StorePaths {
        var found: [String: String] = [:]
        for e in try await log.entries() where e.stage == .build && e.phase == .done {
            if let t = e.facts.target, let p = e.facts.storePath { found[t] = p }
        }
        for output in [NixBuildCall.Output.diskoScript, .toplevel] where found[output.rawValue] == nil {
            let path = try await buildOutput(output)
            try await record(.build, .done, "built \(output.rawValue): \(path)", facts: RunFacts(target: output.rawValue, storePath: path))
            found[output.rawValue] = path
        }
        return StorePaths(disko: found[NixBuildCall.Output.diskoScript.rawValue]!, toplevel: found[NixBuildCall.Output.toplevel.rawValue]!)
    }

    func buildOutput(_ output: NixBuildCall.Output, environment: [String: String] = [:]) async throws -> String {
        let call = NixBuildCall(output: output, flakeDirectory: tree, node: plan.node, environment: environment)
        events(.step("building \(output.rawValue): \(call.commandLine)"))
        let result: ProcessResult
        do {
            result = try await processes.run(ProcessRequest(nix, call.arguments, environment: environment, timeout: limits.build)) { events(.line(phase: "build-\(output.rawValue)", $0)) }
        } catch {
            throw InstallError.buildFailed(output: output.rawValue, detail: error.localizedDescription)
        }
        guard let path = result.standardOutputText.split(separator: "\n").last.map(String.init), path.hasPrefix("/nix/store/"), !path.contains(" ") else {
            throw InstallError.buildFailed(output: output.rawValue, detail: "nix printed no store path")
        }
        return path
    }

    // MARK: nixos-anywhere

    /// Runs one phase: nixos-anywhere itself, or on path C (all but the kexec) `clan machines
    /// install` for that phase, which runs nixos-anywhere with the same environment (the strict ssh first on PATH).
    func runPhase(_ call: NixosAnywhereCall, limit: Duration, state: String) async throws {
        let clanCall = clanCall(for: call)
        let phase = call.phase.rawValue
        let (tool, executable, arguments) = clanCall.map { ("clan machines install --phases", clan, $0.arguments) } ?? ("nixos-anywhere", nixosAnywhere, call.arguments)
        events(.step("\(tool) \(phase): \(clanCall?.commandLine ?? call.commandLine)"))
        let lastMarker = MarkerBox()
        do {
            _ = try await processes.run(ProcessRequest(executable, arguments, environment: nixosAnywhereEnvironment, timeout: limit)) { line in
                events(.line(phase: phase, line))
                let t = line.text.trimmingCharacters(in: .whitespaces)
                if t.hasPrefix("### "), t.hasSuffix(" ###"), t.count > 8 {
                    let marker = String(t.dropFirst(4).dropLast(4))
                    lastMarker.set(marker)
                    events(.marker(phase: phase, text: marker))
                }
            }
        } catch let error as ProcessRunnerError {
            let step = lastMarker.value.map { " (last step: \($0))" } ?? ""
            let detail: String
            switch error {
            case .timedOut(_, let after, _): detail = "it did not end within \(after.seconds) s and was stopped\(step)"
            case .nonZeroExit(_, let status, let lines): detail = "\(status)\(step)" + (lines.isEmpty ? "" : "; last lines: " + lines.suffix(5).joined(separator: " | "))
            default: detail = error.localizedDescription
            }
            try await record(RunStage(nixosAnywherePhase: call.phase), .failed, "\(tool) \(phase): \(detail)")
            throw InstallError.phaseFailed(phase: clanCall == nil ? phase : "\(phase) (run by clan machines install)", detail: detail, state: state)
        }
    }

    // MARK: Waiting for the node

    /// What answered at the node's address with the pinned key.
    struct Answer { var installer: Bool; var bootID: String }

    /// Polls until `accept` takes an answer, bounded by `limit` (as a number of polls: each
    /// connection attempt is bounded by ssh's own connect timeout), saying every `limits.progress`
    /// how the wait stands. A changed host key stops at once, except (path B) `oldKey`, the
    /// Proxmox key still answering before the node boots the stick, and `newKey`, the installed
    /// system's key read in the installer, which is then pinned.
    func poll(_ limit: Duration, what: String, oldKey: HostKeyFingerprint? = nil, newKey: SSHPublicKey? = nil, accept: (Answer) -> Bool) async throws -> Answer? {
        var lastProblem = "no answer yet"
        events(.step("waiting up to \(limit.seconds) s for \(what) at \(target)"))
        let polls = max(1, Int((limit / limits.poll).rounded(.up)))
        let progressEvery = max(1, Int((limits.progress / limits.poll).rounded(.down)))
        for n in 0..<polls {
            if n > 0, n % progressEvery == 0 {
                events(.step("still waiting for \(what): \((limits.poll * n).seconds) of \(limit.seconds) s; \(lastProblem)"))
            }
            do {
                let shell = try await connect(target)
                do {
                    let answer = Answer(installer: try await isInstaller(shell), bootID: try await text(shell, "cat /proc/sys/kernel/random/boot_id"))
                    try? await shell.close()
                    if accept(answer) { return answer }
                    lastProblem = answer.installer ? "the installer answers (boot \(answer.bootID))" : "the old system still answers (boot \(answer.bootID))"
                } catch {
                    try? await shell.close()
                    throw error
                }
            } catch let error as RemoteShellError {
                if case .hostKeyChanged(_, _, let presented) = error {
                    if let presented, presented == oldKey {
                        lastProblem = "the old system still answers with its own key: boot the node from the stick"
                    } else if let newKey, let presented, presented == newKey.fingerprint {
                        try repinToInstalledSystem(newKey)
                        lastProblem = "the installed system answers with the key read in the installer; now pinned"
                        continue
                    } else {
                        throw error
                    }
                } else {
                    lastProblem = error.localizedDescription
                }
            } catch let error as ProcessRunnerError {
                // A command that hung while the node went down or came up: try again.
                guard case .timedOut = error else { throw error }
                lastProblem = error.localizedDescription
            }
            try await clock.sleep(for: limits.poll)
        }
        events(.step("gave up waiting for \(what): \(lastProblem)"))
        return nil
    }

    /// The installer's boot id, once it answers.
    func awaitInstaller() async throws -> String {
        // Path B: the node may have gone back to Proxmox (stick out, rebooted); its old key then only means that.
        let proxmoxKey = plan.install.path == .bootImage
            ? try await log.entries().last { $0.stage == .bootImage && $0.phase == .requested }?.facts.hostKeyFingerprint.flatMap(HostKeyFingerprint.init) : nil
        guard let a = try await poll(limits.installerWait, what: "the installer", oldKey: proxmoxKey, accept: { (a: Answer) in a.installer }) else {
            throw InstallError.installerNotReached(host: target.description, waited: limits.installerWait, detail: "it never answered as the installer")
        }
        return a.bootID
    }

    /// The installed system's boot id, once it answers as something other than the installer.
    func awaitInstalledSystem(leaving installerBoot: String) async throws -> String {
        guard let a = try await poll(limits.bootWait, what: "the installed system", accept: { (a: Answer) in !a.installer && a.bootID != installerBoot }) else {
            throw InstallError.bootNotReached(host: target.description, waited: limits.bootWait, detail: "it never answered as the installed system")
        }
        return a.bootID
    }

    // MARK: The disk

    /// nil when the gate holds strictly in the installer; else why it refuses.
    func gateVerdict(_ shell: any RemoteShell) async throws -> String? {
        guard try await isInstaller(shell) else { return "the node is not running the installer" }
        let check = try await DiskGateProbe.check(plan: plan, shell: shell, timeout: limits.command)
        return check.status == .pass ? nil : check.detail
    }

    /// Every install target carries disko's root partition (`disk-<name>-root`).
    func laidOutByDisko(_ shell: any RemoteShell) async throws -> Bool {
        guard let disk = plan.disk else { return false }
        let (devices, _) = CaptureDecoders.lsblk(try await text(shell, "lsblk -J -b -O"), file: "lsblk (installer)")
        let (links, _) = CaptureDecoders.diskByID(try await text(shell, "ls -l /dev/disk/by-id"), file: "by-id (installer)")
        for (index, t) in disk.installTargets.enumerated() {
            let name = index == 0 ? "main" : "mirror\(index)"
            guard let kernel = links.first(where: { $0.name == t.byId.linkName })?.target,
                  let device = devices.first(where: { $0.kernelName == kernel }),
                  device.allDescendants.contains(where: { $0.partitionLabel == "disk-\(name)-root" }) else { return false }
        }
        return true
    }

    func installedProfile(_ shell: any RemoteShell) async throws -> String? {
        let p = try await shell.run("readlink -f /mnt/nix/var/nix/profiles/system 2>/dev/null", timeout: limits.command)
        let t = p.standardOutputText.trimmingCharacters(in: .whitespacesAndNewlines)
        return p.status == 0 && t.hasPrefix("/nix/store/") ? t : nil
    }
}

extension RunStage {
    init(nixosAnywherePhase phase: NixosAnywhereCall.Phase) {
        switch phase {
        case .kexec: self = .kexec
        case .disko: self = .disko
        case .install: self = .install
        case .reboot: self = .reboot
        }
    }
}

/// The last marker seen, written from the output callback.
final class MarkerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?
    var value: String? { lock.withLock { stored } }
    func set(_ v: String) { lock.withLock { stored = v } }
}
