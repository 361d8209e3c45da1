import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// The simulator refuses what Proxmox VE refuses and answers as it answers: migration
/// preconditions, offline nodes, schema-checked parameters and privileges, the HA manager with
/// failback, tasks that take time, vzdump's lock, UPIDs naming who asked, the node's description.
/// In process against `FakeProxmoxCluster`, and over HTTPS through `LiveProxmoxClient`.
@Suite struct StrictSimulatorTests {
    static let site = Fixtures.loadSite(Fixtures.villa)
    static let one: NodeName = "villa-pve-01", two: NodeName = "villa-pve-02", three: NodeName = "villa-pve-03"
    static let drainToken = ProxmoxCaller(userid: "pve2nix@pve!drain")

    /// The villa cluster, with the bundle's HA priorities and failback.
    static func villa(_ release: String = "9.1", files: [String: String]? = nil) throws -> FakeProxmoxCluster {
        let schema = try #require(ProxmoxSchema.bundled(release), "the \(release) schema is not in ../shared/proxmox")
        if let files { return FakeProxmoxCluster(site: SiteLoader(tree: InMemoryFileTree(files)).load(), bundle: InMemoryFileTree(files), schema: schema) }
        return FakeProxmoxCluster(site: site, bundle: LocalFileTree(root: Fixtures.villa), schema: schema)
    }

    static func call(_ method: ProxmoxRequest.Method, _ template: String, _ path: [String: ProxmoxValue] = [:], _ params: [String: ProxmoxValue] = [:]) -> ProxmoxRequest {
        ProxmoxRequest(method, template, path: path, parameters: params)
    }

    static func guestPath(_ node: NodeName, _ vmid: Int) -> [String: ProxmoxValue] { ["node": .string(node.rawValue), "vmid": .integer(vmid)] }

    /// The error a request ends in (nil: it was answered).
    static func refusal(_ cluster: FakeProxmoxCluster, _ request: ProxmoxRequest, as caller: ProxmoxCaller = .root) async -> ProxmoxAPIError? {
        do {
            _ = try await cluster.send(request, as: caller)
            return nil
        } catch {
            return error as? ProxmoxAPIError
        }
    }

    /// Lets time pass (harmless reads) until `done` holds; false when it never did.
    static func pump(_ cluster: FakeProxmoxCluster, upTo limit: Int = 300, until done: (FakeProxmoxCluster) async -> Bool) async throws -> Bool {
        for _ in 0..<limit {
            if await done(cluster) { return true }
            _ = try await cluster.send(.clusterStatus())
        }
        return await done(cluster)
    }

    /// Polls a task until it stops; its status and log.
    static func outcome(_ cluster: FakeProxmoxCluster, _ upid: String) async throws -> (exit: String, log: [String]) {
        let node = try #require(UPID(upid)).node
        for _ in 0..<500 {
            let status = try await cluster.send(.taskStatus(node: node, upid: upid))
            if status["status"]?.stringValue == "stopped" {
                let log = try await cluster.send(call(.get, "/nodes/{node}/tasks/{upid}/log", ["node": .string(node.rawValue), "upid": .string(upid)], ["limit": .integer(0)]))
                return (status["exitstatus"]?.stringValue ?? "", log.arrayValue?.compactMap { $0["t"]?.stringValue } ?? [])
            }
        }
        Issue.record("\(upid) never stopped")
        return ("", [])
    }

    static func migrateVM(_ vmid: Int, to target: NodeName, online: Bool, localDisks: Bool = true, storage: String? = "local-lvm") -> ProxmoxRequest {
        .migrateVM(node: one, vmid: VMID(vmid), target: target, online: online, withLocalDisks: localDisks, targetStorage: storage)
    }

    // MARK: Migration preconditions

    @Test func aRunningVMNeedsOnline() async throws {
        let cluster = try Self.villa()
        let e = await Self.refusal(cluster, Self.migrateVM(122, to: Self.three, online: false))
        #expect(e?.status == 500 && e?.reason == "can't migrate running VM without --online", "\(String(describing: e))")
        #expect(await cluster.migrationRequests.isEmpty)
        #expect(await cluster.guests[VMID(122)]?.lock == nil)
    }

    @Test(arguments: [("usb0", "host=0658:0200"), ("hostpci0", "0000:01:00.0,pcie=1"), ("serial1", "/dev/ttyUSB0")])
    func localDevicesAbortTheMigration(_ key: String, _ value: String) async throws {
        let cluster = try Self.villa()
        // serial0: socket (VM 122 has it) is no local device; the baseline moves.
        let text = try String(contentsOf: Fixtures.villa.appendingPathComponent("nodes/villa-pve-01/qemu-server/122.conf"), encoding: .utf8)
        await cluster.setConfig(VMID(122), text + "\(key): \(value)\n")
        let upid = try #require(try await cluster.send(Self.migrateVM(122, to: Self.three, online: true)).stringValue)
        #expect(upid.contains(":qmigrate:122:root@pam:"))
        let (exit, log) = try await Self.outcome(cluster, upid)
        #expect(exit == "migration aborted")
        #expect(log.contains { $0.contains("can't migrate VM which uses local devices: \(key)") }, "\(log)")
        #expect(log.last == "TASK ERROR: migration aborted")
        let guest = await cluster.guests[VMID(122)]
        #expect(guest?.node == Self.one && guest?.lock == nil && guest?.status == "running")
    }

    @Test func aPassthroughUSBDeviceMovesOnlyOnceRemovedByRoot() async throws {
        let cluster = try Self.villa()
        // VM 120 passes usb0 through: even shut down it cannot migrate with it.
        let down = try #require(try await cluster.send(.shutdownGuest(.qemu, node: Self.one, vmid: VMID(120))).stringValue)
        #expect(try await Self.outcome(cluster, down).exit == "OK")
        let first = try #require(try await cluster.send(Self.migrateVM(120, to: Self.three, online: false, storage: nil)).stringValue)
        #expect(try await Self.outcome(cluster, first).log.contains { $0.contains("local devices: usb0") })
        // Removing a real USB device is root@pam's: a token is refused.
        let delete = Self.call(.put, "/nodes/{node}/qemu/{vmid}/config", Self.guestPath(Self.one, 120), ["delete": .string("usb0")])
        let refused = await Self.refusal(cluster, delete, as: Self.drainToken)
        #expect(refused?.reason == "only root can set 'usb0' config for real devices", "\(String(describing: refused))")
        _ = try await cluster.send(delete)
        let second = try #require(try await cluster.send(Self.migrateVM(120, to: Self.three, online: false, storage: nil)).stringValue)
        #expect(try await Self.outcome(cluster, second).exit == "OK")
        #expect(await cluster.guests[VMID(120)]?.node == Self.three)
        #expect(await cluster.guests[VMID(120)]?.status == "stopped")
    }

    @Test func liveMigrationOfLocalDisksNeedsWithLocalDisksAndStoragesOnTheTarget() async throws {
        let cluster = try Self.villa()
        // scsi1 is on 'tank', which only villa-pve-01 has: refused by the API unless mapped.
        let unmapped = await Self.refusal(cluster, Self.migrateVM(122, to: Self.three, online: true, storage: nil))
        #expect(unmapped?.reason == "storage 'tank' is not available on node 'villa-pve-03'", "\(String(describing: unmapped))")
        let without = try #require(try await cluster.send(Self.migrateVM(122, to: Self.three, online: true, localDisks: false)).stringValue)
        let aborted = try await Self.outcome(cluster, without)
        #expect(aborted.exit == "migration aborted")
        #expect(aborted.log.contains { $0.contains("can't live migrate attached local disks without with-local-disks option") }, "\(aborted.log)")
        let with = try #require(try await cluster.send(Self.migrateVM(122, to: Self.three, online: true)).stringValue)
        #expect(try await Self.outcome(cluster, with).exit == "OK")
        let guest = await cluster.guests[VMID(122)]
        #expect(guest?.node == Self.three && guest?.status == "running" && guest?.lock == nil)
    }

    @Test func aLocalISOBlocksAnOfflineMigrationUntilEjected() async throws {
        let cluster = try Self.villa()
        let first = try #require(try await cluster.send(Self.migrateVM(121, to: Self.two, online: false, storage: nil)).stringValue)
        let aborted = try await Self.outcome(cluster, first)
        #expect(aborted.log.contains { $0.contains("can't migrate local disk 'local:iso/Win11_24H2_English_x64.iso': local cdrom image") }, "\(aborted.log)")
        _ = try await cluster.send(Self.call(.put, "/nodes/{node}/qemu/{vmid}/config", Self.guestPath(Self.one, 121), ["ide2": .string("none,media=cdrom")]))
        let second = try #require(try await cluster.send(Self.migrateVM(121, to: Self.two, online: false, storage: nil)).stringValue)
        #expect(try await Self.outcome(cluster, second).exit == "OK")
        #expect(await cluster.guests[VMID(121)]?.node == Self.two)
    }

    @Test func aRunningContainerNeedsRestart() async throws {
        let cluster = try Self.villa()
        let e = await Self.refusal(cluster, .migrateCT(node: Self.one, vmid: VMID(101), target: Self.three, restart: false))
        #expect(e?.reason == "can't migrate running container without --online or --restart", "\(String(describing: e))")
        let upid = try #require(try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(101), target: Self.three, restart: true)).stringValue)
        #expect(try await Self.outcome(cluster, upid).exit == "OK")
        let guest = await cluster.guests[VMID(101)]
        #expect(guest?.node == Self.three && guest?.status == "running")
    }

    @Test func aBindMountIsRefusedUntilMarkedSharedByRoot() async throws {
        let cluster = try Self.villa()
        let first = try #require(try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(103), target: Self.three, restart: true)).stringValue)
        let aborted = try await Self.outcome(cluster, first)
        #expect(aborted.exit == "migration aborted" && aborted.log.contains { $0.contains("cannot migrate local bind mount point 'mp0'") }, "\(aborted.log)")
        #expect(await cluster.guests[VMID(103)]?.node == Self.one)
        let share = Self.call(.put, "/nodes/{node}/lxc/{vmid}/config", Self.guestPath(Self.one, 103), ["mp0": .string("/mnt/pve/nas-data/paperless,mp=/data,shared=1")])
        #expect(await Self.refusal(cluster, share, as: Self.drainToken)?.status == 403)
        _ = try await cluster.send(share)
        let second = try #require(try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(103), target: Self.three, restart: true)).stringValue)
        #expect(try await Self.outcome(cluster, second).exit == "OK")
    }

    @Test func aLockedGuestRefuses() async throws {
        let cluster = try Self.villa()
        await cluster.setTaskPolls(20)
        _ = try await cluster.send(.vzdump(node: Self.one, vmid: VMID(122), storage: "nas-backup", mode: "snapshot"))
        _ = try await cluster.send(.vzdump(node: Self.two, vmid: VMID(202), storage: "nas-backup", mode: "snapshot"))
        #expect(await cluster.guests[VMID(122)]?.lock == "backup")
        let vm = await Self.refusal(cluster, Self.migrateVM(122, to: Self.three, online: true))
        #expect(vm?.status == 500 && vm?.reason == "VM is locked (backup)", "\(String(describing: vm))")
        // A container's lock is found by the migration worker: its task fails.
        let ct = try #require(try await cluster.send(.migrateCT(node: Self.two, vmid: VMID(202), target: Self.three, restart: true)).stringValue)
        let result = try await Self.outcome(cluster, ct)
        #expect(result.exit == "migration aborted" && result.log.contains { $0.contains("CT is locked (backup)") }, "\(result.log)")
    }

    // MARK: Offline nodes

    @Test(arguments: [
        ProxmoxRequest.nodeStatus("villa-pve-03"),
        .shutdownGuest(.lxc, node: "villa-pve-03", vmid: VMID(301)),
        .vzdump(node: "villa-pve-03", vmid: VMID(301), storage: "nas-backup"),
        .migrateCT(node: "villa-pve-03", vmid: VMID(301), target: "villa-pve-02", restart: true),
        .deleteGuest(.qemu, node: "villa-pve-03", vmid: VMID(303)),
        .guestConfig(.lxc, node: "villa-pve-03", vmid: VMID(301)),
        ProxmoxRequest(.get, "/nodes/{node}/tasks", path: ["node": .string("villa-pve-03")]),
    ])
    func anOfflineNodeAnswers595ToEverythingRoutedToIt(_ request: ProxmoxRequest) async throws {
        let cluster = try Self.villa()
        await cluster.setOnline(Self.three, false)
        let e = await Self.refusal(cluster, request)
        #expect(e?.status == 595 && e?.reason == "No route to host", "\(request): \(String(describing: e))")
        // The cluster-wide reads still answer, from any node.
        #expect(try await cluster.send(.clusterResources()).arrayValue?.isEmpty == false)
    }

    @Test func theStatusOfATaskOnANodeThatWentOfflineIs595() async throws {
        let cluster = try Self.villa()
        let upid = try #require(try await cluster.send(.migrateCT(node: Self.three, vmid: VMID(302), target: Self.two, restart: true)).stringValue)
        await cluster.setOnline(Self.three, false)
        #expect(await Self.refusal(cluster, .taskStatus(node: Self.three, upid: upid))?.status == 595)
    }

    // MARK: Parameters, by the schema

    @Test(arguments: [
        (ProxmoxRequest.migrateCT(node: "villa-pve-01", vmid: VMID(101), target: "villa-pve-03", restart: true), "bogus", ProxmoxValue.integer(1),
         "property is not defined in schema and the schema does not allow additional properties"),
        (.vzdump(node: "villa-pve-01", vmid: VMID(101), storage: "nas-backup"), "mode", .string("fast"),
         "value 'fast' does not have a value in the enumeration 'snapshot, suspend, stop'"),
        (.migrateVM(node: "villa-pve-01", vmid: VMID(122), target: "villa-pve-03", online: true, withLocalDisks: true), "online", .string("yes"),
         "type check ('boolean') failed - got 'yes'"),
        (.shutdownGuest(.lxc, node: "villa-pve-01", vmid: VMID(101)), "timeout", .string("soon"), "type check ('integer') failed - got 'soon'"),
    ])
    func aBadParameterIs400NamingIt(_ base: ProxmoxRequest, _ name: String, _ value: ProxmoxValue, _ message: String) async throws {
        let cluster = try Self.villa()
        var request = base
        request.parameters[name] = value
        let e = await Self.refusal(cluster, request)
        #expect(e?.status == 400 && e?.reason == "Parameter verification failed.", "\(String(describing: e))")
        #expect(e?.parameterErrors[name] == message, "\(String(describing: e?.parameterErrors))")
        let (writes, requests) = await (cluster.writes, cluster.migrationRequests)
        #expect(writes.isEmpty && requests.isEmpty)
    }

    @Test func aMissingRequiredParameterIs400() async throws {
        let cluster = try Self.villa()
        let e = await Self.refusal(cluster, Self.call(.post, "/nodes/{node}/lxc/{vmid}/migrate", Self.guestPath(Self.one, 101)))
        #expect(e?.parameterErrors["target"] == "property is missing and it is not optional")
        // PUT of a rule must say its type.
        let rule = await Self.refusal(cluster, Self.call(.put, "/cluster/ha/rules/{rule}", ["rule": .string("dns-prefers-01")], ["strict": .boolean(true)]))
        #expect(rule?.parameterErrors["type"] == "property is missing and it is not optional")
    }

    @Test func anOlderReleaseKnowsNoHARules() async throws {
        let cluster = try Self.villa("8.3")
        #expect(await Self.refusal(cluster, .haRules())?.status == 501)
        let failback = Self.call(.put, "/cluster/ha/resources/{sid}", ["sid": .string("ct:102")], ["failback": .boolean(false)])
        #expect(await Self.refusal(cluster, failback)?.parameterErrors["failback"] != nil)
    }
}

// MARK: - The HA manager

extension StrictSimulatorTests {
    /// Where an HA guest is seen, request after request, until `requests` have passed.
    static func track(_ cluster: FakeProxmoxCluster, _ vmid: VMID, requests: Int = 60) async throws -> [NodeName] {
        var seen: [NodeName] = []
        for _ in 0..<requests {
            let resources = try await cluster.send(.clusterResources())
            if let node = resources.arrayValue?.first(where: { $0["vmid"]?.intValue == vmid.rawValue })?["node"]?.stringValue.map({ NodeName($0) }), seen.last != node {
                seen.append(node)
            }
        }
        return seen
    }

    @Test func anHAMigrationIsQueuedAndFailbackBringsTheGuestBack() async throws {
        let cluster = try Self.villa()
        let upid = try #require(try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(102), target: Self.three, restart: true)).stringValue)
        // The request only hands a command to the HA manager: no lock yet, the guest is still here.
        #expect(upid.contains(":hamigrate:102:root@pam:"))
        #expect(await cluster.guests[VMID(102)]?.lock == nil)
        #expect(try await Self.outcome(cluster, upid).log.first == "Requesting HA migration for CT 102 to node villa-pve-03")
        // The manager moves it, then (failback on, villa-pve-01 has priority 2) moves it back.
        let seen = try await Self.track(cluster, VMID(102))
        #expect(seen == [Self.one, Self.three, Self.one], "\(seen)")
        let tasks = try await cluster.send(ProxmoxRequest(.get, "/nodes/{node}/tasks", path: ["node": .string(Self.one.rawValue)], parameters: ["typefilter": .string("vzmigrate")]))
        #expect(tasks.arrayValue?.count == 1 && tasks.arrayValue?.first?["user"]?.stringValue == "root@pam")
        let status = try await cluster.send(.haStatus()).arrayValue ?? []
        let service = try #require(status.first { $0["sid"]?.stringValue == "ct:102" })
        #expect(service["node"]?.stringValue == "villa-pve-01" && service["failback"]?.intValue == 1 && service["state"]?.stringValue == "started")
    }

    @Test func withFailbackOffTheGuestStaysWhereItWasMoved() async throws {
        let cluster = try Self.villa()
        _ = try await cluster.send(Self.call(.put, "/cluster/ha/resources/{sid}", ["sid": .string("ct:102")], ["failback": .boolean(false)]))
        #expect(try await cluster.send(Self.call(.get, "/cluster/ha/resources/{sid}", ["sid": .string("ct:102")]))["failback"]?.intValue == 0)
        _ = try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(102), target: Self.three, restart: true))
        #expect(try await Self.track(cluster, VMID(102)) == [Self.one, Self.three])
    }

    @Test func changingTheRuleMovesTheGuestToItsNewPreferredNode() async throws {
        let cluster = try Self.villa()
        let rules = try await cluster.send(.haRules()).arrayValue ?? []
        #expect(rules.first?["nodes"]?.stringValue == "villa-pve-01:2,villa-pve-02:1,villa-pve-03:1")
        let digest = try #require(rules.first?["digest"]?.stringValue)
        let change = Self.call(.put, "/cluster/ha/rules/{rule}", ["rule": .string("dns-prefers-01")],
                               ["type": .string("node-affinity"), "nodes": .string("villa-pve-02:2,villa-pve-03:1"), "digest": .string(digest)])
        #expect(await Self.refusal(cluster, change, as: ProxmoxCaller(userid: "pve2nix@pve!drain", privileges: ["Sys.Audit"]))?.reason == "Permission check failed (/, Sys.Console)")
        _ = try await cluster.send(change)
        #expect(try await cluster.send(.haRules()).arrayValue?.first?["nodes"]?.stringValue == "villa-pve-02:2,villa-pve-03:1")
        // The old digest no longer matches.
        #expect(await Self.refusal(cluster, change)?.reason == "detected modified configuration - file changed by other user? Try again.")
        #expect(try await Self.track(cluster, VMID(102)) == [Self.one, Self.two])
    }

    @Test func aStrictRuleBringsBackAGuestMovedOffItsNodes() async throws {
        let cluster = try Self.villa()
        _ = try await cluster.send(Self.call(.put, "/cluster/ha/resources/{sid}", ["sid": .string("ct:102")], ["failback": .boolean(false)]))
        _ = try await cluster.send(Self.call(.put, "/cluster/ha/rules/{rule}", ["rule": .string("dns-prefers-01")],
                                             ["type": .string("node-affinity"), "nodes": .string("villa-pve-01,villa-pve-02"), "strict": .boolean(true)]))
        _ = try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(102), target: Self.three, restart: true))
        // villa-pve-03 is not allowed: even without failback the manager takes it back to an allowed node.
        let seen = try await Self.track(cluster, VMID(102))
        #expect(seen.first == Self.one && seen.dropFirst().first == Self.three && seen.count == 3 && seen.last != Self.three, "\(seen)")
    }

    /// The villa bundle as a PVE 8 cluster: CT 102 in group `dns` that prefers villa-pve-01.
    static func villaWithGroup(nofailback: Bool) -> [String: String] {
        var files = Fixtures.villaFiles()
        files["cluster/ha-rules.json"] = nil
        files["cluster/ha-groups.json"] = #"[{"group":"dns","nodes":"villa-pve-01:2,villa-pve-02:1","restricted":0,"nofailback":\#(nofailback ? 1 : 0),"type":"group"}]"#
        files["cluster/ha-resources.json"] = #"[{"sid":"ct:102","state":"started","group":"dns","type":"ct","max_restart":1,"max_relocate":1}]"#
        return files
    }

    @Test(arguments: [false, true]) func aPVE8GroupFailsBackUnlessNofailback(_ nofailback: Bool) async throws {
        let cluster = try Self.villa("8.3", files: Self.villaWithGroup(nofailback: nofailback))
        #expect(try await cluster.send(.haGroups()).arrayValue?.first?["nodes"]?.stringValue == "villa-pve-01:2,villa-pve-02:1")
        _ = try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(102), target: Self.two, restart: true))
        let seen = try await Self.track(cluster, VMID(102))
        #expect(seen == (nofailback ? [Self.one, Self.two] : [Self.one, Self.two, Self.one]), "\(seen)")
    }

    @Test func changingAPVE8GroupStopsTheFailback() async throws {
        let cluster = try Self.villa("8.3", files: Self.villaWithGroup(nofailback: false))
        _ = try await cluster.send(Self.call(.put, "/cluster/ha/groups/{group}", ["group": .string("dns")], ["nofailback": .boolean(true)]))
        #expect(try await cluster.send(.haGroups()).arrayValue?.first?["nofailback"]?.intValue == 1)
        _ = try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(102), target: Self.two, restart: true))
        #expect(try await Self.track(cluster, VMID(102)) == [Self.one, Self.two])
    }

    @Test func aPVE9ClusterHasMigratedItsGroupsToRules() async throws {
        let cluster = try Self.villa("9.1", files: Self.villaWithGroup(nofailback: true))
        #expect(try await cluster.send(.haGroups()).arrayValue?.isEmpty == true)
        let rule = try #require(try await cluster.send(.haRules()).arrayValue?.first)
        #expect(rule["rule"]?.stringValue == "ha-group-dns" && rule["nodes"]?.stringValue == "villa-pve-01:2,villa-pve-02:1")
        #expect(try await cluster.send(.haResources()).arrayValue?.first?["failback"]?.intValue == 0)
    }
}

// MARK: - Tasks, time, vzdump, who asked

extension StrictSimulatorTests {
    @Test func tasksTakeWallClockTimeScaledByTheirSize() async throws {
        let cluster = try Self.villa()
        await cluster.setTimeScale(0.0005)
        let start = ContinuousClock.now
        // CT 101: 4 GiB copied with a restart (about 50 s of work); VM 122: 216 GB and 2 GiB of memory (about 2000 s).
        let small = try #require(try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(101), target: Self.three, restart: true)).stringValue)
        let large = try #require(try await cluster.send(Self.migrateVM(122, to: Self.three, online: true)).stringValue)
        var ended: [String: Duration] = [:]
        // A generous bound: under the whole suite's load on 2 cores this loop can be starved for a
        // while; it ends as soon as both tasks have.
        while ended.count < 2 && ContinuousClock.now - start < .seconds(120) {
            for upid in [small, large] where ended[upid] == nil {
                if try await cluster.send(.taskStatus(node: Self.one, upid: upid))["status"]?.stringValue == "stopped" { ended[upid] = ContinuousClock.now - start }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let s = try #require(ended[small]), l = try #require(ended[large])
        #expect(s < l && l >= .milliseconds(800), "small \(s), large \(l)")
        #expect(await cluster.guests[VMID(122)]?.node == Self.three)
    }

    @Test func vzdumpRunsOneAtATimePerNode() async throws {
        let cluster = try Self.villa()
        await cluster.setTaskPolls(6)
        let first = try #require(try await cluster.send(.vzdump(node: Self.one, vmid: VMID(101), storage: "nas-backup", mode: "snapshot")).stringValue)
        let second = try #require(try await cluster.send(.vzdump(node: Self.one, vmid: VMID(104), storage: "nas-backup", mode: "snapshot")).stringValue)
        // The second waits for the node's lock: its guest is not locked yet.
        #expect(await cluster.guests[VMID(101)]?.lock == "backup")
        #expect(await cluster.guests[VMID(104)]?.lock == nil)
        #expect(try await Self.pump(cluster) { await $0.guests[VMID(101)]?.lock == nil })
        #expect(try await cluster.send(.taskStatus(node: Self.one, upid: second))["status"]?.stringValue == "running")
        #expect(await cluster.guests[VMID(104)]?.lock == "backup")
        #expect(try await Self.outcome(cluster, first).exit == "OK")
        let log = try await Self.outcome(cluster, second).log
        #expect(log.contains("INFO: trying to get global lock - waiting...") && log.last == "TASK OK", "\(log)")
    }

    @Test func archiveNamesAreUnique() async throws {
        let cluster = try Self.villa()
        for _ in 0..<2 {
            let upid = try #require(try await cluster.send(.vzdump(node: Self.one, vmid: VMID(101), storage: "nas-backup", mode: "snapshot")).stringValue)
            #expect(try await Self.outcome(cluster, upid).exit == "OK")
        }
        let names = await cluster.archives["nas-backup"]?.map(\.volid) ?? []
        #expect(names.count == 2 && Set(names).count == 2, "\(names)")
    }

    @Test func aUPIDNamesTheTokenThatAsked() async throws {
        let cluster = try Self.villa()
        let upid = try #require(try await cluster.send(.migrateCT(node: Self.one, vmid: VMID(101), target: Self.three, restart: true), as: Self.drainToken).stringValue)
        #expect(upid.hasSuffix(":vzmigrate:101:pve2nix@pve!drain:"))
        // Its owner reads it; another token needs Sys.Audit on the node.
        #expect(try await cluster.send(.taskStatus(node: Self.one, upid: upid), as: ProxmoxCaller(userid: "pve2nix@pve!drain", privileges: [])).objectMembers != nil)
        let other = await Self.refusal(cluster, .taskStatus(node: Self.one, upid: upid), as: ProxmoxCaller(userid: "ops@pve!ro", privileges: []))
        #expect(other?.reason == "Permission check failed (/nodes/villa-pve-01, Sys.Audit)")
        let list = try await cluster.send(ProxmoxRequest(.get, "/nodes/{node}/tasks", path: ["node": .string(Self.one.rawValue)], parameters: ["source": .string("all")]))
        #expect(list.arrayValue?.first?["user"]?.stringValue == "pve2nix@pve!drain")
    }

    @Test func anUnknownTaskReadsAsStoppedUnknown() async throws {
        let cluster = try Self.villa()
        let status = try await cluster.send(.taskStatus(node: Self.one, upid: "UPID:villa-pve-01:0000FFFF:00ABCDEF:6745A1B2:qmigrate:100:root@pam:"))
        #expect(status["status"]?.stringValue == "stopped" && status["exitstatus"]?.stringValue == "unknown")
        #expect(await Self.refusal(cluster, .taskStatus(node: Self.one, upid: "not-a-upid"))?.parameterErrors["upid"] == "unable to parse worker upid")
    }
}

// MARK: - Permissions and the node's config

extension StrictSimulatorTests {
    @Test(arguments: [
        (ProxmoxRequest.migrateCT(node: "villa-pve-01", vmid: VMID(101), target: "villa-pve-03", restart: true), "VM.Migrate", "(/vms/101, VM.Migrate)"),
        (.vzdump(node: "villa-pve-01", vmid: VMID(105), storage: "nas-backup"), "Datastore.AllocateSpace", "(/storage/nas-backup, Datastore.AllocateSpace)"),
        (.vzdump(node: "villa-pve-01", vmid: VMID(105), storage: "nas-backup"), "VM.Backup", "(/vms/105, VM.Backup)"),
        (.shutdownGuest(.lxc, node: "villa-pve-01", vmid: VMID(105)), "VM.PowerMgmt", "(/vms/105, VM.PowerMgmt)"),
        (.clusterStatus(), "Sys.Audit", "(/, Sys.Audit)"),
        (.removeClusterNode("villa-pve-03"), "", "(user != root@pam)"),
    ])
    func aTokenWithoutThePrivilegeIs403NamingIt(_ request: ProxmoxRequest, _ lacking: String, _ named: String) async throws {
        let cluster = try Self.villa()
        let all: Set<String> = ["VM.Migrate", "VM.Backup", "VM.PowerMgmt", "VM.Audit", "VM.Allocate", "Datastore.AllocateSpace", "Datastore.Audit", "Sys.Audit", "Sys.Console", "Sys.Modify"]
        let e = await Self.refusal(cluster, request, as: ProxmoxCaller(userid: "pve2nix@pve!drain", privileges: all.subtracting([lacking])))
        #expect(e?.status == 403 && e?.reason == "Permission check failed \(named)", "\(String(describing: e))")
        let (requests, archives) = await (cluster.migrationRequests, cluster.archives)
        #expect(requests.isEmpty && archives.isEmpty)
    }

    @Test func theNodeDescriptionIsWrittenAndReadBack() async throws {
        let cluster = try Self.villa()
        let path: [String: ProxmoxValue] = ["node": .string(Self.one.rawValue)]
        let before = try await cluster.send(Self.call(.get, "/nodes/{node}/config", path))
        let digest = try #require(before["digest"]?.stringValue)
        let marker = "pve2nix: drained for conversion to NixOS\nplan 1234"
        _ = try await cluster.send(Self.call(.put, "/nodes/{node}/config", path, ["description": .string(marker), "digest": .string(digest)]))
        let after = try await cluster.send(Self.call(.get, "/nodes/{node}/config", path))
        #expect(after["description"]?.stringValue == marker)
        #expect(try await cluster.send(Self.call(.get, "/nodes/{node}/config", path, ["property": .string("description")]))["description"]?.stringValue == marker)
        #expect(await Self.refusal(cluster, Self.call(.put, "/nodes/{node}/config", path, ["description": .string("x"), "digest": .string(digest)]))?.status == 500)
        let token = await Self.refusal(cluster, Self.call(.put, "/nodes/{node}/config", path, ["description": .string("x")]),
                                       as: ProxmoxCaller(userid: "pve2nix@pve!drain", privileges: ["Sys.Audit"]))
        #expect(token?.reason == "Permission check failed (/, Sys.Modify)")
        _ = try await cluster.send(Self.call(.put, "/nodes/{node}/config", path, ["delete": .string("description")]))
        #expect(try await cluster.send(Self.call(.get, "/nodes/{node}/config", path))["description"] == nil)
    }

    @Test func theReadsAnOperatorUsesAnswer() async throws {
        let cluster = try Self.villa()
        #expect(try await cluster.send(.init(.get, "/version"))["release"]?.stringValue == "9.1")
        #expect(try await cluster.send(.init(.get, "/version"))["version"]?.stringValue == "9.1.1")
        await cluster.setOnline(Self.three, false)
        let nodes = try await cluster.send(.nodes()).arrayValue ?? []
        #expect(nodes.map { "\($0["node"]?.stringValue ?? "") \($0["status"]?.stringValue ?? "")" } == ["villa-pve-01 online", "villa-pve-02 online", "villa-pve-03 offline"])
        let cts = try await cluster.send(ProxmoxRequest(.get, "/nodes/{node}/lxc", path: ["node": .string(Self.one.rawValue)])).arrayValue ?? []
        #expect(cts.compactMap { $0["vmid"]?.intValue } == [101, 102, 103, 104, 105])
        let vms = try await cluster.send(ProxmoxRequest(.get, "/nodes/{node}/qemu", path: ["node": .string(Self.one.rawValue)])).arrayValue ?? []
        #expect(vms.compactMap { $0["vmid"]?.intValue } == [120, 121, 122, 9000])
        let current = try await cluster.send(Self.call(.get, "/nodes/{node}/lxc/{vmid}/status/current", Self.guestPath(Self.one, 102)))
        #expect(current["status"]?.stringValue == "running" && current["ha"]?["managed"]?.intValue == 1)
        // A token without VM.Audit sees no guests.
        let hidden = try await cluster.send(.clusterResources(), as: ProxmoxCaller(userid: "pve2nix@pve!drain", privileges: ["Sys.Audit"]))
        #expect(hidden.arrayValue?.isEmpty == true)
    }
}

// MARK: - Over HTTPS

extension StrictSimulatorTests {
    @Test func overHTTPSTheLiveClientMeetsTheSameRefusals() async throws {
        let pki = try LiveClientSimulatorTests.makePKI()
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        let cluster = try Self.villa()
        var accounts = LiveClientSimulatorTests.accounts
        accounts.tokens["audit@pve!ro"] = "ro-secret"
        let server = try await ProxmoxSimulatorServer.start(cluster: cluster, certificate: pki.cert, key: pki.key, accounts: accounts)
        do {
            try await Self.refusalsOverHTTPS(cluster, server, pki)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        // Privileges limited per token: 403 naming the privilege.
        accounts.tokenPrivileges = ["VM.Audit", "Sys.Audit"]
        let strict = try await ProxmoxSimulatorServer.start(cluster: cluster, certificate: pki.cert, key: pki.key, accounts: accounts)
        do {
            let weak = try LiveProxmoxClient(endpoint: LiveClientSimulatorTests.endpoint(strict), credentials: .token(id: "audit@pve!ro", secret: "ro-secret"), trust: .caFile(pki.ca))
            #expect(try await weak.send(.clusterStatus()).arrayValue?.isEmpty == false)
            do {
                _ = try await weak.send(.migrateCT(node: Self.one, vmid: VMID(104), target: Self.two, restart: true))
                Issue.record("a token without VM.Migrate migrated")
            } catch let e as ProxmoxAPIError {
                #expect(e.status == 403 && e.reason == "Permission check failed (/vms/104, VM.Migrate)", "\(e)")
            }
            try await weak.shutdown()
        } catch {
            await strict.stop()
            throw error
        }
        await strict.stop()
    }

    static func refusalsOverHTTPS(_ cluster: FakeProxmoxCluster, _ server: ProxmoxSimulatorServer, _ pki: LiveClientSimulatorTests.TestPKI) async throws {
        let client = try LiveProxmoxClient(endpoint: LiveClientSimulatorTests.endpoint(server), credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"),
                                           trust: .caFile(pki.ca))
        // An unknown parameter: 400, per parameter.
        var bogus = ProxmoxRequest.migrateCT(node: Self.one, vmid: VMID(101), target: Self.three, restart: true)
        bogus.parameters["with-local-disks"] = .boolean(true)
        do {
            _ = try await client.send(bogus)
            Issue.record("an unknown parameter was accepted")
        } catch let e as ProxmoxAPIError {
            #expect(e.status == 400 && e.parameterErrors["with-local-disks"]?.contains("not defined in schema") == true, "\(e)")
        }
        // A running VM without online: Proxmox's message in the status line.
        do {
            _ = try await client.send(Self.migrateVM(122, to: Self.three, online: false))
            Issue.record("a running VM migrated offline")
        } catch let e as ProxmoxAPIError {
            #expect(e.status == 500 && e.reason == "can't migrate running VM without --online", "\(e)")
        }
        // The UPID names the token.
        let upid = try #require(try await client.send(.migrateCT(node: Self.one, vmid: VMID(101), target: Self.three, restart: true)).stringValue)
        #expect(upid.hasSuffix(":vzmigrate:101:pve2nix@pve!drain:"))
        // The GET /nodes answer pins the certificate the simulator serves.
        let pin = try #require(try await client.send(.nodes()).arrayValue?.first?["ssl_fingerprint"]?.stringValue)
        #expect(CertificateFingerprint(pin) != nil)
        // An offline node: 595.
        await cluster.setOnline(Self.three, false)
        do {
            _ = try await client.send(.nodeStatus(Self.three))
            Issue.record("an offline node answered")
        } catch let e as ProxmoxAPIError {
            #expect(e.status == 595, "\(e)")
        }
        #expect(try await client.send(.haStatus()).arrayValue?.contains { $0["sid"]?.stringValue == "ct:102" } == true)
        try await client.shutdown()
    }

    /// The executable's flags: the release it simulates, its pace, and what its token may do.
    @Test func theSimulatorTakesAReleaseAPaceAndTokenPrivileges() async throws {
        let pki = try LiveClientSimulatorTests.makePKI()
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        let sim = try SimulatorProcessTests.startSimulator(pki, ["--schema-version", "8.3", "--time-scale", "0.001", "--token-privileges", "VM.Audit,Sys.Audit"])
        let client = try LiveProxmoxClient(endpoint: URL(string: "https://127.0.0.1:\(sim.port)")!, credentials: .token(id: "pve2nix@pve!drain", secret: "token-secret-123"),
                                           trust: .caFile(pki.ca))
        #expect(try await client.send(ProxmoxRequest(.get, "/version"))["release"]?.stringValue == "8.3")
        #expect(try await client.send(.haGroups()).arrayValue != nil)
        for (request, status) in [(ProxmoxRequest.haRules(), 501), (.migrateCT(node: Self.one, vmid: VMID(101), target: Self.three, restart: true), 403)] {
            do {
                _ = try await client.send(request)
                Issue.record("\(request) was answered")
            } catch let e as ProxmoxAPIError {
                #expect(e.status == status, "\(e)")
            }
        }
        try await client.shutdown()
        sim.process.terminate()
    }
}
