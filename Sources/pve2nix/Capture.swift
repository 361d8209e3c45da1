import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime

extension PVE2Nix {
    struct Capture: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Capture a bundle from a live cluster (or the simulator): the API parts, and with --ssh each node's own files.",
            discussion: """
            Writes bundle.toml, cluster/status.json, resources.json, ha-resources.json (and HA rules or groups), storage.cfg, corosync.conf, nodes/<node>/status.json and every guest's current config, in the capture bundle format 'plan' reads. A file you changed since pve2nix wrote it is never overwritten. Credentials as for drain.

            With --ssh, each node named adds, read over SSH without changing anything on it: /etc/network/interfaces and every file it sources, ip -j -d link, ip -j addr, lsblk -J -b -O, ls -l /dev/disk/by-id, /proc/meminfo, the firmware, hostid, boot_id, its ed25519 host key, where /root/.ssh/authorized_keys leads, the raw guest configs from /etc/pve/nodes/<node>/, /etc/pve/storage.cfg and corosync.conf, and any .link files that pin NIC names.

            Host keys are pinned before the first login, in a known_hosts file of pve2nix's own (never yours): from an earlier pin; from --host-key-fingerprint; from the cluster's /etc/pve/priv/known_hosts read through a node already pinned; or, on a terminal, by showing you the key to compare with the node's console. Every connection then checks the pin strictly (StrictHostKeyChecking=yes, ed25519 only); a changed key stops the run.

            Examples:
              PVE2NIX_TOKEN_ID='pve2nix@pve!ro' PVE2NIX_TOKEN_SECRET_FILE=~/.pve2nix-token \\
                pve2nix capture --endpoint https://10.1.10.12:8006 --ca-file pve-root-ca.pem --out villa-bundle
              pve2nix capture ... --out villa-bundle --ssh 'root@{ip}' --host-key-fingerprint villa-pve-01=SHA256:…
              pve2nix capture ... --out villa-bundle --ssh villa-pve-01=root@10.1.10.11 --ssh-identity ~/.ssh/id_ed25519
            """
        )

        @OptionGroup var api: APIOptions

        @Option(name: .long, help: ArgumentHelp("The bundle directory to write.", valueName: "dir"))
        var out: String

        @Option(name: .long, help: ArgumentHelp("A node to read over SSH: NODE=[USER@]HOST[:PORT], [USER@]HOST[:PORT] (a node's name or address), or a pattern with {node} or {ip} for every node. Repeatable.", valueName: "target"))
        var ssh: [String] = []

        @Option(name: .long, help: ArgumentHelp("The node's ed25519 host key fingerprint, as 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' prints it on its console: [NODE=]SHA256:…. Repeatable.", valueName: "fingerprint"))
        var hostKeyFingerprint: [String] = []

        @OptionGroup var sshOptions: SSHOptions

        func validate() throws {
            for f in hostKeyFingerprint {
                let value = f.split(separator: "=", maxSplits: 1).last.map(String.init) ?? f
                guard HostKeyFingerprint(value) != nil else {
                    throw ValidationError("--host-key-fingerprint \(f) is not an OpenSSH fingerprint: give SHA256:… as 'ssh-keygen -lf' prints it, optionally after NODE=")
                }
            }
            if hostKeyFingerprint.contains(where: { !$0.contains("=") }) && ssh.count != 1 {
                throw ValidationError("with several --ssh targets, say whose fingerprint it is: --host-key-fingerprint NODE=SHA256:…")
            }
        }

        func run() async throws {
            Interruption.install()
            let (client, credentials) = try api.makeClient()
            let stamp = ISO8601DateFormatter().string(from: Date())
            var result: (files: [String: String], notes: [String])
            do {
                result = try await SiteCapturer(api: client).capture(capturedAt: stamp, endpoint: api.endpoint)
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                let why = (error as? ProxmoxClientError)?.localizedDescription ?? "\(error)"
                throw Failure.exit("capture failed (\(credentials)): \(why) Nothing was written.")
            }
            if !ssh.isEmpty {
                let (files, notes) = try await captureOverSSH(clusterStatus: result.files["cluster/status.json"] ?? "")
                result.files.merge(files) { _, fromNode in fromNode }
                result.notes += notes
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
            for note in result.notes { print("  note: \(TerminalText.safe(note))") }
        }

        /// Reads every node named by --ssh, pinning its host key first. Nothing is written unless all succeed.
        private func captureOverSSH(clusterStatus: String) async throws -> (files: [String: String], notes: [String]) {
            let (status, _) = CaptureDecoders.clusterStatus(clusterStatus, file: "cluster/status.json")
            let nodes = (status?.members ?? []).map { (name: $0.name.rawValue, ip: $0.ip) }
            let site = status?.name ?? "default"
            var targets: [(node: String, target: SSHTarget)] = []
            do {
                for spec in ssh { targets += try SSHTargetSpec(spec).resolve(nodes: nodes) }
            } catch let error as ValidationError {
                throw Failure.exit("\(error.message). Nothing was written.", code: 2)
            }
            let given = Dictionary(hostKeyFingerprint.compactMap { f -> (String, HostKeyFingerprint)? in
                let parts = f.split(separator: "=", maxSplits: 1).map(String.init)
                let node = parts.count == 2 ? parts[0] : targets.first?.node ?? ""
                return HostKeyFingerprint(parts.last!).map { (node, $0) }
            }, uniquingKeysWith: { _, b in b })
            let pins = sshOptions.pins(site: site)
            let runner = SubprocessRunner()
            let firstContact = HostKeyFirstContact(pins: pins, scanner: HostKeyScanner(runner: runner))
            // Nodes whose key is known first: through them, the cluster's known_hosts vouches for the rest.
            let ordered = targets.sorted { a, b in
                func known(_ t: (node: String, target: SSHTarget)) -> Bool { given[t.node] != nil || ((try? pins.fingerprint(for: t.target)) ?? nil) != nil }
                return known(a) && !known(b)
            }
            var files: [String: String] = [:]
            var notes: [String] = []
            var shells: [OpenSSHShell] = []
            // Errors leave through Failure.exit, before any task could run: close the masters at once.
            defer { if !shells.isEmpty { OpenMasters.shared.closeAll() } }
            do {
                for (node, target) in ordered {
                    let (fingerprint, source) = try await firstContact.establish(node: NodeName(node), target: target, given: given[node], peer: shells.first) { presented in
                        await Self.confirm(node: node, target: target, presented: presented)
                    }
                    FileHandle.standardError.write(Data("pve2nix: \(node) (\(target)): host key \(fingerprint) (\(source.rawValue)); reading it over SSH…\n".utf8))
                    let shell = try sshOptions.shell(target, pins: pins, runner: runner)
                    shells.append(shell)
                    let captured = try await NodeSSHCapturer(shell: shell, node: NodeName(node)).capture()
                    // The key the node keeps on disk must be the key it presented.
                    if let text = captured.files["nodes/\(node)/ssh_host_ed25519_key.pub"], let key = try? SSHPublicKey(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                       key.fingerprint != fingerprint {
                        throw Failure.exit("\(node)'s /etc/ssh/ssh_host_ed25519_key.pub is \(key.fingerprint), but it presented \(fingerprint): more than one host answers at \(target), or sshd uses another key file. Nothing was written.")
                    }
                    files.merge(captured.files) { _, new in new }
                    notes += captured.notes
                    notes.append("\(node): read over SSH at \(target), host key \(fingerprint) pinned in \(pins.path)")
                }
            } catch let error as RemoteShellError {
                throw Failure.exit("\(error.localizedDescription) Nothing was written.")
            } catch let error as HostKeyPinError {
                throw Failure.exit(error.localizedDescription)
            } catch let error as NodeCaptureError {
                throw Failure.exit("\(error.localizedDescription) Nothing was written.")
            } catch let error as PinnedHostKeysError {
                throw Failure.exit("\(error.localizedDescription) Nothing was written.")
            }
            for s in shells { try? await s.close() }
            shells.removeAll()
            return (files, notes)
        }

        /// Asks the person at the terminal; without one, nothing is confirmed.
        static func confirm(node: String, target: SSHTarget, presented: HostKeyFingerprint) async -> Bool {
            guard isatty(STDIN_FILENO) == 1 else { return false }
            FileHandle.standardError.write(Data("""
                \(target) (\(node)) presents the ed25519 host key
                  \(presented)
                Compare it with 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' on \(node)'s console.
                Is it the same? Type yes to pin it: 
                """.utf8))
            return readLine()?.trimmingCharacters(in: .whitespaces).lowercased() == "yes"
        }
    }
}
