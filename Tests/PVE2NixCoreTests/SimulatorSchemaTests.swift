import Foundation
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
        case "integer", "number":
            if value.doubleValue == nil { out.append("\(path): expected a number") }
        case "boolean":
            if value.boolValue == nil { out.append("\(path): expected a boolean") }
        default:
            break
        }
        return out
    }

    @Test func answersMatchTheSchemaReturns() async throws {
        let schema = try ProxmoxSchemaTests.load("pve-api-schema-9.1.json")
        let site = Fixtures.loadSite(Fixtures.villa)
        let cluster = FakeProxmoxCluster(site: site)
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
        let cluster = FakeProxmoxCluster(site: Fixtures.loadSite(Fixtures.villa))
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
}
