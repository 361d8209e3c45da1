import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore

/// Options of every command that acts: the reviewed plan, or the bundle to plan again from.
struct ActingPlanOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The reviewed plan, saved with 'pve2nix plan NODE --site DIR --out FILE'.", valueName: "file"))
    var plan: String?

    @Option(name: .long, help: ArgumentHelp("The capture bundle directory: plan again from it (without --plan), or where the saved plan's bundle lives now.", valueName: "dir"))
    var site: String?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        guard plan != nil || site != nil else {
            throw ValidationError("give --plan FILE (a plan saved with 'pve2nix plan NODE --site DIR --out FILE') or --site DIR to plan again")
        }
    }
}

/// The plan a command acts on, the bundle behind it and its hash.
struct ReviewedPlan {
    var plan: ConversionPlan
    var hash: String
    var site: Site
    var bundle: String
    /// When the plan was saved; nil for a plan made just now.
    var savedAt: String? = nil

    /// The saved plan when `--plan` is given (checked against the bundle as it is now), else a new
    /// plan from `--site`, said on standard error. A plan with errors is refused unless
    /// `refusingErrors` is false (a report shows such a plan, errors and all).
    static func resolve(node: String, options: ActingPlanOptions, refusingErrors: Bool = true) throws -> ReviewedPlan {
        let reviewed: ReviewedPlan
        if let file = options.plan {
            let saved: SavedPlan
            do { saved = try PlanFile.read(file) } catch let error as PlanFileError { throw Failure.exit(error.localizedDescription, code: 2) }
            guard saved.node.rawValue == node, saved.plan.node == saved.node else {
                throw Failure.exit(PlanFileError.otherNode(file, planned: saved.node.rawValue, asked: node).localizedDescription, code: 2)
            }
            let bundle = options.site ?? saved.bundle
            let (site, digest) = try BundleReading.read(bundle, node: node)
            let changes = saved.bundleDigest.changes(to: digest)
            if !changes.isEmpty {
                let list = changes.prefix(40).map { "  " + $0 }.joined(separator: "\n") + (changes.count > 40 ? "\n  … and \(changes.count - 40) more" : "")
                throw Failure.exit("the bundle \(bundle) changed since plan \(saved.planHash) was saved (\(file)):\n\(list)\nNothing was done. Plan again ('pve2nix plan \(node) --site \(bundle) --out \(file)'), review it, and run with the new plan.")
            }
            reviewed = ReviewedPlan(plan: saved.plan, hash: saved.planHash, site: site, bundle: bundle, savedAt: saved.savedAt)
        } else {
            let bundle = options.site!
            let (site, digest) = try BundleReading.read(bundle, node: node)
            let plan = Planner(site: site).plan(node: NodeName(node))
            let hash = try PlanHash.of(plan, digest: digest)
            FileHandle.standardError.write(Data("pve2nix: no --plan given: planned \(node) again from \(bundle) (plan \(hash)). Save a reviewed plan with 'pve2nix plan \(node) --site \(bundle) --out FILE' and pass --plan FILE.\n".utf8))
            reviewed = ReviewedPlan(plan: plan, hash: hash, site: site, bundle: bundle)
        }
        if refusingErrors && reviewed.plan.hasErrors {
            let errors = reviewed.plan.diagnostics.filter { $0.severity == .error }.prefix(10).map { "  \($0.rendered)" }
            let fails = reviewed.plan.preflight.filter { $0.status == .fail }.prefix(10).map { "  check \($0.check): \($0.detail)" }
            throw Failure.exit("plan \(reviewed.hash) of \(node) has errors; nothing was done. Fix them and plan again ('pve2nix plan \(node) --site \(reviewed.bundle)'):\n" + (errors + fails).joined(separator: "\n"))
        }
        return reviewed
    }
}
