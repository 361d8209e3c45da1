import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixViews

extension PVE2Nix {
    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Plan the conversion of one node, offline, from a capture bundle.",
            discussion: """
            Prints the plan for review: the drain (a peer and a method for every guest), the disk to install on and everything installing there destroys, the network as parsed, where each guest lives afterwards, the install path, the preflight checks and every problem in the input.

            Exit status: 0 the plan is complete; 1 the plan has errors (it is still printed in full, with the errors among the diagnostics and failed checks); 2 the bundle could not be read.

            Examples:
              pve2nix plan villa-pve-01 --site Examples/villa
              pve2nix plan villa-pve-01 --site Examples/villa --json > plan.json
            """
        )

        @Argument(help: ArgumentHelp("The node to convert, as the cluster names it.", valueName: "node"))
        var node: String

        @OptionGroup var options: SiteOptions

        func run() throws {
            let site = try BundleReading.load(options.site)
            let plan = Planner(site: site).plan(node: NodeName(node))
            print(options.json ? try JSONOutput.encode(plan) : PlanTextView(plan: plan).render(), terminator: options.json ? "\n" : "")
            if plan.hasErrors { throw ExitCode(1) }
        }
    }
}

enum BundleReading {
    static func load(_ path: String) throws -> Site {
        let tree = LocalFileTree(root: URL(fileURLWithPath: path))
        guard tree.exists else {
            FileHandle.standardError.write(Data("pve2nix: \(path): no such directory. Point --site at a capture bundle (a directory with bundle.toml, cluster/ and nodes/).\n".utf8))
            throw ExitCode(2)
        }
        return SiteLoader(tree: tree).load()
    }
}

enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
