import Foundation
import PVE2NixRuntime

extension RunStatusReport {
    /// Where the node's conversion stands, as its journal file tells.
    public init(node: String, journal: SQLiteRunJournal) throws {
        self.init(node: node, journal: journal.path, schema: try journal.schemaVersions().last ?? "", runs: try journal.runs(), entries: try journal.entries())
    }
}
