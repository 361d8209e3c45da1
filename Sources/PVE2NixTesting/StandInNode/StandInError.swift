import Foundation

/// What went wrong building, booting or reaching the stand-in node.
public enum StandInError: Error, LocalizedError, Sendable {
    case missingTool(String)
    case commandFailed(String, status: Int32, output: String)
    case imageBuildFailed(String)
    case imageMissing(String)
    case lockTimedOut(String)
    case exitedEarly(status: Int32, console: String)
    case sshTimedOut(seconds: Int, console: String)
    case unexpectedHostKey(expected: String, offered: String)

    public var errorDescription: String? {
        switch self {
        case .missingTool(let tool):
            "\(tool) is not installed: run scripts/setup."
        case .commandFailed(let command, let status, let output):
            "'\(command)' failed (exit \(status)): \(output.suffix(2000))"
        case .imageBuildFailed(let why):
            "building the stand-in node image failed: \(why). Nothing was marked as built: the next test run starts the build again."
        case .imageMissing(let dir):
            "no stand-in node image at \(dir): call StandInImage.build first."
        case .lockTimedOut(let path):
            "another process held \(path) for too long (building the stand-in image?); if none runs, remove the stale lock file and retry."
        case .exitedEarly(let status, let console):
            "the stand-in VM stopped before sshd answered (exit \(status)). Console tail:\n\(console.suffix(3000))"
        case .sshTimedOut(let seconds, let console):
            "the stand-in's sshd did not answer within \(seconds) s; the VM was left running for stop(). Console tail:\n\(console.suffix(3000))"
        case .unexpectedHostKey(let expected, let offered):
            "the stand-in offered host key \(offered), not this boot's \(expected): another VM answers on the port?"
        }
    }
}
