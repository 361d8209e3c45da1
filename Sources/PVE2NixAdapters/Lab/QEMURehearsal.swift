import Foundation
import PVE2NixCore

/// Runs a rehearsal scenario in a throwaway QEMU guest (TCG): the scenario travels as a second
/// cpio appended to the initramfs, results come back on the second serial port, and the VM is
/// always stopped within the time bound.
public struct QEMURehearsal: Sendable {
    public let image: LabImage
    public var timeoutSeconds = 300

    public init(image: LabImage) { self.image = image }

    public func run(_ scenario: RehearsalScenario, variant: String, log: @escaping @Sendable (String) -> Void) throws -> (report: RehearsalReport, console: String) {
        guard image.isBuilt else { throw LabError.imageMissing(image.directory.path) }
        guard let qemu = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw LabError.qemuMissing
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("pve2nix-rehearsal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let scenarioDir = work.appendingPathComponent("scenario")
        for (path, text) in scenario.files {
            let url = scenarioDir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        let extra = work.appendingPathComponent("scenario.cpio.gz")
        let status = try LabProcess.run("/bin/sh", ["-c", "cd '\(work.path)' && find scenario | cpio -o -H newc --quiet | gzip > '\(extra.path)'"], timeout: 60)
        guard status == 0 else { throw LabError.imageBuildFailed(status) }
        let initrd = work.appendingPathComponent("initrd.img")
        var combined = try Data(contentsOf: image.initramfs)
        combined.append(try Data(contentsOf: extra))
        try combined.write(to: initrd)
        let results = work.appendingPathComponent("results.txt"), console = work.appendingPathComponent("console.log")
        // no_timer_check: on a loaded host the kernel's IO-APIC timer test can miss its window under
        // TCG and panic ("IO-APIC + timer doesn't work!") before userspace; the test proves nothing here.
        var args = ["-accel", "tcg,thread=multi", "-smp", "2", "-m", "1024", "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
                    "-kernel", image.kernel.path, "-initrd", initrd.path,
                    "-append", "console=ttyS0 panic=-1 quiet loglevel=3 net.ifnames=0 no_timer_check",
                    "-drive", "file=\(image.root.path),if=virtio,format=raw,snapshot=on",
                    "-serial", "file:\(console.path)", "-serial", "file:\(results.path)"]
        let speed = scenario.lacp ? ",speed=10000,duplex=full" : ""
        for nic in scenario.nics {
            args += ["-netdev", "hubport,id=n\(nic.link),hubid=\(nic.link)", "-device", "virtio-net-pci,netdev=n\(nic.link),mac=\(nic.mac)\(speed)"]
        }
        for nic in scenario.nics {
            args += ["-netdev", "hubport,id=s\(nic.link),hubid=\(nic.link)", "-device", "virtio-net-pci,netdev=s\(nic.link),mac=\(nic.switchMAC)\(speed)"]
        }
        log("rehearse: booting the lab VM (\(variant))")
        let started = Date()
        var timedOut = false
        do {
            _ = try LabProcess.run(qemu, args, timeout: timeoutSeconds, output: { line in if !line.contains("is not connected to host network") { log(line) } })
            log("rehearse: VM finished in \(Int(Date().timeIntervalSince(started))) s")
        } catch LabError.timedOut(let seconds) {
            timedOut = true
            log("rehearse: the VM did not finish within \(seconds) s and was stopped")
        }
        // A UART may emit stray bytes and turns \n into \r\n: decode leniently.
        let text = String(decoding: (try? Data(contentsOf: results)) ?? Data(), as: UTF8.self).replacingOccurrences(of: "\r", with: "")
        let consoleText = String(decoding: (try? Data(contentsOf: console)) ?? Data(), as: UTF8.self).replacingOccurrences(of: "\r", with: "")
        var report = RehearsalReport.read(text, scenario: scenario, variant: variant)
        if timedOut { report.notes.append("the VM was stopped after \(timeoutSeconds) s") }
        report.timeline?.hostSeconds = Date().timeIntervalSince(started)
        return (report, consoleText)
    }
}
