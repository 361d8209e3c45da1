/// Decoders from the captured command and API JSON to the model. Each is lenient where the
/// source is (0/1 booleans, numbers as strings) and reports what is missing as file:line.
public enum CaptureDecoders {
    static func parseJSON(_ text: String, file: String) -> (JSONValue?, [Diagnostic]) {
        var diagnostics = TextChecks.binaryContent(text, file: file).map { [$0] } ?? []
        do {
            let (value, duplicates) = try JSONReader.parseReportingDuplicates(text)
            for (key, line) in duplicates.prefix(20) {
                diagnostics.append(.warning(file, line, "key \"\(key.prefix(40))\" appears twice in one object; the last one is used. The capture is damaged or hand-edited."))
            }
            return (value, diagnostics)
        } catch {
            return (nil, diagnostics + [.error(file, error.line, "not valid JSON: \(error.message)")])
        }
    }

    /// Member `key` of `object` as a whole number within `range`: nil when it is absent or null, and
    /// nil with an error on the member's line when it is something else.
    static func integer(_ object: JSONValue, _ key: String, in range: ClosedRange<Int64>, _ what: String,
                        file: String, _ diagnostics: inout [Diagnostic]) -> Int64? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let n = value.int64Value, value.doubleValue == Double(n), range.contains(n) else {
            diagnostics.append(.error(file, value.line, "'\(key)': \(value.description.prefix(40)) is not \(what) (\(range.spelled)): the capture is damaged. Capture it again."))
            return nil
        }
        return n
    }

    static func integer(_ object: JSONValue, _ key: String, in range: ClosedRange<Int>, _ what: String,
                        file: String, _ diagnostics: inout [Diagnostic]) -> Int? {
        integer(object, key, in: Int64(range.lowerBound)...Int64(range.upperBound), what, file: file, &diagnostics).map { Int($0) }
    }

    /// Member `key` of `object` as a boolean (true/false, 0/1, "yes"/"no"…): nil when it is absent or
    /// null, and nil with an error on the member's line when it is something else, such as 2.
    static func flag(_ object: JSONValue, _ key: String, file: String, _ diagnostics: inout [Diagnostic]) -> Bool? {
        guard let value = object[key], !value.isNull else { return nil }
        if case .number(let n, _) = value, n != 0, n != 1 {
            diagnostics.append(.error(file, value.line, "'\(key)': \(value.description.prefix(40)) is neither 0 nor 1: the capture is damaged. Capture it again."))
            return nil
        }
        guard let b = value.boolValue else {
            diagnostics.append(.error(file, value.line, "'\(key)': \(value.description.prefix(40)) is not a boolean: the capture is damaged. Capture it again."))
            return nil
        }
        return b
    }

    /// Where a partition may start, in 512-byte sectors: within the largest disk `InputLimits` allows.
    static let startSectors: ClosedRange<Int64> = 0...(InputLimits.diskBytes.upperBound / 512)

    /// How deep lsblk nests devices at most (disk, partition, LVM, crypt, md…) and then some.
    static let maximumDeviceDepth = 16

    /// API captures may be the bare `data` value or the whole `{"data": ...}` answer.
    static func unwrapData(_ json: JSONValue) -> JSONValue {
        if let data = json["data"], json.objectMembers?.count == 1 || json["errors"] != nil { return data }
        return json
    }

    public static func lsblk(_ text: String, file: String) -> ([BlockDevice], [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return ([], parseDiagnostics) }
        var diagnostics: [Diagnostic] = []
        guard let list = json["blockdevices"]?.arrayValue else {
            return ([], [.error(file, json.line, "expected an object with a 'blockdevices' array (lsblk -J -b -O)")])
        }
        func device(_ v: JSONValue, depth: Int) -> BlockDevice? {
            guard let name = v["name"]?.stringValue, let type = v["type"]?.stringValue else {
                diagnostics.append(.error(file, v.line, "block device without 'name' or 'type'"))
                return nil
            }
            guard depth < Self.maximumDeviceDepth else {
                diagnostics.append(.error(file, v.line, "block device \(name.prefix(40)) is nested more than \(Self.maximumDeviceDepth) levels deep: the capture is damaged. Capture lsblk -J -b -O again."))
                return nil
            }
            guard let size = v["size"]?.int64Value else {
                diagnostics.append(.error(file, v.line, "block device \(name.prefix(40)) has no numeric 'size': capture lsblk with -b so sizes are in bytes"))
                return nil
            }
            guard InputLimits.diskBytes.contains(size) else {
                diagnostics.append(.error(file, v["size"]?.line ?? v.line, "block device \(name.prefix(40)) has size \(size), outside \(InputLimits.diskBytes.spelled) bytes: the capture is damaged. Capture lsblk -J -b -O again."))
                return nil
            }
            var mountpoints = (v["mountpoints"]?.arrayValue ?? []).compactMap(\.stringValue)
            if mountpoints.isEmpty, let single = v["mountpoint"]?.stringValue { mountpoints = [single] }
            func text(_ key: String) -> String? {
                guard let s = v[key]?.stringValue?.trimmingWhitespace(), !s.isEmpty else { return nil }
                return s
            }
            return BlockDevice(
                name: name, kernelName: text("kname") ?? name, path: text("path"), type: type, sizeBytes: size,
                model: text("model"), serial: text("serial"), wwn: text("wwn"), transport: text("tran"),
                removable: flag(v, "rm", file: file, &diagnostics) ?? false, hotplug: flag(v, "hotplug", file: file, &diagnostics) ?? false,
                rotational: flag(v, "rota", file: file, &diagnostics), fstype: text("fstype"), label: text("label"), uuid: text("uuid"),
                partitionLabel: text("partlabel"), partitionTypeName: text("parttypename"),
                mountpoints: mountpoints.filter { !$0.isEmpty },
                children: (v["children"]?.arrayValue ?? []).compactMap { device($0, depth: depth + 1) }, line: v.line,
                ptuuid: text("ptuuid"), pttype: text("pttype"), partitionType: text("parttype"), partitionUUID: text("partuuid"),
                startSector: integer(v, "start", in: Self.startSectors, "a sector offset", file: file, &diagnostics))
        }
        return (list.compactMap { device($0, depth: 0) }, parseDiagnostics + diagnostics)
    }

    /// `ls -l /dev/disk/by-id`: `lrwxrwxrwx 1 root root 13 Nov 20 10:00 NAME -> ../../KNAME`.
    public static func diskByID(_ text: String, file: String) -> ([DiskIDLink], [Diagnostic]) {
        var links: [DiskIDLink] = []
        var diagnostics: [Diagnostic] = TextChecks.binaryContent(text, file: file).map { [$0] } ?? []
        var lineNumber = 0
        for raw in TextChecks.lines(text) {
            lineNumber += 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("total ") { continue }
            let words = line.splitOnWhitespace()
            guard let arrow = words.firstIndex(of: "->"), arrow > 0, arrow + 1 < words.count else {
                diagnostics.append(.warning(file, lineNumber, "not an 'ls -l' symlink line: '\(line.prefix(80))'"))
                continue
            }
            let target = words[arrow + 1].split(separator: "/").last.map(String.init) ?? words[arrow + 1]
            links.append(DiskIDLink(name: words[arrow - 1], target: target, line: lineNumber))
        }
        return (links, diagnostics)
    }

    public static func ipLinks(_ text: String, file: String) -> ([IPLink], [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return ([], parseDiagnostics) }
        guard let list = json.arrayValue else { return ([], [.error(file, json.line, "expected the JSON array 'ip -j -d link show' prints")]) }
        var diagnostics: [Diagnostic] = []
        let links: [IPLink] = list.compactMap { v in
            guard let name = v["ifname"]?.stringValue else {
                diagnostics.append(.error(file, v.line, "link without 'ifname'"))
                return nil
            }
            let info = v["linkinfo"]
            let mtu = integer(v, "mtu", in: 0...InputLimits.mtu.upperBound, "an MTU", file: file, &diagnostics)
            let vlanID = info?["info_data"].flatMap { integer($0, "id", in: 0...4095, "a VLAN id", file: file, &diagnostics) }
            return IPLink(name: name, mac: v["address"]?.stringValue?.lowercased(), permanentMAC: v["permaddr"]?.stringValue?.lowercased(),
                          kind: info?["info_kind"]?.stringValue, slaveKind: info?["info_slave_kind"]?.stringValue,
                          master: v["master"]?.stringValue, operState: v["operstate"]?.stringValue, mtu: mtu,
                          altNames: (v["altnames"]?.arrayValue ?? []).compactMap(\.stringValue),
                          vlanID: vlanID, vlanFiltering: info?["info_data"].flatMap { flag($0, "vlan_filtering", file: file, &diagnostics) },
                          linkType: v["link_type"]?.stringValue, parentBus: v["parentbus"]?.stringValue, line: v.line)
        }
        return (links, parseDiagnostics + diagnostics)
    }

    public static func ipAddresses(_ text: String, file: String) -> ([IPAddressEntry], [Diagnostic]) {
        let (json, parseDiagnostics) = parseJSON(text, file: file)
        guard let json else { return ([], parseDiagnostics) }
        guard let list = json.arrayValue else { return ([], [.error(file, json.line, "expected the JSON array 'ip -j addr show' prints")]) }
        var entries: [IPAddressEntry] = []
        var diagnostics: [Diagnostic] = []
        for v in list {
            guard let name = v["ifname"]?.stringValue else {
                diagnostics.append(.error(file, v.line, "interface without 'ifname'"))
                continue
            }
            for a in v["addr_info"]?.arrayValue ?? [] {
                guard let local = a["local"]?.stringValue, let prefix = a["prefixlen"]?.intValue,
                      let cidr = CIDRAddress.parse("\(local)/\(prefix)") else {
                    diagnostics.append(.error(file, a.line, "address of \(name) without a valid 'local'/'prefixlen'"))
                    continue
                }
                entries.append(IPAddressEntry(interface: name, address: cidr, scope: a["scope"]?.stringValue, line: a.line))
            }
        }
        return (entries, parseDiagnostics + diagnostics)
    }
}
