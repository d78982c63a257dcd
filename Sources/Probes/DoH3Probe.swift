import DNSWire
import FindingPolicy
import Findings
import ResolverClients

/// DNS over HTTPS over HTTP/3 (RFC 8484 on RFC 9114, UDP 443) beside DoT, DoH (h2) and DoQ in the
/// resolver checks (issue 20 item 2), for the endpoints a resolver is expected to offer it on
/// (an `h3://` reference on its address, or a DDR designation with ALPN `h3`).
extension ProbeRunner {
    /// One GET over HTTP/3: answered (an input record), the server's own problem (a note), or blocked
    /// — the QUIC Initials unanswered, the handshake cut, ICMP refused — judged by the one
    /// encrypted-DNS policy (`encrypted-dns.blocked`, service "DNS over HTTP/3"). When blocked, the
    /// evidence says whether TCP to the same port connects (UDP dropped while TCP passes).
    func checkDoH3(_ host: String, _ enc: ResolverEndpoint, offered why: EncryptedDNSBlockedEvidence.Offered,
                   plain: (udp: Result<String, ResolverError>, tcp: Result<String, ResolverError>), into out: inout ProbeResults) async {
        let outcome = await DoH3Client(endpoint: enc, settings: config.settings).query(config.checkName, type: DNSType.a)
        let timeout = config.settings.timeout
        await checkQUICService(host, enc, service: .doh3, alpn: "h3", outcome: outcome, offered: why, plain: plain, blockedEvidence: {
            let o = await TLSConnectProbe.run(address: enc.host, port: enc.port, sni: nil, host: enc.host, httpPath: nil, timeout: timeout)
            switch o.tcp {
            case .success?:
                return [Evidence(source: .probe, detail: "TCP to \(enc.host):\(enc.port) connects: only the UDP (QUIC) path to the port fails",
                                 facts: [("tcp_same_port", .string("connects"))])]
            case .failure(let e)?:
                return [Evidence(source: .probe, detail: "TCP to \(enc.host):\(enc.port) fails too (\(e))", facts: [("tcp_same_port", .string("\(e)"))])]
            case nil:
                return []
            }
        }, into: &out)
    }
}
