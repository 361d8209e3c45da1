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
        Serves /api2/json with the bundle's cluster, strict where Proxmox VE is: paths, parameters (400) and privileges (403) are checked against the official API schema (../shared/proxmox, or --schema); anything routed to an offline node answers 595; migrations refuse what Proxmox refuses (a running VM without online, local devices, local disks live without with-local-disks, a local ISO, CT bind mounts, a running CT without restart, locks). Migrations, shutdowns, backups, restores and removals are tasks that take time (--time-scale); vzdump runs one at a time per node; an HA manager carries out HA guests' migrations and moves them back to their highest-priority node when failback is on. The token secret and the password come from the environment: PVE2NIX_SIM_TOKEN_SECRET, PVE2NIX_SIM_PASSWORD.

        Example:
          PVE2NIX_SIM_TOKEN_SECRET=sim-secret pve2nix-simulator --site Examples/villa --cert server.pem --key server.key --port 8006 --token-id 'pve2nix@pve!drain' --time-scale 0.01
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
    @Flag(help: "Seed the cluster as the operator leaves it before a drain: passthrough taken off, local ISOs ejected, NAS bind mounts marked shared (the plan's action blockers done).")
    var operatorPrepared = false
    @Option(help: "Answer this many reads with 503 first.") var flakyReads: Int = 0
    @Option(help: ArgumentHelp("Make the next task of this type for this guest fail, e.g. vzrestore:105 or vzdump:* .", valueName: "type:vmid")) var failTask: [String] = []
    @Option(help: ArgumentHelp("Make the next task of this type for this guest end with 'WARNINGS: 1' (a success), e.g. vzmigrate:101.", valueName: "type:vmid")) var warnTask: [String] = []
    @Option(help: "Answer this many requests late (see --answer-delay).") var slowAnswers: Int = 0
    @Option(help: "Seconds a slow answer takes.") var answerDelay: Double = 40
    @Option(help: ArgumentHelp("The Proxmox VE API schema to answer by (default: ../shared/proxmox/pve-api-schema-<version>.json next to the package).", valueName: "file"))
    var schema: String?
    @Option(help: ArgumentHelp("The Proxmox VE release to simulate: 9.1 (HA rules) or 8.3 (HA groups).", valueName: "version")) var schemaVersion = "9.1"
    @Option(help: ArgumentHelp("Time tasks by the wall clock: a task lasts its work's seconds (from the guest's memory and disks) times this; without it a task lasts two requests.", valueName: "factor"))
    var timeScale: Double?
    @Option(help: ArgumentHelp("The privileges the API token holds, comma-separated (default: all), e.g. VM.Migrate,VM.Audit,Sys.Audit.", valueName: "list"))
    var tokenPrivileges: String?
    @Option(help: ArgumentHelp("Answer as this node's API (default: the first online node); delnode refuses to delete it.", valueName: "node")) var serveFrom: String?
    @Option(help: ArgumentHelp("A storage replication job of this guest to this node, e.g. 102:villa-pve-01.", valueName: "vmid:node")) var replicationJob: [String] = []
    @Option(help: ArgumentHelp("The replication runner never removes this job, e.g. 102-0.", valueName: "id")) var stuckReplication: [String] = []
    @Option(help: ArgumentHelp("The next delnode fails with this message.", valueName: "message")) var failDelnode: String?
    @Option(help: ArgumentHelp("A QDevice is set up, with this QNetd host.", valueName: "host")) var qdevice: String?
    @Flag(help: "Also stand in for the services site.toml's probes reach (their addresses must exist here, e.g. on loopback in a network namespace).")
    var standInServices = false

    func validate() throws {
        if let timeScale, !(timeScale > 0 && timeScale.isFinite) { throw ValidationError("--time-scale must be a positive number, e.g. 0.01") }
        if schema == nil && !["9.1", "8.3"].contains(schemaVersion) { throw ValidationError("--schema-version is 9.1 or 8.3 (or pass --schema FILE)") }
    }

    func run() async throws {
        let local = LocalFileTree(root: URL(fileURLWithPath: site))
        let tree: any FileTree = operatorPrepared ? OperatorPreparedTree(local) : local
        let bundle = SiteLoader(tree: tree).load()
        let api: ProxmoxSchema
        do {
            api = try ProxmoxSchema.load(schema.map { URL(fileURLWithPath: $0) } ?? ProxmoxSchema.file(release: schemaVersion))
        } catch {
            throw ValidationError(error.localizedDescription)
        }
        let cluster = FakeProxmoxCluster(site: bundle, bundle: tree, schema: api)
        await cluster.setTimeScale(timeScale)
        for id in failMigration { await cluster.failMigration(VMID(id), with: "migration aborted (simulated)") }
        for id in neverFinish { await cluster.neverFinish(VMID(id)) }
        for n in offline { await cluster.setOnline(NodeName(n), false) }
        if noQuorum { await cluster.setQuorate(false) }
        await cluster.failNextReads(flakyReads)
        if let serveFrom { await cluster.serve(from: NodeName(serveFrom)) }
        var jobs: [Int: Int] = [:]
        for spec in replicationJob {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let vmid = Int(parts[0]) else { throw ValidationError("--replication-job \(spec): give VMID:NODE") }
            await cluster.addReplicationJob(guest: VMID(vmid), jobnum: jobs[vmid, default: 0], target: NodeName(parts[1]))
            jobs[vmid, default: 0] += 1
        }
        for id in stuckReplication { await cluster.neverRemoveReplicationJob(id) }
        await cluster.failDelnode(with: failDelnode)
        if let qdevice { await cluster.setQDevice(["State": "Connected", "QNetd host": qdevice]) }
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
        accounts.tokenPrivileges = tokenPrivileges.map { Set($0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }) }
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
        FileHandle.standardOutput.write(Data("pve2nix-simulator: serving \(bundle.cluster?.name ?? "cluster") (Proxmox VE \(api.release) API) on https://127.0.0.1:\(server.port)\n".utf8))
        while true { try await Task.sleep(for: .seconds(3600)); _ = standIns }
    }
}
