import ArgumentParser
import Foundation
import Synchronization
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
              pve2nix plan villa-pve-01 --site Examples/villa --out villa-pve-01.plan.json

            The header shows the plan's hash: 8 hex digits over the plan and every bundle file it was made from. --out saves the plan (with that hash and the bundle's digest) for the commands that act: they take --plan FILE, refuse a plan with errors, and stop when the bundle changed since.
            """
        )

        @Argument(help: ArgumentHelp("The node to convert, as the cluster names it.", valueName: "node"))
        var node: String

        @OptionGroup var options: SiteOptions

        @Option(name: .long, help: ArgumentHelp("Save the plan, with its hash and the bundle's digest, for --plan of the commands that act.", valueName: "file"))
        var out: String?

        func run() throws {
            let (site, digest) = try BundleReading.read(options.site, node: node)
            let plan = Planner(site: site).plan(node: NodeName(node))
            let saved = try SavedPlan(plan: plan, bundle: URL(fileURLWithPath: options.site).standardizedFileURL.path, digest: digest,
                                      savedAt: ISO8601DateFormatter().string(from: Date()))
            if let out {
                do { try PlanFile.write(saved, to: out) } catch let error as PlanFileError { throw Failure.exit(error.localizedDescription) }
            }
            print(options.json ? try JSONOutput.encode(plan) : TerminalText.safe(PlanTextView(plan: plan, hash: saved.planHash).render()), terminator: options.json ? "\n" : "")
            if let out {
                let note = "Saved plan \(saved.planHash) to \(out)\(plan.hasErrors ? " (it has errors: the commands that act refuse it)" : "").\n"
                (options.json ? FileHandle.standardError : FileHandle.standardOutput).write(Data(TerminalText.safe(note).utf8))
            }
            if plan.hasErrors { throw ExitCode(1) }
        }
    }
}

enum BundleReading {
    /// Loads the bundle at `path`. Stops with exit status 2 and one clear message when `path` is
    /// not a capture bundle, or when `node` is given and the bundle does not have it.
    /// Only `node`'s files are read in full (of its peers only their status); with `requireNode`
    /// false a bundle without it is still read, for the caller to explain.
    static func load(_ path: String, node: String? = nil, requireNode: Bool = true) throws -> Site {
        try read(path, node: node, requireNode: requireNode).site
    }

    /// The bundle at `path` and the digest of what was read from it, for a plan's hash.
    static func read(_ path: String, node: String? = nil, requireNode: Bool = true) throws -> (site: Site, digest: BundleDigest) {
        let root = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory) else {
            throw Failure.exit("\(path): no such directory. Point --site at a capture bundle (a directory with bundle.toml, cluster/ and nodes/).", code: 2)
        }
        guard isDirectory.boolValue else {
            throw Failure.exit("\(path) is a file, not a capture bundle. Point --site at the bundle's directory (it holds bundle.toml, cluster/ and nodes/).", code: 2)
        }
        let local = LocalFileTree(root: root)
        guard isBundle(local) else {
            let inside = (local.list("") ?? []).filter { isBundle(LocalFileTree(root: root.appendingPathComponent($0))) }
            let hint = inside.isEmpty
                ? "Capture one with 'pve2nix capture', or point --site at a directory with bundle.toml, cluster/ and nodes/."
                : "It holds \(inside.count == 1 ? "a bundle" : "bundles"): \(inside.map { "--site \((path as NSString).appendingPathComponent($0))" }.joined(separator: ", "))."
            throw Failure.exit("\(path) is not a capture bundle: it has no bundle.toml, cluster/ or nodes/. \(hint)", code: 2)
        }
        let started = ContinuousClock.now
        // A large bundle takes a while: say so after a second rather than sit silent.
        let done = LoadingFlag()
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) {
            done.state.withLock { finished in
                if !finished { FileHandle.standardError.write(Data("pve2nix: reading the capture bundle \(path)…\n".utf8)) }
            }
        }
        let tree = RecordingFileTree(local)
        let site = SiteLoader(tree: tree, focus: node.map { NodeName($0) }).load()
        done.state.withLock { $0 = true }
        let took = ContinuousClock.now - started
        if took > .seconds(1) {
            FileHandle.standardError.write(Data("pve2nix: read \(site.nodes.count) nodes and \(site.resources.count) guests from \(path) in \(took.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))\n".utf8))
        }
        if requireNode, let node { try Self.requireNode(node, in: site, path: path) }
        return (site, tree.digest)
    }

    static func isBundle(_ tree: LocalFileTree) -> Bool {
        tree.exists && (tree.read("bundle.toml") != nil || tree.list("nodes") != nil || tree.list("cluster") != nil)
    }

    /// Stops (exit 2) unless the bundle has `node`, listing the nodes it has and the nearest name.
    static func requireNode(_ node: String, in site: Site, path: String) throws {
        let known = Array(Set(site.nodes.map(\.name.rawValue) + site.memberNames.map(\.rawValue))).sorted()
        guard !known.contains(node) else { return }
        var message = "the bundle \(path) has no node '\(node)'."
        if let near = NameSuggestion.nearest(to: node, in: known) { message += " Did you mean '\(near)'?" }
        message += known.isEmpty ? " It has no nodes at all: capture the cluster again." : " Its nodes: \(known.joined(separator: ", "))."
        throw Failure.exit(message, code: 2)
    }
}

enum JSONOutput {
    /// The site as one JSON document, written a node at a time: a thousand-node site never sits
    /// in memory as one encoded string. Keys in sorted order, as `encode` gives them.
    static func stream(_ site: Site) throws {
        let out = FileHandle.standardOutput
        func write(_ text: String) { out.write(Data(text.utf8)) }
        func value<T: Encodable>(_ v: T) throws -> String { try encode(v) }
        func optional<T: Encodable>(_ v: T?) throws -> String { try v.map(value) ?? "null" }
        write("{\n")
        write("  \"cluster\" : \(try optional(site.cluster)),\n")
        write("  \"corosync\" : \(try optional(site.corosync)),\n")
        write("  \"diagnostics\" : \(try value(site.diagnostics)),\n")
        write("  \"format\" : \(site.format),\n")
        write("  \"haGroups\" : \(try value(site.haGroups)),\n")
        write("  \"haResources\" : \(try value(site.haResources)),\n")
        write("  \"haRules\" : \(try value(site.haRules)),\n")
        write("  \"intent\" : \(try value(site.intent)),\n")
        write("  \"nodes\" : [")
        for (i, node) in site.nodes.enumerated() {
            write((i == 0 ? "\n" : ",\n") + (try value(node)))
        }
        write(site.nodes.isEmpty ? "],\n" : "\n  ],\n")
        write("  \"resources\" : \(try value(site.resources)),\n")
        write("  \"storages\" : \(try value(site.storages))\n")
        write("}\n")
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Whether loading finished, shared with the timer that reports a slow load.
final class LoadingFlag: Sendable {
    let state = Mutex(false)
}
