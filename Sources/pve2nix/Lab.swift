import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore

extension PVE2Nix {
    struct Lab: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the network rehearsal lab.",
            subcommands: [Build.self]
        )

        struct Build: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Build the lab image once and cache it (needs root, Debian's debootstrap and the Debian mirror).",
                discussion: """
                The image is Debian's cloud kernel plus a debootstrap'd Debian 13 (trixie) root with systemd 257, udev, iproute2 and ifupdown2. It is cached in $PVE2NIX_LAB_CACHE, $XDG_CACHE_HOME/pve2nix/lab or ~/.cache/pve2nix/lab, and rebuilt only when its recipe changes.

                Example:
                  sudo pve2nix lab build
                """
            )

            func run() throws {
                let image = LabImage.cached()
                try image.build { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
                print(image.directory.path)
            }
        }
    }

    struct Rehearse: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove the generated network in a throwaway VM before anything is installed.",
            discussion: """
            Boots a QEMU guest (TCG) whose NICs carry the node's real MAC addresses, each on its own link to a switch port; namespaces inside the guest play the switch, the VLAN gateways, an admin PC, spies on the other VLANs and each returning container. It brings the node's current network up with the real ifupdown2 and probes it, tears it down, brings the generated units up with the real systemd-networkd and probes again: the same addresses must answer on the same VLANs with the same MACs, nothing may leak between VLANs, and the default route must work. Exits non-zero when a check fails. The VM is always stopped within the time bound. The result is recorded in the node's journal under the hash of the network units it ran, so that 'pve2nix check' can tell whether the units about to be installed are the ones proved.

            Examples:
              pve2nix rehearse villa-pve-01 --site Examples/villa
              pve2nix rehearse villa-pve-01 --site Examples/villa --generated out/villa --reverse-nics --json
            """
        )

        @Argument(help: ArgumentHelp("The node to rehearse.", valueName: "node"))
        var node: String

        @OptionGroup var options: SiteOptions

        @Option(name: .long, help: ArgumentHelp("Use the networkd/ units of this generated tree instead of generating them.", valueName: "dir"))
        var generated: String?

        @Option(name: .long, help: "vlan-aware-bridge or per-vlan-bridges (as for generate).")
        var networkStrategy: String = NetworkStrategy.vlanAwareBridge.rawValue

        @Flag(name: .long, help: "Present the NICs in reverse order, so kernel names (ethN) differ from the capture's.")
        var reverseNics = false

        @Option(name: .long, help: "Stop the VM after this many seconds.")
        var timeout: Int = 300

        @Option(name: .long, help: ArgumentHelp("The journal to record the rehearsal in (default: $XDG_STATE_HOME/pve2nix/<node>.journal.sqlite).", valueName: "file"))
        var journal: String?

        @Flag(name: .long, help: "Print the guest's console output after the report.")
        var console = false

        @Flag(name: .long, help: "Trace the guest's script (set -x) on the console; implies --console.")
        var trace = false

        func validate() throws {
            guard NetworkStrategy(rawValue: networkStrategy) != nil else { throw ValidationError("--network-strategy must be vlan-aware-bridge or per-vlan-bridges") }
            guard (30...3600).contains(timeout) else { throw ValidationError("--timeout must be 30-3600 seconds") }
            try NodeArgument.validate(node)
        }

        func run() throws {
            let site = try BundleReading.load(options.site, node: node)
            let plan = Planner(site: site).plan(node: NodeName(node))
            var generateOptions = GenerateOptions()
            generateOptions.strategy = NetworkStrategy(rawValue: networkStrategy)!
            generateOptions.acceptDropping = true
            let host = HostGenerator(site: site, plan: plan, options: generateOptions).generate()
            var units: [String: String]? = nil
            if let generated {
                let dir = URL(fileURLWithPath: generated).appendingPathComponent("networkd")
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
                    throw Failure.exit("\(dir.path) does not exist: point --generated at a tree written by 'pve2nix generate'", code: 2)
                }
                units = Dictionary(uniqueKeysWithValues: names.sorted().compactMap { n in (try? String(contentsOf: dir.appendingPathComponent(n), encoding: .utf8)).map { (n, $0) } })
            }
            var builder = RehearsalScenarioBuilder(site: site, plan: plan, generated: host, units: units,
                                                   strategy: generateOptions.strategy, reverseNICOrder: reverseNics)
            builder.trace = trace
            let (scenario, diagnostics) = builder.build()
            for d in diagnostics { FileHandle.standardError.write(Data((d.rendered + "\n").utf8)) }
            guard let scenario, !diagnostics.hasErrors else { throw ExitCode(1) }
            var runner = QEMURehearsal(image: LabImage.cached())
            runner.timeoutSeconds = timeout
            let variant = "\(generateOptions.strategy.rawValue)\(reverseNics ? ", NICs reversed" : "")\(generated != nil ? ", units from \(generated!)" : "")"
            let (report, consoleText) = try runner.run(scenario, variant: variant) { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            print(options.json ? try JSONOutput.encode(report) : TerminalText.safe(report.rendered()), terminator: options.json ? "\n" : "")
            if console || trace { print(consoleText) }
            // 'check' compares the units about to be installed with the ones a rehearsal proved.
            let hash = NetworkUnitsHash.of(builder.units)
            do {
                try SQLiteRunJournal(path: JournalLocation.path(for: node, explicit: journal))
                    .recordRehearsal(networkHash: hash, report: report, detail: variant)
            } catch {
                FileHandle.standardError.write(Data("pve2nix: the rehearsal could not be recorded in the journal (\(error.localizedDescription)); 'check' will not know these units were proved.\n".utf8))
            }
            if !report.passed { throw ExitCode(1) }
        }
    }
}
