import ArgumentParser
import Foundation
import PVE2NixCore
import PVE2NixViews

extension PVE2Nix {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what was parsed from a capture bundle, node by node.",
            discussion: """
            Examples:
              pve2nix inspect --site Examples/villa
              pve2nix inspect --site Examples/villa --node villa-pve-01 --json
            """
        )

        @OptionGroup var options: SiteOptions

        @Option(name: .long, help: ArgumentHelp("Show only this node.", valueName: "node"))
        var node: String?

        func run() throws {
            var site = try BundleReading.load(options.site, node: node, requireNode: false)
            if let node {
                guard site.node(NodeName(node)) != nil else {
                    try BundleReading.requireNode(node, in: site, path: options.site)
                    throw Failure.exit("\(node) is a member of the cluster, but the bundle \(options.site) holds none of its files (nodes/\(node)/ is missing). Capture it again.", code: 2)
                }
                site.nodes = site.nodes.filter { $0.name.rawValue == node }
            }
            if options.json {
                try JSONOutput.stream(site)
            } else {
                print(TerminalText.safe(InspectTextView(site: site).render()), terminator: "")
            }
            if site.diagnostics.hasErrors { throw ExitCode(1) }
        }
    }
}
