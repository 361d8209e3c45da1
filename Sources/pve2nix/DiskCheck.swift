import ArgumentParser
import Foundation
import PVE2NixAdapters
import PVE2NixCore
import PVE2NixViews

extension PVE2Nix {
    struct DiskCheck: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disk-check",
            abstract: "Check, right before the wipe, that the install disks are the ones the plan chose.",
            discussion: """
            disko checks no disk identity and destroys whole ZFS pools and LVM volume groups, so this compares the plan's install disks (and mirrors) with the machine as it is now, read from two files captured on it right before the install (in the installer, after kexec):

              lsblk -J -b -O > lsblk.json
              ls -l /dev/disk/by-id > disk-by-id.txt

            It refuses unless, for every planned disk: 1 the planned /dev/disk/by-id path names a whole disk; 2 its serial, WWN (or EUI) and size are the plan's; 3 no other device carries that identity (a second path, a look-alike); 4 the partition table is the one the plan saw; 5 nothing on it is mounted or used as swap; 6 no ZFS pool, btrfs filesystem, md array or LVM volume group on it has a member on a disk outside the plan. Other kernel names, dm and md numbers, inactive LVs, extra by-id aliases and unrelated new disks do not refuse.

            Exit status: 0 proceed; 1 refuse (or the plan has errors, or the bundle changed since the plan was saved); 2 the plan or the capture could not be read.

            Examples:
              pve2nix disk-check villa-pve-01 --plan villa-pve-01.plan.json --now now/
              pve2nix disk-check villa-pve-01 --site villa-bundle --now now/ --json
            """
        )

        @Argument(help: ArgumentHelp("The node being installed, as the cluster names it.", valueName: "node"))
        var node: String

        @OptionGroup var options: ActingPlanOptions

        @Option(name: .long, help: ArgumentHelp("The directory with lsblk.json and disk-by-id.txt captured on the machine right before the wipe.", valueName: "dir"))
        var now: String

        func validate() throws { try NodeArgument.validate(node) }

        func run() throws {
            let reviewed = try ReviewedPlan.resolve(node: node, options: options)
            let capture: DiskCheckInput.Now
            do { capture = try DiskCheckInput.readNow(directory: now) } catch { throw Failure.exit(error.localizedDescription, code: 2) }
            for warning in capture.warnings {
                FileHandle.standardError.write(Data("pve2nix: \(TerminalText.safe(warning.rendered))\n".utf8))
            }
            let verdict = DiskGate.judge(planned: reviewed.plan.disk?.installTargets ?? [], now: capture.devices, links: capture.links)
            let source = options.plan.map { "plan \(reviewed.hash) (\($0))" } ?? "plan \(reviewed.hash), made again from \(reviewed.bundle)"
            print(options.json ? try JSONOutput.encode(verdict) : TerminalText.safe(DiskGateTextView(verdict: verdict, node: node, source: source).render()),
                  terminator: options.json ? "\n" : "")
            if !verdict.proceeds { throw ExitCode(1) }
        }
    }
}
