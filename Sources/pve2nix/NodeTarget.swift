import PVE2NixCore

/// Where an acting command reaches the node over SSH: `--ssh` when given, else root at the plan's
/// management address.
enum NodeTarget {
    static func resolve(_ explicit: String?, plan: ConversionPlan) throws -> SSHTarget {
        if let explicit { return try SSHTarget(parsing: explicit) }
        guard let address = plan.network.managementAddress?.split(separator: "/").first else {
            throw Failure.exit("the plan has no management address to reach \(plan.node) at: give --ssh [USER@]HOST[:PORT]", code: 2)
        }
        return SSHTarget(user: "root", host: String(address))
    }
}
