import Foundation
import Synchronization
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
            // What ssh itself saw first: ssh-keyscan ignores ssh_config (HostName, ProxyJump) and may
            // reach another host.
            var presented = Self.presentedFingerprint(in: stderr)
            if presented == nil { presented = (try? await scanner.scan(target))?.fingerprint }
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

/// The control directories of the SSH connections open now. With ControlPersist the master ssh
/// leaves pve2nix's process groups (it starts a session of its own), so an interrupted run ends
/// the masters here: the socket's owner is asked to exit, then the directory goes.
public final class OpenMasters: Sendable {
    public static let shared = OpenMasters()
    private let directories = Mutex<Set<String>>([])

    func insert(_ directory: String) { directories.withLock { _ = $0.insert(directory) } }
    func remove(_ directory: String) { directories.withLock { _ = $0.remove(directory) } }

    /// Ends every open master at once, without waiting on anything but `ssh -O exit` itself.
    public func closeAll() {
        let open = directories.withLock { d -> Set<String> in let all = d; d.removeAll(); return all }
        for directory in open {
            let socket = directory + "/master"
            if FileManager.default.fileExists(atPath: socket) {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["ssh", "-o", "ControlPath=\(socket)", "-O", "exit", "pve2nix-master"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                if (try? process.run()) != nil {
                    let deadline = Date().addingTimeInterval(5)
                    while process.isRunning && Date() < deadline { usleep(50_000) }
                    if process.isRunning { process.terminate() }
                }
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
