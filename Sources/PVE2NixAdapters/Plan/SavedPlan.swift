import Crypto
import Foundation
import PVE2NixCore

/// A reviewed plan saved by `pve2nix plan --out`: the plan, the bundle it came from and its hash.
/// Commands that act take this file, so what runs is what a person read.
public struct SavedPlan: Sendable, Codable {
    public static let format = "pve2nix-plan"
    public static let currentSchemaVersion = 1

    public var format: String
    public var schemaVersion: Int
    /// 8 hex digits of a SHA-256 over the canonical plan and the bundle's digest.
    public var planHash: String
    public var node: NodeName
    /// The bundle directory, as an absolute path.
    public var bundle: String
    public var savedAt: String
    public var bundleDigest: BundleDigest
    public var plan: ConversionPlan

    public init(plan: ConversionPlan, bundle: String, digest: BundleDigest, savedAt: String) throws {
        format = Self.format
        schemaVersion = Self.currentSchemaVersion
        planHash = try PlanHash.of(plan, digest: digest)
        node = plan.node
        self.bundle = bundle
        self.savedAt = savedAt
        bundleDigest = digest
        self.plan = plan
    }
}

/// The short hash a person compares between the plan they reviewed and the run they start.
public enum PlanHash {
    public static func of(_ plan: ConversionPlan, digest: BundleDigest) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(plan)
        data.append(Data("\n\(digest.sha256)\n".utf8))
        return String(BundleDigest.hex(data).prefix(8))
    }

    /// Whether `text` looks like a plan hash (8 hex digits).
    public static func isWellFormed(_ text: String) -> Bool {
        text.count == 8 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}

/// Why a saved plan cannot be used.
public enum PlanFileError: Error, LocalizedError, Sendable {
    case missing(String)
    case unreadable(String, String)
    case notAPlan(String, String)
    case newerSchema(String, Int)
    case edited(String, stated: String, actual: String)
    case otherNode(String, planned: String, asked: String)
    case refusedExisting(String)

    public var errorDescription: String? {
        switch self {
        case .missing(let p): "no plan file at \(p). Save one with 'pve2nix plan NODE --site DIR --out \(p)' and review it."
        case .unreadable(let p, let why): "cannot read the plan file \(p): \(why)."
        case .notAPlan(let p, let why): "\(p) is not a plan saved by 'pve2nix plan --out' (\(why)). Save the plan again with --out."
        case .newerSchema(let p, let v): "\(p) was saved by a newer pve2nix (plan schema \(v); this one reads up to \(SavedPlan.currentSchemaVersion)). Use that pve2nix, or plan again with this one."
        case .edited(let p, let stated, let actual): "\(p) was changed after it was saved: it says plan \(stated) but its contents hash to \(actual). Never edit a saved plan; change site.toml or the bundle and plan again."
        case .otherNode(let p, let planned, let asked): "\(p) is the plan of \(planned), not of \(asked). Give the plan of \(asked), or name \(planned)."
        case .refusedExisting(let p): "\(p) exists and is not a plan pve2nix saved: it is left as it is. Choose another --out path, or move that file away."
        }
    }
}

/// Reads and writes saved plans. Writing is atomic and never replaces a file pve2nix did not write.
public enum PlanFile {
    public static func write(_ saved: SavedPlan, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: url.path) {
            guard let data = FileManager.default.contents(atPath: url.path) else { throw PlanFileError.refusedExisting(path) }
            do { _ = try decode(data, path: path) } catch let error as PlanFileError {
                // A plan of a newer pve2nix is a plan too, but not one to overwrite with an older schema.
                if case .newerSchema = error { throw error }
                throw PlanFileError.refusedExisting(path)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(saved)
        data.append(0x0a)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw PlanFileError.unreadable(path, "cannot write it: \((error as NSError).localizedDescription)")
        }
    }

    /// The saved plan at `path`, checked: a plan file, a schema this version reads, not edited since.
    public static func read(_ path: String) throws -> SavedPlan {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw PlanFileError.missing(path) }
        guard !isDirectory.boolValue else { throw PlanFileError.notAPlan(path, "it is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else { throw PlanFileError.unreadable(path, "permission denied") }
        let saved = try decode(data, path: path)
        let actual = try PlanHash.of(saved.plan, digest: saved.bundleDigest)
        guard actual == saved.planHash else { throw PlanFileError.edited(path, stated: saved.planHash, actual: actual) }
        return saved
    }

    static func decode(_ data: Data, path: String) throws -> SavedPlan {
        struct Header: Decodable { var format: String?; var schemaVersion: Int? }
        guard let header = try? JSONDecoder().decode(Header.self, from: data) else { throw PlanFileError.notAPlan(path, "it is not JSON") }
        guard header.format == SavedPlan.format else {
            throw PlanFileError.notAPlan(path, header.format.map { "its format is '\($0)'" } ?? "it has no \"format\": \"\(SavedPlan.format)\"; 'plan --json' output is for reading, 'plan --out' saves a plan to act on")
        }
        if let v = header.schemaVersion, v > SavedPlan.currentSchemaVersion { throw PlanFileError.newerSchema(path, v) }
        do {
            return try JSONDecoder().decode(SavedPlan.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw PlanFileError.notAPlan(path, "\((context.codingPath + [key]).map(\.stringValue).joined(separator: ".")) is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw PlanFileError.notAPlan(path, "\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
        } catch {
            throw PlanFileError.notAPlan(path, "\(error)")
        }
    }
}
