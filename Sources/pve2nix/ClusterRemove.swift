import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct ClusterRemove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cluster-remove",
            abstract: "Remove the converted node from its Proxmox VE cluster, from a peer, journaled and resumable.",
            discussion: """
            Only after the node's disk was wiped (the journal shows stage disko done): before that, a reboot brings Proxmox back with its cluster identity. Right before acting it checks that the node is offline in the cluster, that the cluster is quorate and stays so, that at least three nodes remain (two only with --accept-two-node, one never), that no QDevice is set up, and that no guest is left on the node. Then, from one online peer:
              1. replication jobs to the node: DELETE /cluster/replication/ID (keep=1: the node's disks are gone), polled until the runner removed them
              2. HA node-affinity rules (PVE 9) or groups (PVE 8) that name the node: the node taken out, a rule naming only it deleted
              3. DELETE /cluster/config/nodes/NODE (pvecm delnode; root@pam ticket only), then the nodelist is read until the node is gone
              4. over SSH on the peer: rm -rf -- /etc/pve/nodes/NODE, and the node's lines (its root key 'root@NODE', its host key and names, --install-key) out of /etc/pve/priv/authorized_keys and known_hosts, written atomically; every removed line is shown
            Each step goes to the node's journal (stage cluster-remove). Run the same command again after any failure: it reads the cluster again and does only what is left; delnode is never sent twice.

            Credentials: a root@pam ticket, from PVE2NIX_USER=root@pam and PVE2NIX_PASSWORD (or PVE2NIX_PASSWORD_FILE). API tokens are refused: delnode is root@pam only. --dry-run only reads, and takes a token too.
            The peer's SSH host key must be pinned, as for 'pve2nix check' (pve2nix capture --ssh pins it).

            Examples:
              pve2nix cluster-remove villa-pve-01 --plan villa-pve-01.plan.json --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --dry-run
              PVE2NIX_USER=root@pam PVE2NIX_PASSWORD_FILE=~/.pve-root \\
                pve2nix cluster-remove villa-pve-01 --plan villa-pve-01.plan.json --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --ssh-peer villa-pve-02=root@10.1.10.12
              pve2nix cluster-remove villa-pve-01 --site villa-bundle --endpoint … --accept-two-node --json
            """
        )

        @Argument(help: ArgumentHelp("The node to remove (converted, its disk wiped).", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @OptionGroup var api: APIOptions

        @Option(name: .long, help: ArgumentHelp("The peer to act from over SSH: [NODE=][USER@]HOST[:PORT] (default: root at the first online peer's address).", valueName: "target"))
        var sshPeer: String?

        @OptionGroup var sshOptions: SSHOptions

        @Option(name: .long, help: ArgumentHelp("The journal (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Leave two nodes: quorum then needs both (see the discussion: a QDevice helps).")
        var acceptTwoNode = false

        @Flag(name: .long, help: "DANGEROUS: the disk was wiped without a journaled install; remove the node anyway.")
        var diskWipedElsewhere = false

        @Flag(name: .long, help: "Drop replication jobs without their cleanup (force=1), e.g. when the runner cannot finish.")
        var forceReplicationRemoval = false

        @Option(name: .long, help: ArgumentHelp("A public key file whose key is also removed from authorized_keys (pve2nix's install key). Repeatable.", valueName: "file"))
        var installKey: [String] = []

        @Option(name: .long, help: "Give up waiting for a replication job's removal after this many seconds.")
        var replicationTimeout: Double = 900

        @Option(name: .long, help: "Seconds between polls.")
        var pollInterval: Double = 2

        @Flag(name: .long, help: "Read and print every API call and remote command; change nothing (no journal entry either).")
        var dryRun = false

        func validate() throws {
            try NodeArgument.validate(node)
            guard pollInterval >= 0.001, pollInterval.isFinite, replicationTimeout >= pollInterval, replicationTimeout <= 86_400 else {
                throw ValidationError("--poll-interval must be at least 0.001 s and --replication-timeout between it and a day")
            }
        }

        func run() async throws {
            let reviewed = try ReviewedPlan.resolve(node: node, options: options)
            let credentials: ProxmoxCredentials
            do { credentials = try APIOptions.credentials() } catch let error as CredentialsError { throw Failure.exit(error.message, code: 2) }
            if case .token(let id, _) = credentials, !dryRun {
                throw Failure.exit("API token \(id) cannot remove a node: DELETE /cluster/config/nodes/{node} is root@pam only and Proxmox refuses every token there. Unset PVE2NIX_TOKEN_ID and set PVE2NIX_USER=root@pam with PVE2NIX_PASSWORD_FILE (a ticket), then run again. Nothing was done.", code: 2)
            }
            if case .password(let user, _) = credentials, user != "root@pam", !dryRun {
                throw Failure.exit("\(user) cannot remove a node: DELETE /cluster/config/nodes/{node} is root@pam only. Set PVE2NIX_USER=root@pam. Nothing was done.", code: 2)
            }
            let extraKeys = try installKey.map { file -> SSHPublicKey in
                guard let text = try? String(contentsOfFile: file, encoding: .utf8), let key = try? SSHPublicKey(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw Failure.exit("--install-key \(file): not a readable OpenSSH public key file", code: 2)
                }
                return key
            }
            let (client, _) = try api.makeClient()
            let journalPath = JournalLocation.path(for: node, explicit: journal)
            let (opened, acting) = try openJournal(journalPath, planHash: reviewed.hash)
            #if DEBUG
            // Test hooks, debug builds only: SIGKILL after the N-th journal entry; /etc/pve elsewhere.
            let env = ProcessInfo.processInfo.environment
            let crashAfter = env["PVE2NIX_TEST_CRASH_AFTER_RECORDS"].flatMap(Int.init)
            let stageJournal: any RunLog = crashAfter.map { CrashHookRunLog(opened, crashAfter: $0) } ?? opened
            #else
            let stageJournal = opened
            #endif
            defer { withExtendedLifetime(acting) {} }

            let progress = options.json ? FileHandle.standardError : FileHandle.standardOutput
            @Sendable func say(_ line: String) { progress.write(Data((TerminalText.safe(line) + "\n").utf8)) }
            let pins = sshOptions.pins(site: reviewed.site.cluster?.name ?? "default")
            let members = reviewed.site.cluster?.members.map { (name: $0.name.rawValue, ip: $0.ip) } ?? []
            let chosen: (node: String, target: SSHTarget)?
            do { chosen = try sshPeer.flatMap { try SSHTargetSpec($0).resolve(nodes: members).first } } catch { throw Failure.exit("\(error)", code: 2) }
            if chosen?.node == node { throw Failure.exit("--ssh-peer names \(node) itself: give a peer that stays in the cluster", code: 2) }
            let runner = SubprocessRunner()
            var shellOptions = OpenSSHShell.Options()
            shellOptions.identityFile = sshOptions.identity
            shellOptions.configFile = sshOptions.config
            let peerOptions = shellOptions
            var removal = ClusterRemoval(node: NodeName(node), api: client, journal: stageJournal, clock: ContinuousClock()) { peer, address in
                let target: SSHTarget
                if let chosen, chosen.node == peer.rawValue {
                    target = chosen.target
                } else {
                    guard let address else { throw Failure.exit("no address known for the peer \(peer): give --ssh-peer \(peer)=root@HOST", code: 2) }
                    target = SSHTarget(user: "root", host: address)
                }
                guard try pins.fingerprint(for: target) != nil else {
                    throw Failure.exit("no host key is pinned for \(target) in \(pins.path): pin it first with 'pve2nix capture … --ssh \(peer)=\(target)' (it shows the key to compare with the console, or takes --host-key-fingerprint). Nothing was removed on the peer.", code: 2)
                }
                return try OpenSSHShell(target: target, pins: pins, runner: runner, options: peerOptions)
            }
            removal.preferredPeer = chosen.map { NodeName($0.node) }
            let hostKey = (try? String(contentsOfFile: URL(fileURLWithPath: reviewed.bundle).appendingPathComponent("nodes/\(node)/ssh_host_ed25519_key.pub").path, encoding: .utf8))
                .flatMap { try? SSHPublicKey(parsing: $0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            let addresses = [reviewed.site.cluster?.members.first { $0.name.rawValue == node }?.ip,
                             reviewed.plan.network.managementAddress?.split(separator: "/").first.map(String.init)].compactMap { $0 }
            removal.keys = NodeKeyLines(node: NodeName(node), addresses: Array(Set(addresses)).sorted(), hostKeys: hostKey.map { [$0] } ?? [], extraKeys: extraKeys)
            #if DEBUG
            if let root = env["PVE2NIX_TEST_PVE_ROOT"] { removal.pveRoot = root }
            #endif
            removal.limits.pollInterval = .milliseconds(Int(pollInterval * 1000))
            removal.limits.replicationTimeout = .milliseconds(Int(replicationTimeout * 1000))
            removal.options.acceptTwoNode = acceptTwoNode
            removal.options.diskWipedElsewhere = diskWipedElsewhere
            removal.options.forceReplicationRemoval = forceReplicationRemoval
            removal.options.dryRun = dryRun
            removal.progress = { say(ClusterRemoveText.line($0, node: node, dryRun: dryRun)) }
            say("\(dryRun ? "Dry run: would remove" : "Removing") \(node) from the cluster with plan \(reviewed.hash) through \(api.endpoint) (\(credentials)); journal \(journalPath)")
            var report = ClusterRemoveReport(node: node, planHash: reviewed.hash, journal: journalPath, dryRun: dryRun)
            do {
                let (_, plan) = try await removal.plan()
                report.plan = plan
                for line in ClusterRemoveText.plan(plan) { say(line) }
                let outcome = try await removal.run()
                try? await client.shutdown()
                report.record(outcome)
                if options.json { print(try JSONOutput.encode(report)) } else { say(ClusterRemoveText.summary(outcome, node: node)) }
            } catch let error as ExitCode {
                try? await client.shutdown()
                throw error
            } catch {
                try? await client.shutdown()
                let why = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                FileHandle.standardError.write(Data("pve2nix: cluster-remove stopped: \(TerminalText.safe(why))\n".utf8))
                if options.json {
                    report.error = why
                    if let text = try? JSONOutput.encode(report) { print(text) }
                }
                throw ExitCode(1)
            }
        }

        /// The run's journal; a dry run only reads it (and takes no lock, starts no run).
        private func openJournal(_ path: String, planHash: String) throws -> (any RunLog, ActingRun?) {
            if dryRun {
                guard let store = try? SQLiteRunJournal.openForReading(path: path),
                      let run = try store.runs(of: node).last(where: { $0.planHash == planHash && $0.state == .open }) else { return (ReadOnlyRunLog(nil), nil) }
                return (ReadOnlyRunLog(SQLiteRunLog(store: store, run: run.id)), nil)
            }
            do {
                let acting = try ActingRun.start(node: node, journalPath: path, planHash: planHash, newRun: false)
                return (SQLiteRunLog(store: acting.journal, run: acting.run.id), acting)
            } catch {
                throw Failure.exit(error.localizedDescription)
            }
        }
    }
}
