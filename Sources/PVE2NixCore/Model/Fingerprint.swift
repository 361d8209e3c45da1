/// A short, stable, non-cryptographic fingerprint of text (64-bit FNV-1a, hex): for change
/// detection and cache keys, never for security.
public enum Fingerprint {
    public static func of(_ text: String) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        return String(hash, radix: 16)
    }
}
