/// The ranges a number read from a capture may take. A value outside them is a damaged or
/// hand-edited capture: it is refused with a diagnostic, and what remains keeps the planners'
/// sums and products (memory committed to a peer, vCPUs times overcommit) far from Int64's edge.
public enum InputLimits {
    /// 1 PiB: more than any node or guest has. Thousands of guests of this size still sum within Int64.
    public static let memoryBytes: ClosedRange<Int64> = 0...(1 << 50)
    /// Proxmox's own minimum for `memory:` is 16 MiB.
    public static let guestMemoryMiB: ClosedRange<Int> = 16...(1 << 30)
    /// 1 EiB: more than any disk or volume.
    public static let diskBytes: ClosedRange<Int64> = 0...(1 << 60)
    /// CPUs of a node, cores, sockets and vCPUs of a guest.
    public static let cpus: ClosedRange<Int> = 1...8192
    /// MTU of a link or an interface (`lo` has 65536).
    public static let mtu: ClosedRange<Int> = 68...65536
    /// Corosync node ids are unsigned 32-bit numbers other than 0.
    public static let nodeID: ClosedRange<Int> = 1...Int(UInt32.max)
    /// Votes of one corosync node.
    public static let quorumVotes: ClosedRange<Int> = 0...255
    /// vCPUs promised per physical CPU.
    public static let vcpuOvercommit: ClosedRange<Double> = 1...64
}

extension ClosedRange where Bound: BinaryInteger {
    /// `16-1073741824`, for messages.
    var spelled: String { "\(lowerBound)-\(upperBound)" }
}
