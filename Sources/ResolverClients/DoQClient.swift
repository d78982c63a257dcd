import CDoQ
import DNSWire
import Foundation
import NIOCore
import NetTypes

/// DNS over QUIC (RFC 9250) to one endpoint: each exchange is one QUIC connection (ngtcp2 + GnuTLS
/// through the CDoQ shim, ALPN `doq`), the query on one bidirectional stream, run on a thread of its
/// own (the C call blocks until the answer or the timeout). The certificate is verified against the
/// system roots plus `--ca-file` (only the CA file with `onlyCAFile`), for `tlsName` or the address.
public final class DoQClient: Sendable {
    public let endpoint: ResolverEndpoint
    let settings: ClientSettings

    public init(endpoint: ResolverEndpoint, settings: ClientSettings) {
        self.endpoint = endpoint
        self.settings = settings
    }

    /// What one attempt gave: the answer, or a failure the probes can classify.
    public enum Outcome: Sendable, Equatable {
        case answer([UInt8])
        case failed(Failure, detail: String)

        /// `error` as the other clients report it.
        public var error: ResolverError? {
            guard case .failed(let f, let detail) = self else { return nil }
            switch f {
            case .silent, .handshakeTimeout: return .timeout
            case .blockedLocally: return .other(detail)
            case .notQUIC: return .badResponse(detail)
            case .refused: return .connectionRefused
            case .unreachable: return .unreachable("no route")
            case .handshakeFailed: return .tls(detail)
            case .certificateUntrusted: return .certificate(detail)
            case .noAnswer: return .closed
            case .local: return .other(detail)
            }
        }
    }

    public enum Failure: String, Sendable, Equatable {
        /// Not one packet came back before the timeout: the Initials were dropped (or nobody listens
        /// and ICMP is filtered too).
        case silent = "no answer to the QUIC Initial"
        /// Packets came back, but the handshake or the answer did not finish in time.
        case handshakeTimeout = "QUIC handshake or answer timed out"
        /// ICMP port unreachable.
        case refused = "refused (ICMP port unreachable)"
        /// ICMP host or network unreachable.
        case unreachable = "no route (ICMP unreachable)"
        case handshakeFailed = "TLS handshake failed"
        case certificateUntrusted = "certificate not trusted"
        /// Handshake completed; the stream or connection ended without an answer.
        case noAnswer = "no answer on the stream"
        case local = "local error"
        /// This host's own firewall refused the send (EPERM): an output-chain drop.
        case blockedLocally = "dropped by this host's own firewall (send: EPERM)"
        /// Datagrams came back, none of them the server's QUIC handshake: something else listens there.
        case notQUIC = "answers, but not with QUIC"
    }

    /// One query (wire bytes). Its id goes out as 0 (RFC 9250 §4.2.1) and is put back in the answer.
    public func exchange(_ query: [UInt8]) async throws -> [UInt8] {
        switch await attempt(query) {
        case .answer(let a): return a
        case let failed: throw failed.error ?? .other("DoQ failed")
        }
    }

    /// One query, the outcome classified (never throws).
    public func attempt(_ query: [UInt8]) async -> Outcome {
        if let bad = QUICTarget.badQuery(query) { return .failed(bad.failure, detail: bad.detail) }
        let t: QUICTarget
        switch QUICTarget.make(endpoint, settings) {
        case .success(let target): t = target
        case .failure(let f): return .failed(f.failure, detail: f.detail)
        }
        let id = (query[0], query[1])
        return await QUICThread.run(name: "dnsaudit-doq") {
            var result = dnsaudit_doq_result()
            var answer = [UInt8](repeating: 0, count: 65535)
            let status = answer.withUnsafeMutableBufferPointer { ans in
                query.withUnsafeBufferPointer { q in
                    dnsaudit_doq_exchange(t.address, Int32(t.port), t.name, t.sni, t.caFile, t.systemTrust ? 1 : 0, q.baseAddress, q.count,
                                          t.timeoutMs, ans.baseAddress, ans.count, &result)
                }
            }
            guard status == Int32(DNSAUDIT_DOQ_OK.rawValue) else {
                return .failed(Failure(cStatus: status), detail: quicDetail(result.detail))
            }
            var bytes = Array(answer.prefix(min(Int(result.answer_len), answer.count)))
            if bytes.count >= 2 { bytes[0] = id.0; bytes[1] = id.1 }
            return .answer(bytes)
        }
    }

    /// The first address of a name (system resolver), as text.
    static func resolve(_ host: String) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &res) == 0, let first = res else { return nil }
        defer { freeaddrinfo(res) }
        var buf = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buf, socklen_t(buf.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension DoQClient {
    /// A checked query over DoQ: the answer must echo the question (as `ResolverClient.query`).
    public enum QueryOutcome: Sendable {
        case answered(DNSMessage)
        /// The server answered on the stream, but not with a usable answer to the question.
        case badAnswer(String)
        case failed(Failure, detail: String)
    }

    public func query(_ name: String, type: UInt16) async -> QueryOutcome {
        await Self.checkedQuery(name, type: type) { q in
            switch await attempt(q) {
            case .answer(let a): return .bytes(a)
            case .failed(let f, let detail): return .outcome(.failed(f, detail: detail))
            }
        }
    }
}
