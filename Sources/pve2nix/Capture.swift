import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Capture: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Capture the API parts of a bundle from a live cluster (or the simulator).",
            discussion: """
            Writes bundle.toml, cluster/status.json, resources.json, ha-resources.json (and HA rules or groups), storage.cfg, corosync.conf, nodes/<node>/status.json and every guest's current config, in the capture bundle format 'plan' reads. Add the SSH parts of the node to convert (interfaces, ip-link.json, ip-addr.json, lsblk.json, disk-by-id.txt, meminfo, firmware, hostid) by hand for now. A file you changed since pve2nix wrote it is never overwritten. Credentials as for drain.

            Example:
              PVE2NIX_TOKEN_ID='pve2nix@pve!ro' PVE2NIX_TOKEN_SECRET_FILE=~/.pve2nix-token \\
                pve2nix capture --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --out villa-bundle
            """
        )

        @OptionGroup var api: APIOptions

        @Option(name: .long, help: ArgumentHelp("The bundle directory to write.", valueName: "dir"))
        var out: String

        func run() async throws {
            let (client, credentials) = try api.makeClient()
            let stamp = ISO8601DateFormatter().string(from: Date())
            let result: (files: [String: String], notes: [String])
            do {
                result = try await SiteCapturer(api: client).capture(capturedAt: stamp, endpoint: api.endpoint)
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                let why = (error as? ProxmoxClientError)?.localizedDescription ?? "\(error)"
                throw Failure.exit("capture failed (\(credentials)): \(why) Nothing was written.")
            }
            let files = result.files.keys.sorted().map { GeneratedFile(path: $0, contents: result.files[$0]!) }
            do {
                try GeneratedTreeWriter(directory: URL(fileURLWithPath: out)).write(files)
            } catch GeneratedTreeError.conflicts(let conflicts) {
                for c in conflicts where !c.diff.isEmpty { print(TerminalText.safe(c.diff)) }
                throw Failure.exit(GeneratedTreeError.conflicts(conflicts).localizedDescription)
            } catch let error as GeneratedTreeError {
                throw Failure.exit(error.localizedDescription)
            }
            print("Captured \(files.count) files into \(out)")
            for note in result.notes { print("  note: \(note)") }
        }
    }
}
