import Foundation
import PVE2NixCore

/// The cached stand-in node image: kernel, initramfs, root filesystem and the prepared base disks
/// (qcow2) that each test overlays. Built on first use, under a lock, and rebuilt only when the
/// recipe, the disk layout or the profile's files change.
public struct StandInImage: Sendable {
    public let directory: URL
    public let profile: StandInProfile

    public var kernel: URL { directory.appendingPathComponent("vmlinuz") }
    public var initramfs: URL { directory.appendingPathComponent("initrd.img") }
    public var root: URL { directory.appendingPathComponent("root.img") }
    public func base(_ role: StandInDiskRole) -> URL { directory.appendingPathComponent("base-\(role.fileName)") }
    var readyStamp: URL { directory.appendingPathComponent("ready") }
    public var isBuilt: Bool { FileManager.default.fileExists(atPath: readyStamp.path) }

    /// `$PVE2NIX_STANDIN_CACHE`, else `$XDG_CACHE_HOME/pve2nix/standin`, else
    /// `~/.cache/pve2nix/standin`; one folder per version and fingerprint of everything that goes in.
    public static func cached(profile: StandInProfile = .villa,
                              environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StandInImage {
        let base: URL
        if let dir = environment["PVE2NIX_STANDIN_CACHE"] { base = URL(fileURLWithPath: dir) }
        else if let xdg = environment["XDG_CACHE_HOME"] { base = URL(fileURLWithPath: xdg).appendingPathComponent("pve2nix/standin") }
        else { base = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/pve2nix/standin") }
        let payload = try profile.payload().sorted { $0.key < $1.key }.map { "\($0.key)\n\($0.value)" }.joined(separator: "\n")
        let key = Fingerprint.of([StandInNodeRecipe.script, StandInNodeRecipe.prepareDisks, payload,
                                  StandInDiskRole.allCases.map { "\($0.serial) \($0.sizeBytes)" }.joined(separator: ",")].joined(separator: "\n--\n"))
        return StandInImage(directory: base.appendingPathComponent("v\(StandInNodeRecipe.version)-\(key)"), profile: profile)
    }

    /// Builds the image unless it is cached; a second process waits for the first one's build.
    /// Takes a few minutes (debootstrap, then one boot that partitions the base disks).
    public func build(log: @escaping @Sendable (String) -> Void) async throws {
        try await offloaded { try buildBlocking(log: log) }
    }

    private func buildBlocking(log: @escaping @Sendable (String) -> Void) throws {
        if isBuilt { return }
        let lock = try StandInFileLock(directory.deletingLastPathComponent().appendingPathComponent("\(directory.lastPathComponent).lock"), timeout: 1800)
        defer { lock.release() }
        if isBuilt { log("standin: image built by another process at \(directory.path)"); return }
        for tool in [StandInCommand.qemu, StandInCommand.qemuImg, "/usr/sbin/debootstrap"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw StandInError.missingTool(tool)
        }
        let started = Date()
        // A build that died half-way leaves files but no stamp: start over.
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let payload = directory.appendingPathComponent("payload")
        for (path, text) in try profile.payload() {
            let url = payload.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        let script = directory.appendingPathComponent("build.sh")
        try Data(StandInNodeRecipe.script.utf8).write(to: script)
        log("standin: building the image in \(directory.path)")
        let result = try ProcessOutput.capture(URL(fileURLWithPath: "/bin/bash"), [script.path, directory.path, payload.path], timeout: 1200)
        for line in result.err.split(separator: "\n") { log(String(line)) }
        guard result.status == 0 else { throw StandInError.imageBuildFailed("build.sh exited \(result.status)") }
        try? FileManager.default.removeItem(at: payload)

        for role in StandInDiskRole.allCases {
            try StandInCommand.run(StandInCommand.qemuImg, ["create", "-q", "-f", "qcow2", base(role).path, "\(role.sizeBytes)"])
        }
        log("standin: first boot, partitioning the base disks")
        let drives = StandInDiskRole.allCases.map { StandInDrive(file: base($0), serial: $0.serial) }
        let vm = try StandInLaunch(image: self, drives: drives, hostKey: nil, authorizedKeys: [],
                                   scenario: StandInNodeRecipe.prepareDisks, powerOffAfterScenario: true, lifetimeSeconds: 600).start()
        guard vm.waitForExitBlocking(timeout: 600) else {
            vm.kill()
            throw StandInError.imageBuildFailed("the partitioning boot did not power off within 600 s")
        }
        let results = vm.results
        guard results.contains("STANDIN-DISKS-PREPARED"), results.contains("standin-scenario: 0") else {
            throw StandInError.imageBuildFailed("partitioning the base disks failed: \(results)\n\(vm.console.suffix(3000))")
        }
        vm.removeWorkDirectory()
        try Data("built in \(Int(Date().timeIntervalSince(started))) s\n".utf8).write(to: readyStamp)
        log("standin: image ready in \(Int(Date().timeIntervalSince(started))) s")
    }
}
