import Foundation
import PVE2NixCore
import PVE2NixRuntime

extension FakeInstallNode {
    /// Plays `nix build` (prints a store path per output), `nixos-anywhere` (one phase per call)
    /// and `clan machines install --phases <one>` (path C: the same phase's effect; clan builds
    /// the system itself, and its first run makes the sshd service's host key var).
    public func run(_ request: ProcessRequest, progress: @escaping @Sendable (ProcessOutputLine) -> Void) async throws -> ProcessResult {
        let args = request.arguments
        if request.executable.hasSuffix("nix"), args.first == "build", let attr = args.last {
            let name = attr.hasSuffix("toplevel") ? "nixos-system-\(state.withLock { $0.hostname })" : attr.hasSuffix("diskoScript") ? "disko"
                : attr.hasSuffix("isoImage") ? "nixos-installer-image" : "kexec-tarball"
            if name == "nixos-installer-image" {
                guard args.contains("--impure"), request.environment[NixBuildCall.installerHostKeyVariable] != nil else {
                    throw ProcessRunnerError.nonZeroExit(command: request.commandLine, status: .exited(1), lastLines: ["error: installer.nix: set PVE2NIX_INSTALLER_HOST_KEY … and build with --impure"])
                }
            }
            let path = "/nix/store/\(String(repeating: "a", count: 32))-\(name)"
            state.withLock { $0.builds.append(name) }
            return ProcessResult(status: .exited(0), standardOutput: Data((path + "\n").utf8))
        }
        let isClan = request.executable.hasSuffix("clan")
        guard request.executable.hasSuffix("nixos-anywhere") || (isClan && args.starts(with: ["machines", "install"])),
              let i = args.firstIndex(of: "--phases"), i + 1 < args.count else {
            throw ProcessRunnerError.launchFailed(command: request.commandLine, reason: "FakeInstallNode plays only nix build, nixos-anywhere and clan machines install")
        }
        let phase = args[i + 1]
        let outcome: (fail: Bool, hang: Bool) = state.withLock { s in
            if isClan {
                s.clanCalls.append(args)
                // clan runs its vars generators first: the sshd service's key, once.
                if s.clanSSHD, s.clanHostKey == nil { s.clanHostKey = FakeHostKeys.ed25519(201, comment: "root@" + s.hostname).description }
            } else {
                s.calls.append(args)
            }
            let f = s.failing.remove(phase) != nil, h = s.hanging.remove(phase) != nil
            return (f, h)
        }
        func say(_ text: String) { progress(ProcessOutputLine(.standardOutput, text)) }
        say("### Gathering machine facts ###")
        if outcome.hang {
            throw ProcessRunnerError.timedOut(command: request.commandLine, after: request.timeout, lastLines: ["### Gathering machine facts ###"])
        }
        if outcome.fail {
            throw ProcessRunnerError.nonZeroExit(command: request.commandLine, status: .exited(1), lastLines: ["aborted: the fake was told to fail \(phase)"])
        }
        state.withLock { s in
            s.phaseRuns[phase, default: 0] += 1
            switch phase {
            case "kexec":
                if args.contains("--generate-hardware-config") { s.facterWritten = true }
                // nixos-anywhere skips the kexec itself on the installer.
                guard s.system != .installer else { break }
                s.system = .down
                s.downFor = max(s.downFor, 1)
                s.bootID = UUID().uuidString.lowercased()
            case "disko":
                s.laidOut = plannedDisks
                s.mntMounted = true
            case "install":
                if let i = args.firstIndex(of: "--store-paths"), i + 2 < args.count { s.mntProfile = args[i + 2] }
                // clan builds the machine's toplevel from the flake: the same path as pve2nix's nix build.
                if isClan { s.mntProfile = "/nix/store/\(String(repeating: "a", count: 32))-nixos-system-\(s.hostname)"; s.installedByClan = true }
            case "reboot":
                s.bootedSystem = s.mntProfile
                s.mntMounted = false
                s.system = .down
                s.downFor = max(s.downFor, 1)
                s.bootID = UUID().uuidString.lowercased()
            default: break
            }
        }
        let marker = ["kexec": "Switching system into kexec", "disko": "Formatting hard drive with disko", "install": "Installing NixOS", "reboot": "Rebooting"][phase] ?? phase
        say("### \(marker) ###")
        say("### Done! ###")
        return ProcessResult(status: .exited(0))
    }
}

/// What lsblk shows in the installer: nothing mounted; disko's partitions once it ran.
public enum FakeInstallDisks {
    public static func installerView(_ lsblk: String, laidOut: [String: String]) -> String {
        guard var root = (try? JSONSerialization.jsonObject(with: Data(lsblk.utf8))) as? [String: Any],
              let devices = root["blockdevices"] as? [[String: Any]] else { return lsblk }
        let byKernel = Dictionary(laidOut.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        root["blockdevices"] = devices.map { device -> [String: Any] in
            var d = unmounted(device)
            if let kernel = d["kname"] as? String ?? d["name"] as? String, let name = byKernel[kernel] {
                let template = (d["children"] as? [[String: Any]])?.first ?? ["type": "part"]
                d["children"] = ["ESP", "root"].enumerated().map { (n, label) -> [String: Any] in
                    var p = template
                    p.removeValue(forKey: "children")
                    let partName = kernel.last?.isNumber == true ? "\(kernel)p\(n + 1)" : "\(kernel)\(n + 1)"
                    p["name"] = partName
                    p["kname"] = partName
                    p["path"] = "/dev/\(partName)"
                    p["partlabel"] = "disk-\(name)-\(label)"
                    p["fstype"] = label == "ESP" ? "vfat" : "ext4"
                    p["label"] = NSNull()
                    p["mountpoint"] = NSNull()
                    p["mountpoints"] = [NSNull()]
                    return p
                }
            }
            return d
        }
        guard let data = try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]) else { return lsblk }
        return String(decoding: data, as: UTF8.self)
    }

    static func unmounted(_ device: [String: Any]) -> [String: Any] {
        var d = device
        if d["mountpoint"] != nil { d["mountpoint"] = NSNull() }
        if d["mountpoints"] != nil { d["mountpoints"] = [NSNull()] }
        if let children = d["children"] as? [[String: Any]] { d["children"] = children.map(unmounted) }
        return d
    }
}
