import Dispatch
import NetTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import ResolverClients

/// One connection of the reachability ladder: TCP connect, TLS handshake with the SNI (the
/// server's chain is captured, not judged, here: the certificate judge does that with the same
/// rules as for captures), then an HTTP/1.1 GET. Each layer's outcome is kept, so the ladder can
/// name the first one that broke.
public struct ConnectOutcome: Sendable {
    public enum Layer: String, Sendable { case tcp, tls, http }
    /// nil when the layer was not reached.
    public var tcp: Result<Double, ResolverError>?
    public var tls: Result<Double, ResolverError>?
    public var http: Result<Int, ResolverError>?
    /// DER certificates the server sent, leaf first.
    public var chain: [[UInt8]] = []
    public var negotiatedProtocol: String?

    public var firstFailure: (layer: Layer, error: ResolverError)? {
        if case .failure(let e)? = tcp { return (.tcp, e) }
        if case .failure(let e)? = tls { return (.tls, e) }
        if case .failure(let e)? = http { return (.http, e) }
        return nil
    }
}

public enum TLSConnectProbe {
    /// Connects to address:port. With `sni`, does a TLS handshake; with `httpPath`, sends a GET
    /// (Host: `host`) and reads the status line.
    public static func run(address: String, port: Int, sni: String?, host: String, httpPath: String?,
                           timeout: TimeAmount, group: any EventLoopGroup = ResolverEventLoops.shared) async -> ConnectOutcome {
        var out = ConnectOutcome()
        let loop = group.next()
        let chainBox = NIOLockedValueBox<[[UInt8]]>([])
        let handshake = loop.makePromise(of: String?.self)
        let response = loop.makePromise(of: Int.self)
        // Every path out completes both (a second completion is ignored by NIO).
        defer {
            handshake.fail(ChannelError.ioOnClosedChannel)
            response.fail(ChannelError.ioOnClosedChannel)
        }
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6 }

        let sslContext: NIOSSLContext? = sni == nil ? nil : {
            var cfg = TLSConfiguration.makeClientConfiguration()
            // The chain is judged by dnsaudit's certificate judge; the handshake must go on so
            // that an intercepting middlebox's certificate can be seen and named.
            cfg.certificateVerification = .noHostnameVerification
            cfg.shutdownTimeout = .milliseconds(100)
            if httpPath != nil { cfg.applicationProtocols = ["http/1.1"] }
            return try? NIOSSLContext(configuration: cfg)
        }()
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let ctx = sslContext {
                        let tls = try NIOSSLClientHandler(context: ctx, serverHostname: sni.flatMap { isIPLiteral($0) ? nil : $0 },
                                                          customVerificationCallback: { certs, promise in
                                                              chainBox.withLockedValue { $0 = certs.compactMap { try? $0.toDERBytes() } }
                                                              promise.succeed(.certificateVerified)
                                                          })
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try channel.pipeline.syncOperations.addHandler(LadderHandler(handshake: sslContext == nil ? nil : handshake,
                                                                                 response: response))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: address, port: port).get()
            out.tcp = .success(elapsed())
        } catch {
            out.tcp = .failure(ResolverError.classify(error))
            handshake.fail(ChannelError.ioOnClosedChannel)
            response.fail(ChannelError.ioOnClosedChannel)
            return out
        }
        defer { channel.close(promise: nil) }
        // A deadline for everything after the connect.
        let deadline = loop.scheduleTask(in: timeout) {
            handshake.fail(ResolverError.timeout)
            response.fail(ResolverError.timeout)
        }
        defer { deadline.cancel() }
        if sslContext != nil {
            do {
                out.negotiatedProtocol = try await handshake.futureResult.get()
                out.tls = .success(elapsed())
                out.chain = chainBox.withLockedValue { $0 }
            } catch {
                out.chain = chainBox.withLockedValue { $0 }
                out.tls = .failure(ResolverError.classify(error))
                response.fail(ChannelError.ioOnClosedChannel)
                return out
            }
        }
        guard let path = httpPath else {
            response.fail(ChannelError.ioOnClosedChannel)
            return out
        }
        var request = channel.allocator.buffer(capacity: 256)
        request.writeString("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: dnsaudit\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        channel.writeAndFlush(request, promise: nil)
        do {
            out.http = .success(try await response.futureResult.get())
        } catch {
            out.http = .failure(ResolverError.classify(error))
        }
        return out
    }

    static func isIPLiteral(_ s: String) -> Bool { IPAddress.isLiteral(s) }
}

/// Completes the handshake promise on TLS success, and the response promise with the HTTP
/// status code; any error or close fails what is still open.
final class LadderHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let handshake: EventLoopPromise<String?>?
    let response: EventLoopPromise<Int>
    var head: [UInt8] = []

    init(handshake: EventLoopPromise<String?>?, response: EventLoopPromise<Int>) {
        self.handshake = handshake
        self.response = response
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? TLSUserEvent, case .handshakeCompleted(let proto) = e { handshake?.succeed(proto) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buf = unwrapInboundIn(data)
        guard head.count < 8192, let bytes = buf.readBytes(length: buf.readableBytes) else { return }
        head += bytes
        if let end = head.firstIndex(of: 0x0A) {
            let line = String(decoding: head[..<end], as: UTF8.self)
            let parts = line.split(separator: " ")
            if parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) {
                response.succeed(code)
            } else {
                response.fail(ResolverError.badResponse("not an HTTP response: \(line.prefix(60))"))
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handshake?.fail(error)
        response.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake?.fail(ResolverError.closed)
        response.fail(ResolverError.closed)
        context.fireChannelInactive()
    }
}
