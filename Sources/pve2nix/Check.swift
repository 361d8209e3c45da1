import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The preflight before anything destructive: every check, pass, warn or fail, read from the cluster, the node and the generated tree.",
            discussion: """
            Changes nothing anywhere. Checks, each with its detail:
              drained            no VM, container or template left on the node (read from the API now)
              quorum-now         the cluster is quorate
              quorum-after       it stays quorate once the node has left (votes from corosync.conf)
              peers-online       the peers the drain moved guests to are online
              backup-archives    every guest moved by backup and restore has its archive on the backup storage
              host-key           the node presented its pinned ed25519 key (StrictHostKeyChecking=yes)
              kexec-memory       RAM for the kexec installer
              authorized-keys    whether root's authorized_keys is the cluster-wide file
              disk-identity      the disk gate, on lsblk and /dev/disk/by-id read over SSH now
              generated-config   the generated tree is present, unchanged, and parses with nix-instantiate
              network-rehearsed  its network units are the ones the last passing 'pve2nix rehearse' proved

            The results go to the node's journal (stage check). Exit status: 0 no check failed; 1 a check failed; 2 bad input.

            Examples:
              pve2nix check villa-pve-01 --plan villa-pve-01.plan.json --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --generated out/villa
              pve2nix check villa-pve-01 --site villa-bundle --endpoint … --ssh root@10.1.10.11 --json
            """
        )

        @Argument(help: ArgumentHelp("The node to convert.", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @OptionGroup var api: APIOptions

        @Option(name: .long, help: ArgumentHelp("How to reach the node: [USER@]HOST[:PORT] (default: root at the plan's management address).", valueName: "target"))
        var ssh: String?

        @OptionGroup var sshOptions: SSHOptions

        @Option(name: .long, help: ArgumentHelp("The tree 'pve2nix generate' wrote for the node.", valueName: "dir"))
        var generated: String?

        @Option(name: .long, help: ArgumentHelp("The journal (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Start a new run on purpose although the node has an unfinished run of another plan.")
        var newRun = false

        func validate() throws {
            try NodeArgument.validate(node)
            if let ssh { do { _ = try SSHTarget(parsing: ssh) } catch { throw ValidationError("--ssh \(ssh): \(error.localizedDescription)") } }
        }

        func run() async throws {
            Interruption.install()
            let reviewed = try ReviewedPlan.resolve(node: node, options: options)
            // Credentials first: a command that cannot run leaves no run behind.
            let (client, credentials) = try api.makeClient()
            let journalPath = JournalLocation.path(for: node, explicit: journal)
            let acting: ActingRun
            do {
                acting = try ActingRun.start(node: node, journalPath: journalPath, planHash: reviewed.hash, newRun: newRun)
            } catch {
                try? await client.shutdown()
                throw Failure.exit(error.localizedDescription)
            }
            let (store, run) = (acting.journal, acting.run)
            defer { withExtendedLifetime(acting) {} }
            let target = try NodeTarget.resolve(ssh, plan: reviewed.plan)
            let pins = sshOptions.pins(site: reviewed.site.cluster?.name ?? "default")
            let pinned: HostKeyFingerprint?
            do { pinned = try pins.fingerprint(for: target) } catch { throw Failure.exit(error.localizedDescription, code: 2) }
            let runner = SubprocessRunner()
            let shell: OpenSSHShell? = pinned == nil ? nil : try sshOptions.shell(target, pins: pins, runner: runner)
            let progress = options.json ? FileHandle.standardError : FileHandle.standardOutput
            @Sendable func say(_ line: String) { progress.write(Data((TerminalText.safe(line) + "\n").utf8)) }
            say("Checking \(node) with plan \(reviewed.hash): API \(api.endpoint) (\(credentials)), SSH \(target)")

            var check = NodeCheck(plan: reviewed.plan, site: reviewed.site, api: client, shell: shell, processes: runner)
            check.archives = try archives(in: store)
            check.pinnedFingerprint = pinned
            check.recordedFingerprint = recordedFingerprint(bundle: reviewed.bundle)
            check.generated = generated.map { GeneratedTreeSnapshot.read(directory: $0) }
            check.rehearsed = try store.lastPassingRehearsal().map { ($0.networkHash, $0.detail) }
            check.progress = { say("  … \($0)") }
            var results = await check.run()
            if shell == nil {
                let hint = "no host key is pinned for \(target) in \(pins.path): pin it first with 'pve2nix capture … --ssh \(node)=\(target)' (it shows the key to compare with the console, or takes --host-key-fingerprint)"
                results.insert(PreflightCheck("host-key", .fail, hint), at: results.firstIndex { $0.check == "ssh" } ?? results.endIndex)
                results.removeAll { $0.check == "ssh" }
            }
            try? await shell?.close()
            try? await client.shutdown()

            for r in results {
                let facts = r.check == "host-key" && r.status == .pass ? RunFacts(hostKeyFingerprint: pinned?.rawValue) : RunFacts()
                try store.append(RunEntry(stage: .check, subject: .node, phase: r.status == .fail ? .failed : .done, facts: facts,
                                          detail: "\(r.check) \(r.status.rawValue): \(r.detail)"), run: run.id)
            }
            let failed = results.filter { $0.status == .fail }.count
            if options.json {
                struct Report: Encodable { var node: String; var planHash: String; var target: String; var journal: String; var passed: Bool; var checks: [PreflightCheck] }
                print(try JSONOutput.encode(Report(node: node, planHash: reviewed.hash, target: target.description, journal: journalPath, passed: failed == 0, checks: results)))
            } else {
                let width = (results.map(\.check.count).max() ?? 10) + 2
                for r in results {
                    let mark = r.status == .pass ? "✓" : r.status == .warn ? "!" : "✗"
                    print(TerminalText.safe("\(mark) \(r.check.padding(toLength: width, withPad: " ", startingAt: 0))\(r.status.rawValue.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0)) \(r.detail)"))
                }
                let warned = results.filter { $0.status == .warn }.count
                print(failed == 0 ? "All \(results.count) checks passed\(warned > 0 ? " (\(warned) with warnings)" : "")." : "\(failed) of \(results.count) checks failed: nothing destructive may start. Fix them and check again.")
            }
            if failed > 0 { throw ExitCode(1) }
        }


        /// Archives of the drain's backup-restore moves, from every run of the journal.
        private func archives(in store: SQLiteRunJournal) throws -> [VMID: String] {
            var found: [VMID: String] = [:]
            for e in try store.entries() where e.entry.stage == .drain {
                if case .guest(let vmid) = e.entry.subject, let archive = e.entry.facts.archive { found[vmid] = archive }
            }
            return found
        }

        private func recordedFingerprint(bundle: String) -> HostKeyFingerprint? {
            let path = URL(fileURLWithPath: bundle).appendingPathComponent("nodes/\(node)/ssh_host_ed25519_key.pub").path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return (try? SSHPublicKey(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)))?.fingerprint
        }
    }
}
