import PVE2NixCore
import PVE2NixRuntime

/// What happens before a method runs, in pveproxy's order: the path must exist (501); a call
/// proxied to a node needs that node up (595, "No route to host"); then, on that node, the
/// caller's privileges (403, naming the one missing) and the parameters (400, per parameter).
extension FakeProxmoxCluster {
    func admit(_ request: ProxmoxRequest) throws {
        let where_ = "\(request)"
        var params: [String: String] = [:]
        for (k, v) in request.parameters { params[k] = v.text }
        for (k, v) in request.pathParameters { params[k] = v.text }
        guard let schema else {
            if request.template.hasPrefix("/nodes/{node}"), let node = params["node"] { try reachable(NodeName(node), where_) }
            return
        }
        guard let method = schema.method(request.method.rawValue, request.template) else {
            throw ProxmoxAPIError(status: 501, reason: "Method '\(request.method.rawValue) \(request.path)' not implemented", request: where_)
        }
        if method.proxiedToNode, let node = params["node"] { try reachable(NodeName(node), where_) }
        if let denied = method.permissionDenied(to: ProxmoxCaller.current, params: params) {
            throw ProxmoxAPIError(status: 403, reason: denied, request: where_)
        }
        let errors = method.verify(params)
        if !errors.isEmpty { throw ProxmoxAPIError(status: 400, reason: "Parameter verification failed.", parameterErrors: errors, request: where_) }
    }

    /// pveproxy forwards a `proxyto: node` call to that node; an offline one does not answer.
    func reachable(_ node: NodeName, _ where_: String) throws {
        guard let up = online[node] else { throw ProxmoxAPIError(status: 500, reason: "no such cluster node '\(node)'", request: where_) }
        guard up else { throw ProxmoxAPIError(status: 595, reason: "No route to host", request: where_) }
    }

    /// A privilege check made inside a method's code (the schema says only `user: all`).
    func require(_ path: String, _ privileges: [String], any: Bool = false, _ where_: String) throws {
        if let missing = ProxmoxSchema.Method.requirement(path, privileges, any: any, ProxmoxCaller.current) {
            throw ProxmoxAPIError(status: 403, reason: "Permission check failed \(missing)", request: where_)
        }
    }

    /// Whether the caller sees a guest in lists (`VM.Audit` on it).
    func audits(_ vmid: VMID) -> Bool { ProxmoxCaller.current.has("VM.Audit") }

    func requireQuorum(_ where_: String) throws {
        guard quorate else { throw ProxmoxAPIError(status: 500, reason: "cluster not ready - no quorum?", request: where_) }
    }
}
