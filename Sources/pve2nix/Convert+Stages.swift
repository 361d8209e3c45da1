import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

/// What the journal and the generated tree say about a node's run, for `convert` to skip what is done.
struct ConvertState {
    var entries: [RunEntry] = []
    var rehearsedUnits: String?
    var treeUnits: String?
    var treeExists = false

    static func read(journal: String, node: String, planHash: String, generated: String) throws -> ConvertState {
        var state = ConvertState()
        state.treeExists = FileManager.default.fileExists(atPath: generated + "/flake.nix")
        if state.treeExists { state.treeUnits = NetworkUnitsHash.of(GeneratedTreeSnapshot.read(directory: generated).units) }
        guard FileManager.default.fileExists(atPath: journal) else { return state }
        do {
            let store = try SQLiteRunJournal.openForReading(path: journal)
            if let run = try store.runs(of: node).last(where: { $0.planHash == planHash }) {
                state.entries = try store.entries(run: run.id).map(\.entry)
            }
            state.rehearsedUnits = try store.lastPassingRehearsal()?.networkHash
        } catch {
            throw Failure.exit("cannot read the journal \(journal): \(error.localizedDescription)", code: 2)
        }
        return state
    }

    /// The install began: the node may be in the installer or wiped, so drain and check are over.
    var installStarted: Bool {
        entries.contains { [.kexec, .disko, .install, .reboot].contains($0.stage) && ($0.phase == .requested || $0.phase == .done) }
    }

    func done(_ stage: RunStage) -> Bool { entries.last { $0.stage == stage && $0.subject == .node }?.phase == .done }
}

/// One stage of `convert`: its state, and the command it runs (nil: skipped).
struct ConvertStage: Encodable {
    var name: String
    var state: String
    var command: [String]?
}

extension PVE2Nix.Convert {
    var planArguments: [String] {
        (options.plan.map { ["--plan", $0] } ?? []) + (options.site.map { ["--site", $0] } ?? [])
    }

    var apiArguments: [String] {
        ["--endpoint", api.endpoint] + (api.caFile.map { ["--ca-file", $0] } ?? []) + (api.fingerprint.map { ["--fingerprint", $0] } ?? [])
            + (api.insecureSkipTLSVerify ? ["--insecure-skip-tls-verify"] : []) + (api.allowPlainHTTP ? ["--allow-plain-http"] : [])
    }

    var sshArguments: [String] {
        (sshOptions.identity.map { ["--ssh-identity", $0] } ?? []) + (sshOptions.config.map { ["--ssh-config", $0] } ?? [])
            + (sshOptions.knownHosts.map { ["--known-hosts", $0] } ?? [])
    }

    func plannedStages(_ reviewed: ReviewedPlan, _ state: ConvertState) -> [ConvertStage] {
        let journalPath = JournalLocation.path(for: node, explicit: journal)
        let j = ["--journal", journalPath]
        let target = ssh.map { ["--ssh", $0] } ?? []
        var stages: [ConvertStage] = []
        if state.treeExists {
            stages.append(ConvertStage(name: "generate", state: "done: \(generated) holds a flake.nix (check ties it to the plan)", command: nil))
        } else {
            let keys = sshKey.flatMap { ["--ssh-key", $0] } + (withoutSSHKey ? ["--without-ssh-key"] : [])
            stages.append(ConvertStage(name: "generate", state: "to run", command: ["generate", node, "--site", reviewed.bundle, "--out", generated] + keys))
        }
        if let units = state.treeUnits, units == state.rehearsedUnits {
            stages.append(ConvertStage(name: "rehearse", state: "done: a passing rehearsal of these network units is recorded", command: nil))
        } else {
            stages.append(ConvertStage(name: "rehearse", state: "to run", command: ["rehearse", node, "--site", reviewed.bundle, "--generated", generated] + j))
        }
        if state.installStarted {
            stages.append(ConvertStage(name: "drain", state: "done: the install began", command: nil))
            stages.append(ConvertStage(name: "check", state: "done: the install began", command: nil))
        } else {
            stages.append(ConvertStage(name: "drain", state: "to run (resumes; guests already moved are skipped)", command: ["drain", node] + planArguments + apiArguments + j))
            stages.append(ConvertStage(name: "check", state: "to run", command: ["check", node] + planArguments + apiArguments + target + sshArguments + ["--generated", generated] + j))
        }
        if state.done(.reboot) {
            stages.append(ConvertStage(name: "install", state: "done: the installed system booted", command: nil))
        } else {
            stages.append(ConvertStage(name: "install", state: state.installStarted ? "to resume" : "to run",
                                       command: ["install", node] + planArguments + ["--generated", generated] + target + sshArguments + j
                                           + ["--nixos-anywhere", nixosAnywhere, "--nix", nix] + (reviewed.plan.install.path == .clan ? ["--clan", clan] : []) + (yes.map { ["--yes", $0] } ?? [])))
        }
        stages.append(ConvertStage(name: "validate", state: "to run", command: ["validate", node] + planArguments + target + sshArguments + j))
        stages.append(ConvertStage(name: "cluster-remove", state: "to run (resumes; what is done is skipped)",
                                   command: ["cluster-remove", node] + planArguments + apiArguments + (sshPeer.map { ["--ssh-peer", $0] } ?? []) + sshArguments + j
                                       + (acceptTwoNode ? ["--accept-two-node"] : [])))
        return stages
    }

    func show(_ stages: [ConvertStage], hash: String) async throws {
        if options.json {
            struct Report: Encodable { var node: String; var planHash: String; var dryRun = true; var stages: [ConvertStage] }
            print(try JSONOutput.encode(Report(node: node, planHash: hash, stages: stages)))
            return
        }
        print("Dry run: convert \(node) with plan \(hash). Nothing is run or written.")
        for (i, s) in stages.enumerated() {
            print(TerminalText.safe("\(i + 1). \(s.name): \(s.state)"))
            guard let c = s.command else { continue }
            print(TerminalText.safe("     $ pve2nix \(ShellQuoting.commandLine(c))"))
            if s.name == "install" {
                // The install's own dry run: every nixos-anywhere call with its phases and flags.
                print("     the install, step by step:")
                var install = try PVE2Nix.Install.parse(Array(c.dropFirst()) + ["--dry-run"])
                try await install.run()
            }
            if s.name == "cluster-remove" {
                print("     (cluster-remove --dry-run shows each API call once the disk is wiped: it refuses before)")
            }
        }
    }
}
