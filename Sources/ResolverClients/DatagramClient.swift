import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Collects every datagram whose DNS id matches from the server's address: the first completes
/// the promise, later ones are kept (with their arrival time) for Hold-On.
final class DatagramAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let expectedID: UInt16
    let server: SocketAddress
    let promise: EventLoopPromise<[UInt8]>
    /// Every matching answer, in arrival order, with nanoseconds since `started` (bounded).
    let received: NIOLockedValueBox<[(bytes: [UInt8], ns: UInt64)]>
    let started: UInt64

    init(expectedID: UInt16, server: SocketAddress, promise: EventLoopPromise<[UInt8]>,
         received: NIOLockedValueBox<[(bytes: [UInt8], ns: UInt64)]>, started: UInt64) {
        self.expectedID = expectedID
        self.server = server
        self.promise = promise
        self.received = received
        self.started = started
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let env = unwrapInboundIn(data)
        guard env.remoteAddress.ipAddress == server.ipAddress, env.remoteAddress.port == server.port else { return }
        var b = env.data
        guard let bytes = b.readBytes(length: b.readableBytes), bytes.count >= 12 else { return }
        guard UInt16(bytes[0]) << 8 | UInt16(bytes[1]) == expectedID, bytes[2] & 0x80 != 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        received.withLockedValue { if $0.count < 16 { $0.append((bytes, now &- started)) } }
        promise.succeed(bytes)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable surfaces as ECONNREFUSED on some paths.
        promise.fail(ResolverError.classify(error))
    }
}

/// The answers to one UDP query heard during a Hold-On window (Duan & Weaver 2012): the first, and
/// any that followed it before the window closed.
public struct HeldAnswers: Sendable {
    /// Every matching answer in arrival order (the first is what an ordinary client would take).
    public var answers: [(bytes: [UInt8], milliseconds: Double)]
    /// How long the socket stayed open after the first answer.
    public var windowMilliseconds: Double
}

/// Plain DNS over UDP: a fresh socket (random port) per query, retries on timeout.
public struct DatagramDNSClient: Sendable {
    public let endpoint: ResolverEndpoint
    let settings: ClientSettings
    let group: any EventLoopGroup

    /// Round-trip times (ms) of this client's earlier answers: the resolver's usual RTT, which a
    /// Hold-On window must outlast (bounded: the last 32).
    let rtts = NIOLockedValueBox<[Double]>([])

    public init(endpoint: ResolverEndpoint, settings: ClientSettings, group: any EventLoopGroup) {
        self.endpoint = endpoint
        self.settings = settings
        self.group = group
    }

    /// The median RTT of this client's earlier answers, if any.
    public var usualRTT: Double? {
        let s = rtts.withLockedValue { $0 }.sorted()
        return s.isEmpty ? nil : s[s.count / 2]
    }

    public func exchange(_ query: [UInt8]) async throws -> [UInt8] {
        try await exchangeHoldingOn(query, window: nil).answers[0].bytes
    }

    /// The Hold-On window after a first answer that came after `rtt` ms: long enough for the
    /// genuine answer to follow a forged one that raced it — twice the resolver's usual RTT (from
    /// this client's earlier answers) and four times the first answer's, at least 200 ms (an
    /// injector near the client answers far sooner than a distant resolver) — bounded by 1.5 s and
    /// the per-query timeout.
    public func holdOnWindow(afterFirstAnswerIn rtt: Double) -> Double {
        let timeoutMs = Double(settings.timeout.nanoseconds) / 1e6
        let usual = usualRTT ?? 0
        return min(max(200, rtt * 4, usual * 2 + 50), 1500, max(timeoutMs, 1))
    }

    /// One exchange; with `window` (milliseconds, from the first answer's RTT) the socket stays
    /// open that long after the first answer and every further answer to the same id is returned.
    public func exchangeHoldingOn(_ query: [UInt8], window: (@Sendable (Double) -> Double)?) async throws -> HeldAnswers {
        guard query.count >= 12 else { throw ResolverError.other("query too short") }
        let server: SocketAddress
        do {
            server = try SocketAddress(ipAddress: endpoint.host, port: endpoint.port)
        } catch {
            throw ResolverError.other("plain DNS needs an IP address, not '\(endpoint.host)'")
        }
        var last: ResolverError = .timeout
        for _ in 0...max(0, settings.retries) {
            do {
                return try await once(query, server: server, window: window)
            } catch {
                last = ResolverError.classify(error)
                if case .timeout = last { continue }
                throw last
            }
        }
        throw last
    }

    private func once(_ query: [UInt8], server: SocketAddress, window: (@Sendable (Double) -> Double)?) async throws -> HeldAnswers {
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        let id = UInt16(query[0]) << 8 | UInt16(query[1])
        let bindHost = server.protocol == .inet6 ? "::" : "0.0.0.0"
        let received = NIOLockedValueBox<[(bytes: [UInt8], ns: UInt64)]>([])
        let started = DispatchTime.now().uptimeNanoseconds
        let channel = try await DatagramBootstrap(group: loop)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(DatagramAnswerHandler(expectedID: id, server: server, promise: promise,
                                                                                    received: received, started: started))
                }
            }
            .bind(host: bindHost, port: 0).get()
        let timer = loop.scheduleTask(in: settings.timeout) { promise.fail(ResolverError.timeout) }
        var buf = channel.allocator.buffer(capacity: query.count)
        buf.writeBytes(query)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: buf)).whenFailure { promise.fail($0) }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        let first = try await promise.futureResult.get()
        let firstMs = Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e6
        guard let window else {
            rtts.withLockedValue { r in
                if r.count >= 32 { r.removeFirst() }
                r.append(firstMs)
            }
            return HeldAnswers(answers: [(first, firstMs)], windowMilliseconds: 0)
        }
        let hold = window(firstMs)
        try? await Task.sleep(nanoseconds: UInt64(max(0, hold) * 1e6))
        let all = received.withLockedValue { $0 }.map { (bytes: $0.bytes, milliseconds: Double($0.ns) / 1e6) }
        return HeldAnswers(answers: all.isEmpty ? [(first, firstMs)] : all, windowMilliseconds: hold)
    }
}
