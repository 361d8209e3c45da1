/// A Proxmox property string such as `name=eth0,bridge=vmbr0,ip=10.1.40.21/24` or
/// `local-lvm:vm-101-disk-0,size=8G`. Keys come in any order; a first item without `=` is the
/// value of the format's default key (the volume for disks, the host path for mounts).
public struct PropertyString: Sendable, Hashable, Codable {
    public var defaultValue: String?
    public var properties: [String: String]
    /// Keys in the order they were written, to report them back faithfully.
    public var keyOrder: [String]

    public init(_ text: String) {
        var properties: [String: String] = [:]
        var order: [String] = []
        var defaultValue: String? = nil
        for (i, item) in text.split(separator: ",", omittingEmptySubsequences: true).enumerated() {
            if let eq = item.firstIndex(of: "=") {
                let key = String(item[..<eq]).trimmingWhitespace()
                let value = String(item[item.index(after: eq)...]).trimmingWhitespace()
                if properties[key] == nil { order.append(key) }
                properties[key] = value
            } else if i == 0 {
                defaultValue = String(item).trimmingWhitespace()
            } else {
                let key = String(item).trimmingWhitespace()
                if properties[key] == nil { order.append(key) }
                properties[key] = "1"
            }
        }
        self.defaultValue = defaultValue
        self.properties = properties
        self.keyOrder = order
    }

    public subscript(key: String) -> String? { properties[key] }

    public func flag(_ key: String) -> Bool {
        guard let v = properties[key]?.lowercased() else { return false }
        return v == "1" || v == "yes" || v == "on" || v == "true"
    }
}

/// Where a guest volume lives: `storage:volname`, a host directory (bind mount) or a device.
public enum VolumeSource: Sendable, Hashable, Codable {
    case storage(id: String, volume: String)
    case hostPath(String)
    case device(String)
    case none

    public init(_ text: String) {
        if text == "none" || text.isEmpty {
            self = .none
        } else if text.hasPrefix("/dev/") {
            self = .device(text)
        } else if text.hasPrefix("/") {
            self = .hostPath(text)
        } else if let colon = text.firstIndex(of: ":") {
            self = .storage(id: String(text[..<colon]), volume: String(text[text.index(after: colon)...]))
        } else {
            // `cdrom` (physical drive) and other bare words.
            self = .device(text)
        }
    }

    public var storageID: String? {
        if case .storage(let id, _) = self { return id }
        return nil
    }

    public var description: String {
        switch self {
        case .storage(let id, let volume): "\(id):\(volume)"
        case .hostPath(let p), .device(let p): p
        case .none: "none"
        }
    }
}
