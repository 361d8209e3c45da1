/// Reads `site.toml`. Unknown keys are reported, not ignored: a typo must not silently change a plan.
public enum SiteIntentParser {
    public static func parse(_ text: String, file: String) -> (SiteIntent, [Diagnostic]) {
        var intent = SiteIntent()
        var diagnostics: [Diagnostic] = []
        let table: TOMLTable
        do {
            table = try TOMLReader.parse(text)
        } catch {
            return (intent, [.error(file, error.line, "not valid TOML: \(error.message)")])
        }
        if let empty = TextChecks.emptiness(text, file: file, what: "the plan uses the defaults (no VLANs, no probes, 15% memory headroom). Remove the file, or fill it in (see Examples/villa/site.toml).") {
            diagnostics.append(empty)
        }
        let lines = TOMLLineIndex(text)
        func report(_ table: String?, _ key: String, _ message: String) {
            diagnostics.append(.error(file, lines.line(of: key, inTable: table), message))
        }
        // A value of the wrong type is reported, never read as if the key were absent.
        func int(_ t: TOMLTable, _ name: String?, _ key: String) -> Int? {
            guard let value = t[key] else { return nil }
            guard let n = value.int else { report(name, key, "\(key) must be a whole number"); return nil }
            return n
        }
        func string(_ t: TOMLTable, _ name: String?, _ key: String) -> String? {
            guard let value = t[key] else { return nil }
            guard let text = value.string else { report(name, key, "\(key) must be a quoted string"); return nil }
            return text
        }
        func subtable(_ t: TOMLTable, _ key: String) -> TOMLTable? {
            guard let value = t[key] else { return nil }
            guard let sub = value.table else { report(nil, key, "\(key) must be a [\(key)] table"); return nil }
            return sub
        }
        func checkKeys(_ t: TOMLTable, _ name: String?, _ allowed: Set<String>) {
            for key in t.keys where !allowed.contains(key) {
                report(name, key, "unknown key '\(key)'\(name.map { " in [\($0)]" } ?? ""); allowed: \(allowed.sorted().joined(separator: ", "))")
            }
        }
        checkKeys(table, nil, ["format", "name", "network", "install", "placement", "nodes", "guests", "probes", "traefik"])
        var traefikURL: String? = nil
        if let traefik = subtable(table, "traefik") {
            checkKeys(traefik, "traefik", ["url"])
            if let u = string(traefik, "traefik", "url") {
                if u.hasPrefix("http://") || u.hasPrefix("https://") { traefikURL = u } else { report("traefik", "url", "url = \"\(u)\" must be http(s)://ADDRESS[:PORT] of Traefik's entrypoint") }
            }
        }
        if let format = int(table, nil, "format"), format != 1 {
            report(nil, "format", "site.toml format \(format) is not supported; this pve2nix reads format 1")
        }
        intent.name = string(table, nil, "name")
        if let net = subtable(table, "network") {
            checkKeys(net, "network", ["management_vlan", "service_vlan"])
            func vlan(_ key: String) -> Int? {
                guard let v = int(net, "network", key) else { return nil }
                guard (1...4094).contains(v) else { report("network", key, "\(key) = \(v) is not a VLAN id 1-4094"); return nil }
                return v
            }
            intent.managementVLAN = vlan("management_vlan")
            intent.serviceVLAN = vlan("service_vlan")
        }
        if let install = subtable(table, "install") {
            checkKeys(install, "install", ["out_of_band_console", "converted_nodes", "tool"])
            if let value = install["out_of_band_console"] {
                if let b = value.bool { intent.outOfBandConsole = b } else { report("install", "out_of_band_console", "out_of_band_console must be true or false") }
            }
            if let value = install["converted_nodes"] {
                let names = value.array?.compactMap(\.string) ?? []
                if value.array == nil || names.count != value.array?.count { report("install", "converted_nodes", "converted_nodes must be a list of node names, e.g. [\"pve1\"]") }
                intent.convertedNodes = names.map { NodeName($0) }
            }
            if let tool = string(install, "install", "tool") {
                if let t = InstallTool(rawValue: tool) { intent.installTool = t } else { report("install", "tool", "tool = \"\(tool)\" must be \"nixos-anywhere\" or \"clan\"") }
            }
        }
        if let placement = subtable(table, "placement") {
            checkKeys(placement, "placement", ["memory_headroom_percent", "vcpu_overcommit"])
            if let h = int(placement, "placement", "memory_headroom_percent") {
                if (0...90).contains(h) { intent.memoryHeadroomPercent = h } else { report("placement", "memory_headroom_percent", "memory_headroom_percent must be 0-90") }
            }
            if let value = placement["vcpu_overcommit"] {
                let limits = InputLimits.vcpuOvercommit
                if let r = value.double ?? value.int.map(Double.init), limits.contains(r) { intent.vcpuOvercommit = r } else {
                    report("placement", "vcpu_overcommit", "vcpu_overcommit must be a number from \(limits.lowerBound) to \(limits.upperBound) (vCPUs per physical CPU)")
                }
            }
        }
        if let nodes = subtable(table, "nodes") {
            for key in nodes.keys {
                guard let t = nodes[key]?.table else { report("nodes", key, "[nodes.\(key)] must be a table"); continue }
                let name = "nodes.\(key)"
                checkKeys(t, name, ["install_disk", "install_path"])
                var n = NodeIntent(installDisk: string(t, name, "install_disk"), installPath: nil, line: lines.tableLine(name))
                if let d = n.installDisk, !d.hasPrefix("/dev/disk/by-id/") {
                    report(name, "install_disk", "install_disk must be a /dev/disk/by-id/ path (kernel names like /dev/sda change between boots)")
                    n.installDisk = nil
                }
                if let p = string(t, name, "install_path") {
                    if let path = InstallPath(rawValue: p) { n.installPath = path } else { report(name, "install_path", "install_path must be \"A\", \"B\" or \"C\"") }
                }
                intent.nodes[NodeName(key)] = n
            }
        }
        if let guests = subtable(table, "guests") {
            for key in guests.keys {
                let name = "guests.\(key)"
                guard let vmid = VMID(key) else { report("guests", key, "[guests.\(key)]: '\(key)' is not a VMID"); continue }
                guard let t = guests[key]?.table else { report("guests", key, "[guests.\(key)] must be a table"); continue }
                checkKeys(t, name, ["rehome", "target"])
                var g = GuestIntent(rehome: nil, target: string(t, name, "target").map { NodeName($0) }, line: lines.tableLine(name))
                if let r = string(t, name, "rehome") {
                    if let value = Rehoming(rawValue: r) { g.rehome = value } else { report(name, "rehome", "rehome = \"\(r)\" must be nspawn, incus or stay") }
                }
                intent.guests[vmid] = g
            }
        }
        if let probes = table["probes"], probes.array == nil {
            report(nil, "probes", "probes must be [[probes]] tables")
        }
        for (index, item) in (table["probes"]?.array ?? []).enumerated() {
            let line = lines.arrayTableLine("probes", index: index)
            guard let t = item.table else { diagnostics.append(.error(file, line, "each [[probes]] entry must be a table")); continue }
            for key in t.keys where !["type", "guest", "address", "url", "host", "via"].contains(key) {
                diagnostics.append(.error(file, line, "unknown key '\(key)' in [[probes]]; allowed: address, guest, host, type, url, via"))
            }
            let type = t["type"]?.string ?? ""
            var guest: VMID? = nil
            if let value = t["guest"] {
                guest = value.int.flatMap { VMID(String($0)) }
                if guest == nil { diagnostics.append(.error(file, line, "probe guest = \(value.int.map(String.init) ?? "(not a number)") is not a VMID (100-999999999)")) }
            }
            switch type {
            case "tcp":
                guard let a = t["address"]?.string, a.contains(":") else {
                    diagnostics.append(.error(file, line, "tcp probe needs address = \"host:port\"")); continue
                }
                intent.probes.append(HealthProbe(kind: .tcp, guest: guest, target: a, line: line))
            case "http":
                guard let u = t["url"]?.string, u.hasPrefix("http://") || u.hasPrefix("https://") else {
                    diagnostics.append(.error(file, line, "http probe needs url = \"http(s)://...\"")); continue
                }
                intent.probes.append(HealthProbe(kind: .http, guest: guest, target: u, line: line))
            case "traefik-route":
                guard let h = t["host"]?.string else { diagnostics.append(.error(file, line, "traefik-route probe needs host = \"name\"")); continue }
                let via = t["via"]?.string ?? traefikURL
                if via == nil {
                    diagnostics.append(.warning(file, line, "traefik-route probe for \(h) has no Traefik to ask: add [traefik] url = \"http://TRAEFIK-ADDRESS\" (or via = ... on the probe); until then it is skipped"))
                }
                intent.probes.append(HealthProbe(kind: .traefikRoute, guest: guest, target: h, line: line, via: via))
            default:
                diagnostics.append(.error(file, line, "probe type \"\(type)\" must be tcp, http or traefik-route"))
            }
        }
        return (intent, diagnostics)
    }
}

/// Finds the line of a key inside a table of a TOML text, for diagnostics (TOMLKit keeps no positions).
struct TOMLLineIndex {
    let lines: [String]
    init(_ text: String) { lines = TextChecks.lines(text).map { $0.trimmingWhitespace() } }

    private func header(_ line: String) -> String? {
        guard line.hasPrefix("[") else { return nil }
        let inner = line.trimmingCharacters(in: "[]")
        return inner.replacingOccurrences(of: "\"", with: "").trimmingWhitespace()
    }

    func tableLine(_ table: String) -> Int? {
        lines.firstIndex { header($0) == table }.map { $0 + 1 }
    }

    func arrayTableLine(_ table: String, index: Int) -> Int? {
        let hits = lines.indices.filter { lines[$0].hasPrefix("[[") && header(lines[$0]) == table }
        return index < hits.count ? hits[index] + 1 : nil
    }

    func line(of key: String, inTable table: String?) -> Int? {
        var current: String? = nil
        for (i, line) in lines.enumerated() {
            if let h = header(line) { current = h; if h == table.map({ "\($0).\(key)" }) { return i + 1 }; continue }
            if current == table, line.hasPrefix(key), line.dropFirst(key.count).trimmingWhitespace().hasPrefix("=") { return i + 1 }
        }
        return table.flatMap(tableLine)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

