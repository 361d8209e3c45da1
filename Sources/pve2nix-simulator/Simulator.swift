import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixTesting

@main
struct PVE2NixSimulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pve2nix-simulator",
        abstract: "A Proxmox VE API simulator over HTTPS on loopback, seeded from a capture bundle.",
        discussion: """
        Serves /api2/json with the bundle's cluster: migrations, shutdowns, backups (vzdump), restores and removals are tasks that take time; guests lock while they move; HA guests move after their task; vzdump answers "OK" without a task for a guest not on the node; a restore under a VMID in use fails; requests fail without quorum or to offline nodes. Faults: a failing migration or task, a task that never ends, 503s, slow answers, an offline node, no quorum. The token secret and the password come from the environment: PVE2NIX_SIM_TOKEN_SECRET, PVE2NIX_SIM_PASSWORD.

        Example:
          PVE2NIX_SIM_TOKEN_SECRET=sim-secret pve2nix-simulator --site Examples/villa --cert server.pem --key server.key --port 8006 --token-id 'pve2nix@pve!drain'
        """
    )

    @Option(help: "The capture bundle that seeds the cluster.") var site: String
    @Option(help: "TLS certificate (PEM).") var cert: String
    @Option(help: "TLS private key (PEM).") var key: String
    @Option(help: "Port on 127.0.0.1 (0 picks one).") var port: Int = 8006
    @Option(help: "An API token id accepted with PVE2NIX_SIM_TOKEN_SECRET.") var tokenID: String?
    @Option(help: "A user accepted with PVE2NIX_SIM_PASSWORD (tickets).") var user: String = "root@pam"
    @Option(help: "Make the migration of this guest fail.") var failMigration: [Int] = []
    @Option(help: "Make the migration task of this guest never end.") var neverFinish: [Int] = []
    @Option(help: "Take this node offline.") var offline: [String] = []
    @Flag(help: "Start without quorum.") var noQuorum = false
    @Option(help: "Answer this many reads with 503 first.") var flakyReads: Int = 0
    @Option(help: ArgumentHelp("Make the next task of this type for this guest fail, e.g. vzrestore:105 or vzdump:* .", valueName: "type:vmid")) var failTask: [String] = []
    @Option(help: ArgumentHelp("Make the next task of this type for this guest end with 'WARNINGS: 1' (a success), e.g. vzmigrate:101.", valueName: "type:vmid")) var warnTask: [String] = []
    @Option(help: "Answer this many requests late (see --answer-delay).") var slowAnswers: Int = 0
    @Option(help: "Seconds a slow answer takes.") var answerDelay: Double = 40
    @Flag(help: "Also stand in for the services site.toml's probes reach (their addresses must exist here, e.g. on loopback in a network namespace).")
    var standInServices = false

    func run() async throws {
        let bundle = SiteLoader(tree: LocalFileTree(root: URL(fileURLWithPath: site))).load()
        let cluster = FakeProxmoxCluster(site: bundle)
        for id in failMigration { await cluster.failMigration(VMID(id), with: "migration aborted (simulated)") }
        for id in neverFinish { await cluster.neverFinish(VMID(id)) }
        for n in offline { await cluster.setOnline(NodeName(n), false) }
        if noQuorum { await cluster.setQuorate(false) }
        await cluster.failNextReads(flakyReads)
        func task(_ flag: String, _ spec: String) throws -> (String, VMID?) {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, parts[1] == "*" || Int(parts[1]) != nil else { throw ValidationError("\(flag) \(spec): give TYPE:VMID or TYPE:*") }
            return (parts[0], Int(parts[1]).map { VMID($0) })
        }
        for spec in failTask {
            let (type, vmid) = try task("--fail-task", spec)
            await cluster.failTask(type, of: vmid, with: "\(type) failed (simulated)")
        }
        for spec in warnTask {
            let (type, vmid) = try task("--warn-task", spec)
            await cluster.warnTask(type, of: vmid)
        }
        await cluster.slowDown(slowAnswers, by: .milliseconds(Int(answerDelay * 1000)))
        let env = ProcessInfo.processInfo.environment
        var accounts = ProxmoxSimulatorServer.Accounts()
        if let id = tokenID, let secret = env["PVE2NIX_SIM_TOKEN_SECRET"] { accounts.tokens[id] = secret }
        if let password = env["PVE2NIX_SIM_PASSWORD"] { accounts.users[user] = password }
        var standIns: [StandInHTTPServer] = []
        if standInServices {
            let (endpoints, skipped) = StandInServices.endpoints(for: bundle.intent.probes)
            for e in endpoints {
                do {
                    standIns.append(try await StandInHTTPServer.start(host: e.host, port: e.port, hosts: e.hosts, paths: e.paths))
                } catch {
                    throw ValidationError("cannot stand in for \(e.host):\(e.port) (\(error)): the address must exist on this machine. Run the simulator and the drain in a throwaway network namespace with the service addresses on loopback, e.g. unshare -rn sh -c 'ip link set lo up; ip addr add \(e.host)/32 dev lo; ...'")
                }
            }
            for s in skipped { FileHandle.standardError.write(Data("pve2nix-simulator: no stand-in for \(s)\n".utf8)) }
            FileHandle.standardOutput.write(Data("pve2nix-simulator: standing in for \(endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ", "))\n".utf8))
        }
        let server = try await ProxmoxSimulatorServer.start(cluster: cluster, certificate: cert, key: key, accounts: accounts, port: port)
        FileHandle.standardOutput.write(Data("pve2nix-simulator: serving \(bundle.cluster?.name ?? "cluster") on https://127.0.0.1:\(server.port)\n".utf8))
        while true { try await Task.sleep(for: .seconds(3600)); _ = standIns }
    }
}
