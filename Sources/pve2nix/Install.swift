import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install NixOS on the node with nixos-anywhere: in place (path A), from a boot image (path B) or through clan (path C), one phase at a time, journaled and resumable.",
            discussion: """
            Needs a passing 'pve2nix check' of this plan in the journal (the drain done, the disk gate, the
            rehearsed network). Then, each step journaled and skipped when done:
              kexec    (path A) pve2nix's install key goes into the node's own /root/.ssh/authorized_keys2 (never
                       the cluster-wide authorized_keys); nix builds the kexec installer with the node's network
                       (kexec-installer.nix); nixos-anywhere --phases kexec; pve2nix waits, bounded, for the
                       installer to answer with the node's pinned host key
              boot-image (path B) pve2nix generates the installer's host key (state directory,
                       sites/<cluster>/installer-<node>_ed25519) and pins it for the node's address; nix build
                       --impure builds installer.nix's ISO with it and pve2nix's install key; pve2nix prints what
                       to do at the rack (the ISO, the dd command for a USB stick, the disk that will be wiped
                       and every disk to leave alone) and waits, bounded (--wait, default 3600 s), saying every
                       minute how the wait stands, for the installer to answer with that key
              build    nix builds the disko script and the system; their store paths are journaled
              disko    the disk gate runs again in the installer; you type the node name and the plan hash
                       (or pass --yes PLANHASH); nixos-anywhere --phases disko wipes the planned disks
              install  nixos-anywhere --phases install (path A with --copy-host-keys: the node keeps its key;
                       path B without: the installer's key is a throw-away); /mnt must hold the built system
              reboot   (path B: the installed system's host key is read, or made, under /mnt over the pinned
                       installer connection and pinned once the installer goes down) nixos-anywhere --phases
                       reboot; pve2nix waits for the installed system
            Path C (clan): kexec and build as path A; then disko, install and reboot are each one
                       'clan machines install NODE --flake TREE --target-host root@ADDR -i KEY --phases PHASE
                       --update-hardware-config none --yes' (clan runs nixos-anywhere), the gate and your
                       confirmation right before the disko one; before the reboot the installed system's new
                       host key (clan's sshd var vars/per-machine/NODE/openssh/ssh.id_ed25519.pub/value in
                       the tree, else read under /mnt in the installer) is journaled, and pinned once the
                       reboot call ended. Never clan's --host-key-check: clan discards it
            nixos-anywhere runs with an ssh first on its PATH that checks the pinned key, each call bounded;
            its full output goes to $XDG_STATE_HOME/pve2nix/logs/<node>/. Run again after any failure,
            crash or Ctrl-C: it resumes, and never wipes twice. Then run 'pve2nix validate'.

            Exit status: 0 installed; 1 a step failed or was refused (nothing after it ran); 2 bad input.

            Examples:
              pve2nix install pve1 --plan pve1.plan.json --generated out/pve1 --dry-run
              pve2nix install pve1 --plan pve1.plan.json --generated out/pve1
              pve2nix install pve1 --plan pve1.plan.json --generated out/pve1 --yes 0e07bdfd
            """
        )

        @Argument(help: ArgumentHelp("The node to install.", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @Option(name: .long, help: ArgumentHelp("How to reach the node: [USER@]HOST[:PORT] (default: root at the plan's management address).", valueName: "target"))
        var ssh: String?

        @OptionGroup var sshOptions: SSHOptions

        @Option(name: .long, help: ArgumentHelp("The tree 'pve2nix generate' wrote for the node (the flake nixos-anywhere installs).", valueName: "dir"))
        var generated: String

        @Option(name: .long, help: ArgumentHelp("Confirm the wipe without a prompt: the plan hash (as 'plan' prints it).", valueName: "planhash"))
        var yes: String?

        @Flag(name: .long, help: "Print every step with its exact command; run nothing and write nothing.")
        var dryRun = false

        @Option(name: .long, help: ArgumentHelp("The journal (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Start a new run on purpose although the node has an unfinished run of another plan.")
        var newRun = false

        @Option(name: .long, help: ArgumentHelp("The nixos-anywhere to run.", valueName: "path"))
        var nixosAnywhere = "nixos-anywhere"

        @Option(name: .long, help: ArgumentHelp("The nix to build with.", valueName: "path"))
        var nix = "nix"

        @Option(name: .long, help: ArgumentHelp("The clan to run (install path C).", valueName: "path"))
        var clan = "clan"

        @Option(name: .long, help: ArgumentHelp("How long to wait for the installer, and later the installed system, to answer (seconds; default 600; path B waits for the boot image up to 3600 by default).", valueName: "seconds"))
        var wait: Int?

        @Option(name: .long, help: ArgumentHelp("The most one nixos-anywhere phase may take before pve2nix stops it (seconds; default: 20 min for kexec and reboot, 30 min for disko, 3 h for install).", valueName: "seconds"))
        var phaseTimeout: Int?

        func validate() throws {
            try NodeArgument.validate(node)
            if let ssh {
                let t: SSHTarget
                do { t = try SSHTarget(parsing: ssh) } catch { throw ValidationError("--ssh \(ssh): \(error.localizedDescription)") }
                // The installer has only root, and the install writes root's files.
                if let user = t.user, user != "root" { throw ValidationError("--ssh \(ssh): the install logs in as root (the installer has no other user)") }
            }
            if let wait, !(10...86_400).contains(wait) { throw ValidationError("--wait \(wait): give 10 to 86400 seconds") }
            if let t = phaseTimeout, !(5...86_400).contains(t) { throw ValidationError("--phase-timeout \(t): give 5 to 86400 seconds") }
            if let yes, !(yes.count == 8 && yes.allSatisfy(\.isHexDigit)) { throw ValidationError("--yes \(yes): give the plan's 8-hex-digit hash, as 'pve2nix plan' prints it") }
        }

        func run() async throws {
            let reviewed = try ReviewedPlan.resolve(node: node, options: options)
            let plan = reviewed.plan
            let path = plan.install.path
            if let yes, yes != reviewed.hash {
                throw Failure.exit("--yes \(yes) is not this plan's hash (\(reviewed.hash)): nothing was done. Review the plan ('pve2nix plan') and pass its hash.", code: 2)
            }
            let target = try NodeTarget.resolve(ssh, plan: plan)
            let site = reviewed.site.cluster?.name ?? "default"
            let state = StateDirectory()
            let keyPath = state.installKey(site: site)
            let installerKeyPath = state.installerHostKey(site: site, node: node)
            if dryRun { return try printDryRun(plan: plan, hash: reviewed.hash, target: target, keyPath: keyPath, installerKeyPath: installerKeyPath) }
            guard yes != nil || isatty(STDIN_FILENO) == 1 else {
                throw Failure.exit("the wipe needs a confirmation: run on a terminal, or pass --yes \(reviewed.hash) after reviewing the plan. Nothing was done.", code: 2)
            }
            guard FileManager.default.fileExists(atPath: generated + "/flake.nix") else {
                throw Failure.exit("\(generated) holds no flake.nix: write it with 'pve2nix generate \(node) --out \(generated)' first. Nothing was done.", code: 2)
            }
            let pins = sshOptions.pins(site: site)
            // Path B pins the installer's key itself; paths A and C need the node's key pinned already.
            guard path == .bootImage || (try? pins.fingerprint(for: target)) ?? nil != nil else {
                throw Failure.exit("no host key is pinned for \(target) in \(pins.path): pin it with 'pve2nix capture … --ssh \(node)=\(target)' first. Nothing was done.", code: 2)
            }
            guard let realSSH = StrictSSHShim.findSSH() else { throw Failure.exit("no ssh on PATH: install openssh-client", code: 2) }

            Interruption.install()
            let acting: ActingRun
            do { acting = try ActingRun.start(node: node, journalPath: JournalLocation.path(for: node, explicit: journal), planHash: reviewed.hash, newRun: newRun) }
            catch { throw Failure.exit(error.localizedDescription) }
            defer { withExtendedLifetime(acting) {} }
            let runner = SubprocessRunner()
            let key: InstallRun.InstallKey
            do { key = try await InstallKeyFile.ensure(path: keyPath, comment: "pve2nix-install@\(site)", runner: runner) }
            catch { throw Failure.exit("could not make pve2nix's install key at \(keyPath): \(error.localizedDescription)") }
            var setup: InstallRun.BootImageSetup?
            if path == .bootImage {
                do {
                    let k = try await InstallKeyFile.ensure(path: installerKeyPath, comment: "pve2nix-installer@\(node)", runner: runner)
                    setup = InstallRun.BootImageSetup(hostKeyPath: k.privateKeyPath, hostKey: try SSHPublicKey(parsing: k.publicKey), pins: pins,
                                                      locateISO: { try InstallerImageFile.iso(in: $0) })
                } catch { throw Failure.exit("could not make the installer's host key at \(installerKeyPath): \(error.localizedDescription)") }
            }
            let shim = try StrictSSHShim.make(pins: pins, realSSH: realSSH, configFile: sshOptions.config)
            defer { shim.remove() }
            let logs = PhaseLogs(directory: state.logs(for: node), run: acting.run.id)
            let out = options.json ? FileHandle.standardError : FileHandle.standardOutput
            @Sendable func say(_ line: String) { out.write(Data((TerminalText.safe(line) + "\n").utf8)) }

            let sshOptions = self.sshOptions
            let node = self.node, hash = reviewed.hash, yes = self.yes
            var install = InstallRun(
                plan: plan, tree: URL(fileURLWithPath: generated).standardizedFileURL.path, target: target, key: key,
                connect: { t in try sshOptions.shell(t, pins: pins, runner: runner) },
                processes: runner, log: Self.journaled(SQLiteRunLog(store: acting.journal, run: acting.run.id)),
                confirm: { prompt in
                    if let yes { return yes == hash }
                    say(prompt)
                    say("node name:")
                    guard readLine()?.trimmingCharacters(in: .whitespaces) == node else { return false }
                    say("plan hash:")
                    return readLine()?.trimmingCharacters(in: .whitespaces) == hash
                })
            let treePath = install.tree
            install.treeFile = { FileManager.default.contents(atPath: treePath + "/" + $0) }
            install.verifyInstallKey = {
                var keyOnly = OpenSSHShell.Options()
                keyOnly.identityFile = key.privateKeyPath
                keyOnly.configFile = sshOptions.config
                keyOnly.extraOptions = ["IdentityAgent=none", "PreferredAuthentications=publickey"]
                guard let shell = try? OpenSSHShell(target: target, pins: pins, runner: runner, options: keyOnly) else { return false }
                defer { Task { try? await shell.close() } }
                return (try? await shell.run("true", timeout: .seconds(30)).status) == 0
            }
            install.nixosAnywhere = nixosAnywhere
            install.nix = nix
            install.nixosAnywhereEnvironment = shim.environment()
            install.bootImageSetup = setup
            install.clan = clan
            if path == .clan { install.clanSetup = InstallRun.ClanSetup(pins: pins, nodeKey: try? pins.fingerprint(for: target)) }
            install.limits.installerWait = .seconds(wait ?? 600)
            install.limits.bootWait = .seconds(wait ?? 600)
            install.limits.imageWait = .seconds(wait ?? 3600)
            if let t = phaseTimeout {
                for limit in [\InstallRun.Limits.kexecPhase, \.diskoPhase, \.installPhase, \.rebootPhase] { install.limits[keyPath: limit] = .seconds(t) }
            }
            install.events = { event in
                switch event {
                case .step(let s): say("• " + s)
                case .marker(let phase, let text): say("  [\(phase)] \(text)")
                case .line(let phase, let line): logs.write(phase: phase, line: line)
                case .rack(let instructions): instructions.lines.forEach { say("  " + $0) }
                }
            }
            say("Installing \(node) with plan \(hash) (path \(path.rawValue)) at \(target); logs in \(logs.directory)")
            do {
                try await install.run()
            } catch {
                throw Failure.exit(error.localizedDescription + "\nLogs: \(logs.directory)")
            }
            if options.json {
                struct Report: Encodable { var node: String; var planHash: String; var installed: Bool; var logs: String }
                print(try JSONOutput.encode(Report(node: node, planHash: hash, installed: true, logs: logs.directory)))
            } else {
                print("\(node) runs the installed system. Next: pve2nix validate \(node) --plan …")
            }
        }

        /// The run log, with the test hook of debug builds: SIGKILL after the N-th write.
        static func journaled(_ log: SQLiteRunLog) -> any RunLog {
            #if DEBUG
            if let n = ProcessInfo.processInfo.environment["PVE2NIX_TEST_CRASH_AFTER_RECORDS"].flatMap(Int.init) { return CrashHookRunLog(log, crashAfter: n) }
            #endif
            return log
        }

    }
}
