/// Where to connect: `[USER@]HOST[:PORT]`, with an IPv6 literal in brackets (`root@[fd00::1]:2222`).
public struct SSHTarget: Sendable, Hashable, CustomStringConvertible {
    public var user: String?
    /// A host name or address; an IPv6 literal without its brackets.
    public var host: String
    public var port: Int

    public init(user: String? = nil, host: String, port: Int = 22) {
        self.user = user
        self.host = host
        self.port = port
    }

    /// Parses and validates `[USER@]HOST[:PORT]`.
    public init(parsing spec: String) throws(SSHParseError) {
        func fail(_ reason: String) -> SSHParseError { .badTarget(spec, reason: reason) }
        var rest = Substring(spec)
        if let at = rest.lastIndex(of: "@") {
            let user = String(rest[..<at])
            guard !user.isEmpty else { throw fail("the user before '@' is empty") }
            guard !user.hasPrefix("-"), user.unicodeScalars.allSatisfy(Self.isUserCharacter) else {
                throw fail("the user '\(user)' may hold only letters, digits, '.', '_' and '-', and not start with '-'")
            }
            self.user = user
            rest = rest[rest.index(after: at)...]
        } else {
            user = nil
        }
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("the '[' of the IPv6 address has no ']'") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            guard host.contains(":"), host.unicodeScalars.allSatisfy(Self.isIPv6Character) else {
                throw fail("'[\(host)]' is not an IPv6 address")
            }
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("only ':PORT' may follow ']'") }
                portText = after.dropFirst()
            }
        } else {
            let colons = rest.filter { $0 == ":" }.count
            guard colons <= 1 else { throw fail("an IPv6 address must be in brackets, as [\(rest)]") }
            if let colon = rest.firstIndex(of: ":") {
                portText = rest[rest.index(after: colon)...]
                rest = rest[..<colon]
            }
            host = String(rest)
            guard !host.isEmpty else { throw fail("the host is empty") }
            guard !host.hasPrefix("-"), !host.hasPrefix("."), host.unicodeScalars.allSatisfy(Self.isHostCharacter) else {
                throw fail("the host '\(host)' may hold only letters, digits, '.', '_' and '-', and not start with '-' or '.'")
            }
        }
        port = 22
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit), let port = Int(portText), (1...65535).contains(port) else {
                throw fail("the port '\(portText)' is not a number from 1 to 65535")
            }
            self.port = port
        }
    }

    /// How OpenSSH names this host in known_hosts: `host` on port 22, else `[host]:port`.
    public var knownHostsName: String { KnownHostsEntry.hostName(host.lowercased(), port: port) }

    /// `[USER@]HOST[:PORT]`, with brackets around an IPv6 literal; the port only when not 22.
    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (user.map { "\($0)@" } ?? "") + h + (port == 22 ? "" : ":\(port)")
    }

    private static func isUserCharacter(_ s: Unicode.Scalar) -> Bool {
        s.properties.isAlphabetic && s.isASCII || ("0"..."9").contains(s) || s == "." || s == "_" || s == "-"
    }

    private static func isHostCharacter(_ s: Unicode.Scalar) -> Bool { isUserCharacter(s) }

    private static func isIPv6Character(_ s: Unicode.Scalar) -> Bool {
        s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s)) || s == ":" || s == "." || s == "%"
    }
}
