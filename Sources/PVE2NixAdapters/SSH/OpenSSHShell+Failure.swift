import Foundation
import PVE2NixCore
import PVE2NixRuntime

extension OpenSSHShell {
    /// ssh exits 255 both for its own failures and when the remote command does: this throws
    /// for ssh's own (a changed or unknown host key, no connection) and returns for the command's.
    func classifyFailure(_ result: ProcessResult, pinned: HostKeyFingerprint) async throws {
        let stderr = result.standardErrorText
        if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") || stderr.contains("Host key verification failed") {
            if stderr.contains("host key is known for") && !stderr.contains("HAS CHANGED") {
                throw RemoteShellError.hostKeyUnknown(host: target.description)
            }
            let presented = (try? await scanner.scan(target))?.fingerprint ?? Self.presentedFingerprint(in: stderr)
            throw RemoteShellError.hostKeyChanged(host: target.description, pinned: pinned, presented: presented)
        }
        let sshLines = stderr.split(separator: "\n").map(String.init).filter { line in
            Self.connectionFailureMarks.contains { $0 == "ssh: " ? line.hasPrefix($0) : line.contains($0) }
        }
        if !sshLines.isEmpty {
            throw RemoteShellError.connectionFailed(host: target.description, detail: sshLines.joined(separator: "; "))
        }
    }

    /// What ssh itself prints when it cannot connect or authenticate.
    static let connectionFailureMarks = [
        "ssh: ", "Permission denied (", "Connection closed by", "Connection reset by", "kex_exchange_identification",
        "Unable to negotiate with", "banner exchange", "Bad owner or permissions", "Too many authentication failures",
        "mux_client_request_session",
    ]

    /// The fingerprint ssh names in its "HAS CHANGED" warning, when ssh-keyscan could not read it.
    static func presentedFingerprint(in stderr: String) -> HostKeyFingerprint? {
        let lines = stderr.split(separator: "\n").map(String.init)
        guard let index = lines.firstIndex(where: { $0.contains("key sent by the remote host is") }), index + 1 < lines.count else { return nil }
        var text = lines[index + 1].trimmingCharacters(in: .whitespaces)
        if text.hasSuffix(".") { text.removeLast() }
        return HostKeyFingerprint(text)
    }
}

/// The private directory for one shell's control socket: made with mkdtemp (mode 0700) under a
/// short temporary path, since a Unix socket path must stay under about 100 bytes.
enum ControlDirectory {
    static func make() throws -> String {
        let base = FileManager.default.temporaryDirectory.path
        let parent = base.utf8.count <= 40 ? base : "/tmp"
        var template = Array((parent + "/pve2nix-ssh.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw RemoteShellError.connectionFailed(host: "(none)", detail: "cannot create a private directory for the SSH control socket in \(parent): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }
}
