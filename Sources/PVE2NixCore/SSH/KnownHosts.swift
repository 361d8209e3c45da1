import Foundation

/// One line of an OpenSSH known_hosts file: the hosts it names and their key.
public struct KnownHostsEntry: Sendable, Hashable {
    /// The host field: comma-separated names or patterns, or one hashed name (`|1|salt|hash`).
    public enum Hosts: Sendable, Hashable {
        case names([String])
        case hashed(salt: [UInt8], hash: [UInt8])
    }

    /// `@cert-authority` or `@revoked` before the host field.
    public enum Marker: String, Sendable, Hashable {
        case certAuthority = "@cert-authority"
        case revoked = "@revoked"
    }

    public var marker: Marker?
    public var hosts: Hosts
    public var key: SSHPublicKey

    public init(marker: Marker? = nil, hosts: Hosts, key: SSHPublicKey) {
        self.marker = marker
        self.hosts = hosts
        self.key = key
    }

    /// Parses one non-blank, non-comment line; `file` and `line` only name it in an error.
    public init(parsing text: String, file: String = "known_hosts", line: Int = 1) throws(SSHParseError) {
        func fail(_ reason: String) -> SSHParseError { .badKnownHostsLine(file: file, line: line, reason: reason) }
        var fields = text.split(whereSeparator: \.isWhitespace).map(String.init)
        if let first = fields.first, first.hasPrefix("@") {
            guard let marker = Marker(rawValue: first) else { throw fail("unknown marker '\(first)'") }
            self.marker = marker
            fields.removeFirst()
        }
        guard fields.count >= 3 else { throw fail("want 'HOSTS ALGORITHM BASE64 [COMMENT]'") }
        if fields[0].hasPrefix("|") {
            let parts = fields[0].split(separator: "|", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[1] == "1", let salt = Data(base64Encoded: String(parts[2])), salt.count == 20,
                  let hash = Data(base64Encoded: String(parts[3])), hash.count == 20 else {
                throw fail("a hashed host must be '|1|SALT|HASH' with 20-byte base64 salt and hash")
            }
            hosts = .hashed(salt: [UInt8](salt), hash: [UInt8](hash))
        } else {
            hosts = .names(fields[0].split(separator: ",").map { $0.lowercased() })
        }
        do {
            key = try SSHPublicKey(algorithm: fields[1], base64: fields[2], comment: fields.dropFirst(3).joined(separator: " "), line: text)
        } catch {
            throw fail(error.errorDescription ?? "bad key")
        }
    }

    /// Whether this line names `host` on `port`, as OpenSSH decides it (patterns with `*`, `?`
    /// and `!` negation; hashed names by HMAC-SHA1 of the name).
    public func matches(host: String, port: Int) -> Bool {
        let name = Self.hostName(host.lowercased(), port: port)
        switch hosts {
        case .hashed(let salt, let hash):
            return MessageDigest.hmacSHA1(key: salt, message: Array(name.utf8)) == hash
        case .names(let patterns):
            var matched = false
            for pattern in patterns {
                if pattern.hasPrefix("!") {
                    if Self.glob(Array(pattern.dropFirst()), Array(name)) { return false }
                } else if Self.glob(Array(pattern), Array(name)) {
                    matched = true
                }
            }
            return matched
        }
    }

    /// The line as it goes into a known_hosts file.
    public var line: String {
        let hostField = switch hosts {
        case .names(let names): names.joined(separator: ",")
        case .hashed(let salt, let hash): "|1|\(Data(salt).base64EncodedString())|\(Data(hash).base64EncodedString())"
        }
        return ([marker?.rawValue, hostField, key.keyText] as [String?]).compactMap { $0 }.joined(separator: " ")
    }

    /// The known_hosts line that pins `key` for `host` on `port` (plain, not hashed).
    public static func line(host: String, port: Int, key: SSHPublicKey) -> String {
        KnownHostsEntry(hosts: .names([hostName(host.lowercased(), port: port)]), key: key).line
    }

    /// How OpenSSH names a host in known_hosts: `host` on port 22, else `[host]:port`.
    public static func hostName(_ host: String, port: Int) -> String { port == 22 ? host : "[\(host)]:\(port)" }

    /// Parses a whole file: its entries, skipping blank lines and `#` comments, and one error
    /// per line that is not an entry.
    public static func parseFile(_ text: String, file: String = "known_hosts") -> (entries: [KnownHostsEntry], errors: [SSHParseError]) {
        var entries: [KnownHostsEntry] = [], errors: [SSHParseError] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            do { entries.append(try KnownHostsEntry(parsing: trimmed, file: file, line: index + 1)) } catch { errors.append(error) }
        }
        return (entries, errors)
    }

    /// OpenSSH's wildcard match: `*` any run, `?` one character.
    private static func glob(_ pattern: [Character], _ text: [Character]) -> Bool {
        var p = 0, t = 0, star = -1, mark = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] { p += 1; t += 1 }
            else if p < pattern.count, pattern[p] == "*" { star = p; mark = t; p += 1 }
            else if star >= 0 { p = star + 1; mark += 1; t = mark }
            else { return false }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
