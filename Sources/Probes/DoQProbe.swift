import DNSWire
import FindingPolicy
import Findings
import ResolverClients

/// DNS over QUIC (RFC 9250, UDP 853) beside DoT and DoH in the resolver checks (issue 20 item 2).
extension ProbeRunner {
    /// One DoQ endpoint a resolver is expected to offer: answered (an input record), the server's own
    /// problem (a note: handshake, certificate, no answer on the stream), or blocked — no packet back
    /// for the QUIC Initials, cut during the handshake, refused with ICMP — which the one
    /// encrypted-DNS policy judges like DoT and DoH (`encrypted-dns.blocked`, service DoQ).
    func checkDoQ(_ host: String, _ enc: ResolverEndpoint, offered why: EncryptedDNSBlockedEvidence.Offered,
                  plain: (udp: Result<String, ResolverError>, tcp: Result<String, ResolverError>), into out: inout ProbeResults) async {
        let outcome = await DoQClient(endpoint: enc, settings: config.settings).query(config.checkName, type: DNSType.a)
        await checkQUICService(host, enc, service: .doq, alpn: "doq", outcome: outcome, offered: why, plain: plain, into: &out)
    }

    /// One QUIC-carried endpoint (DoQ, DoH over HTTP/3) judged from its query's outcome: answered,
    /// the server's own problem (a note), or blocked (`encrypted-dns.blocked` with `service`).
    /// `blockedEvidence` adds what else was seen when it is blocked (DoH/3: whether TCP to the port connects).
    func checkQUICService(_ host: String, _ enc: ResolverEndpoint, service: EncryptedDNSBlockedEvidence.Service, alpn: String,
                          outcome: DoQClient.QueryOutcome, offered why: EncryptedDNSBlockedEvidence.Offered,
                          plain: (udp: Result<String, ResolverError>, tcp: Result<String, ResolverError>),
                          blockedEvidence: () async -> [Evidence] = { [] }, into out: inout ProbeResults) async {
        let plainWorks: Bool
        switch (plain.udp, plain.tcp) {
        case (.success, _), (_, .success): plainWorks = true
        default: plainWorks = false
        }
        let name = "\(service.rawValue) of \(host)"
        let failure: EncryptedDNSBlockedEvidence.Failure
        let what: DoQClient.Failure
        let detail: String
        switch outcome {
        case .answered(let m):
            out.inputs.append(ReportInput(kind: "probe", name: name, facts: [
                ("endpoint", .string(enc.description)), ("quic", .string("handshake completes (ALPN \(alpn), certificate verified)")),
                ("answers", .string("yes (\(config.checkName) A → \(DNSRCode.name(m.rcode)))")),
            ]))
            return
        case .badAnswer(let why):
            out.inputs.append(ReportInput(kind: "probe", name: name, facts: [
                ("endpoint", .string(enc.description)), ("quic", .string("handshake completes")), ("answers", .string("no: \(why)")),
            ]))
            out.notes.append("\(service.rawValue) to \(host):\(enc.port) completes the handshake but answers badly: \(why) — the server's problem, not a block")
            return
        case .failed(let f, let d):
            what = f
            detail = d
            switch f {
            case .silent, .blockedLocally: failure = .noAnswerToSYN
            case .handshakeTimeout: failure = .cutAfterClientHello(injectedMarks: [])
            case .refused: failure = .refused
            case .unreachable: failure = .noRoute
            case .handshakeFailed, .certificateUntrusted, .noAnswer, .notQUIC, .local:
                // The server answered the Initial: a handshake, certificate or stream problem is its own.
                out.inputs.append(ReportInput(kind: "probe", name: name, facts: [
                    ("endpoint", .string(enc.description)), ("quic", .string(f.rawValue)), ("answers", .string("no: \(d)")),
                ]))
                out.notes.append("\(service.rawValue) to \(host):\(enc.port): \(f.rawValue) (\(d)) — "
                                 + (f == .local ? "not checked" : "the server answers the QUIC Initial: its own problem, not a block"))
                return
            }
        }
        out.inputs.append(ReportInput(kind: "probe", name: name, facts: [
            ("endpoint", .string(enc.description)), ("quic", .string(what.rawValue)), ("plain_dns", .string(plainWorks ? "answers" : "fails")),
        ]))
        let plainText: String
        switch (plain.udp, plain.tcp) {
        case (.success(let u), _): plainText = "plain DNS over UDP to \(host) answers (\(u))"
        case (_, .success(let t)): plainText = "plain DNS over TCP to \(host) answers (\(t))"
        case (.failure(let u), _): plainText = "plain DNS to \(host) fails too (\(u))"
        }
        let extra = await blockedEvidence()
        if let f = FindingPolicy.encryptedDNSBlocked(
            EncryptedDNSBlockedEvidence(server: host, port: enc.port, service: service, failure: failure, offered: why, plainDNSWorks: plainWorks),
            evidence: [Evidence(source: .probe, detail: "QUIC (ALPN \(alpn)) to \(enc.host):\(enc.port) for \(enc): \(what.rawValue) — \(detail)",
                                facts: [("quic", .string(what.rawValue))]),
                       Evidence(source: .probe, detail: plainText)] + extra) {
            out.findings.append(f)
        } else {
            out.notes.append("\(service.rawValue) to \(host):\(enc.port): \(what.rawValue) — not a finding (\(failure == .noRoute ? "no route to the host" : "nothing says \(host) offers it"))")
        }
    }

    /// DoQ to a resolver target's address, verified against its IP SAN: a report step when it works,
    /// never a finding when not (nothing says the address offers it). Nil: not tried.
    func speculativeDoQ(_ host: String) async -> (step: String, works: Bool) {
        let enc = ResolverEndpoint(transport: .doq, host: host, port: 853, tlsName: nil)
        switch await DoQClient(endpoint: enc, settings: config.settings).query(config.checkName, type: DNSType.a) {
        case .answered(let m):
            return ("doq ok (certificate verified for the address \(host); \(config.checkName) A → \(DNSRCode.name(m.rcode)))", true)
        case .badAnswer(let why):
            return ("doq answers badly (\(why))", false)
        case .failed(let f, _):
            return ("doq not offered (\(f.rawValue))", false)
        }
    }
}
