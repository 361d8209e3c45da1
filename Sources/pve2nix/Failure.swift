import ArgumentParser
import Foundation
import PVE2NixCore

/// Run-time failures: a message on standard error that says what happened, where things stand and
/// what to do, and an exit status. The usage text is for wrong arguments only (`validate()`).
enum Failure {
    /// Prints `pve2nix: message` to standard error and returns the exit to throw.
    static func exit(_ message: String, code: Int32 = 1) -> ExitCode {
        FileHandle.standardError.write(Data("pve2nix: \(TerminalText.safe(message))\n".utf8))
        return ExitCode(code)
    }
}
