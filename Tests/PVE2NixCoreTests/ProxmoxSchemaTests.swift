import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// Every request pve2nix can send must match the official Proxmox VE API schema
/// (../shared/proxmox): path, method, parameter names, types and enums, required parameters,
/// and root-only methods (no `permissions` block) must be the ones that ask for a ticket.
@Suite struct ProxmoxSchemaTests {
    static let schemaDirectory = Fixtures.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/proxmox")

    static func load(_ file: String) throws -> [String: JSONValue] {
        let text = try String(contentsOf: schemaDirectory.appendingPathComponent(file), encoding: .utf8)
        var index: [String: JSONValue] = [:]
        func walk(_ nodes: [JSONValue]) {
            for node in nodes {
                if let path = node["path"]?.stringValue { index[path] = node }
                walk(node["children"]?.arrayValue ?? [])
            }
        }
        walk(try JSONReader.parse(text).arrayValue ?? [])
        return index
    }

    @Test(arguments: ["pve-api-schema-9.1.json", "pve-api-schema-8.3.json"])
    func everyRequestMatchesTheSchema(_ file: String) throws {
        let schema = try Self.load(file)
        #expect(schema.count > 300)
        let version = file.contains("-8.") ? 8 : 9
        for request in ProxmoxRequest.catalogue where (request.since ?? 0) <= version {
            guard let node = schema[request.template] else {
                Issue.record("\(file): \(request.template) is not in the schema")
                continue
            }
            guard let method = node["info"]?[request.method.rawValue] else {
                Issue.record("\(file): \(request.method.rawValue) \(request.template) is not in the schema")
                continue
            }
            let properties = method["parameters"]?["properties"]?.objectMembers ?? []
            let known = Dictionary(properties.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            let sent = request.pathParameters.merging(request.parameters) { a, _ in a }
            for (name, value) in sent {
                guard let spec = known[name] else {
                    Issue.record("\(file): \(request) sends '\(name)', which the schema does not know")
                    continue
                }
                let type = spec["type"]?.stringValue ?? "string"
                let compatible = type == value.schemaType || (type == "number" && value.schemaType == "integer")
                #expect(compatible, "\(file): \(request) '\(name)' is \(value.schemaType), the schema says \(type)")
                if let allowed = spec["enum"]?.arrayValue?.compactMap(\.stringValue), !allowed.isEmpty {
                    #expect(allowed.contains(value.text), "\(file): \(request) '\(name)'=\(value.text) is not one of \(allowed)")
                }
            }
            for (name, spec) in known where spec["optional"]?.boolValue != true {
                #expect(sent[name] != nil, "\(file): \(request) lacks the required '\(name)'")
            }
            let rootOnly = method["permissions"] == nil
            #expect(rootOnly == request.requiresTicket, "\(file): \(request) root-only=\(rootOnly) but requiresTicket=\(request.requiresTicket)")
        }
    }

    @Test func pathsAreEncoded() {
        let r = ProxmoxRequest.taskStatus(node: "pve1", upid: "UPID:pve1:00001234:00ABCDEF:6745A1B2:qmigrate:100:root@pam:")
        #expect(r.path == "/nodes/pve1/tasks/UPID%3Apve1%3A00001234%3A00ABCDEF%3A6745A1B2%3Aqmigrate%3A100%3Aroot%40pam%3A/status")
        #expect(ProxmoxRequest.migrateCT(node: "pve1", vmid: VMID(101), target: "pve2", restart: true).parameters["restart"]?.text == "1")
    }
}
