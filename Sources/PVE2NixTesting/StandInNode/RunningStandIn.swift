import Foundation

/// A booted stand-in node: its forwarded SSH port and this boot's host key. Every wait is bounded;
/// `stop()` powers it off (ACPI power button, then QEMU `quit`, then kill). Dropping the last
/// reference kills it, and it dies with the test process in any case.
public final class RunningStandIn: @unchecked Sendable {
    /// `127.0.0.1:sshPort` reaches the guest's port 22.
    public let sshPort: Int
    public let workDirectory: URL
    private let hostKey: SSHKeyPair?
    private let process: Process
    private let monitor: FileHandle
    private let lock = NSLock()

    init(process: Process, monitor: FileHandle, workDirectory: URL, sshPort: Int, hostKey: SSHKeyPair?) {
        self.process = process
        self.monitor = monitor
        self.workDirectory = workDirectory
        self.sshPort = sshPort
        self.hostKey = hostKey
    }

    deinit {
        if process.isRunning { kill() }
    }

    /// Gives the `VMSlot` back once QEMU has exited, however it ends.
    func releaseSlotWhenDone() {
        let watched = ProcessBox(process)
        Task.detached {
            while watched.process.isRunning { try? await Task.sleep(for: .milliseconds(500)) }
            await VMSlot.shared.release()
        }
    }

    /// `SHA256:…` of the host key this boot was given.
    public var hostKeyFingerprint: String { hostKey?.fingerprint ?? "" }
    /// The `known_hosts` line that pins this boot's host key for `127.0.0.1:sshPort`.
    public var knownHostsLine: String {
        "[127.0.0.1]:\(sshPort) " + (hostKey?.publicKey.split(separator: " ").prefix(2).joined(separator: " ") ?? "")
    }
    public var isRunning: Bool { process.isRunning }
    /// The guest's serial console (kernel and systemd messages).
    public var console: String { read("console.log") }
    /// The second serial port: `standin-scenario: <status>` once the boot's scenario ran.
    public var results: String { read("results.txt") }

    /// Waits until sshd answers with this boot's host key (polled with `ssh-keyscan`).
    public func waitForSSH(timeout: Duration = .seconds(240)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        let expected = hostKey?.publicKey.split(separator: " ").dropFirst().first.map(String.init) ?? ""
        while clock.now < deadline {
            guard isRunning else { throw StandInError.exitedEarly(status: process.terminationStatus, console: console) }
            let port = sshPort
            let scan = try await offloaded {
                try ProcessOutput.capture(URL(fileURLWithPath: StandInCommand.sshKeyscan), ["-T", "3", "-t", "ed25519", "-p", "\(port)", "127.0.0.1"], timeout: 10)
            }
            if let offered = scan.out.split(separator: "\n").compactMap({ $0.split(separator: " ").last.map(String.init) }).first {
                guard expected.isEmpty || offered == expected else { throw StandInError.unexpectedHostKey(expected: expected, offered: offered) }
                return
            }
            try await Task.sleep(for: .seconds(1))
        }
        throw StandInError.sshTimedOut(seconds: Int(timeout.components.seconds), console: console)
    }

    /// Powers the guest off and waits at most `timeout` for it; then ends QEMU the hard way.
    public func stop(timeout: Duration = .seconds(60)) async {
        guard isRunning else { return }
        send("system_powerdown")
        if await waitForExit(timeout: timeout) { return }
        send("quit")
        if await waitForExit(timeout: .seconds(5)) { return }
        kill()
    }

    /// Waits at most `timeout` for QEMU to end; true if it did.
    public func waitForExit(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while isRunning && clock.now < deadline { try? await Task.sleep(for: .milliseconds(200)) }
        return !isRunning
    }

    func waitForExitBlocking(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        return !isRunning
    }

    /// Ends QEMU at once: SIGTERM to the `timeout` wrapper (which passes it on), SIGKILL to QEMU.
    public func kill() {
        lock.lock(); defer { lock.unlock() }
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGTERM)
        if let text = try? String(contentsOf: workDirectory.appendingPathComponent("qemu.pid"), encoding: .utf8),
           let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            Thread.sleep(forTimeInterval: 1)
            // QEMU removes its pid file when it exits: a pid still listed is still QEMU's.
            if FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("qemu.pid").path) { Foundation.kill(pid, SIGKILL) }
        }
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    /// Removes the boot's temporary files (initramfs copy, logs); the test's disks live elsewhere.
    public func removeWorkDirectory() {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    private func send(_ command: String) {
        lock.lock(); defer { lock.unlock() }
        try? monitor.write(contentsOf: Data((command + "\n").utf8))
    }

    private func read(_ name: String) -> String {
        // A UART turns \n into \r\n and may emit stray bytes: decode leniently.
        let data = (try? Data(contentsOf: workDirectory.appendingPathComponent(name))) ?? Data()
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\r", with: "")
    }
}

/// A `Process` handed to the task that waits for it to end; it is only read there.
private final class ProcessBox: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}
