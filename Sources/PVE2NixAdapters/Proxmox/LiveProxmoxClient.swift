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
    /// The endpoint's own certificate, pinned by its SHA-256 fingerprint (`pvenode cert info`).
    case fingerprint(CertificateFingerprint)
    /// No verification at all: only on the user's explicit, loud request.
    case insecureSkipVerification
}

public enum ProxmoxClientError: Error, LocalizedError, Sendable {
    case plainHTTPRefused(String)
    case badEndpoint(String)
    case caFileUnreadable(String, String)
    case notJSON(String)
    case fingerprintMismatch(expected: String, presented: String?)
    case unreachable(endpoint: String, why: String)
    case tlsFailed(endpoint: String, why: String)

    public var errorDescription: String? {
        switch self {
        case .plainHTTPRefused(let url): "\(url) is plain HTTP: the API carries credentials, so pve2nix refuses it. Use https://HOST:8006, or pass the explicit insecure flag if you really mean it."
        case .badEndpoint(let url): "\(url) is not an endpoint URL like https://HOST:8006"
        case .caFileUnreadable(let path, let why): "cannot read the CA file \(path): \(why). Copy the cluster's /etc/pve/pve-root-ca.pem and point --ca-file at it."
        case .notJSON(let request): "\(request): the answer was not JSON"
        case .fingerprintMismatch(let expected, let presented):
            "the endpoint's certificate \(presented.map { "has the SHA-256 fingerprint \($0)" } ?? "could not be read"), not the pinned \(expected): nothing was sent. Check with 'pvenode cert info' on that node (a renewed certificate changes it), or someone is in between."
        case .unreachable(let endpoint, let why):
            "cannot reach the Proxmox VE API at \(endpoint): \(why). Nothing was sent. Check the address and port (the API listens on 8006), that pveproxy runs there ('systemctl status pveproxy'), and that no firewall is in between."
        case .tlsFailed(let endpoint, let why):
            "the TLS handshake with \(endpoint) failed (\(why)). Nothing was sent. Check that --ca-file is the cluster's /etc/pve/pve-root-ca.pem and that the endpoint's certificate names the host or address you gave (or pin it with --fingerprint)."
        }
    }
}

/// The Proxmox VE API over HTTPS (`https://HOST:8006/api2/json`).
public actor LiveProxmoxClient: ProxmoxAPI {
    private let base: URL
    private let credentials: ProxmoxCredentials
    private let transport: ProxmoxHTTPTransport
    private var ticket: (cookie: String, csrf: String, obtained: Date)?
    public let requestTimeout: TimeAmount
    private let endpointDescription: String

    public init(endpoint: URL, credentials: ProxmoxCredentials, trust: ProxmoxTrust, allowPlainHTTP: Bool = false, requestTimeout: TimeAmount = .seconds(30)) throws {
        guard let scheme = endpoint.scheme, ["http", "https"].contains(scheme), let host = endpoint.host, !host.isEmpty else {
            throw ProxmoxClientError.badEndpoint(endpoint.absoluteString)
        }
        if scheme == "http" && !allowPlainHTTP { throw ProxmoxClientError.plainHTTPRefused(endpoint.absoluteString) }
        let security: ProxmoxHTTPTransport.Security
        switch (scheme, trust) {
        case ("http", _): security = .plain
        case (_, .caFile(let path)):
            do {
                security = .verified(try NIOSSLCertificate.fromPEMFile(path))
            } catch {
                throw ProxmoxClientError.caFileUnreadable(path, "\(error)")
            }
        case (_, .fingerprint(let pin)): security = .pinned(pin)
        case (_, .insecureSkipVerification): security = .unverified
        }
        let bracketless = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        transport = try ProxmoxHTTPTransport(host: bracketless, port: endpoint.port ?? (scheme == "http" ? 80 : 8006), security: security)
        endpointDescription = "\(host):\(endpoint.port ?? (scheme == "http" ? 80 : 8006))"
        self.base = endpoint.appendingPathComponent("api2/json")
        self.credentials = credentials
        self.requestTimeout = requestTimeout
    }

    /// Kept for callers that end a session explicitly: each request opens and closes its own
    /// connection, so there is nothing left to close.
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
        var uri = base.path + request.path
        let hasBody = request.method == .post || request.method == .put
        if !hasBody && !form.isEmpty { uri += "?" + form }
        if hasBody { headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded") }
        let method = HTTPMethod(rawValue: request.method.rawValue)
        // The request is described without its parameters: they may carry a password.
        let label = "\(request.method.rawValue) \(request.path)"
        var timeout = ProxmoxAPIError(status: 0, reason: "\(requestTimeout.nanoseconds / 1_000_000_000) s", request: label)
        timeout.timedOut = true
        let response: ProxmoxHTTPTransport.Answer
        do {
            response = try await transport.execute(method: method, uri: uri, headers: headers, body: hasBody ? ByteBuffer(string: form) : nil, timeout: requestTimeout)
        } catch ProxmoxHTTPTransport.Failure.timedOut {
            throw timeout
        } catch ProxmoxHTTPTransport.Failure.fingerprintMismatch(let expected, let presented) {
            throw ProxmoxClientError.fingerprintMismatch(expected: expected.description, presented: presented?.description)
        } catch ProxmoxHTTPTransport.Failure.cannotConnect(let why) {
            throw ProxmoxClientError.unreachable(endpoint: endpointDescription, why: why)
        } catch ProxmoxHTTPTransport.Failure.tls(let why) {
            throw ProxmoxClientError.tlsFailed(endpoint: endpointDescription, why: why)
        }
        let text = String(buffer: response.body)
        guard response.status == 200 else {
            var params: [String: String] = [:]
            if let json = try? JSONReader.parse(text) {
                for (k, v) in json["errors"]?.objectMembers ?? [] { params[k] = v.stringValue ?? v.description }
            }
            throw ProxmoxAPIError(status: response.status, reason: response.reason, parameterErrors: params, request: label)
        }
        guard let json = try? JSONReader.parse(text) else { throw ProxmoxClientError.notJSON(label) }
        return json["data"] ?? .null(line: 0)
    }
}
