import Foundation
import PVE2NixCore

/// The SSH half of a capture bundle: what only the node itself can tell (its network files and
/// links, disks, memory, firmware, raw guest configs, host key, boot id). Every command only
/// reads; nothing on the node is changed.
public struct NodeSSHCapturer: Sendable {
    public let shell: any RemoteShell
    public let node: NodeName
    public var commandTimeout: Duration = .seconds(60)
    /// How deep `source` lines may nest in /etc/network/interfaces.
    public var maximumSourceDepth = 8

    public init(shell: any RemoteShell, node: NodeName) {
        self.shell = shell
        self.node = node
    }

    /// Bundle-relative path → contents, and notes for the person capturing.
    public func capture() async throws -> (files: [String: String], notes: [String]) {
        let dir = "nodes/\(node)"
        var files: [String: String] = [:]
        var notes: [String] = []
        // The machine behind the address must be the node named: a wrong address would file
        // another node's disks and network under this one.
        let hostname = try await output("cat /proc/sys/kernel/hostname").trimmingCharacters(in: .whitespacesAndNewlines)
        guard hostname.split(separator: ".").first.map(String.init) == node.rawValue else {
            throw NodeCaptureError.otherHost(node: node.rawValue, target: shell.target.description, hostname: hostname)
        }
        // Plain command outputs, one file each.
        let outputs: [(String, String)] = [
            ("ip-link.json", "ip -j -d link show"),
            ("ip-addr.json", "ip -j addr show"),
            ("lsblk.json", "lsblk -J -b -O"),
            ("disk-by-id.txt", "ls -l /dev/disk/by-id"),
            ("meminfo", "cat /proc/meminfo"),
            ("firmware", "if [ -d /sys/firmware/efi ]; then echo uefi; else echo bios; fi"),
            ("hostid", "hostid"),
            ("boot_id", "cat /proc/sys/kernel/random/boot_id"),
            ("ssh_host_ed25519_key.pub", "cat /etc/ssh/ssh_host_ed25519_key.pub"),
        ]
        for (leaf, command) in outputs {
            files["\(dir)/\(leaf)"] = try await output(command)
        }
        // Where root's authorized_keys leads: on Proxmox, the cluster-wide file.
        let link = try await shell.run("readlink /root/.ssh/authorized_keys || true", timeout: commandTimeout).standardOutputText
        files["\(dir)/authorized_keys-link"] = link.isEmpty ? "(not a link)\n" : link
        // /etc/network/interfaces and every file it sources, at the paths the bundle maps them to.
        for (path, text) in try await interfaceFiles() { files["\(dir)/\(path)"] = text }
        // The raw guest configs (with snapshot sections) and the cluster files, from /etc/pve.
        for kind in ["lxc", "qemu-server"] {
            for (name, text) in try await filesIn("/etc/pve/nodes/\(node.rawValue)/\(kind)", suffix: ".conf") { files["\(dir)/\(kind)/\(name)"] = text }
        }
        for leaf in ["storage.cfg", "corosync.conf"] {
            if let text = try await optionalFile("/etc/pve/\(leaf)") { files["cluster/\(leaf)"] = text }
            else { notes.append("/etc/pve/\(leaf) is not on \(node): the API's copy is kept") }
        }
        // .link files that pin NIC names: the converted host must keep those names. Proxmox VE's
        // pve-network-interface-pinning writes them to /usr/local/lib/systemd/network; an
        // administrator's own live in /etc/systemd/network, which wins for a file of the same name.
        var links: [String: String] = [:]
        for directory in Self.linkDirectories {
            links.merge(try await filesIn(directory, suffix: ".link")) { _, later in later }
        }
        for (name, text) in links { files["\(dir)/systemd-network/\(name)"] = text }
        if !links.isEmpty { notes.append("\(node) pins NIC names with \(links.keys.sorted().joined(separator: ", ")) (in \(dir)/systemd-network/)") }
        return (files, notes)
    }

    /// A command's standard output; a failure stops the capture with what the node said.
    func output(_ command: String) async throws -> String {
        let result = try await shell.run(command, timeout: commandTimeout)
        guard result.status == 0 else {
            throw RemoteShellError.commandFailed(host: shell.target.description, command: command, status: result.status,
                                                 detail: String(result.standardErrorText.suffix(500)))
        }
        return result.standardOutputText
    }

    func optionalFile(_ path: String) async throws -> String? {
        let result = try await shell.run("cat \(ShellQuoting.quote(path))", timeout: commandTimeout)
        return result.status == 0 ? result.standardOutputText : nil
    }

    /// The regular files directly in `directory` whose names end in `suffix`, by name.
    func filesIn(_ directory: String, suffix: String) async throws -> [String: String] {
        let list = try await shell.run("cd \(ShellQuoting.quote(directory)) 2>/dev/null && for f in *\(suffix); do [ -f \"$f\" ] && printf '%s\\n' \"$f\"; done; true",
                                       timeout: commandTimeout)
        var found: [String: String] = [:]
        for name in list.standardOutputText.split(separator: "\n").map(String.init) where !name.contains("/") && name.hasSuffix(suffix) {
            if let text = try await optionalFile("\(directory)/\(name)") { found[name] = text }
        }
        return found
    }

    /// `/etc/network/interfaces` and the files its `source` lines name (globs expanded on the
    /// node), mapped as the bundle loader maps them: `/etc/network/X` → `X`, `/A/B` → `A/B`.
    func interfaceFiles() async throws -> [(String, String)] {
        var result: [(String, String)] = []
        var seen: Set<String> = []
        var pending = [("/etc/network/interfaces", 0)]
        while let (path, depth) = pending.first {
            pending.removeFirst()
            let path = Self.normalized(path)
            guard seen.insert(path).inserted, depth <= maximumSourceDepth else { continue }
            guard let text = try await optionalFile(path) else {
                if depth == 0 { throw RemoteShellError.commandFailed(host: shell.target.description, command: "cat /etc/network/interfaces", status: 1, detail: "the node has no /etc/network/interfaces") }
                continue
            }
            result.append((Self.bundlePath(for: path), text))
            for pattern in Self.sourcePatterns(in: text) {
                let absolute = pattern.hasPrefix("/") ? pattern : "/etc/network/" + pattern
                let expanded = try await shell.run("for f in \(Self.globQuoted(absolute)); do [ -f \"$f\" ] && printf '%s\\n' \"$f\"; done; true", timeout: commandTimeout)
                for file in expanded.standardOutputText.split(separator: "\n").map(String.init) where file.hasPrefix("/") {
                    pending.append((file, depth + 1))
                }
            }
        }
        return result
    }

    /// Where udev reads .link files that a node's administrator or Proxmox VE wrote, lowest priority first.
    static let linkDirectories = ["/usr/local/lib/systemd/network", "/etc/systemd/network"]

    static func bundlePath(for path: String) -> String {
        let clean = normalized(path)
        if clean.hasPrefix("/etc/network/") { return String(clean.dropFirst("/etc/network/".count)) }
        return String(clean.drop { $0 == "/" })
    }

    /// `//` and `/./` collapsed: `source-directory interfaces.d/` and `source ./x` are valid.
    static func normalized(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// The patterns of `source` lines (and the directories of `source-directory` lines, as `DIR/*`).
    static func sourcePatterns(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { raw in
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard words.count == 2 else { return nil }
            switch words[0] {
            case "source": return words[1]
            case "source-directory", "source-dir": return words[1] + "/*"
            default: return nil
            }
        }
    }

    /// A path for the remote shell with its glob characters (`*`, `?`, `[…]`) live and everything
    /// else quoted. Inside brackets only a plain class is kept live; anything else is quoted.
    static func globQuoted(_ path: String) -> String {
        var out = ""
        var literal = ""
        func flush() {
            if !literal.isEmpty { out += ShellQuoting.quote(literal); literal = "" }
        }
        let chars = Array(path)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "*" || c == "?" {
                flush(); out.append(c)
            } else if c == "[", let close = chars[(i + 1)...].firstIndex(of: "]"), close > i + 1,
                      chars[(i + 1)..<close].allSatisfy({ $0.isLetter || $0.isNumber || "-_!^.".contains($0) }) {
                flush(); out += String(chars[i...close]); i = close
            } else {
                literal.append(c)
            }
            i += 1
        }
        flush()
        return out
    }
}

/// Why a node's SSH capture stopped. Nothing was written.
public enum NodeCaptureError: Error, LocalizedError, Sendable, Equatable {
    case otherHost(node: String, target: String, hostname: String)

    public var errorDescription: String? {
        switch self {
        case .otherHost(let node, let target, let hostname):
            "\(target) is '\(hostname)', not \(node): nothing of it was captured. Give --ssh \(node)=[USER@]HOST with \(node)'s own address."
        }
    }
}
