import Foundation
import PVE2NixCore

/// Renders a plan for a person, terraform-style: what moves where, what is destroyed, what to check.
public struct PlanTextView {
    public let plan: ConversionPlan
    /// The plan's hash (`PlanHash`), shown in the header so a person can match it to a run.
    public let hash: String?
    public init(plan: ConversionPlan, hash: String? = nil) { self.plan = plan; self.hash = hash }

    public func render() -> String {
        var out = TextBuffer()
        out.line("pve2nix plan for \(plan.node)\(plan.site.map { " (site \($0))" } ?? "")\(hash.map { "  plan \($0)" } ?? "")  schema \(plan.schemaVersion)")
        out.blank()
        renderDrain(&out)
        renderDisk(&out)
        renderNetwork(&out)
        renderGuests(&out)
        renderInstall(&out)
        renderPreflight(&out)
        renderDiagnostics(&out)
        let moving = plan.drain.moves.filter { $0.method.movesGuest }.count
        let stuck = plan.drain.moves.count - moving
        let fails = plan.preflight.filter { $0.status == .fail }.count
        let warns = plan.preflight.filter { $0.status == .warn }.count
        out.line("Plan: \(moving) to move\(stuck > 0 ? ", \(stuck) cannot move" : ""), \(plan.disk.map { $0.mirrors.isEmpty ? "1 disk to wipe" : "\($0.mirrors.count + 1) disks to wipe" } ?? "no disk chosen"), \(fails) failed and \(warns) warned checks, \(plan.diagnostics.errorCount) errors, \(plan.diagnostics.warningCount) warnings.")
        out.line(plan.hasErrors ? "The plan has errors: fix them (see above) and plan again." : "The plan is complete. Review it before anything runs.")
        return out.text
    }

    private func renderDrain(_ out: inout TextBuffer) {
        let peers = plan.drain.peers.map(\.node.rawValue).joined(separator: ", ")
        out.line("Drain: \(plan.drain.moves.count) guests from \(plan.node) to \(peers.isEmpty ? "no peers" : peers)")
        for move in plan.drain.moves {
            let symbol = move.method.movesGuest ? "~" : "!"
            let state = move.template ? "template" : move.status
            let target = move.to.map { "-> \($0)" } ?? "-> (stays)"
            out.line("  \(symbol) \(move.kind.shortName) \(move.vmid) \(move.name.padded(16)) \(state.padded(8)) \(target.padded(17)) \(move.method.rawValue.padded(14)) downtime: \(move.downtime.rawValue)")
            out.line("      \(move.reason)")
            if let storage = move.targetStorage { out.line("      target storage: \(storage)") }
            if let storage = move.restoreStorage { out.line("      restored into: \(storage) on \(move.to?.rawValue ?? "-"), under a free VMID") }
            for blocker in move.blockers {
                let mark = blocker.severity == .blocks ? "BLOCKS" : blocker.severity == .action ? "ACTION" : "note"
                out.line("      \(mark) [\(blocker.kind.rawValue)] \(blocker.message)\(place(blocker.file, blocker.line))")
            }
        }
        out.line("  Peers after the drain (memory headroom \(plan.drain.memoryHeadroomPercent)%):")
        for peer in plan.drain.peers {
            let received = peer.guestsReceived.map(\.description).joined(separator: ", ")
            out.line("    \(peer.node.rawValue.padded(14)) \(peer.online ? "online " : "OFFLINE") RAM \(ByteFormat.string(peer.memoryCommittedBeforeBytes)) -> \(ByteFormat.string(peer.memoryCommittedAfterBytes)) of \(ByteFormat.string(peer.memoryUsableBytes)) usable; vCPU \(peer.vcpusBefore) -> \(peer.vcpusAfter) of \(peer.vcpuLimit); receives \(received.isEmpty ? "nothing" : received)")
        }
        if let backup = plan.drain.backupStorage { out.line("  Backup storage: \(backup)") }
        out.blank()
        renderSchedule(&out)
    }

    private func renderSchedule(_ out: inout TextBuffer) {
        guard let schedule = plan.drain.schedule, !schedule.entries.isEmpty else { return }
        let m = schedule.model
        func rate(_ bytesPerSecond: Double) -> String { "\(ByteFormat.string(Int64(bytesPerSecond)))/s" }
        out.line("Drain schedule: \(DurationText.string(schedule.makespanSeconds)), \(String(format: "%.2f", schedule.boundRatio))x the physical bound of \(DurationText.string(schedule.lowerBoundSeconds)); up to \(schedule.concurrency) moves at once (drain --concurrency \(schedule.concurrency))")
        out.line("  assumes uplink \(rate(m.uplinkBytesPerSecond)), peer links \(rate(m.peerLinkBytesPerSecond)), \(rate(m.streamBytesPerSecond)) per stream; HA moves run alone, backup-restores one at a time")
        for e in schedule.entries {
            let down = e.downtimeSeconds > 0 ? "down \(DurationText.string(e.downtimeSeconds))" : "no downtime"
            out.line("  \(String(format: "%7.1f", e.startSeconds)) s - \(String(format: "%7.1f", e.endSeconds)) s  \(e.vmid.description.padded(6)) -> \(e.to.rawValue.padded(14)) \(e.method.rawValue.padded(14)) \(ByteFormat.string(e.bytes).padded(9)) \(down)\(e.runsAlone ? " (alone)" : "")")
        }
        out.blank()
    }

    private func renderDisk(_ out: inout TextBuffer) {
        guard let disk = plan.disk else {
            out.line("Disk: no install target chosen (see diagnostics)")
            out.blank()
            return
        }
        out.line("Disk: install on \(disk.byId)")
        out.line("  \(disk.model ?? "unknown model"), serial \(disk.serial ?? "?"), WWN \(disk.wwn ?? "?"), \(ByteFormat.string(disk.sizeBytes)) (\(disk.sizeBytes) bytes), \(disk.transport ?? "?"), now \(disk.kernelName): \(disk.reason)")
        for mirror in disk.mirrors {
            out.line("  and on \(mirror.byId)")
            out.line("  \(mirror.model ?? "unknown model"), serial \(mirror.serial ?? "?"), WWN \(mirror.wwn ?? "?"), \(ByteFormat.string(mirror.sizeBytes)) (\(mirror.sizeBytes) bytes), \(mirror.transport ?? "?"), now \(mirror.kernelName)")
        }
        for effect in disk.destroys {
            out.line("  - destroys \(effect.kind.rawValue) \(effect.name): \(effect.detail)")
        }
        for effect in disk.untouched {
            out.line("  = untouched \(effect.name): \(effect.detail)")
        }
        out.blank()
    }

    private func renderNetwork(_ out: inout TextBuffer) {
        let n = plan.network
        out.line("Network: management \(n.managementAddress ?? "?") on \(n.managementInterface ?? "?")\(n.managementVLAN.map { " (VLAN \($0))" } ?? ""), MAC \(n.managementMAC ?? "?"), gateway \(n.defaultGateway ?? "none")")
        for uplink in n.uplinks {
            out.line("  uplink \(uplink.name) MAC \(uplink.mac ?? "?")\(uplink.kernelNames.count > 1 ? " (also known as \(uplink.kernelNames.filter { $0 != uplink.name }.joined(separator: ", ")))" : "")")
        }
        for iface in n.interfaces {
            out.line("  \(iface.name.padded(12)) \(iface.kind.rawValue.padded(9)) \(iface.methods.joined(separator: ", "))\(describe(iface))")
        }
        for hook in n.translatedHooks {
            out.line("  ~ hook \(hook.interface) \(hook.phase): \(hook.command)  (\(hook.file):\(hook.line); carried over as a .link setting)")
        }
        for hook in n.hooks {
            out.line("  ! hook \(hook.interface) \(hook.phase): \(hook.command)  (\(hook.file):\(hook.line))")
        }
        for name in n.unsupported { out.line("  ! unsupported: \(name) (Open vSwitch)") }
        out.blank()
    }

    private func describe(_ i: NetworkInterface) -> String {
        var parts: [String] = []
        if !i.addresses.isEmpty { parts.append(i.addresses.map(\.description).joined(separator: " ")) }
        if !i.gateways.isEmpty { parts.append("gw " + i.gateways.joined(separator: " ")) }
        if let b = i.bridge {
            parts.append("ports \(b.ports.isEmpty ? "none" : b.ports.joined(separator: " "))")
            if b.vlanAware { parts.append("vlan-aware vids \(b.vids)") }
        }
        if let b = i.bond { parts.append("bond \(b.mode) slaves \(b.slaves.joined(separator: " "))") }
        if let v = i.vlan { parts.append("VLAN \(v.id) on \(v.rawDevice)") }
        if let m = i.mtu { parts.append("mtu \(m)") }
        return parts.isEmpty ? "" : "  " + parts.joined(separator: "; ")
    }

    private func renderGuests(_ out: inout TextBuffer) {
        out.line("Guests after conversion:")
        for g in plan.guests {
            let home: String
            switch g.rehome {
            case .nspawn: home = "nspawn on \(plan.node)"
            case .incus: home = "incus on \(plan.node)"
            case .stay: home = "stays on \(g.interimNode?.rawValue ?? "?")"
            }
            let addr = g.address.map { " \($0)\(g.vlan.map { " VLAN \($0)" } ?? "")" } ?? ""
            out.line("  + \(g.kind.shortName) \(g.vmid) \(g.name.padded(16)) \(home.padded(26))\(addr)  (\(g.reason))")
        }
        out.blank()
    }

    private func renderInstall(_ out: inout TextBuffer) {
        out.line("Install path: \(plan.install.path.title)")
        for reason in plan.install.reasons { out.line("  - \(reason)") }
        out.blank()
    }

    private func renderPreflight(_ out: inout TextBuffer) {
        out.line("Preflight:")
        for check in plan.preflight {
            out.line("  \(check.status.rawValue.uppercased().padded(4)) \(check.check.padded(26)) \(check.detail)")
        }
        out.blank()
    }

    private func renderDiagnostics(_ out: inout TextBuffer) {
        out.line("Diagnostics: \(plan.diagnostics.isEmpty ? "none" : "\(plan.diagnostics.count)")")
        for d in plan.diagnostics { out.line("  \(d.rendered)") }
        out.blank()
    }

    private func place(_ file: String?, _ line: Int?) -> String {
        guard let file else { return "" }
        return "  (\(file)\(line.map { ":\($0)" } ?? ""))"
    }
}

struct TextBuffer {
    var text = ""
    mutating func line(_ s: String) { text += s.trailingSpacesTrimmed + "\n" }
    mutating func blank() { text += "\n" }
}

extension String {
    func padded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    var trailingSpacesTrimmed: String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
