import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

/// How to reach the API: shared by drain and capture.
struct APIOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A cluster node's API, e.g. https://10.1.10.12:8006 (for a drain: a peer, not the node being drained).", valueName: "url"))
    var endpoint: String

    @Option(name: .long, help: ArgumentHelp("The cluster CA (/etc/pve/pve-root-ca.pem) to verify the API's certificate.", valueName: "file"))
    var caFile: String?

    @Option(name: .long, help: ArgumentHelp("Trust the endpoint by its certificate's SHA-256 fingerprint instead of a CA ('pvenode cert info' on that node), e.g. AB:CD:….", valueName: "sha256"))
    var fingerprint: String?

    @Flag(name: .long, help: "DANGEROUS: do not verify the API's TLS certificate.")
    var insecureSkipTLSVerify = false

    @Flag(name: .long, help: "DANGEROUS: allow a plain http:// endpoint (credentials travel in clear).")
    var allowPlainHTTP = false

    func validate() throws {
        let trusts = [caFile != nil, fingerprint != nil, insecureSkipTLSVerify].filter { $0 }.count
        if trusts > 1 { throw ValidationError("give one of --ca-file, --fingerprint and --insecure-skip-tls-verify") }
        if trusts == 0 && !endpoint.hasPrefix("http://") {
            throw ValidationError("give --ca-file with the cluster's pve-root-ca.pem, or --fingerprint with the node certificate's SHA-256 fingerprint (or, knowingly, --insecure-skip-tls-verify)")
        }
        guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host?.isEmpty == false else {
            throw ValidationError("--endpoint \(endpoint) is not a URL like https://HOST:8006")
        }
        if let fingerprint, CertificateFingerprint(fingerprint) == nil {
            throw ValidationError("--fingerprint \(fingerprint) is not a SHA-256 fingerprint: 64 hex digits, colons allowed (as 'pvenode cert info' prints it)")
        }
    }

    func makeClient(requestTimeout: Double = 30) throws -> (LiveProxmoxClient, ProxmoxCredentials) {
        let credentials: ProxmoxCredentials
        do { credentials = try Self.credentials() } catch let error as CredentialsError { throw Failure.exit(error.message, code: 2) }
        if insecureSkipTLSVerify { FileHandle.standardError.write(Data("pve2nix: WARNING: TLS verification is OFF: anyone on the path can read the credentials.\n".utf8)) }
        guard let url = URL(string: endpoint) else { throw Failure.exit("--endpoint \(endpoint) is not a URL", code: 2) }
        do {
            let client = try LiveProxmoxClient(endpoint: url, credentials: credentials,
                                           trust: caFile.map { .caFile($0) } ?? fingerprint.flatMap(CertificateFingerprint.init).map { .fingerprint($0) } ?? .insecureSkipVerification,
                                           allowPlainHTTP: allowPlainHTTP,
                                           requestTimeout: .milliseconds(Int64(requestTimeout * 1000)))
            return (client, credentials)
        } catch let error as ProxmoxClientError {
            throw Failure.exit(error.localizedDescription, code: 2)
        }
    }

    /// Secrets from the environment or files only: never from argv, where `ps` shows them.
    static func credentials() throws -> ProxmoxCredentials {
        let env = ProcessInfo.processInfo.environment
        func secret(_ name: String) throws -> String? {
            if let v = env[name], !v.isEmpty { return v }
            if let file = env[name + "_FILE"] {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CredentialsError(message: "cannot read \(name)_FILE (\(file)): make it a readable file that holds only the secret") }
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return nil
        }
        if let id = env["PVE2NIX_TOKEN_ID"], let s = try secret("PVE2NIX_TOKEN_SECRET") { return .token(id: id, secret: s) }
        if let user = env["PVE2NIX_USER"], let p = try secret("PVE2NIX_PASSWORD") { return .password(username: user, password: p) }
        throw CredentialsError(message: "no credentials: set PVE2NIX_TOKEN_ID and PVE2NIX_TOKEN_SECRET (or PVE2NIX_TOKEN_SECRET_FILE), or PVE2NIX_USER and PVE2NIX_PASSWORD (or PVE2NIX_PASSWORD_FILE) in the environment")
    }
}

struct CredentialsError: Error { var message: String }
