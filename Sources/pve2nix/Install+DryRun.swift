import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix.Install {
    /// One step of the install as the dry run shows it.
    struct DryRunStep: Encodable {
        var stage: String
        var what: String
        var command: String?
    }

    func printDryRun(plan: ConversionPlan, hash: String, target: SSHTarget, keyPath: String, installerKeyPath: String) throws {
        let tree = URL(fileURLWithPath: generated).standardizedFileURL.path
        let build = { (o: NixBuildCall.Output) in NixBuildCall(output: o, flakeDirectory: tree, node: plan.node).commandLine }
        let image = "<kexec-installer>/" + NixBuildCall.kexecTarballName
        let paths = NixosAnywhereCall.Source.storePaths(disko: "<disko-script>", toplevel: "<toplevel>")
        let pathB = plan.install.path == .bootImage, pathC = plan.install.path == .clan
        func na(_ phase: NixosAnywhereCall.Phase, _ source: NixosAnywhereCall.Source) -> String {
            if pathC, ClanInstallCall.phases.contains(phase) {
                return ClanInstallCall(phase: phase, machine: plan.node, flakeDirectory: tree, target: target, identityFile: keyPath).commandLine
            }
            return NixosAnywhereCall(phase: phase, target: target, identityFile: keyPath, source: source, kexecImage: image,
                              hardwareReport: tree + "/facter.json", postKexecPort: target.port, copyHostKeys: !pathB).commandLine
        }
        let disks = ([plan.disk?.byId.path] + (plan.disk?.mirrors.map(\.byId.path) ?? [])).compactMap { $0 }.joined(separator: ", ")
        var steps = [DryRunStep(stage: "check", what: "the journal must hold a passing 'pve2nix check' of plan \(hash)" + (pathB ? "" : ", with the network rehearsed"), command: nil)]
        if pathB {
            let iso = NixBuildCall(output: .installerImage, flakeDirectory: tree, node: plan.node,
                                   environment: NixBuildCall.installerEnvironment(hostKey: installerKeyPath, installKey: keyPath + ".pub"))
            let rack = RackInstructions(plan: plan, image: "<installer-image>/\(NixBuildCall.isoDirectory)/<name>.iso", address: target.host,
                                        waitSeconds: Int64(wait ?? 3600))
            steps += [
                DryRunStep(stage: "boot-image", what: "make the installer's host key if missing (mode 0600; the private key enters the Nix store and the ISO: keep the ISO private)",
                           command: ShellQuoting.commandLine(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pve2nix-installer@\(plan.node)", "-f", installerKeyPath])),
                DryRunStep(stage: "boot-image", what: "build the installer image from installer.nix with that host key and pve2nix's install key (\(keyPath).pub)", command: iso.commandLine),
                DryRunStep(stage: "boot-image", what: "pin the installer's host key for \(target) in the site's known_hosts, in place of the node's Proxmox key", command: nil),
            ] + rack.lines.map { line in
                let t = line.trimmingCharacters(in: .whitespaces)
                return t.hasPrefix("dd ") ? DryRunStep(stage: "boot-image", what: "at the rack: the write onto the stick", command: t)
                    : DryRunStep(stage: "boot-image", what: "at the rack: " + t, command: nil)
            } + [
                DryRunStep(stage: "boot-image", what: "wait up to \(wait ?? 3600) s (progress every minute) for the installer (VARIANT_ID=installer) at \(target) with its pinned key", command: nil),
            ]
        } else {
            steps += [
                DryRunStep(stage: "kexec", what: "add pve2nix's install key (\(keyPath).pub) to \(target.host):/root/.ssh/authorized_keys2 (node-local)", command: nil),
                DryRunStep(stage: "kexec", what: "build the kexec installer with the node's network", command: build(.kexecInstaller)),
                DryRunStep(stage: "kexec", what: "boot the installer in place, keeping the node's host keys; write facter.json", command: na(.kexec, .flake(directory: tree, attribute: plan.node.rawValue))),
                DryRunStep(stage: "kexec", what: "wait for the installer (VARIANT_ID=installer) at \(target) with the pinned host key", command: nil),
            ]
        }
        steps += [
            DryRunStep(stage: "build", what: "build the disko script", command: build(.diskoScript)),
            DryRunStep(stage: "build", what: "build the system", command: build(.toplevel)),
            DryRunStep(stage: "disko", what: "run the disk gate in the installer (lsblk -J -b -O, ls -l /dev/disk/by-id, zpool list); stop if anything changed", command: nil),
            DryRunStep(stage: "disko", what: "confirm: type \(plan.node) and \(hash) (or --yes \(hash))", command: nil),
            DryRunStep(stage: "disko", what: "wipe and lay out \(disks)", command: na(.disko, paths)),
            DryRunStep(stage: "install", what: pathC ? "install the system with clan (clan builds it from the tree; /mnt must then hold the built toplevel)"
                       : pathB ? "install the built system (no --copy-host-keys: the installer's key is a throw-away)" : "install the built system, keeping the node's host keys", command: na(.install, paths)),
        ]
        if pathC {
            let varPath = ClanInstallCall.hostKeyVarPath(machine: plan.node)
            steps.append(DryRunStep(stage: "reboot", what: "take the installed system's new host key from clan's sshd var in the tree (\(tree)/\(varPath), written by clan on this machine); without it, read (or make) /mnt/etc/ssh/ssh_host_ed25519_key.pub over the pinned installer connection", command: nil))
        }
        if pathB {
            steps.append(DryRunStep(stage: "reboot", what: "read the installed system's host key over the pinned installer connection (made in the installer if the install left none)",
                                    command: "test -s /mnt/etc/ssh/ssh_host_ed25519_key.pub || ssh-keygen -q -t ed25519 -N '' -C root@\(plan.node) -f /mnt/etc/ssh/ssh_host_ed25519_key; cat /mnt/etc/ssh/ssh_host_ed25519_key.pub"))
        }
        steps.append(DryRunStep(stage: "reboot", what: pathB || pathC ? "reboot into it; pin the installed system's key for \(target) in place of the \(pathC ? "node's (the kexec installer carried it)" : "installer's"); wait for it with that key" : "reboot into it and wait for it at \(target) with the pinned host key", command: na(.reboot, paths)))
        if options.json {
            struct Report: Encodable { var node: String; var planHash: String; var dryRun = true; var steps: [DryRunStep] }
            print(try JSONOutput.encode(Report(node: plan.node.rawValue, planHash: hash, steps: steps)))
            return
        }
        print("Dry run: install \(plan.node) with plan \(hash) (path \(plan.install.path.rawValue)). Nothing is run or written.")
        for (i, s) in steps.enumerated() {
            print(TerminalText.safe("\(i + 1). [\(s.stage)] \(s.what)"))
            if let c = s.command { print(TerminalText.safe("     $ \(c)")) }
        }
    }
}

/// The full output of each phase, one file per phase and run.
final class PhaseLogs: Sendable {
    let directory: String
    let run: Int64
    private let lock = NSLock()

    init(directory: String, run: Int64) {
        self.directory = directory
        self.run = run
    }

    func write(phase: String, line: ProcessOutputLine) {
        lock.withLock {
            let path = directory + "/run\(run)-\(phase).log"
            if !FileManager.default.fileExists(atPath: path) {
                try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            guard let handle = FileHandle(forWritingAtPath: path) else { return }
            defer { try? handle.close() }
            handle.seekToEndOfFile()
            handle.write(Data("\(line.stream.rawValue): \(line.text)\n".utf8))
        }
    }
}
