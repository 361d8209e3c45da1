import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// Ctrl-C while pve2nix waits on a program it started: the program (in a process group of its own,
/// out of the terminal's reach) is stopped, and pve2nix exits 130.
@Suite struct InterruptionTests {
    @Test(.timeLimit(.minutes(2))) func ctrlCStopsTheSSHItStarted() async throws {
        guard let binary = CommandLineTests.binary else { Issue.record("no pve2nix binary"); return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-int-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A pin for the node, so check goes straight to ssh; ssh's ProxyCommand then hangs, as a
        // dead link would, and records its pid.
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
        try "[127.0.0.9]:2222 \(key)\n".write(to: dir.appendingPathComponent("known_hosts"), atomically: true, encoding: .utf8)
        let pidFile = dir.appendingPathComponent("proxy.pid").path
        try "Host *\n  ProxyCommand sh -c 'echo $$ > \(pidFile); exec sleep 300'\n".write(to: dir.appendingPathComponent("ssh_config"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["check", "villa-pve-01", "--site", Fixtures.villa.path, "--endpoint", "http://127.0.0.1:1", "--allow-plain-http",
                             "--ssh", "root@127.0.0.9:2222", "--ssh-config", dir.appendingPathComponent("ssh_config").path,
                             "--known-hosts", dir.appendingPathComponent("known_hosts").path, "--journal", dir.appendingPathComponent("j.sqlite").path]
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = dir.path
        env["XDG_STATE_HOME"] = dir.appendingPathComponent("state").path
        env["PVE2NIX_TOKEN_ID"] = "root@pam!t"
        env["PVE2NIX_TOKEN_SECRET"] = "s"
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: pidFile) && Date() < deadline && process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        let proxy = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        #expect(kill(proxy, 0) == 0)
        kill(process.processIdentifier, SIGINT)
        let stop = Date().addingTimeInterval(60)
        while process.isRunning && Date() < stop { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        // The hanging ProxyCommand was stopped with everything else in ssh's group.
        var gone = false
        for _ in 0..<40 where !gone { gone = kill(proxy, 0) != 0; if !gone { try await Task.sleep(for: .milliseconds(100)) } }
        #expect(gone, "the ProxyCommand (pid \(proxy)) outlived pve2nix")
    }
}
