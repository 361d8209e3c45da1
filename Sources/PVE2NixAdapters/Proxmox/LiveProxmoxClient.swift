import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import PVE2NixCore
import PVE2NixRuntime

/// How the client proves who it is. Secrets come from the environment or a file, never argv,
/// and never appear in a description, a log or an error.
public enum ProxmoxCredentials: Sendable, CustomStringConvertible {
    /// `USER@REALM!TOKENID` and its secret: `Authorization: PVEAPIToken=…`. Never root-only calls.
    case token(id: String, secret: String)
    /// Username and password: a ticket (cookie) plus a CSRF token for writes; needed for root-only calls.
    case password(username: String, password: String)

    public var description: String {
        switch self {
        case .token(let id, _): "API token \(id)"
        case .password(let user, _): "ticket for \(user)"
        }
    }
}

/// What the client trusts.
public enum ProxmoxTrust: Sendable {
    /// The cluster CA (`/etc/pve/pve-root-ca.pem`): node certificates are signed by it.
    case caFile(String)
    /// No verification at all: only on the user's explicit, loud request.
    case insecureSkipVerification
}

public enum ProxmoxClientError: Error, LocalizedError, Sendable {
    case plainHTTPRefused(String)
    case badEndpoint(String)
    case caFileUnreadable(String, String)
    case notJSON(String)

    public var errorDescription: String? {
        switch self {
        case .plainHTTPRefused(let url): "\(url) is plain HTTP: the API carries credentials, so pve2nix refuses it. Use https://HOST:8006, or pass the explicit insecure flag if you really mean it."
        case .badEndpoint(let url): "\(url) is not an endpoint URL like https://HOST:8006"
        case .caFileUnreadable(let path, let why): "cannot read the CA file \(path): \(why). Copy the cluster's /etc/pve/pve-root-ca.pem and point --ca-file at it."
        case .notJSON(let request): "\(request): the answer was not JSON"
        }
    }
}

/// One AsyncHTTPClient per trust configuration, for the life of the process.
enum SharedHTTPClients {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var clients: [String: HTTPClient] = [:]

    static func client(key: String, configuration: HTTPClient.Configuration) -> HTTPClient {
        lock.withLock {
            if let c = clients[key] { return c }
            let c = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = c
            return c
        }
    }
}

/// The Proxmox VE API over HTTPS (`https://HOST:8006/api2/json`).
public actor LiveProxmoxClient: ProxmoxAPI {
    private let base: URL
    private let credentials: ProxmoxCredentials
    private let http: HTTPClient
    private var ticket: (cookie: String, csrf: String, obtained: Date)?
    public let requestTimeout: TimeAmount

    public init(endpoint: URL, credentials: ProxmoxCredentials, trust: ProxmoxTrust, allowPlainHTTP: Bool = false, requestTimeout: TimeAmount = .seconds(30)) throws {
        guard let scheme = endpoint.scheme, endpoint.host != nil else { throw ProxmoxClientError.badEndpoint(endpoint.absoluteString) }
        if scheme == "http" && !allowPlainHTTP { throw ProxmoxClientError.plainHTTPRefused(endpoint.absoluteString) }
        var tls = TLSConfiguration.makeClientConfiguration()
        switch trust {
        case .caFile(let path):
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            } catch {
                throw ProxmoxClientError.caFileUnreadable(path, "\(error)")
            }
        case .insecureSkipVerification:
            tls.certificateVerification = .none
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: requestTimeout)
        let key: String
        switch trust {
        case .caFile(let path): key = "ca:\(path)|\(requestTimeout.nanoseconds)"
        case .insecureSkipVerification: key = "insecure|\(requestTimeout.nanoseconds)"
        }
        self.http = SharedHTTPClients.client(key: key, configuration: configuration)
        self.base = endpoint.appendingPathComponent("api2/json")
        self.credentials = credentials
        self.requestTimeout = requestTimeout
    }

    /// Kept for callers that end a session explicitly; the underlying HTTP clients live as long as
    /// the process (AsyncHTTPClient traps when a client is dropped without shutdown, and an error
    /// path must never turn into a crash).
    public func shutdown() async throws {}

    public func send(_ request: ProxmoxRequest) async throws -> JSONValue {
        var headers = HTTPHeaders()
        switch credentials {
        case .token(let id, let secret):
            headers.add(name: "Authorization", value: "PVEAPIToken=\(id)=\(secret)")
        case .password:
            let t = try await currentTicket()
            headers.add(name: "Cookie", value: "PVEAuthCookie=\(t.cookie)")
            if request.method != .get { headers.add(name: "CSRFPreventionToken", value: t.csrf) }
        }
        return try await perform(request, headers: headers)
    }

    private func currentTicket() async throws -> (cookie: String, csrf: String, obtained: Date) {
        // Tickets live two hours; renew well before.
        if let t = ticket, Date().timeIntervalSince(t.obtained) < 90 * 60 { return t }
        guard case .password(let user, let password) = credentials else { throw ProxmoxClientError.badEndpoint("no password credentials") }
        let data = try await perform(.ticket(username: user, password: password), headers: HTTPHeaders())
        guard let cookie = data["ticket"]?.stringValue, let csrf = data["CSRFPreventionToken"]?.stringValue else {
            throw ProxmoxClientError.notJSON("POST /access/ticket")
        }
        let t = (cookie, csrf, Date())
        ticket = t
        return t
    }

    private func perform(_ request: ProxmoxRequest, headers: HTTPHeaders) async throws -> JSONValue {
        var headers = headers
        let form = request.parameters.keys.sorted().map { "\($0)=\(ProxmoxValue.percentEncode(request.parameters[$0]!.text))" }.joined(separator: "&")
        var url = base.absoluteString + request.path
        let hasBody = request.method == .post || request.method == .put
        if !hasBody && !form.isEmpty { url += "?" + form }
        var http = HTTPClientRequest(url: url)
        http.method = HTTPMethod(rawValue: request.method.rawValue)
        if hasBody {
            headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            http.body = .bytes(ByteBuffer(string: form))
        }
        http.headers = headers
        // The request is described without its parameters: they may carry a password.
        let label = "\(request.method.rawValue) \(request.path)"
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await self.http.execute(http, timeout: requestTimeout)
            body = try await response.body.collect(upTo: 64 << 20)
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
            var timeout = ProxmoxAPIError(status: 0, reason: "\(requestTimeout.nanoseconds / 1_000_000_000) s", request: label)
            timeout.timedOut = true
            throw timeout
        }
        let text = String(buffer: body)
        guard response.status == .ok else {
            var params: [String: String] = [:]
            if let json = try? JSONReader.parse(text) {
                for (k, v) in json["errors"]?.objectMembers ?? [] { params[k] = v.stringValue ?? v.description }
            }
            throw ProxmoxAPIError(status: Int(response.status.code), reason: response.status.reasonPhrase, parameterErrors: params, request: label)
        }
        guard let json = try? JSONReader.parse(text) else { throw ProxmoxClientError.notJSON(label) }
        return json["data"] ?? .null(line: 0)
    }
}
