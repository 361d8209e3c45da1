import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// The simulator's answers must have the shape the official schema's `returns` describes, so that
/// what the drain learns against it holds against a real cluster.
@Suite struct SimulatorSchemaTests {
    /// Checks `value` against a schema fragment: type, required properties, items. Lenient where
    /// the API is (0/1 for booleans, numbers as strings).
    static func violations(_ value: JSONValue, _ schema: JSONValue?, at path: String) -> [String] {
        guard let schema else { return [] }
        var out: [String] = []
        let type = schema["type"]?.stringValue
        switch type {
        case "object":
            guard let members = value.objectMembers else { return ["\(path): expected an object, got \(value.serialized.prefix(60))"] }
            let keys = Set(members.map(\.key))
            for (name, spec) in schema["properties"]?.objectMembers ?? [] {
                if spec["optional"]?.boolValue != true && !keys.contains(name) { out.append("\(path).\(name): required but missing") }
                if let v = value[name] { out += violations(v, spec, at: "\(path).\(name)") }
            }
        case "array":
            guard let items = value.arrayValue else { return ["\(path): expected an array"] }
            for (i, item) in items.enumerated() { out += violations(item, schema["items"], at: "\(path)[\(i)]") }
        case "string":
            if value.stringValue == nil || value.isNull { out.append("\(path): expected a string") }
        case "null":
            if !value.isNull { out.append("\(path): expected null") }
        case "integer", "number":
            if value.doubleValue == nil { out.append("\(path): expected a number") }
        case "boolean":
            if value.boolValue == nil { out.append("\(path): expected a boolean") }
        default:
            break
        }
        if let allowed = schema["enum"]?.arrayValue?.compactMap(\.stringValue), !allowed.isEmpty, let text = value.stringValue, !allowed.contains(text) {
            out.append("\(path): '\(text)' is not one of \(allowed)")
        }
        return out
    }

    /// Sends `request` and checks its answer against the schema's `returns` for it.
    @discardableResult
    static func check(_ cluster: FakeProxmoxCluster, _ schema: [String: JSONValue], _ request: ProxmoxRequest) async throws -> JSONValue {
        let answer = try await cluster.send(request)
        let returns = schema[request.template]?["info"]?[request.method.rawValue]?["returns"]
        #expect(returns != nil, "\(request.template) has no returns in the schema")
        let problems = violations(answer, returns, at: "\(request.method.rawValue) \(request.template)")
        #expect(problems.isEmpty, "\(problems)")
        return answer
    }

    @Test func answersMatchTheSchemaReturns() async throws {
        let schema = try ProxmoxSchemaTests.load("pve-api-schema-9.1.json")
        let site = Fixtures.loadSite(Fixtures.villa)
        let cluster = FakeProxmoxCluster(site: site, bundle: LocalFileTree(root: Fixtures.villa))
        let upid = try await cluster.send(.migrateCT(node: "villa-pve-01", vmid: VMID(101), target: "villa-pve-03", restart: true)).stringValue!
        let requests: [ProxmoxRequest] = [
            .clusterStatus(), .clusterResources(), .haResources(), .haRules(), .storageList(), .clusterNodes(),
            .nodeStatus("villa-pve-01"), .guestConfig(.lxc, node: "villa-pve-01", vmid: VMID(103)), .guestConfig(.qemu, node: "villa-pve-01", vmid: VMID(120)),
            .pendingChanges(.lxc, node: "villa-pve-01", vmid: VMID(103)), .snapshots(.lxc, node: "villa-pve-01", vmid: VMID(105)),
            .snapshotConfig(.lxc, node: "villa-pve-01", vmid: VMID(105), snapshot: "before-upgrade"),
            .taskStatus(node: "villa-pve-01", upid: upid),
        ]
        var checked = 0
        for request in requests {
            let answer = try await cluster.send(request)
            let returns = schema[request.template]?["info"]?[request.method.rawValue]?["returns"]
            #expect(returns != nil, "\(request.template) has no returns in the schema")
            let problems = Self.violations(answer, returns, at: request.template)
            #expect(problems.isEmpty, "\(problems)")
            checked += 1
        }
        #expect(checked == requests.count)
        // The migrate answer itself: a UPID string.
        let migrateReturns = schema["/nodes/{node}/lxc/{vmid}/migrate"]?["info"]?["POST"]?["returns"]
        #expect(Self.violations(.string(upid, line: 0), migrateReturns, at: "migrate").isEmpty)
    }

    /// Lets the fake's tasks run to their end.
    static func settle(_ cluster: FakeProxmoxCluster) async throws {
        for _ in 0..<5 { _ = try await cluster.send(.clusterStatus()) }
    }

    @Test func backupAndRestoreAnswersMatchTheSchema() async throws {
        let schema = try ProxmoxSchemaTests.load("pve-api-schema-9.1.json")
        let cluster = FakeProxmoxCluster(site: Fixtures.loadSite(Fixtures.villa), bundle: LocalFileTree(root: Fixtures.villa))
        func check(_ request: ProxmoxRequest) async throws -> JSONValue {
            let answer = try await cluster.send(request)
            let returns = schema[request.template]?["info"]?[request.method.rawValue]?["returns"]
            #expect(returns != nil, "\(request.template) has no returns in the schema")
            let problems = Self.violations(answer, returns, at: request.template)
            #expect(problems.isEmpty, "\(problems)")
            return answer
        }
        let source = NodeName("villa-pve-01"), target = NodeName("villa-pve-02"), id = VMID(105)
        #expect(try await check(.shutdownGuest(.lxc, node: source, vmid: id)).stringValue?.contains(":vzshutdown:105:") == true)
        try await Self.settle(cluster)
        // vzdump's quirk: the literal "OK" and no task when the guest is not on the node it was sent to.
        #expect(try await check(.vzdump(node: target, vmid: id, storage: "nas-backup")).stringValue == "OK")
        #expect(try await check(.vzdump(node: source, vmid: id, storage: "nas-backup", notes: "n")).stringValue?.contains(":vzdump:105:") == true)
        try await Self.settle(cluster)
        let content = try await check(.storageContent(node: target, storage: "nas-backup", vmid: id))
        let volid = try #require(content.arrayValue?.first?["volid"]?.stringValue)
        #expect(volid.hasPrefix("nas-backup:backup/vzdump-lxc-105-") && volid.hasSuffix(".tar.zst"))
        #expect(try await check(.extractConfig(node: target, volume: volid)).stringValue?.contains("hostname: wiki") == true)
        let next = try await check(.nextID())
        let copy = VMID(try #require(next.intValue))
        // VMIDs are unique cluster-wide: a restore under an id in use fails, naming where it is.
        do {
            _ = try await cluster.send(.restoreCT(node: target, vmid: id, archive: volid, storage: "local-lvm", start: true))
            Issue.record("a restore over an existing VMID was accepted")
        } catch let e as ProxmoxAPIError {
            #expect(e.reason.contains("CT 105 already exists on node 'villa-pve-01'"))
        }
        #expect(try await check(.restoreCT(node: target, vmid: copy, archive: volid, storage: "local-lvm", start: true)).stringValue?.contains(":vzrestore:") == true)
        #expect(await cluster.guests[copy]?.lock == "create")
        try await Self.settle(cluster)
        #expect(await cluster.guests[copy]?.status == "running")
        #expect(try await check(.deleteGuest(.lxc, node: source, vmid: id)).stringValue?.contains(":vzdestroy:105:") == true)
        try await Self.settle(cluster)
        #expect(await cluster.guests[id] == nil)
        // A running guest is never destroyed.
        await #expect(throws: ProxmoxAPIError.self) { _ = try await cluster.send(.deleteGuest(.lxc, node: target, vmid: copy)) }
    }

    /// The reads a client or an operator uses, and the HA and node-config writes, answer in the schema's shape.
    @Test(arguments: ["9.1", "8.3"]) func operatorReadsMatchTheSchemaReturns(_ release: String) async throws {
        let schema = try ProxmoxSchemaTests.load("pve-api-schema-\(release).json")
        let api = try #require(ProxmoxSchema.bundled(release))
        let cluster = FakeProxmoxCluster(site: Fixtures.loadSite(Fixtures.villa), bundle: LocalFileTree(root: Fixtures.villa), schema: api)
        let one = NodeName("villa-pve-01")
        let node: [String: ProxmoxValue] = ["node": .string(one.rawValue)]
        func guest(_ id: Int) -> [String: ProxmoxValue] { ["node": .string(one.rawValue), "vmid": .integer(id)] }
        let upid = try #require(try await Self.check(cluster, schema, .migrateCT(node: one, vmid: VMID(101), target: "villa-pve-03", restart: true)).stringValue)
        let ha = try #require(try await Self.check(cluster, schema, .migrateCT(node: one, vmid: VMID(102), target: "villa-pve-02", restart: true)).stringValue)
        try await Self.settle(cluster)
        var requests: [ProxmoxRequest] = [
            .init(.get, "/version"), .nodes(), .clusterResources(), .init(.get, "/cluster/resources"), .haStatus(), .haResources(), .haGroups(),
            .init(.get, "/nodes/{node}/qemu", path: node), .init(.get, "/nodes/{node}/lxc", path: node),
            .init(.get, "/nodes/{node}/qemu/{vmid}/status/current", path: guest(122)), .init(.get, "/nodes/{node}/lxc/{vmid}/status/current", path: guest(103)),
            .init(.get, "/nodes/{node}/tasks", path: node, parameters: ["source": .string("all")]),
            .init(.get, "/nodes/{node}/tasks/{upid}/log", path: node.merging(["upid": .string(upid)]) { a, _ in a }),
            .init(.get, "/nodes/{node}/tasks/{upid}/log", path: node.merging(["upid": .string(ha)]) { a, _ in a }),
            .taskStatus(node: one, upid: upid), .migratePrecondition(node: one, vmid: VMID(121), target: "villa-pve-02"),
            .init(.get, "/nodes/{node}/config", path: node), .init(.put, "/nodes/{node}/config", path: node, parameters: ["description": .string("drained")]),
            .init(.put, "/nodes/{node}/qemu/{vmid}/config", path: guest(121), parameters: ["ide2": .string("none,media=cdrom")]),
            .init(.get, "/cluster/ha/resources/{sid}", path: ["sid": .string("ct:102")]),
            .init(.put, "/cluster/ha/resources/{sid}", path: ["sid": .string("ct:102")], parameters: ["max_restart": .integer(2)]),
        ]
        if release == "9.1" {
            requests += [.haRules(), .init(.get, "/cluster/ha/rules/{rule}", path: ["rule": .string("dns-prefers-01")]),
                         .init(.put, "/cluster/ha/rules/{rule}", path: ["rule": .string("dns-prefers-01")], parameters: ["type": .string("node-affinity"), "strict": .boolean(true)])]
        }
        for request in requests { try await Self.check(cluster, schema, request) }
    }
}
