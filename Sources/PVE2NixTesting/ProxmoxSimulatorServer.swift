import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PVE2NixCore
import PVE2NixAdapters
import PVE2NixRuntime

/// The Proxmox VE simulator: the fake cluster served over HTTPS on loopback at `/api2/json`, with
/// API-token and ticket authentication and the API's error shape. Paths are routed by the official
/// schema; the caller (ticket user or token, with the token's privileges) travels with each
/// request into the fake, which checks permissions, parameters and offline nodes. The live client
/// talks to it exactly as to a real node.
public final class ProxmoxSimulatorServer: Sendable {
    public struct Accounts: Sendable {
        public var tokens: [String: String]
        public var users: [String: String]
        /// What every API token may do (nil: every privilege). Tickets are root's or the user's, with all.
        public var tokenPrivileges: Set<String>?
        public init(tokens: [String: String] = [:], users: [String: String] = [:], tokenPrivileges: Set<String>? = nil) {
            self.tokens = tokens
            self.users = users
            self.tokenPrivileges = tokenPrivileges
        }
    }

    public let port: Int
    private let channel: Channel
    private let task: Task<Void, Never>

    private init(port: Int, channel: Channel, task: Task<Void, Never>) {
        self.port = port
        self.channel = channel
        self.task = task
    }

    /// Starts on 127.0.0.1 (port 0 picks a free one) with the given certificate and key (PEM).
    public static func start(cluster: FakeProxmoxCluster, certificate: String, key: String, accounts: Accounts, port: Int = 0) async throws -> ProxmoxSimulatorServer {
        let tls = TLSConfiguration.makeServerConfiguration(certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                                                           privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        let context = try NIOSSLContext(configuration: tls)
        if let leaf = try NIOSSLCertificate.fromPEMFile(certificate).first, let pin = try? CertificateFingerprint(of: leaf) {
            await cluster.setSSLFingerprint(pin.description)
        }
        let router = SimulatorRouter(cluster: cluster, accounts: accounts)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let boundPort = server.channel.localAddress?.port ?? port
        let task = Task<Void, Never> {
            _ = try? await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await Self.serve(connection, router: router) }
                    }
                }
            }
        }
        return ProxmoxSimulatorServer(port: boundPort, channel: server.channel, task: task)
    }

    public func stop() async {
        try? await channel.close()
        task.cancel()
        _ = await task.value
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, router: SimulatorRouter) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h): head = h; body.clear()
                case .body(var b): body.writeBuffer(&b)
                case .end:
                    guard let h = head else { continue }
                    let (status, json) = await router.handle(method: h.method.rawValue, uri: h.uri, headers: h.headers, body: String(buffer: body))
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: "application/json;charset=UTF-8")
                    let bytes = ByteBuffer(string: json)
                    headers.add(name: "Content-Length", value: String(bytes.readableBytes))
                    try await outbound.write(.head(HTTPResponseHead(version: h.version, status: status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(bytes)))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }
}

/// Maps HTTP requests to the schema's paths (the catalogue's without a schema) and the fake
/// cluster's answers to HTTP.
actor SimulatorRouter {
    let cluster: FakeProxmoxCluster
    let accounts: ProxmoxSimulatorServer.Accounts
    /// Ticket → (CSRF token, user).
    var tickets: [String: (csrf: String, user: String)] = [:]

    init(cluster: FakeProxmoxCluster, accounts: ProxmoxSimulatorServer.Accounts) {
        self.cluster = cluster
        self.accounts = accounts
    }

    static let templates: [(method: String, template: String)] = {
        var seen = Set<String>()
        return ProxmoxRequest.catalogue.compactMap { r in seen.insert("\(r.method.rawValue) \(r.template)").inserted ? (r.method.rawValue, r.template) : nil }
    }()

    func handle(method: String, uri: String, headers: HTTPHeaders, body: String) async -> (HTTPResponseStatus, String) {
        let parts = uri.split(separator: "?", maxSplits: 1).map(String.init)
        guard parts[0].hasPrefix("/api2/json/") else { return Self.error(.notImplemented, "Not Implemented") }
        let path = String(parts[0].dropFirst("/api2/json".count))
        var params = Self.form(parts.count > 1 ? parts[1] : "")
        if method == "POST" || method == "PUT" { params.merge(Self.form(body)) { _, b in b } }

        if method == "POST" && path == "/access/ticket" {
            guard let user = params["username"], let password = params["password"], accounts.users[user] == password else {
                return Self.error(HTTPResponseStatus(statusCode: 401, reasonPhrase: "authentication failure"), "authentication failure")
            }
            let ticket = "PVE:\(user):\(UUID().uuidString)", csrf = UUID().uuidString
            tickets[ticket] = (csrf, user)
            return (.ok, JSONValue.object([("data", .object([("ticket", .string(ticket, line: 0)), ("CSRFPreventionToken", .string(csrf, line: 0)), ("username", .string(user, line: 0))], line: 0))], line: 0).serialized)
        }
        let schema = cluster.schema
        let template: String, captured: [String: String]
        if let schema {
            guard case .found(let t, let c) = schema.route(method, path) else { return Self.error(.notImplemented, "Method '\(method) \(path)' not implemented") }
            (template, captured) = (t, c)
        } else {
            guard let route = Self.templates.lazy.compactMap({ t -> (String, [String: String])? in
                guard t.method == method, let c = Self.match(t.template, path) else { return nil }
                return (t.template, c)
            }).first else { return Self.error(.notImplemented, "Method '\(method) \(path)' not implemented") }
            (template, captured) = route
        }
        // Authentication: a token, or a ticket cookie (with its CSRF token on writes).
        let caller: ProxmoxCaller
        if let auth = headers.first(name: "Authorization"), auth.hasPrefix("PVEAPIToken=") {
            let value = auth.dropFirst("PVEAPIToken=".count)
            guard let eq = value.lastIndex(of: "="), accounts.tokens[String(value[..<eq])] == String(value[value.index(after: eq)...]) else {
                return Self.error(HTTPResponseStatus(statusCode: 401, reasonPhrase: "invalid token value!"), "invalid token value!")
            }
            caller = ProxmoxCaller(userid: String(value[..<eq]), privileges: accounts.tokenPrivileges)
        } else if let cookie = headers.first(name: "Cookie"), let ticket = cookie.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }).first(where: { $0.hasPrefix("PVEAuthCookie=") })?.dropFirst("PVEAuthCookie=".count),
                  let session = tickets[String(ticket)] {
            if method != "GET" && headers.first(name: "CSRFPreventionToken") != session.csrf {
                return Self.error(HTTPResponseStatus(statusCode: 401, reasonPhrase: "Permission denied - invalid csrf token"), "Permission denied - invalid csrf token")
            }
            caller = ProxmoxCaller(userid: session.user)
        } else {
            return Self.error(HTTPResponseStatus(statusCode: 401, reasonPhrase: "No ticket"), "No ticket")
        }
        var request = ProxmoxRequest(ProxmoxRequest.Method(rawValue: method)!, template)
        if let spec = schema?.method(method, template) {
            request.pathParameters = spec.typed(captured)
            request.parameters = spec.typed(params)
        } else {
            for (k, v) in captured { request.pathParameters[k] = k == "vmid" ? Int(v).map(ProxmoxValue.integer) ?? .string(v) : .string(v) }
            for (k, v) in params { request.parameters[k] = .string(v) }
        }
        do {
            let data = try await cluster.send(request, as: caller)
            return (.ok, JSONValue.object([("data", data)], line: 0).serialized)
        } catch let e as ProxmoxAPIError {
            // As pveproxy's JSON formatter: the message travels only in the status line.
            var members: [(key: String, value: JSONValue)] = [("data", .null(line: 0))]
            if !e.parameterErrors.isEmpty { members.append(("errors", .object(e.parameterErrors.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value, line: 0)) }, line: 0))) }
            return (Self.status(e.status, e.reason), JSONValue.object(members, line: 0).serialized)
        } catch {
            return Self.error(.internalServerError, "\(error)")
        }
    }

    static func error(_ status: HTTPResponseStatus, _ message: String) -> (HTTPResponseStatus, String) {
        (Self.status(Int(status.code), message), JSONValue.object([("data", .null(line: 0))], line: 0).serialized)
    }

    /// A status whose reason phrase is the message, on one line.
    static func status(_ code: Int, _ message: String) -> HTTPResponseStatus {
        .custom(code: UInt(code), reasonPhrase: message.split(whereSeparator: \.isNewline).joined(separator: " "))
    }

    static func match(_ template: String, _ path: String) -> [String: String]? {
        let t = template.split(separator: "/"), p = path.split(separator: "/")
        guard t.count == p.count else { return nil }
        var captured: [String: String] = [:]
        for (a, b) in zip(t, p) {
            if a.hasPrefix("{") && a.hasSuffix("}") { captured[String(a.dropFirst().dropLast())] = String(b).removingPercentEncoding ?? String(b) }
            else if a != b { return nil }
        }
        return captured
    }

    static func form(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            out[kv[0]] = kv.count > 1 ? kv[1] : ""
        }
        return out
    }
}
