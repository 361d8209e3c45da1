import Foundation
import PVE2NixCore
import PVE2NixRuntime

/// A host's ed25519 key as it presented it, not yet trusted: a person compares the fingerprint
/// with the node's console before it is pinned.
public struct ScannedHostKey: Sendable, Hashable {
    public var key: SSHPublicKey
    public var fingerprint: HostKeyFingerprint { key.fingerprint }
}

/// Asks a host for its ed25519 host key with `ssh-keyscan` (bounded), for first contact and to
/// name the key a host presents when it no longer matches its pin.
public struct HostKeyScanner: Sendable {
    public var runner: any ProcessRunner
    public var timeout: Duration
    public var executable: String

    public init(runner: any ProcessRunner, timeout: Duration = .seconds(10), executable: String = "ssh-keyscan") {
        self.runner = runner
        self.timeout = timeout
        self.executable = executable
    }

    /// The ed25519 key `target` presents. It is returned, never pinned or trusted here.
    public func scan(_ target: SSHTarget) async throws -> ScannedHostKey {
        let seconds = max(1, Int(timeout.components.seconds))
        var request = ProcessRequest(executable, ["-t", "ed25519", "-T", String(seconds), "-p", String(target.port), target.host],
                                     timeout: timeout + .seconds(5))
        request.acceptsFailure = true
        let result: ProcessResult
        do { result = try await runner.run(request) { _ in } } catch let error as ProcessRunnerError {
            throw RemoteShellError.keyscanFailed(host: target.description, detail: error.errorDescription ?? "\(error)")
        }
        let entries = KnownHostsEntry.parseFile(result.standardOutputText, file: "ssh-keyscan output").entries
        guard let key = entries.first(where: { $0.key.isEd25519 })?.key else {
            let said = result.lastLines.filter { !$0.text.hasPrefix("#") }.map(\.text).joined(separator: "; ")
            throw RemoteShellError.keyscanFailed(host: target.description, detail: said.isEmpty ? "it answered with no ed25519 key" : said)
        }
        return ScannedHostKey(key: key)
    }
}
