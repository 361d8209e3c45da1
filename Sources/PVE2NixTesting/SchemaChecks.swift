import Foundation
import PVE2NixCore

/// Who is asking: a user (`root@pam`) or an API token (`user@realm!token`), and the privileges it
/// holds (nil: every privilege). The simulator sets it per request; in-process callers are root.
public struct ProxmoxCaller: Sendable, Hashable {
    public var userid: String
    public var privileges: Set<String>?

    public init(userid: String, privileges: Set<String>? = nil) {
        self.userid = userid
        self.privileges = privileges
    }

    public static let root = ProxmoxCaller(userid: "root@pam")

    /// The caller of the request being handled (a task-local, so it crosses into the fake actor).
    @TaskLocal public static var current: ProxmoxCaller = .root

    /// Only the literal user root@pam passes root-only methods: never a token, not even root's.
    public var isRoot: Bool { userid == "root@pam" }
    /// The user a token belongs to.
    public var user: String { String(userid.split(separator: "!", maxSplits: 1).first ?? "") }
    public func has(_ privilege: String) -> Bool { isRoot || (privileges?.contains(privilege) ?? true) }
}

/// The checks PVE::RESTHandler and PVE::JSONSchema apply before a method runs, in their words.
extension ProxmoxSchema.Method {
    /// The schema of a parameter; `net0` finds `net[n]`.
    public func spec(_ name: String) -> JSONValue? {
        if let s = properties[name] { return s }
        let base = name.prefix { !$0.isNumber }
        guard !base.isEmpty, base.count < name.count, name.dropFirst(base.count).allSatisfy(\.isNumber) else { return nil }
        return properties["\(base)[n]"]
    }

    /// Per-parameter errors ("Parameter verification failed."); empty when the parameters pass.
    public func verify(_ params: [String: String]) -> [String: String] {
        var errors: [String: String] = [:]
        for (name, value) in params {
            guard let spec = spec(name) else {
                if !additionalProperties { errors[name] = "property is not defined in schema and the schema does not allow additional properties" }
                continue
            }
            if let problem = Self.check(value, spec) { errors[name] = problem }
        }
        for (name, spec) in properties where !name.hasSuffix("[n]") && spec["optional"]?.boolValue != true && params[name] == nil {
            errors[name] = "property is missing and it is not optional"
        }
        return errors
    }

    /// Parameters typed as the schema types them (a value of the wrong type stays a string).
    public func typed(_ params: [String: String]) -> [String: ProxmoxValue] {
        params.reduce(into: [:]) { out, pair in
            let (name, value) = pair
            switch spec(name)?["type"]?.stringValue {
            case "integer": out[name] = Int(value).map(ProxmoxValue.integer) ?? .string(value)
            case "number": out[name] = Double(value).map(ProxmoxValue.number) ?? .string(value)
            case "boolean": out[name] = value == "1" ? .boolean(true) : value == "0" ? .boolean(false) : .string(value)
            default: out[name] = .string(value)
            }
        }
    }

    static func check(_ value: String, _ spec: JSONValue) -> String? {
        func number(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }
        let type = spec["type"]?.stringValue ?? "string"
        switch type {
        case "boolean":
            guard value == "0" || value == "1" else { return "type check ('boolean') failed - got '\(value)'" }
        case "integer", "number":
            guard let n = type == "integer" ? Int(value).map(Double.init) : Double(value), n.isFinite else { return "type check ('\(type)') failed - got '\(value)'" }
            if let min = spec["minimum"]?.doubleValue, n < min { return "value must have a minimum value of \(number(min))" }
            if let max = spec["maximum"]?.doubleValue, n > max { return "value must have a maximum value of \(number(max))" }
        case "string":
            if let max = spec["maxLength"]?.intValue, value.count > max { return "value may only be \(max) characters long" }
            if let min = spec["minLength"]?.intValue, value.count < min { return "value must be at least \(min) characters long" }
            if let pattern = spec["pattern"]?.stringValue, let re = try? NSRegularExpression(pattern: "^(?:\(pattern))$"),
               re.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) == nil {
                return "value does not match the regex pattern"
            }
            if let format = spec["format"]?.stringValue, let problem = Self.formatProblem(format, value) { return "invalid format - \(problem)" }
        default:
            break
        }
        if let allowed = spec["enum"]?.arrayValue?.compactMap(\.stringValue), !allowed.isEmpty, !allowed.contains(value) {
            return "value '\(value)' does not have a value in the enumeration '\(allowed.joined(separator: ", "))'"
        }
        return nil
    }

    /// The registered formats the calls pve2nix and an operator make use; others are not checked.
    static func formatProblem(_ format: String, _ value: String) -> String? {
        func matches(_ pattern: String, _ text: String) -> Bool { text.range(of: "^(?:\(pattern))$", options: [.regularExpression, .caseInsensitive]) != nil }
        let node = "[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?"
        let items = value.split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " }).map(String.init)
        switch format {
        case "pve-node":
            return matches(node, value) ? nil : "value does not look like a valid node name"
        case "pve-configid":
            return matches("[a-z][a-z0-9_-]+", value) ? nil : "invalid configuration ID '\(value)'"
        case "pve-configid-list":
            return items.first { !matches("[a-z][a-z0-9_-]+", $0) }.map { "invalid configuration ID '\($0)'" }
        case "pve-storage-id":
            return matches("[a-z][a-z0-9._-]*[a-z0-9]", value) ? nil : "storage ID '\(value)' contains illegal characters"
        case "pve-vmid-list":
            return items.allSatisfy({ (Int($0) ?? 0) >= 100 }) && !items.isEmpty ? nil : "value does not look like a valid VM ID"
        case "pve-ha-resource-or-vm-id":
            return matches("((vm|ct):)?[1-9][0-9]{2,8}", value) ? nil : "unable to parse HA resource id '\(value)'"
        case "pve-ha-resource-id-list":
            return items.first { !matches("(vm|ct):[1-9][0-9]{2,8}", $0) }.map { "unable to parse HA resource id '\($0)'" }
        case "pve-ha-node-list", "pve-ha-group-node-list":
            return items.first { !matches("\(node)(:[0-9]+)?", $0) }.map { "unable to parse node '\($0)'" }
        default:
            return nil
        }
    }

    /// Why the caller may not call this method, as the 403's reason says it, or nil when it may.
    public func permissionDenied(to caller: ProxmoxCaller, params: [String: String]) -> String? {
        guard let permissions else { return caller.isRoot ? nil : "Permission check failed (user != root@pam)" }
        guard let check = permissions["check"] else { return nil }
        return Self.denied(check, caller, params).map { "Permission check failed \($0)" }
    }

    /// `["perm", "/vms/{vmid}", [privs], "any", 1]`, `["and", …]`, `["or", …]`; other forms pass.
    static func denied(_ rule: JSONValue, _ caller: ProxmoxCaller, _ params: [String: String]) -> String? {
        guard let items = rule.arrayValue, let head = items.first?.stringValue else { return nil }
        switch head {
        case "perm":
            guard items.count >= 3, var path = items[1].stringValue else { return nil }
            for (k, v) in params { path = path.replacingOccurrences(of: "{\(k)}", with: v) }
            let privileges = items[2].arrayValue?.compactMap(\.stringValue) ?? []
            let any = items.count >= 5 && items[3].stringValue == "any" && items[4].boolValue == true
            return requirement(path, privileges, any: any, caller)
        case "and":
            return items.dropFirst().lazy.compactMap { denied($0, caller, params) }.first
        case "or":
            let failures = items.dropFirst().map { denied($0, caller, params) }
            return failures.contains { $0 == nil } ? nil : failures.first ?? nil
        default:
            return nil
        }
    }

    /// RPCEnvironment's check: all privileges (names the first missing) or, with `any`, one of them.
    static func requirement(_ path: String, _ privileges: [String], any: Bool, _ caller: ProxmoxCaller) -> String? {
        if any { return privileges.contains(where: caller.has) ? nil : "(\(path), \(privileges.joined(separator: "|")))" }
        return privileges.first { !caller.has($0) }.map { "(\(path), \($0))" }
    }
}
