/// The check right before the wipe: the install disks the plan chose, against `lsblk -J -b -O` and
/// `ls -l /dev/disk/by-id` captured now. disko checks no identity and wipes whole pools and volume
/// groups, so this refuses unless every planned disk is provably the one reviewed, unused, and alone.
public enum DiskGate {
    /// Judges every planned disk (the primary and any mirrors) by every rule; refuses when any fails.
    public static func judge(planned: [DiskTarget], now: [BlockDevice], links: [DiskIDLink]) -> DiskGateVerdict {
        guard !planned.isEmpty else {
            return DiskGateVerdict(findings: [DiskGateFinding(rule: .byIDNamesWholeDisk, disk: nil, kernelName: nil, outcome: .fail,
                message: "the plan names no install disk, so there is nothing the wipe could be checked against. Fix the disk errors 'pve2nix plan' reports, then check again.")])
        }
        let world = DiskWorld(devices: now, links: links)
        var findings: [DiskGateFinding] = []
        var resolved: [(DiskTarget, BlockDevice)] = []
        for disk in planned {
            let finding = world.resolve(disk)
            findings.append(finding.0)
            if let device = finding.1 { resolved.append((disk, device)) }
        }
        // Second paths to a planned disk are the same disk: rule 3 refuses them, rule 6 need not.
        let plannedNow = Set(resolved.map(\.1.kernelName) + resolved.flatMap { disk, _ in now.filter { DiskWorld.sameDisk(disk, $0) }.map(\.kernelName) })
        for (disk, device) in resolved {
            findings.append(world.identity(of: disk, device))
            findings.append(world.uniqueness(of: disk, device))
            findings.append(world.partitionTable(of: disk, device))
            findings.append(world.inUse(disk, device))
            findings.append(world.groups(of: disk, device, plannedNow: plannedNow))
        }
        return DiskGateVerdict(findings: findings)
    }
}

extension DiskPlan {
    /// Every disk to install on: the primary, then the mirrors.
    public var installTargets: [DiskTarget] {
        [DiskTarget(byId: byId, kernelName: kernelName, model: model, serial: serial, wwn: wwn, sizeBytes: sizeBytes,
                    transport: transport, otherByIdLinks: otherByIdLinks, partitionTable: partitionTable)] + mirrors
    }
}

/// What the gate decided, with every finding behind it.
public struct DiskGateVerdict: Sendable, Hashable, Codable {
    public static let currentSchemaVersion = 1

    public enum Decision: String, Sendable, Hashable, Codable {
        /// Every rule holds for every planned disk: the wipe may go ahead.
        case proceed
        /// At least one rule failed: nothing may be wiped.
        case refuse
    }

    public var schemaVersion: Int
    public var decision: Decision
    public var findings: [DiskGateFinding]

    public init(findings: [DiskGateFinding]) {
        schemaVersion = Self.currentSchemaVersion
        decision = findings.contains { $0.outcome == .fail } ? .refuse : .proceed
        self.findings = findings
    }

    public var proceeds: Bool { decision == .proceed }
    public var failures: [DiskGateFinding] { findings.filter { $0.outcome == .fail } }
}

/// One rule checked on one planned disk.
public struct DiskGateFinding: Sendable, Hashable, Codable {
    public enum Rule: Int, Sendable, Hashable, Codable, CaseIterable {
        case byIDNamesWholeDisk = 1
        case identityMatches = 2
        case identityIsUnique = 3
        case partitionTableUnchanged = 4
        case nothingInUse = 5
        case groupsStayOnPlannedDisks = 6

        public var name: String {
            switch self {
            case .byIDNamesWholeDisk: "by-id names a whole disk"
            case .identityMatches: "serial, WWN and size as planned"
            case .identityIsUnique: "no other device with this identity"
            case .partitionTableUnchanged: "partition table as planned"
            case .nothingInUse: "nothing mounted or used as swap"
            case .groupsStayOnPlannedDisks: "no pool or volume group reaches another disk"
            }
        }
    }

    /// `warn` is for what the gate could not verify; it does not refuse.
    public enum Outcome: String, Sendable, Hashable, Codable { case pass, warn, fail }

    public var rule: Rule
    /// The planned disk, or nil for a finding about the plan as a whole.
    public var disk: DiskByID?
    /// The disk's kernel name now, when the by-id link resolved.
    public var kernelName: String?
    public var outcome: Outcome
    /// Names devices by by-id and kernel name, and says what to do.
    public var message: String

    public init(rule: Rule, disk: DiskByID?, kernelName: String?, outcome: Outcome, message: String) {
        self.rule = rule
        self.disk = disk
        self.kernelName = kernelName
        self.outcome = outcome
        self.message = message
    }

    enum CodingKeys: String, CodingKey { case rule, ruleName, disk, kernelName, outcome, message }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rule = try c.decode(Rule.self, forKey: .rule)
        disk = try c.decodeIfPresent(DiskByID.self, forKey: .disk)
        kernelName = try c.decodeIfPresent(String.self, forKey: .kernelName)
        outcome = try c.decode(Outcome.self, forKey: .outcome)
        message = try c.decode(String.self, forKey: .message)
    }

    /// Every key is written, `null` where there is no value; the rule's name rides along for readers.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rule, forKey: .rule)
        try c.encode(rule.name, forKey: .ruleName)
        try c.encode(disk, forKey: .disk)
        try c.encode(kernelName, forKey: .kernelName)
        try c.encode(outcome, forKey: .outcome)
        try c.encode(message, forKey: .message)
    }
}
