import NIOCore
import NIOHTTP1
import NIOPosix

/// A plain HTTP server (127.0.0.1 unless told otherwise) standing in for a site's services: it
/// answers by the Host header (as Traefik routes) when it knows the host, else by the path, else
/// 404. A TCP probe only needs it to accept.
public final class StandInHTTPServer: Sendable {
    public let port: Int
    private let channel: Channel

    private init(port: Int, channel: Channel) {
        self.port = port
        self.channel = channel
    }

    public static func start(host: String = "127.0.0.1", port: Int = 0, hosts: [String: Int] = [:], paths: [String: Int] = [:]) async throws -> StandInHTTPServer {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(Handler(hosts: hosts, paths: paths)) }
            }
            .bind(host: host, port: port).get()
        return StandInHTTPServer(port: server.localAddress?.port ?? 0, channel: server)
    }

    public func stop() async { try? await channel.close() }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let hosts: [String: Int]
        let paths: [String: Int]
        var status = 404
        init(hosts: [String: Int], paths: [String: Int]) { self.hosts = hosts; self.paths = paths }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                let host = head.headers.first(name: "Host").map { String($0.split(separator: ":").first ?? "") } ?? ""
                status = hosts[host] ?? paths[head.uri] ?? 404
            case .body:
                break
            case .end:
                var headers = HTTPHeaders()
                headers.add(name: "Content-Length", value: "0")
                headers.add(name: "Connection", value: "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
            }
        }
    }
}
