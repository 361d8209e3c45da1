import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A SHA-256 certificate fingerprint, as `pvenode cert info` prints it (`AA:BB:…`, 32 bytes).
public struct CertificateFingerprint: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Accepts hex with or without colons, any case.
    public init?(_ text: String) {
        let hex = text.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespaces)
        guard hex.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            bytes.append(b)
            i = j
        }
        self.bytes = bytes
    }

    public init(of certificate: NIOSSLCertificate) throws {
        bytes = Array(SHA256.hash(data: try certificate.toDERBytes()))
    }

    public var description: String { bytes.map { String(format: "%02X", $0) }.joined(separator: ":") }
}

/// HTTP/1.1 to one Proxmox VE node over SwiftNIO, one connection per request.
///
/// Written here rather than taken from AsyncHTTPClient for two things the API needs and that
/// client cannot give: Proxmox puts its error message only in the status line's reason phrase
/// ("500 CT 105 already exists on node …"), which NIO's response decoder drops, so the status line
/// is read off the wire before it; and a node may be trusted by its certificate's pinned SHA-256
/// fingerprint alone. NIO's HTTP codec still does all the HTTP parsing.
struct ProxmoxHTTPTransport: Sendable {
    enum Security: Sendable {
        /// Full verification (chain and host name or IP) against these roots.
        case verified([NIOSSLCertificate])
        /// Only the leaf certificate's SHA-256 fingerprint counts.
        case pinned(CertificateFingerprint)
        /// TLS without any verification (the user's loud, explicit choice).
        case unverified
        /// Plain HTTP (the user's loud, explicit choice).
        case plain
    }

    struct Answer: Sendable {
        var status: Int
        /// The reason phrase as sent: where Proxmox puts its message.
        var reason: String
        var body: ByteBuffer
    }

    enum Failure: Error, Sendable {
        case fingerprintMismatch(expected: CertificateFingerprint, presented: CertificateFingerprint?)
        case timedOut
        case closedEarly
        /// No connection: refused, no route, no such host. Nothing was sent.
        case cannotConnect(String)
        /// The TLS handshake failed: the certificate is not trusted or does not name the host.
        case tls(String)
    }

    /// Plain words for a connection failure, from the errno inside NIO's errors.
    static func connectFailure(_ error: any Error) -> String {
        func words(_ e: any Error) -> String? {
            if let io = e as? IOError {
                switch io.errnoCode {
                case ECONNREFUSED: return "connection refused (nothing listens on that port)"
                case EHOSTUNREACH: return "no route to the host"
                case ENETUNREACH: return "the network is unreachable"
                case ETIMEDOUT: return "timed out"
                default: return String(cString: strerror(io.errnoCode))
                }
            }
            return nil
        }
        if let direct = words(error) { return direct }
        if let many = error as? NIOConnectionError {
            if let first = many.connectionErrors.lazy.compactMap({ words($0.error) }).first { return first }
            if many.dnsAError != nil || many.dnsAAAAError != nil { return "the host name does not resolve" }
        }
        return "\(error)"
    }

    let host: String
    let port: Int
    let security: Security
    private let context: NIOSSLContext?

    init(host: String, port: Int, security: Security) throws {
        self.host = host
        self.port = port
        self.security = security
        var tls = TLSConfiguration.makeClientConfiguration()
        // A close (after the answer, or at the deadline) does not wait long for the peer's
        // close_notify: a server busy with a slow answer reads it only later.
        tls.shutdownTimeout = .milliseconds(200)
        switch security {
        case .verified(let roots): tls.trustRoots = .certificates(roots)
        case .pinned: break  // the verification callback replaces chain and name checks
        case .unverified: tls.certificateVerification = .none
        case .plain: break
        }
        if case .plain = security { context = nil } else { context = try NIOSSLContext(configuration: tls) }
    }

    /// A value one thread sets and another reads.
    final class Box<T: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: T?
        var value: T? {
            get { lock.withLock { stored } }
            set { lock.withLock { stored = newValue } }
        }
    }

    func execute(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: ByteBuffer?, timeout: TimeAmount) async throws -> Answer {
        let presented = Box<CertificateFingerprint>()
        let statusLine = Box<String>()
        let (host, context, security) = (self.host, self.context, self.security)
        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        let connectTimeout = min(timeout, .seconds(10))
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(connectTimeout)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        if let context {
                            // SNI takes names only; an address is checked against the certificate's IP entries.
                            let name = isAddress ? nil : host
                            if case .pinned(let pin) = security {
                                try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: name) { certificates, promise in
                                    let seen = certificates.first.flatMap { try? CertificateFingerprint(of: $0) }
                                    presented.value = seen
                                    promise.succeed(seen == pin ? .certificateVerified : .failed)
                                })
                            } else {
                                try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: name))
                            }
                        }
                        try sync.addHandler(StatusLineReader(into: statusLine))
                        try sync.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch ChannelError.connectTimeout {
            throw Failure.timedOut
        } catch let error as NIOSSLError {
            throw Failure.tls("\(error)")
        } catch {
            throw Failure.cannotConnect(Self.connectFailure(error))
        }
        let underlying = channel.channel
        // The whole exchange is bounded: on timeout the connection is closed under it.
        let fired = Box<Bool>()
        let deadline = underlying.eventLoop.scheduleTask(in: timeout) {
            fired.value = true
            underlying.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
                head.headers.replaceOrAdd(name: "Host", value: isAddress && host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                head.headers.replaceOrAdd(name: "Content-Length", value: String(body?.readableBytes ?? 0))
                try await outbound.write(.head(head))
                if let body { try await outbound.write(.body(.byteBuffer(body))) }
                try await outbound.write(.end(nil))
                var status: HTTPResponseStatus?
                var collected = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let h): status = h.status
                    case .body(var b): collected.writeBuffer(&b)
                    case .end:
                        guard let status else { throw Failure.closedEarly }
                        return Answer(status: Int(status.code), reason: Self.reason(statusLine.value) ?? status.reasonPhrase, body: collected)
                    }
                }
                throw Failure.closedEarly
            }
        } catch {
            if fired.value == true { throw Failure.timedOut }
            if case .pinned(let pin) = security, presented.value != pin { throw Failure.fingerprintMismatch(expected: pin, presented: presented.value) }
            if error is NIOSSLError || error is BoringSSLError { throw Failure.tls("\(error)") }
            throw error
        }
    }

    /// The reason phrase of `HTTP/1.1 500 some message`.
    static func reason(_ line: String?) -> String? {
        guard let line else { return nil }
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].hasPrefix("HTTP/") else { return nil }
        let reason = parts[2].trimmingCharacters(in: .whitespaces)
        return reason.isEmpty ? nil : reason
    }

    /// Reads the response's status line as it passes, before NIO's decoder drops its reason phrase.
    final class StatusLineReader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        private let target: Box<String>
        private var seen = ByteBuffer()
        private var done = false

        init(into target: Box<String>) { self.target = target }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if !done {
                var bytes = unwrapInboundIn(data)
                seen.writeBuffer(&bytes)
                let view = seen.readableBytesView
                if let end = view.firstIndex(of: UInt8(ascii: "\n")) {
                    target.value = String(decoding: view[view.startIndex..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    done = true
                } else if seen.readableBytes > 4096 {
                    done = true
                }
            }
            context.fireChannelRead(data)
        }
    }
}
