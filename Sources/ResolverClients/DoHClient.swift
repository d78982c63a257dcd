import AsyncHTTPClient
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// DNS over HTTPS (RFC 8484), GET (`?dns=` base64url, id 0) or POST, HTTP/2 when the server offers it.
/// An IP-literal URL with a known certificate name connects to the IP (no bootstrap lookup) and
/// verifies the certificate for the name (AHC's `dnsOverride`).
public final class DoHClient: Sendable {
    public let endpoint: ResolverEndpoint
    let settings: ClientSettings
    let client: HTTPClient
    let url: String
    let group: any EventLoopGroup
    /// The certificate's name has been checked (once per client).
    let nameChecked = NIOLockedValueBox(false)

    public init(endpoint: ResolverEndpoint, settings: ClientSettings, group: any EventLoopGroup) {
        self.endpoint = endpoint
        self.settings = settings
        self.group = group
        var config = HTTPClient.Configuration(tlsConfiguration: settings.tlsConfiguration())
        config.httpVersion = .automatic
        config.timeout = HTTPClient.Configuration.Timeout(connect: settings.timeout, read: settings.timeout)
        config.redirectConfiguration = .disallow
        config.connectionPool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(30))
        var urlHost = endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host
        if let name = endpoint.tlsName, endpoint.isIPLiteral {
            config.dnsOverride = [name: endpoint.host]
            urlHost = name
        }
        url = "https://\(urlHost):\(endpoint.port)\(endpoint.path)"
        client = HTTPClient(eventLoopGroup: group, configuration: config)
    }

    public func exchange(_ query: [UInt8]) async throws -> [UInt8] {
        guard query.count >= 12 else { throw ResolverError.other("query too short") }
        if let name = endpoint.tlsName, !nameChecked.withLockedValue({ $0 }) {
            try await verifyCertificateName(endpoint, name: name, settings: settings, group: group)
            nameChecked.withLockedValue { $0 = true }
        }
        var last: ResolverError = .timeout
        for attempt in 0...max(0, settings.retries) {
            do {
                return try await once(query)
            } catch {
                last = ResolverError.classify(error)
                switch last {
                case .tls, .certificate, .http, .badResponse, .connectionRefused: throw last
                default: if attempt == settings.retries { throw last }
                }
            }
        }
        throw last
    }

    private func once(_ query: [UInt8]) async throws -> [UInt8] {
        // RFC 8484 §4.1: id 0 for cache friendliness; restore the caller's id on the answer.
        var q = query
        let originalID = (q[0], q[1])
        q[0] = 0
        q[1] = 0
        var req: HTTPClientRequest
        if settings.dohPOST {
            req = HTTPClientRequest(url: url)
            req.method = .POST
            req.headers.add(name: "content-type", value: "application/dns-message")
            req.body = .bytes(ByteBuffer(bytes: q))
        } else {
            req = HTTPClientRequest(url: url + (endpoint.path.contains("?") ? "&" : "?") + "dns=" + base64URL(q))
            req.method = .GET
        }
        req.headers.add(name: "accept", value: "application/dns-message")
        let timeout = settings.timeout
        let resp: HTTPClientResponse
        do {
            resp = try await client.execute(req, timeout: timeout)
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .connectTimeout || e == .readTimeout {
            throw ResolverError.timeout
        } catch let e as HTTPClientError where e == .remoteConnectionClosed {
            throw ResolverError.closed
        }
        guard resp.status == .ok else { throw ResolverError.http(Int(resp.status.code)) }
        var body = try await resp.body.collect(upTo: 65535)
        guard var bytes = body.readBytes(length: body.readableBytes), bytes.count >= 12 else {
            throw ResolverError.badResponse("short body")
        }
        bytes[0] = originalID.0
        bytes[1] = originalID.1
        return bytes
    }

    public func shutdown() async {
        try? await client.shutdown()
    }
}

/// RFC 4648 §5 without padding.
func base64URL(_ data: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(data.count * 4 / 3 + 4)
    var i = 0
    while i + 3 <= data.count {
        let n = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
        out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
        i += 3
    }
    let rest = data.count - i
    if rest == 1 {
        let n = UInt32(data[i]) << 16
        out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
    } else if rest == 2 {
        let n = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
        out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
    }
    return String(decoding: out, as: UTF8.self)
}
