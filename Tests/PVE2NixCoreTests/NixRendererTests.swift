import Foundation
import PVE2NixCore
import PVE2NixTesting
import Testing

/// The Nix renderer, checked by evaluating its output with real Nix.
@Suite struct NixRendererTests {
    @Test(arguments: [
        "plain", "with \"quotes\"", "back\\slash", "dollar ${not.interpolated}", "$ alone and $$", "tab\there",
        "multi\nline\nwith ${x} and '' inside", "trailing newline\n", "unicode é ☃", "",
    ])
    func stringsSurviveNix(_ value: String) throws {
        let expr = NixRenderer.render(.string(value))
        let result = try NixTool.run(["--eval", "--strict", "--json", "-E", expr])
        #expect(result.status == 0, "\(expr): \(result.err)")
        let decoded = try JSONReader.parse(result.out).stringValue
        #expect(decoded == value, "\(expr) → \(result.out)")
    }

    @Test(arguments: [("simple", "simple"), ("10-vmbr0", "\"10-vmbr0\""), ("vmbr0.10", "\"vmbr0.10\""), ("container@x", "\"container@x\""),
                      ("let", "\"let\""), ("a-b_c'", "a-b_c'"), ("/data", "\"/data\""), ("[x]", "\"[x]\"")])
    func attributeNames(_ name: String, _ rendered: String) throws {
        #expect(NixRenderer.attributeName(name) == rendered)
        let expr = NixRenderer.render(.attrs([NixBinding([name], .int(1))]))
        let result = try NixTool.run(["--eval", "--strict", "--json", "-E", expr])
        #expect(result.out.contains("\"\(name.replacingOccurrences(of: "\"", with: "\\\""))\":1"), "\(expr) → \(result.out) \(result.err)")
    }
}
