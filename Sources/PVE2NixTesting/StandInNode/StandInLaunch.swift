import Foundation

/// One disk on QEMU's command line: virtio-blk with a serial, so the guest has
/// `/dev/disk/by-id/virtio-<serial>`.
struct StandInDrive: Sendable {
    var file: URL
    var serial: String
    var format = "qcow2"
    var snapshot = false
}

/// Assembles one boot: this boot's files as a cpio appended to the initramfs, the disks in the
/// given order (the root last, found by the initramfs by its serial), QEMU under an outer
/// `timeout` and a watchdog that stops it when the test process is gone.
struct StandInLaunch {
    var image: StandInImage
    var drives: [StandInDrive]
    var hostKey: SSHKeyPair?
    var authorizedKeys: [String]
    var scenario: String
    var powerOffAfterScenario = false
    var lifetimeSeconds: Int
    var sshPort: Int? = nil
    var memoryMiB = 1024

    static let rootSerial = "STANDINROOT"

    func start() throws -> RunningStandIn {
        guard FileManager.default.isExecutableFile(atPath: StandInCommand.qemu) else { throw StandInError.missingTool(StandInCommand.qemu) }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-standin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let initrd = work.appendingPathComponent("initrd.img")
        var combined = try Data(contentsOf: image.initramfs)
        combined.append(try bootFiles(in: work))
        try combined.write(to: initrd)

        let port = try sshPort ?? StandInCommand.freePort()
        let console = work.appendingPathComponent("console.log"), results = work.appendingPathComponent("results.txt")
        let pidFile = work.appendingPathComponent("qemu.pid")
        var args = ["-accel", "tcg,thread=multi", "-smp", "2", "-m", "\(memoryMiB)", "-display", "none", "-monitor", "stdio",
                    "-no-reboot", "-nodefaults", "-pidfile", pidFile.path,
                    "-kernel", image.kernel.path, "-initrd", initrd.path,
                    "-append", "console=ttyS0 panic=-1 systemd.ssh_auto=0",
                    "-serial", "file:\(console.path)", "-serial", "file:\(results.path)"]
        let root = StandInDrive(file: image.root, serial: Self.rootSerial, format: "raw", snapshot: true)
        for (i, drive) in (drives + [root]).enumerated() {
            args += ["-drive", "if=none,id=d\(i),file=\(drive.file.path),format=\(drive.format)\(drive.snapshot ? ",snapshot=on" : "")",
                     "-device", "virtio-blk-pci,drive=d\(i),serial=\(drive.serial)"]
        }
        args += image.profile.networkArguments(sshPort: port)

        // The watchdog ends QEMU (through timeout, which passes the signal on) once the test
        // process is gone; timeout ends it after the lifetime in any case. The watchdog closes the
        // descriptors it inherited: Foundation notices a child's exit by one of them closing.
        let wrapper = """
        parent=$1; limit=$2; shift 2
        (
          for f in /proc/$BASHPID/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done
          while kill -0 "$parent" && kill -0 $$; do sleep 2; done
          kill -TERM $$
        ) </dev/null >/dev/null 2>&1 &
        exec \(StandInCommand.timeout) -k 10 "$limit" "$@"
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", wrapper, "standin", "\(getpid())", "\(lifetimeSeconds)", StandInCommand.qemu] + args
        let qemuLog = work.appendingPathComponent("qemu.log")
        FileManager.default.createFile(atPath: qemuLog.path, contents: nil)
        let output = try FileHandle(forWritingTo: qemuLog)
        process.standardOutput = output
        process.standardError = output
        let monitor = Pipe()
        process.standardInput = monitor
        // Writing to the monitor after QEMU is gone must fail with EPIPE, not kill the tests.
        signal(SIGPIPE, SIG_IGN)
        // A Dispatch thread blocks almost every signal and a spawned child inherits that mask:
        // timeout and QEMU would then never see the SIGTERM meant to stop them.
        var unblocked = sigset_t(), previous = sigset_t()
        sigemptyset(&unblocked)
        pthread_sigmask(SIG_SETMASK, &unblocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        try? output.close()
        return RunningStandIn(process: process, monitor: monitor.fileHandleForWriting, workDirectory: work, sshPort: port, hostKey: hostKey)
    }

    /// This boot's files, laid over the image's root by the initramfs: host key, authorized keys,
    /// `/etc/pve/priv/known_hosts` naming this boot's key, the scenario.
    private func bootFiles(in work: URL) throws -> Data {
        let tree = work.appendingPathComponent("extra")
        let root = tree.appendingPathComponent("standin/root")
        func put(_ path: String, _ data: Data, mode: Int) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
        }
        let node = image.profile.node
        if let hostKey {
            try put("etc/ssh/ssh_host_ed25519_key", Data(contentsOf: hostKey.privateKey), mode: 0o600)
            try put("etc/ssh/ssh_host_ed25519_key.pub", Data((hostKey.publicKey + "\n").utf8), mode: 0o644)
            let key = hostKey.publicKey.split(separator: " ").prefix(2).joined(separator: " ")
            try put("etc/pve/priv/known_hosts", Data("\(node) \(key)\n\(image.profile.address) \(key)\n".utf8), mode: 0o600)
        }
        try put("etc/pve/priv/authorized_keys", Data(authorizedKeys.map { $0 + "\n" }.joined().utf8), mode: 0o600)
        try put("etc/standin/scenario.sh", Data(scenario.utf8), mode: 0o644)
        if powerOffAfterScenario { try put("etc/standin/poweroff", Data(), mode: 0o644) }
        // `cp -a` in the initramfs copies directory modes too: keep the image's.
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root.appendingPathComponent("etc/pve/priv").path)
        let archive = work.appendingPathComponent("extra.cpio.gz")
        try StandInCommand.run("/bin/sh", ["-c", "cd \(StandInCommand.quote(tree.path)) && find standin | cpio -o -H newc --quiet | gzip > \(StandInCommand.quote(archive.path))"], timeout: 60)
        return try Data(contentsOf: archive)
    }
}
