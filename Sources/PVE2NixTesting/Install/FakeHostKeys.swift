import Foundation
import PVE2NixCore

/// Well-formed ed25519 public keys for tests, one per seed byte (not real keys: no private half).
public enum FakeHostKeys {
    public static func ed25519(_ seed: UInt8, comment: String = "") -> SSHPublicKey {
        func string(_ bytes: [UInt8]) -> [UInt8] {
            let n = UInt32(bytes.count)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + bytes
        }
        let blob = string(Array("ssh-ed25519".utf8)) + string([UInt8](repeating: seed, count: 32))
        let line = "ssh-ed25519 " + Data(blob).base64EncodedString() + (comment.isEmpty ? "" : " " + comment)
        return try! SSHPublicKey(parsing: line)
    }
}
