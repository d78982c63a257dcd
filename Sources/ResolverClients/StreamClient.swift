import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import TLSCertificates

/// Why a query got no usable answer.
public enum ResolverError: Error, Sendable, Equatable, CustomStringConvertible {
    case timeout
    case connectionRefused
    case connectionReset
    case closed
    case unreachable(String)
    case tls(String)
    case certificate(String)
    case http(Int)
    case badResponse(String)
    case other(String)

    public var description: String {
        switch self {
        case .timeout: return "timed out"
        case .connectionRefused: return "connection refused"
        case .connectionReset: return "connection reset"
        case .closed: return "connection closed without an answer"
        case .unreachable(let s): return "unreachable (\(s))"
        case .tls(let s): return "TLS handshake failed (\(s))"
        case .certificate(let s): return "certificate not trusted (\(s))"
        case .http(let code): return "HTTP status \(code)"
        case .badResponse(let s): return "bad response (\(s))"
        case .other(let s): return s
        }
    }

    /// Timeouts, resets and refusals: what a blocking middlebox produces.
    public var looksBlocked: Bool {
        switch self {
        case .timeout, .connectionRefused, .connectionReset, .closed, .unreachable: return true
        default: return false
        }
    }

    /// Maps NIO / NIOSSL / POSIX errors to a plain reason.
    public static func classify(_ error: any Error) -> ResolverError {
        if let e = error as? ResolverError { return e }
        if let e = error as? IOError {
            switch e.errnoCode {
            case 111: return .connectionRefused  // ECONNREFUSED
            case 104, 32: return .connectionReset  // ECONNRESET, EPIPE
            case 101, 113: return .unreachable("no route")  // ENETUNREACH, EHOSTUNREACH
            case 110: return .timeout
            default: return .other(e.description)
            }
        }
        if error is ChannelError {
            if case ChannelError.connectTimeout = error { return .timeout }
            if case ChannelError.ioOnClosedChannel = error { return .closed }
            if case ChannelError.eof = error { return .closed }
            return .other(String(describing: error))
        }
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first { return classify(first.error) }
            return .unreachable(e.host)
        }
        if let e = error as? NIOSSLError {
            let text = String(describing: e)
            if let reason = opensslReason(text) {
                if reason.contains("CERTIFICATE") { return .certificate(reason.lowercased().replacingOccurrences(of: "_", with: " ")) }
                if reason == "WRONG_VERSION_NUMBER" || reason == "PACKET_LENGTH_TOO_LONG" { return .tls("the server does not speak TLS (\(reason.lowercased().replacingOccurrences(of: "_", with: " ")))") }
                return .tls(reason.lowercased().replacingOccurrences(of: "_", with: " "))
            }
            if text.contains("CERTIFICATE") || text.contains("certificate") || text.contains("cannotMatch") || text.contains("unableToValidate") {
                return .certificate(shorten(text))
            }
            if case .uncleanShutdown = e { return .closed }
            return .tls(shorten(text))
        }
        if let e = error as? NIOSSLExtraError { return .certificate(shorten(String(describing: e))) }
        let text = String(describing: error)
        if text.contains("CERTIFICATE") || text.contains("certificate") { return .certificate(shorten(text)) }
        return .other(shorten(text))
    }

    /// The reason token of a BoringSSL error text ("…:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER at …").
    static func opensslReason(_ text: String) -> String? {
        guard let r = text.range(of: "OPENSSL_internal:") else { return nil }
        let rest = text[r.upperBound...]
        let token = rest.prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
        return token.isEmpty ? nil : String(token)
    }

    static func shorten(_ s: String) -> String {
        let one = s.replacingOccurrences(of: "\n", with: " ")
        return one.count > 200 ? String(one.prefix(200)) + "…" : one
    }
}

/// Settings shared by all clients.
public struct ClientSettings: Sendable {
    /// Per-attempt timeout.
    public var timeout: TimeAmount = .seconds(3)
    /// Extra attempts after a transport failure (not after a TLS / certificate failure).
    public var retries = 1
    /// Trust roots (PEM) added to the system's for DoH / DoT.
    public var caFile: String?
    /// Use only `caFile`, not the system roots (tests).
    public var onlyCAFile = false
    /// DoH method.
    public var dohPOST = false
    public init() {}

    func tlsConfiguration() -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = caFile {
            if onlyCAFile { tls.trustRoots = .file(ca) } else { tls.additionalTrustRoots = [.file(ca)] }
        }
        tls.certificateVerification = .fullVerification
        tls.shutdownTimeout = .milliseconds(200)
        return tls
    }
}

/// A query travelling to the framing handler: the bytes (id patched on the way) and the promise for the answer.
struct FramedRequest: Sendable {
    var bytes: [UInt8]
    var promise: EventLoopPromise<[UInt8]>
}

/// RFC 1035 §4.2.2 / RFC 7858 framing: 2-byte length prefix. Pipelined: each query gets a fresh id on
/// this connection; answers are matched by id in any order, and get the caller's id back.
final class FramedDNSHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = FramedRequest
    typealias OutboundOut = ByteBuffer

    private var buffer: ByteBuffer?
    private var pending: [UInt16: (originalID: UInt16, promise: EventLoopPromise<[UInt8]>)] = [:]
    private var nextID: UInt16 = UInt16.random(in: 0...UInt16.max)
    private var failure: ResolverError?
    /// Bound on one answer (a DNS message is at most 65535 bytes anyway).
    private let maxPending = 256

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let req = unwrapOutboundIn(data)
        if let f = failure {
            req.promise.fail(f)
            promise?.fail(f)
            return
        }
        guard req.bytes.count >= 12, req.bytes.count <= 65535, pending.count < maxPending else {
            req.promise.fail(ResolverError.other("query not sent (size or too many in flight)"))
            promise?.succeed(())
            return
        }
        var id = nextID
        while pending[id] != nil { id &+= 1 }
        nextID = id &+ 1
        let original = UInt16(req.bytes[0]) << 8 | UInt16(req.bytes[1])
        pending[id] = (original, req.promise)
        var out = context.channel.allocator.buffer(capacity: req.bytes.count + 2)
        out.writeInteger(UInt16(req.bytes.count))
        out.writeInteger(id)
        out.writeBytes(req.bytes[2...])
        context.writeAndFlush(wrapOutboundOut(out), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        while var b = buffer, let len = b.getInteger(at: b.readerIndex, as: UInt16.self), b.readableBytes >= Int(len) + 2 {
            b.moveReaderIndex(forwardBy: 2)
            guard var msg = b.readBytes(length: Int(len)) else { break }
            buffer = b
            guard msg.count >= 2 else { continue }
            let id = UInt16(msg[0]) << 8 | UInt16(msg[1])
            guard let entry = pending.removeValue(forKey: id) else { continue }  // unsolicited: ignore
            msg[0] = UInt8(entry.originalID >> 8)
            msg[1] = UInt8(entry.originalID & 0xFF)
            entry.promise.succeed(msg)
        }
        if let b = buffer, b.readableBytes == 0 { buffer = nil }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(ResolverError.classify(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.closed)
        context.fireChannelInactive()
    }

    private func failAll(_ e: ResolverError) {
        if failure == nil { failure = e }
        let all = pending
        pending.removeAll()
        for (_, v) in all { v.promise.fail(failure ?? e) }
    }
}

/// DNS over TCP or over TLS to one server: one connection (re-opened after a failure), pipelined queries.
public final class StreamDNSClient: Sendable {
    public let endpoint: ResolverEndpoint
    let settings: ClientSettings
    let group: any EventLoopGroup
    private let sslContext: NIOSSLContext?
    private let state: NIOLockedValueBox<EventLoopFuture<any Channel>?>

    public init(endpoint: ResolverEndpoint, settings: ClientSettings, group: any EventLoopGroup) throws {
        self.endpoint = endpoint
        self.settings = settings
        self.group = group
        if endpoint.transport == .dot {
            do {
                sslContext = try NIOSSLContext(configuration: settings.tlsConfiguration())
            } catch {
                throw ResolverError.other("cannot load trust roots: \(error)")
            }
        } else {
            sslContext = nil
        }
        state = NIOLockedValueBox(nil)
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let ctx = sslContext
        let name = endpoint.tlsName
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(settings.timeout)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let ctx {
                        // Never an IP literal as SNI (RFC 6066 §3): an address is verified by its IP SAN.
                        let tls = try NIOSSLClientHandler(context: ctx, serverHostname: name.flatMap { CertificateNames.isIPLiteral($0) ? nil : $0 })
                        try channel.pipeline.syncOperations.addHandler(tls)
                        if let name { try channel.pipeline.syncOperations.addHandler(CertificateNameCheck(name: name)) }
                    }
                    try channel.pipeline.syncOperations.addHandler(FramedDNSHandler())
                }
            }
        return bootstrap.connect(host: endpoint.host, port: endpoint.port)
    }

    private func channel() -> EventLoopFuture<any Channel> {
        state.withLockedValue { current in
            if let c = current { return c }
            let f = connect()
            current = f
            return f
        }
    }

    private func reset(_ old: EventLoopFuture<any Channel>) {
        state.withLockedValue { current in
            if let c = current, c === old { current = nil }
        }
        old.whenSuccess { $0.close(promise: nil) }
    }

    /// One exchange with retries on transport failures.
    public func exchange(_ query: [UInt8]) async throws -> [UInt8] {
        var last: ResolverError = .timeout
        for attempt in 0...max(0, settings.retries) {
            let chf = channel()
            do {
                return try await once(query, chf)
            } catch {
                last = ResolverError.classify(error)
                reset(chf)
                switch last {
                case .tls, .certificate, .connectionRefused: throw last
                default: if attempt == settings.retries { throw last }
                }
            }
        }
        throw last
    }

    private func once(_ query: [UInt8], _ chf: EventLoopFuture<any Channel>) async throws -> [UInt8] {
        let ch = try await chf.get()
        let promise = ch.eventLoop.makePromise(of: [UInt8].self)
        let timeout = settings.timeout
        let timer = ch.eventLoop.scheduleTask(in: timeout) { promise.fail(ResolverError.timeout) }
        ch.writeAndFlush(FramedRequest(bytes: query, promise: promise)).whenFailure { promise.fail($0) }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    public func close() async {
        let f = state.withLockedValue { c -> EventLoopFuture<any Channel>? in
            let old = c
            c = nil
            return old
        }
        if let f, let ch = try? await f.get() { try? await ch.close() }
    }
}

/// After the handshake (NIOSSL has verified the chain, and the name *or an IP SAN for the address*),
/// insists that the certificate carries the reference's name: a certificate that only lists the
/// address it was reached at does not prove who the server is.
final class CertificateNameCheck: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let name: String
    /// Completed when the handshake is done and the name checked (for a handshake-only check).
    let checked: EventLoopPromise<Void>?
    init(name: String, checked: EventLoopPromise<Void>? = nil) {
        self.name = name
        self.checked = checked
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? TLSUserEvent, case .handshakeCompleted = e,
           let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self) {
            let der = (try? tls.peerCertificate?.toDERBytes()) ?? nil
            if der.map({ !CertificateNames.names($0, host: name) }) ?? true {
                let error = ResolverError.certificate("the certificate does not name \(name)")
                checked?.fail(error)
                context.fireErrorCaught(error)
                context.close(promise: nil)
                return
            }
            checked?.succeed(())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        checked?.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        checked?.fail(ResolverError.closed)
        context.fireChannelInactive()
    }
}

/// A TLS handshake to the endpoint that verifies the chain and that the certificate carries the
/// endpoint's name (not only an IP SAN), then closes. DoH uses it once before its first query,
/// since the HTTP client's own check accepts an IP SAN for the address it connected to.
func verifyCertificateName(_ endpoint: ResolverEndpoint, name: String, settings: ClientSettings,
                           group: any EventLoopGroup) async throws {
    let ctx: NIOSSLContext
    do {
        ctx = try NIOSSLContext(configuration: settings.tlsConfiguration())
    } catch {
        throw ResolverError.other("cannot load trust roots: \(error)")
    }
    let loop = group.next()
    let checked = loop.makePromise(of: Void.self)
    let bootstrap = ClientBootstrap(group: loop)
        .connectTimeout(settings.timeout)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: ctx, serverHostname: CertificateNames.isIPLiteral(name) ? nil : name))
                try channel.pipeline.syncOperations.addHandler(CertificateNameCheck(name: name, checked: checked))
            }
        }
    let channel: any Channel
    do {
        channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
    } catch {
        checked.fail(ResolverError.classify(error))
        throw ResolverError.classify(error)
    }
    let deadline = loop.scheduleTask(in: settings.timeout) { checked.fail(ResolverError.timeout) }
    defer {
        deadline.cancel()
        channel.close(promise: nil)
    }
    do {
        try await checked.futureResult.get()
    } catch {
        throw ResolverError.classify(error)
    }
}
