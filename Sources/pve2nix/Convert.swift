import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Convert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The whole conversion of one node as one run: generate, rehearse, drain, check, install, validate, cluster-remove.",
            discussion: """
            Starts from a reviewed plan (pve2nix plan NODE --site DIR --out FILE). Each stage runs the
            pve2nix command of the same name, and is skipped when the journal says it is done for this plan:
              generate        write the NixOS host into --generated (skipped when it holds a flake.nix)
              rehearse        prove its network in the QEMU lab (skipped when a passing rehearsal of exactly
                              these units is recorded; needs root and QEMU)
              drain           move every guest to the peers (skipped once the install began)
              check           the preflight (skipped once the install began)
              install         nixos-anywhere phase by phase; asks for the node name and plan hash before the
                              wipe (or --yes PLANHASH)
              validate        the node booted what was built and carries its services
              cluster-remove  the node leaves the Proxmox cluster; asks first (or --yes PLANHASH); needs the root
                              password (PVE2NIX_USER/PVE2NIX_PASSWORD): delnode takes no API token
            Stop it at any point (a failure, Ctrl-C, a lost connection, a crash) and run it again: it resumes.
            --dry-run prints every stage with its state and the exact command, and for the install every
            nixos-anywhere call with its phases and flags; it changes nothing.

            Exit status: 0 converted; 1 a stage failed or was refused (the message names it); 2 bad input.

            Examples:
              pve2nix convert pve1 --plan pve1.plan.json --site office-bundle --generated out/pve1 --ssh-key ~/.ssh/id_ed25519.pub \\
                --endpoint https://192.168.1.22:8006 --ca-file pve-root-ca.pem --dry-run
              pve2nix convert pve1 --plan pve1.plan.json --site office-bundle --generated out/pve1 --ssh-key ~/.ssh/id_ed25519.pub \\
                --endpoint https://192.168.1.22:8006 --ca-file pve-root-ca.pem
            """
        )

        @Argument(help: ArgumentHelp("The node to convert.", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @OptionGroup var api: APIOptions

        @Option(name: .long, help: ArgumentHelp("How to reach the node: [USER@]HOST[:PORT] (default: root at the plan's management address).", valueName: "target"))
        var ssh: String?

        @Option(name: .customLong("ssh-peer"), help: ArgumentHelp("The peer cluster-remove acts from over SSH (default: the first online peer).", valueName: "target"))
        var sshPeer: String?

        @OptionGroup var sshOptions: SSHOptions

        @Option(name: .long, help: ArgumentHelp("The generated NixOS host (written here by the generate stage when it is missing).", valueName: "dir"))
        var generated: String

        @Option(name: .long, help: ArgumentHelp("For the generate stage: a public key for root (repeatable).", valueName: "file"))
        var sshKey: [String] = []

        @Flag(name: .long, help: "For the generate stage: no SSH key for root.")
        var withoutSSHKey = false

        @Option(name: .long, help: ArgumentHelp("Confirm the points of no return (the wipe, leaving the cluster) without prompts: the plan hash.", valueName: "planhash"))
        var yes: String?

        @Flag(name: .long, help: "For cluster-remove: accept a two-node cluster afterwards.")
        var acceptTwoNode = false

        @Flag(name: .long, help: "Print every stage, its state and its exact command; change nothing.")
        var dryRun = false

        @Option(name: .long, help: ArgumentHelp("The journal (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        @Option(name: .long, help: ArgumentHelp("The nixos-anywhere to run.", valueName: "path"))
        var nixosAnywhere = "nixos-anywhere"

        @Option(name: .long, help: ArgumentHelp("The nix to build with.", valueName: "path"))
        var nix = "nix"

        @Option(name: .long, help: ArgumentHelp("The clan to run (install path C).", valueName: "path"))
        var clan = "clan"

        func validate() throws {
            try NodeArgument.validate(node)
            if let yes, !(yes.count == 8 && yes.allSatisfy(\.isHexDigit)) { throw ValidationError("--yes \(yes): give the plan's 8-hex-digit hash, as 'pve2nix plan' prints it") }
        }

        func run() async throws {
            let reviewed = try ReviewedPlan.resolve(node: node, options: options)
            if let yes, yes != reviewed.hash {
                throw Failure.exit("--yes \(yes) is not this plan's hash (\(reviewed.hash)): nothing was done.", code: 2)
            }
            let journalPath = JournalLocation.path(for: node, explicit: journal)
            let state = try ConvertState.read(journal: journalPath, node: node, planHash: reviewed.hash, generated: generated)
            let stages = plannedStages(reviewed, state)
            if dryRun { return try await show(stages, hash: reviewed.hash) }
            for stage in stages {
                guard let command = stage.command else {
                    say("= \(stage.name): \(stage.state)")
                    continue
                }
                say("→ \(stage.name): pve2nix \(ShellQuoting.commandLine(command))")
                if stage.name == "cluster-remove", !(try confirmLeavingCluster(reviewed.hash)) {
                    throw Failure.exit("not confirmed: \(node) stays in the cluster. Run convert again to go on.")
                }
                do {
                    try await Self.runSubcommand(command, credentialsFor: stage.name)
                } catch let code as ExitCode where code == .success {
                } catch {
                    say("convert stopped at stage \(stage.name). Fix what it says, then run the same convert again: it resumes there.")
                    throw error
                }
            }
            say("\(node) is converted: every stage is done for plan \(reviewed.hash).")
        }

        func say(_ line: String) {
            (options.json ? FileHandle.standardError : FileHandle.standardOutput).write(Data((TerminalText.safe(line) + "\n").utf8))
        }

        func confirmLeavingCluster(_ hash: String) throws -> Bool {
            if let yes { return yes == hash }
            guard isatty(STDIN_FILENO) == 1 else {
                throw Failure.exit("leaving the cluster needs a confirmation: run on a terminal, or pass --yes \(hash). \(node) stays in the cluster.", code: 2)
            }
            say("\(node) leaves the Proxmox cluster for good (delnode). Type its name to go on:")
            return readLine()?.trimmingCharacters(in: .whitespaces) == node
        }

        /// Runs one pve2nix command in this process, as if typed.
        static func runSubcommand(_ arguments: [String], credentialsFor stage: String) async throws {
            // delnode takes no token: with both set, the removal uses the root password.
            if stage == "cluster-remove", ProcessInfo.processInfo.environment["PVE2NIX_USER"] != nil { unsetenv("PVE2NIX_TOKEN_ID") }
            var command = try PVE2Nix.parseAsRoot(arguments)
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        }
    }
}
