import PVE2NixCore
import PVE2NixRuntime

/// A drain's progress as lines of text: the CLI numbers the ones that start a guest's move.
public enum DrainEventText {
    /// The line for `event`, and whether it starts a guest's move (numbered `[k/n]`).
    public static func line(for event: DrainEvent, node: String) -> (counted: Bool, text: String)? {
        switch event {
        case .starting(_, let what): (true, what)
        case .requested(_, let upid): (false, "requested \(upid)")
        case .waiting(_, let what): (false, what)
        case .moved(let id, let target): (false, "\(id) is on \(target)")
        case .renumbered(let id, let copy): (false, "the original \(id) is removed; the guest lives on as \(copy)")
        case .checked(_, let what): (false, what)
        case .skipped(let id, let why): (true, "\(id): \(why)")
        case .left(let id, let why): (true, "\(id) stays: \(why)")
        case .remaining(let id, let why): (false, "still on \(node): \(id): \(why)")
        case .attention(let id, let what): (false, "ATTENTION \(id): \(what)")
        }
    }
}
