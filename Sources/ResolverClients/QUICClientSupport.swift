import CDoQ
import DNSWire
import Foundation
import NetTypes

/// What DoQClient and DoH3Client hand to CDoQ for one endpoint: the address to send to (the host,
/// or its first address from the system resolver), the name the certificate is verified for
/// (`tlsName` or the host), SNI (none for an address), the trust settings and the timeout.
struct QUICTarget: Sendable {
    let address: String
    let port: Int
    let name: String
    let sni: String?
    let caFile: String?
    let systemTrust: Bool
    let timeoutMs: Int32

    /// The target of `endpoint`, or the failure detail when the host does not resolve.
    static func make(_ endpoint: ResolverEndpoint, _ settings: ClientSettings) -> Result<QUICTarget, QUICFailure> {
        let address: String
        if IPAddress.isLiteral(endpoint.host) {
            address = endpoint.host
        } else if let a = DoQClient.resolve(endpoint.host) {
            address = a
        } else {
            return .failure(QUICFailure(failure: .local, detail: "cannot resolve \(endpoint.host)"))
        }
        let name = endpoint.tlsName ?? endpoint.host
        return .success(QUICTarget(address: address, port: endpoint.port, name: name,
                                   sni: IPAddress.isLiteral(name) ? nil : name, caFile: settings.caFile,
                                   systemTrust: !(settings.onlyCAFile && settings.caFile != nil),
                                   timeoutMs: Int32(clamping: max(100, settings.timeout.nanoseconds / 1_000_000))))
    }

    /// The reason a query cannot be sent at all (size out of range), else nil.
    static func badQuery(_ query: [UInt8]) -> QUICFailure? {
        guard query.count >= 12, query.count <= 65535 else { return QUICFailure(failure: .local, detail: "query of \(query.count) bytes") }
        return nil
    }
}

/// One step of a checked QUIC query: the answer's bytes, or an outcome already decided.
enum QUICSent: Sendable {
    case bytes([UInt8])
    case outcome(DoQClient.QueryOutcome)
}

extension DoQClient {
    /// A checked query for both QUIC clients: encodes (random id, RD, EDNS 1232), sends with
    /// `send`, and checks the answer echoes the question (as `ResolverClient.query`).
    static func checkedQuery(_ name: String, type: UInt16, send: ([UInt8]) async -> QUICSent) async -> QueryOutcome {
        let id = UInt16.random(in: 1...UInt16.max)
        let q: [UInt8]
        do {
            q = try DNSQuery.make(id: id, name: name, type: type, qclass: DNSClass.in, recursionDesired: true, edns: (1232, false, false))
        } catch {
            return .failed(.local, detail: "cannot encode '\(name)': \(error)")
        }
        switch await send(q) {
        case .bytes(let a):
            do {
                return .answered(try ResolverClient.check(a, id: id, name: name, type: type, qclass: DNSClass.in))
            } catch {
                return .badAnswer("\(ResolverError.classify(error))")
            }
        case .outcome(let o):
            return o
        }
    }
}

/// The C detail string of a CDoQ result (NUL-terminated char array) as text.
func quicDetail<T>(_ field: T) -> String {
    withUnsafeBytes(of: field) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
}
