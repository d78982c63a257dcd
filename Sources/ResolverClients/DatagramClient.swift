import NIOCore
import NIOPosix

/// Collects the first datagram whose DNS id matches from the server's address.
final class DatagramAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let expectedID: UInt16
    let server: SocketAddress
    let promise: EventLoopPromise<[UInt8]>

    init(expectedID: UInt16, server: SocketAddress, promise: EventLoopPromise<[UInt8]>) {
        self.expectedID = expectedID
        self.server = server
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let env = unwrapInboundIn(data)
        guard env.remoteAddress.ipAddress == server.ipAddress, env.remoteAddress.port == server.port else { return }
        var b = env.data
        guard let bytes = b.readBytes(length: b.readableBytes), bytes.count >= 12 else { return }
        guard UInt16(bytes[0]) << 8 | UInt16(bytes[1]) == expectedID, bytes[2] & 0x80 != 0 else { return }
        promise.succeed(bytes)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable surfaces as ECONNREFUSED on some paths.
        promise.fail(ResolverError.classify(error))
    }
}

/// Plain DNS over UDP: a fresh socket (random port) per query, retries on timeout.
public struct DatagramDNSClient: Sendable {
    public let endpoint: ResolverEndpoint
    let settings: ClientSettings
    let group: any EventLoopGroup

    public init(endpoint: ResolverEndpoint, settings: ClientSettings, group: any EventLoopGroup) {
        self.endpoint = endpoint
        self.settings = settings
        self.group = group
    }

    public func exchange(_ query: [UInt8]) async throws -> [UInt8] {
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
                return try await once(query, server: server)
            } catch {
                last = ResolverError.classify(error)
                if case .timeout = last { continue }
                throw last
            }
        }
        throw last
    }

    private func once(_ query: [UInt8], server: SocketAddress) async throws -> [UInt8] {
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        let id = UInt16(query[0]) << 8 | UInt16(query[1])
        let bindHost = server.protocol == .inet6 ? "::" : "0.0.0.0"
        let channel = try await DatagramBootstrap(group: loop)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(DatagramAnswerHandler(expectedID: id, server: server, promise: promise))
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
        return try await promise.futureResult.get()
    }
}
