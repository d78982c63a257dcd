import CDoQ
import DNSWire
import Foundation
import NIOCore
import NetTypes

/// DNS over HTTPS over HTTP/3 (RFC 8484 on RFC 9114, UDP): each exchange is one QUIC connection
/// (ngtcp2 + GnuTLS + nghttp3 through the CDoQ shim, ALPN `h3`) carrying one GET (`?dns=` base64url,
/// id 0), run on a thread of its own. The certificate is verified as for DoQ (system roots plus
/// `--ca-file`, for `tlsName` or the address). QUIC failures are classified as DoQ's.
public final class DoH3Client: Sendable {
    public let endpoint: ResolverEndpoint
    let settings: ClientSettings

    public init(endpoint: ResolverEndpoint, settings: ClientSettings) {
        self.endpoint = endpoint
        self.settings = settings
    }

    public enum Outcome: Sendable, Equatable {
        case answer([UInt8])
        /// A complete HTTP/3 response that is not a DNS answer (status, content type).
        case httpError(String)
        case failed(DoQClient.Failure, detail: String)
    }

    /// One query (wire bytes), the outcome classified (never throws). The id goes out as 0 and is
    /// put back in the answer.
    public func attempt(_ query: [UInt8]) async -> Outcome {
        if let bad = QUICTarget.badQuery(query) { return .failed(bad.failure, detail: bad.detail) }
        let t: QUICTarget
        switch QUICTarget.make(endpoint, settings) {
        case .success(let target): t = target
        case .failure(let f): return .failed(f.failure, detail: f.detail)
        }
        let hostPart = endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host
        let authority = endpoint.port == 443 ? hostPart : "\(hostPart):\(endpoint.port)"
        var zeroID = query
        zeroID[0] = 0
        zeroID[1] = 0
        let path = endpoint.path + (endpoint.path.contains("?") ? "&" : "?") + "dns=" + base64URL(zeroID)
        let id = (query[0], query[1])
        return await QUICThread.run(name: "dnsaudit-doh3") {
            var result = dnsaudit_h3_result()
            var body = [UInt8](repeating: 0, count: 65535)
            var length = 0
            let status = body.withUnsafeMutableBufferPointer { b in
                dnsaudit_doh3_get(t.address, Int32(t.port), t.name, t.sni, t.caFile, t.systemTrust ? 1 : 0, authority, path, t.timeoutMs,
                                  b.baseAddress, b.count, &length, &result)
            }
            guard status == Int32(DNSAUDIT_DOQ_OK.rawValue) else { return .failed(DoQClient.Failure(cStatus: status), detail: quicDetail(result.quic.detail)) }
            let contentType = quicDetail(result.content_type)
            guard result.http_status == 200 else { return .httpError("HTTP status \(result.http_status)") }
            guard contentType.lowercased().hasPrefix("application/dns-message") else {
                return .httpError("content type '\(contentType)', not application/dns-message")
            }
            var bytes = Array(body.prefix(min(length, body.count)))
            if bytes.count >= 2 { bytes[0] = id.0; bytes[1] = id.1 }
            return .answer(bytes)
        }
    }

    public func exchange(_ query: [UInt8]) async throws -> [UInt8] {
        switch await attempt(query) {
        case .answer(let a): return a
        case .httpError(let why): throw ResolverError.badResponse(why)
        case .failed(let f, let detail): throw DoQClient.Outcome.failed(f, detail: detail).error ?? .other("DoH over HTTP/3 failed")
        }
    }

    /// A checked query: the answer must echo the question (as `ResolverClient.query`).
    public func query(_ name: String, type: UInt16) async -> DoQClient.QueryOutcome {
        await DoQClient.checkedQuery(name, type: type) { q in
            switch await attempt(q) {
            case .answer(let a): return .bytes(a)
            case .httpError(let why): return .outcome(.badAnswer(why))
            case .failed(let f, let detail): return .outcome(.failed(f, detail: detail))
            }
        }
    }
}

/// A QUIC handshake alone (any ALPN), for the server's certificate chain: DDR verification of `doq`
/// and `h3` designations judges it like the DoT and DoH chains. No verification here.
public enum QUICPeerChain {
    public static func fetch(address: String, port: Int, sni: String?, alpn: String, timeout: TimeAmount) async
        -> Result<[[UInt8]], QUICFailure> {
        let timeoutMs = Int32(clamping: max(100, timeout.nanoseconds / 1_000_000))
        return await QUICThread.run(name: "dnsaudit-quic-chain") {
            var result = dnsaudit_h3_result()
            var chain = [UInt8](repeating: 0, count: 64 * 1024)
            var length = 0
            let status = chain.withUnsafeMutableBufferPointer { b in
                dnsaudit_quic_peer_chain(address, Int32(port), sni, alpn, timeoutMs, b.baseAddress, b.count, &length, &result)
            }
            guard status == Int32(DNSAUDIT_DOQ_OK.rawValue) else {
                return .failure(QUICFailure(failure: DoQClient.Failure(cStatus: status), detail: quicDetail(result.quic.detail)))
            }
            var certs: [[UInt8]] = []
            var i = 0
            let end = min(length, chain.count)
            while i + 3 <= end {
                let n = Int(chain[i]) << 16 | Int(chain[i + 1]) << 8 | Int(chain[i + 2])
                guard n > 0, i + 3 + n <= end else { break }
                certs.append(Array(chain[(i + 3)..<(i + 3 + n)]))
                i += 3 + n
            }
            return .success(certs)
        }
    }
}

public struct QUICFailure: Error, Sendable, Equatable {
    public var failure: DoQClient.Failure
    public var detail: String
}

extension DoQClient.Failure {
    /// The classification of a CDoQ status (dnsaudit_doq.h).
    init(cStatus: Int32) {
        switch Int(cStatus) {
        case Int(DNSAUDIT_DOQ_TIMEOUT_SILENT.rawValue): self = .silent
        case Int(DNSAUDIT_DOQ_TIMEOUT_PARTIAL.rawValue): self = .handshakeTimeout
        case Int(DNSAUDIT_DOQ_REFUSED.rawValue): self = .refused
        case Int(DNSAUDIT_DOQ_UNREACHABLE.rawValue): self = .unreachable
        case Int(DNSAUDIT_DOQ_HANDSHAKE_FAILED.rawValue): self = .handshakeFailed
        case Int(DNSAUDIT_DOQ_CERT_UNTRUSTED.rawValue): self = .certificateUntrusted
        case Int(DNSAUDIT_DOQ_NO_ANSWER.rawValue): self = .noAnswer
        case Int(DNSAUDIT_DOQ_BLOCKED_LOCALLY.rawValue): self = .blockedLocally
        case Int(DNSAUDIT_DOQ_NOT_QUIC.rawValue): self = .notQUIC
        default: self = .local
        }
    }
}

/// Runs a blocking C call on a thread of its own and resumes with its value.
enum QUICThread {
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (cont: CheckedContinuation<T, Never>) in
            let thread = Thread { cont.resume(returning: body()) }
            thread.name = name
            thread.start()
        }
    }
}
