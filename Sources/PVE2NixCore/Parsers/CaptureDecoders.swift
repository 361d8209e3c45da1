/// Decoders from the captured command and API JSON to the model. Each is lenient where the
/// source is (0/1 booleans, numbers as strings) and reports what is missing as file:line.
public enum CaptureDecoders {
    static func parseJSON(_ text: String, file: String) -> (JSONValue?, [Diagnostic]) {
        do {
            return (try JSONReader.parse(text), [])
        } catch {
            return (nil, [.error(file, error.line, "not valid JSON: \(error.message)")])
        }
    }

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
        func device(_ v: JSONValue) -> BlockDevice? {
            guard let name = v["name"]?.stringValue, let type = v["type"]?.stringValue else {
                diagnostics.append(.error(file, v.line, "block device without 'name' or 'type'"))
                return nil
            }
            guard let size = v["size"]?.int64Value else {
                diagnostics.append(.error(file, v.line, "block device \(name) has no numeric 'size': capture lsblk with -b so sizes are in bytes"))
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
                removable: v["rm"]?.boolValue ?? false, hotplug: v["hotplug"]?.boolValue ?? false,
                rotational: v["rota"]?.boolValue, fstype: text("fstype"), label: text("label"), uuid: text("uuid"),
                partitionLabel: text("partlabel"), partitionTypeName: text("parttypename"),
                mountpoints: mountpoints.filter { !$0.isEmpty },
                children: (v["children"]?.arrayValue ?? []).compactMap(device), line: v.line)
        }
        return (list.compactMap(device), parseDiagnostics + diagnostics)
    }

    /// `ls -l /dev/disk/by-id`: `lrwxrwxrwx 1 root root 13 Nov 20 10:00 NAME -> ../../KNAME`.
    public static func diskByID(_ text: String, file: String) -> ([DiskIDLink], [Diagnostic]) {
        var links: [DiskIDLink] = []
        var diagnostics: [Diagnostic] = []
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("total ") { continue }
            let words = line.splitOnWhitespace()
            guard let arrow = words.firstIndex(of: "->"), arrow > 0, arrow + 1 < words.count else {
                diagnostics.append(.warning(file, lineNumber, "not an 'ls -l' symlink line: '\(line)'"))
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
            return IPLink(name: name, mac: v["address"]?.stringValue?.lowercased(), permanentMAC: v["permaddr"]?.stringValue?.lowercased(),
                          kind: info?["info_kind"]?.stringValue, slaveKind: info?["info_slave_kind"]?.stringValue,
                          master: v["master"]?.stringValue, operState: v["operstate"]?.stringValue, mtu: v["mtu"]?.intValue,
                          altNames: (v["altnames"]?.arrayValue ?? []).compactMap(\.stringValue),
                          vlanID: info?["info_data"]?["id"]?.intValue, vlanFiltering: info?["info_data"]?["vlan_filtering"]?.boolValue,
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
