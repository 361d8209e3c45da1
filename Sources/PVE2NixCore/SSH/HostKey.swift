import Foundation

/// An OpenSSH public key as `ssh-ed25519 AAAA… comment` shows it: its algorithm and wire blob.
public struct SSHPublicKey: Sendable, Hashable, CustomStringConvertible {
    public static let ed25519 = "ssh-ed25519"

    public let algorithm: String
    /// The key in SSH wire format (what the base64 field decodes to).
    public let blob: [UInt8]
    public var comment: String

    /// Parses `ALGORITHM BASE64 [COMMENT]`; the blob must name the same algorithm.
    public init(parsing line: String) throws(SSHParseError) {
        let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count >= 2 else { throw .badPublicKey(line, reason: "want 'ALGORITHM BASE64 [COMMENT]'") }
        try self.init(algorithm: fields[0], base64: fields[1], comment: fields.dropFirst(2).joined(separator: " "), line: line)
    }

    init(algorithm: String, base64: String, comment: String, line: String) throws(SSHParseError) {
        guard let data = Data(base64Encoded: base64) else { throw .badPublicKey(line, reason: "the key field is not base64") }
        let blob = [UInt8](data)
        guard let (inner, end) = Self.string(in: blob, at: 0), inner == Array(algorithm.utf8) else {
            throw .badPublicKey(line, reason: "the key data does not name the algorithm '\(algorithm)'")
        }
        if algorithm == Self.ed25519 {
            guard let (point, last) = Self.string(in: blob, at: end), point.count == 32, last == blob.count else {
                throw .badPublicKey(line, reason: "an ed25519 key holds exactly one 32-byte point")
            }
        }
        self.algorithm = algorithm
        self.blob = blob
        self.comment = comment
    }

    public var isEd25519: Bool { algorithm == Self.ed25519 }

    /// The fingerprint OpenSSH prints (`ssh-keygen -lf`, and when a key changes).
    public var fingerprint: HostKeyFingerprint { HostKeyFingerprint(blob: blob) }

    /// `ALGORITHM BASE64`, without the comment: the key part of a known_hosts line.
    public var keyText: String { algorithm + " " + Data(blob).base64EncodedString() }

    public var description: String { comment.isEmpty ? keyText : keyText + " " + comment }

    /// Two keys are the same key whatever their comments say.
    public static func == (a: SSHPublicKey, b: SSHPublicKey) -> Bool { a.algorithm == b.algorithm && a.blob == b.blob }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(algorithm)
        hasher.combine(blob)
    }

    /// An SSH wire `string` (uint32 length, then bytes) at `offset`, and where it ends.
    private static func string(in blob: [UInt8], at offset: Int) -> ([UInt8], Int)? {
        guard offset + 4 <= blob.count else { return nil }
        let length = blob[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        let start = offset + 4
        guard length <= blob.count - start else { return nil }
        return (Array(blob[start..<start + length]), start + length)
    }
}

/// An OpenSSH key fingerprint, `SHA256:` and the unpadded base64 of the SHA-256 of the key blob.
public struct HostKeyFingerprint: Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(blob: [UInt8]) {
        let digest = Data(MessageDigest.sha256(blob)).base64EncodedString()
        rawValue = "SHA256:" + digest.prefix { $0 != "=" }
    }

    /// Accepts `SHA256:` followed by 43 base64 characters, as a person copies it from ssh's output.
    public init?(_ text: String) {
        let body = text.hasPrefix("SHA256:") ? text.dropFirst(7) : ""
        guard body.count == 43, body.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/") }),
              Data(base64Encoded: body + "=")?.count == 32 else { return nil }
        rawValue = text
    }

    public var description: String { rawValue }
}
