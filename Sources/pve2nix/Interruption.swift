import Dispatch
import Foundation
import PVE2NixAdapters

/// Ctrl-C, SIGTERM and SIGHUP (the operator's session dropped): the programs pve2nix runs (ssh, nix, nixos-anywhere…) sit in process groups
/// of their own, out of the terminal's reach, so pve2nix stops them before it exits. The journal
/// holds every step already taken; running the command again resumes. Installed by the commands
/// that run such programs only: an ignored SIGINT would be inherited by every child they start.
enum Interruption {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func install() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("\npve2nix: interrupted: stopping the programs it started. The journal keeps every step taken; run the command again to resume.\n".utf8))
                ChildProcessGroups.shared.terminateAll()
                OpenMasters.shared.closeAll()
                exit(128 + sig)
            }
            source.resume()
            sources.append(source)
        }
    }
}
