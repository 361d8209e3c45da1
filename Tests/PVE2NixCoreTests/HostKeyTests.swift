import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixRuntime
import PVE2NixTesting
import Testing

/// Host-key pins: SHA digests, fingerprints as ssh-keygen prints them, known_hosts lines (plain,
/// hashed, with ports), SSH targets, and the pinned file pve2nix writes.
@Suite struct HostKeyTests {
    let runner = SubprocessRunner()

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3", "291e9a6c66994949b57ba5e650361e98fc36b1ba"),
    ])
    func digestsMatchKnownVectors(message: String, sha256: String, sha1: String) {
        #expect(Self.hex(MessageDigest.sha256(Array(message.utf8))) == sha256)
        #expect(Self.hex(MessageDigest.sha1(Array(message.utf8))) == sha1)
    }

    @Test func hmacSHA1MatchesRFC2202() {
        let mac = MessageDigest.hmacSHA1(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
        #expect(Self.hex(mac) == "b617318655057264e28bc0b6fb378c8ef146be00")
    }

    @Test func fingerprintEqualsWhatSSHKeygenPrints() async throws {
        let dir = try ProcessRunnerTests.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        for index in 0..<3 {
            let file = dir.appendingPathComponent("key\(index)").path
            _ = try await runner.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "node \(index)", "-f", file], timeout: .seconds(30))
            let key = try SSHPublicKey(parsing: String(contentsOfFile: file + ".pub", encoding: .utf8))
            let printed = try await runner.run("ssh-keygen", ["-lf", file + ".pub"], timeout: .seconds(30)).standardOutputText
            // "256 SHA256:… node 0 (ED25519)"
            #expect(printed.split(separator: " ")[1] == Substring(key.fingerprint.rawValue))
            #expect(key.isEd25519 && key.comment == "node \(index)")
            #expect(HostKeyFingerprint(key.fingerprint.rawValue) == key.fingerprint)
        }
    }

    @Test(arguments: [
        "ssh-ed25519",
        "ssh-ed25519 not-base64!",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GK",
    ])
    func badKeysAreRefused(line: String) {
        #expect(throws: SSHParseError.self) { try SSHPublicKey(parsing: line) }
    }

    static let key = try! SSHPublicKey(parsing: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl pve1")

    @Test func rendersKnownHostsNamesForPorts() throws {
        #expect(KnownHostsEntry.line(host: "PVE1.lan", port: 22, key: Self.key) == "pve1.lan " + Self.key.keyText)
        #expect(KnownHostsEntry.line(host: "fd00::1", port: 2222, key: Self.key) == "[fd00::1]:2222 " + Self.key.keyText)
        let entry = try KnownHostsEntry(parsing: "[10.0.0.5]:2222,pve*.lan,!pve9.lan \(Self.key.keyText) comment here")
        #expect(entry.matches(host: "10.0.0.5", port: 2222) && !entry.matches(host: "10.0.0.5", port: 22))
        #expect(entry.matches(host: "pve1.lan", port: 22) && !entry.matches(host: "pve9.lan", port: 22))
        #expect(entry.key.comment == "comment here")
    }

    @Test func parsesHashedEntriesThatSSHKeygenWrites() async throws {
        let dir = try ProcessRunnerTests.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("known_hosts").path
        let plain = [KnownHostsEntry.line(host: "pve1.lan", port: 22, key: Self.key), KnownHostsEntry.line(host: "10.0.0.7", port: 2222, key: Self.key)]
        try (["# a comment", ""] + plain).joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        _ = try await runner.run("ssh-keygen", ["-H", "-f", file], timeout: .seconds(30))
        let parsed = KnownHostsEntry.parseFile(try String(contentsOfFile: file, encoding: .utf8), file: file)
        #expect(parsed.errors.isEmpty && parsed.entries.count == 2)
        #expect(parsed.entries.allSatisfy { if case .hashed = $0.hosts { true } else { false } })
        #expect(parsed.entries[0].matches(host: "PVE1.lan", port: 22) && !parsed.entries[0].matches(host: "pve2.lan", port: 22))
        #expect(parsed.entries[1].matches(host: "10.0.0.7", port: 2222) && !parsed.entries[1].matches(host: "10.0.0.7", port: 22))
        #expect(parsed.entries.allSatisfy { $0.key == Self.key })
        // A hashed line renders back to itself.
        #expect(try KnownHostsEntry(parsing: parsed.entries[0].line).line == parsed.entries[0].line)
    }

    @Test func aBadKnownHostsLineNamesFileAndLine() {
        let parsed = KnownHostsEntry.parseFile("pve1 \(Self.key.keyText)\n\npve2 ssh-ed25519\n@bogus pve3 \(Self.key.keyText)", file: "pins")
        #expect(parsed.entries.count == 1)
        #expect(parsed.errors.map { if case .badKnownHostsLine(let f, let l, _) = $0 { "\(f):\(l)" } else { "" } } == ["pins:3", "pins:4"])
    }

    @Test(arguments: [
        ("pve1", nil, "pve1", 22), ("root@pve1", "root", "pve1", 22), ("root@10.0.0.5:2222", "root", "10.0.0.5", 2222),
        ("[fd00::1]", nil, "fd00::1", 22), ("admin@[fe80::1%vmbr0]:22", "admin", "fe80::1%vmbr0", 22), ("a@b:65535", "a", "b", 65535),
    ] as [(String, String?, String, Int)])
    func parsesTargets(spec: String, user: String?, host: String, port: Int) throws {
        let target = try SSHTarget(parsing: spec)
        #expect(target.user == user && target.host == host && target.port == port)
        #expect(try SSHTarget(parsing: target.description) == target)
    }

    @Test(arguments: ["", "root@", "@pve1", "pve1:0", "pve1:65536", "pve1:22x", "pve1:", "fd00::1", "[fd00::1", "[pve1]:22",
                      "[fd00::1]x", "-oProxyCommand=x", "root@-pve1", "-l@pve1", "pve 1", "pve1;rm"])
    func refusesBadTargets(spec: String) {
        #expect(throws: SSHParseError.self) { try SSHTarget(parsing: spec) }
    }

    @Test func aBadPortSaysWhatIsWrong() {
        let error = #expect(throws: SSHParseError.self) { try SSHTarget(parsing: "root@pve1:99999") }
        #expect(error?.errorDescription?.contains("'99999' is not a number from 1 to 65535") == true)
    }

    @Test func pinsWriteThePrivateFileAtomically() throws {
        let dir = try ProcessRunnerTests.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pins = PinnedHostKeys(path: dir.appendingPathComponent("site/known_hosts").path)
        #expect(try pins.entries().isEmpty)
        let other = try SSHPublicKey(parsing: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKtEz3H9MCVrWrCuy/ySi5FrBlv3W4ECe1dhQHm1MzR5")
        try pins.pin(host: "pve1", port: 22, key: Self.key)
        try pins.pin(host: "10.0.0.5", port: 2222, key: Self.key)
        try pins.pin(host: "pve1", port: 22, key: other)
        #expect(try pins.fingerprint(for: SSHTarget(host: "pve1")) == other.fingerprint)
        #expect(try pins.fingerprint(for: SSHTarget(host: "10.0.0.5", port: 2222)) == Self.key.fingerprint)
        #expect(try pins.fingerprint(for: SSHTarget(host: "10.0.0.5")) == nil)
        #expect(try pins.entries().count == 2)
        let attributes = try FileManager.default.attributesOfItem(atPath: pins.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("site").path) == ["known_hosts"])
        let rsa = try SSHPublicKey(parsing: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDGfake")
        #expect(throws: SSHParseError.notEd25519(found: "ssh-rsa")) { try pins.pin(host: "pve2", port: 22, key: rsa) }
    }

    @Test func shellQuotingRoundTripsThroughSh() async throws {
        let words = ["plain", "with space", "it's", "$HOME", "a\"b", "", "semi;colon", "star*"]
        let result = try await runner.run("sh", ["-c", "for w in " + words.map(ShellQuoting.quote).joined(separator: " ") + "; do printf '%s\\n' \"$w\"; done"],
                                          timeout: .seconds(600))
        #expect(result.standardOutputText == words.map { $0 + "\n" }.joined())
    }
}
