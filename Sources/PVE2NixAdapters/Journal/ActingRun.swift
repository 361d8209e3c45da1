import Foundation
import PVE2NixRuntime

/// What every acting command holds while it acts on a node: the node's lock, its journal and the
/// run of the plan it carries out.
public struct ActingRun: Sendable {
    public let lock: NodeLock
    public let journal: SQLiteRunJournal
    public let run: RunInfo

    /// Why a command could not start acting: a message that says what to do.
    public struct StartError: Error, LocalizedError, Sendable {
        public let message: String
        public var errorDescription: String? { message }
    }

    /// Takes the node's lock, opens the journal at `journalPath` and resumes or begins the run of
    /// `planHash` (another plan's unfinished run is refused unless `newRun`).
    public static func start(node: String, journalPath: String, planHash: String, newRun: Bool, state: StateDirectory = StateDirectory()) throws -> ActingRun {
        do {
            let lock = try NodeLock(path: state.lock(for: node), node: node)
            let journal = try SQLiteRunJournal(path: journalPath)
            let run = try journal.begin(node: node, planHash: planHash, newRun: newRun)
            return ActingRun(lock: lock, journal: journal, run: run)
        } catch let error as NodeLock.LockError {
            throw StartError(message: error.localizedDescription)
        } catch let error as RunJournalError {
            throw StartError(message: error.localizedDescription)
        } catch {
            throw StartError(message: "cannot open the journal \(journalPath): \(error.localizedDescription). Nothing was done.")
        }
    }
}
