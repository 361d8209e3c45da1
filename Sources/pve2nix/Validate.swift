import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check, after the install, that the node booted the system pve2nix built and carries its services.",
            discussion: """
            Changes nothing on the node. Checks, each pass or fail with why:
              host-key           the node answers at its address with its pinned key and its own name
              boot-id            the boot id differs from the installer's (journal)
              booted-system      /run/booted-system is the system pve2nix built (journal)
              not-installer      /etc/os-release no longer says VARIANT_ID=installer
              system-running     systemctl is-system-running says running; no failed units
              container NAME     each generated NixOS container is active, answers ping at its VLAN
                                 address, and its bind mounts (/data…) are on their shares
              health-probes      site.toml's probes for the guests that came back to this node
            The results go to the journal (stage validate). Exit status: 0 all passed; 1 a check failed; 2 bad input.

            Examples:
              pve2nix validate pve1 --plan pve1.plan.json
              pve2nix validate pve1 --site office-bundle --ssh root@192.168.1.21 --json
            """
        )

        @Argument(help: ArgumentHelp("The node to validate.", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @Option(name: .long, help: ArgumentHelp("How to reach the node: [USER@]HOST[:PORT] (default: root at the plan's management address).", valueName: "target"))
        var ssh: String?

        @OptionGroup var sshOptions: SSHOptions

        @Option(name: .long, help: ArgumentHelp("The journal (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        func validate() throws {
            try NodeArgument.validate(node)
            if let ssh { do { _ = try SSHTarget(parsing: ssh) } catch { throw ValidationError("--ssh \(ssh): \(error.localizedDescription)") } }
        }

        func run() async throws {
            let reviewed = try ReviewedPlan.resolve(node: node, options: options)
            let plan = reviewed.plan
            let target = try NodeTarget.resolve(ssh, plan: plan)
            let pins = sshOptions.pins(site: reviewed.site.cluster?.name ?? "default")
            guard (try? pins.fingerprint(for: target)) ?? nil != nil else {
                throw Failure.exit("no host key is pinned for \(target) in \(pins.path): pve2nix checks the node's key against the pin, so pin it first ('pve2nix capture … --ssh \(node)=\(target)').", code: 2)
            }
            let acting: ActingRun
            do { acting = try ActingRun.start(node: node, journalPath: JournalLocation.path(for: node, explicit: journal), planHash: reviewed.hash, newRun: false) }
            catch { throw Failure.exit(error.localizedDescription) }
            defer { withExtendedLifetime(acting) {} }
            let log = SQLiteRunLog(store: acting.journal, run: acting.run.id)
            let entries = try await log.entries()
            let runner = SubprocessRunner()
            let sshOptions = self.sshOptions
            var validation = NodeValidation(plan: plan, target: target, connect: { t in try sshOptions.shell(t, pins: pins, runner: runner) })
            validation.expectedToplevel = entries.last { $0.stage == .build && $0.phase == .done && $0.facts.target == NixBuildCall.Output.toplevel.rawValue }?.facts.storePath
            validation.installerBootID = entries.last { $0.stage == .reboot && $0.phase == .requested }?.facts.bootID
                ?? entries.last { $0.stage == .kexec && $0.phase == .done }?.facts.bootID
            let generated = HostGenerator(site: reviewed.site, plan: plan, options: GenerateOptions()).generate()
            validation.containers = NodeValidation.Container.of(site: reviewed.site, plan: plan, names: generated.containerNames)
            let home = Set(validation.containers.map(\.vmid))
            validation.probes = reviewed.site.intent.probes.filter { $0.guest.map(home.contains) ?? false }
            validation.probe = { await NetworkHealthProber().failures(of: $0) }
            let results = await validation.run()
            for r in results {
                try await log.append(RunEntry(stage: .validate, subject: .node, phase: r.status == .fail ? .failed : .done, detail: "\(r.check) \(r.status.rawValue): \(r.detail)"))
            }
            let failed = results.filter { $0.status == .fail }.count
            if options.json {
                struct Report: Encodable { var node: String; var planHash: String; var target: String; var passed: Bool; var checks: [PreflightCheck] }
                print(try JSONOutput.encode(Report(node: node, planHash: reviewed.hash, target: target.description, passed: failed == 0, checks: results)))
            } else {
                let width = (results.map(\.check.count).max() ?? 10) + 2
                for r in results {
                    let mark = r.status == .pass ? "✓" : r.status == .warn ? "!" : "✗"
                    print(TerminalText.safe("\(mark) \(r.check.padding(toLength: width, withPad: " ", startingAt: 0))\(r.status.rawValue.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0)) \(r.detail)"))
                }
                print(failed == 0 ? "\(node) is converted: all \(results.count) checks passed." : "\(failed) of \(results.count) checks failed: see 'pve2nix rollback' for what undoes the run from here.")
            }
            if failed > 0 { throw ExitCode(1) }
        }
    }
}
