import FindingPolicy
import Findings
import NetTypes
import ResolverCatalog
import TLSCertificates
import TLSWire

/// One TCP packet's facts that matter for judging a reset.
public struct PacketFacts: Sendable {
    public var frame: UInt64
    public var ts: Timestamp
    public var fromClient: Bool
    public var ttl: UInt8
    public var ipID: UInt32
    public var flags: UInt8

    public init(frame: UInt64, ts: Timestamp, fromClient: Bool, ttl: UInt8, ipID: UInt32, flags: UInt8) {
        self.frame = frame
        self.ts = ts
        self.fromClient = fromClient
        self.ttl = ttl
        self.ipID = ipID
        self.flags = flags
    }
}

/// What was seen of one TLS-over-TCP connection. Fed by the engine, judged by the tracker.
public final class TLSConnectionRecord {
    public let client: IPAddress
    public let clientPort: UInt16
    public let server: IPAddress
    public let serverPort: UInt16
    public let input: Int

    var syn: PacketFacts?
    var synAck: PacketFacts?
    /// The client's packets before the ClientHello (its TTL/IP ID baseline).
    var clientBaseline: PacketFacts?
    var resets: [PacketFacts] = []
    var fins: [PacketFacts] = []
    /// The ClientHello's server name and where it was: all that the judgement and its findings
    /// use of it (the hello itself is not kept).
    var clientHello: (sni: String?, frame: UInt64, ts: Timestamp)?
    var serverHello: (frame: UInt64, ts: Timestamp)?
    public var hasClientHello: Bool { clientHello != nil }
    public var hasServerHello: Bool { serverHello != nil }
    var serverAnswered: (frame: UInt64, ts: Timestamp)?
    var alerts: [(alert: TLSAlert, fromClient: Bool, frame: UInt64)] = []
    /// The judgement of the server's certificate chain (TLS ≤ 1.2, where it is in the clear).
    var certificate: (verdict: CertificateVerdict, frame: UInt64)?
    /// The client's first data segment and what it showed (`tcp.reset-injection` on any TCP service).
    var firstClientData: (frame: UInt64, ts: Timestamp, seen: FirstBytesSeen)?
    var serverDataAfterClientData: UInt64?
    var segmentsSinceClientData = 0

    init(client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16, input: Int, ts: Timestamp) {
        self.client = client
        self.clientPort = clientPort
        self.server = server
        self.serverPort = serverPort
        self.input = input
    }

    static let synFlag: UInt8 = 0x02, ackFlag: UInt8 = 0x10, rstFlag: UInt8 = 0x04, finFlag: UInt8 = 0x01

    /// Every TCP segment of the connection.
    public func segment(_ p: PacketFacts, payloadLength: Int) {
        let f = p.flags
        if firstClientData != nil {
            segmentsSinceClientData += 1
            if !p.fromClient && payloadLength > 0 && serverDataAfterClientData == nil { serverDataAfterClientData = p.frame }
        }
        if f & Self.rstFlag != 0 {
            if resets.count < 8 { resets.append(p) }
            return
        }
        if f & Self.synFlag != 0 {
            if f & Self.ackFlag != 0 { if synAck == nil { synAck = p } } else if syn == nil { syn = p }
        } else if f & Self.finFlag != 0 {
            if fins.count < 4 { fins.append(p) }
        }
        if p.fromClient && !hasClientHello && clientBaseline == nil && f & Self.rstFlag == 0 { clientBaseline = p }
        if !p.fromClient && payloadLength > 0 && hasClientHello && serverAnswered == nil {
            serverAnswered = (p.frame, p.ts)
        }
    }

    public func sawClientHello(sni: String?, frame: UInt64, ts: Timestamp) {
        if clientHello == nil { clientHello = (sni, frame, ts) }
    }

    public func sawServerHello(frame: UInt64, ts: Timestamp) {
        if serverHello == nil { serverHello = (frame, ts) }
    }

    public func sawAlert(_ a: TLSAlert, fromClient: Bool, frame: UInt64) {
        if alerts.count < 4 { alerts.append((a, fromClient, frame)) }
    }

    public func sawCertificate(_ v: CertificateVerdict, frame: UInt64) {
        if certificate == nil { certificate = (v, frame) }
    }

    public var serverName: String? { clientHello?.sni }
}

/// Judges TLS connections: resets right after a ClientHello (with the RST's IP TTL and IP ID
/// compared with the same side's handshake packets — injected resets usually differ),
/// ClientHellos that got no answer, and handshake alerts; counts encrypted DNS (DoT, DoH).
public final class TLSConnectionTracker {
    public struct Limits: Sendable {
        /// A ClientHello with no answer for this long (and the capture went on that long) timed out.
        public var handshakeTimeoutNanoseconds: Int64 = 10_000_000_000
        /// A SYN to port 853 with no answer for this long (within the capture) was dropped.
        public var synTimeoutNanoseconds: Int64 = 3_000_000_000
        /// Unanswered HTTPS SYNs kept until the capture's DNS answers are known (a scan is not kept whole).
        public var maxPendingHTTPSSYNs = 4096
        public var maxEvidencePerFinding = 8
        public init() {}
    }

    public struct Stats: Sendable {
        public var connections = 0
        public var clientHellos = 0
        public var serverHellos = 0
        public var completedHandshakes = 0
        public var resetsAfterClientHello = 0
        public var timeouts = 0
        public var dotConnections = 0
        public var dohConnections = 0
        public var certificatesJudged = 0
        public var untrustedCertificates = 0
    }

    public let limits: Limits
    public private(set) var stats = Stats()
    private var pendingTimeouts: [TLSConnectionRecord] = []
    private var pendingSYNs: [TLSConnectionRecord] = []
    private var findings: [String: Finding] = [:]
    private var order: [String] = []
    private var evidenceOverflow: [String: Int] = [:]
    /// How many of `order` `drainDecidedFindings()` has handed out.
    private var drained = 0
    let inputName: (Int) -> String?
    /// Does plain DNS to this address answer (the same capture shows it answering DNS, or it is a
    /// configured resolver)? Set by the engine; nil: unknown. A blocked DoT/DoH attempt to an
    /// address that answers plain DNS is judged as a drop on the encrypted path only.
    public var answersPlainDNS: ((IPAddress) -> Bool)?
    /// The IP TTL the server's own packets usually arrive with (e.g. its DNS answers in the same
    /// capture). Set by the engine; nil: unknown. A reset to a DoT SYN with another TTL was
    /// injected by something on the path.
    public var usualServerTTL: ((IPAddress) -> UInt8?)?

    public init(limits: Limits = Limits(), inputName: @escaping (Int) -> String? = { _ in nil }) {
        self.limits = limits
        self.inputName = inputName
    }

    public func open(client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16, input: Int,
                     ts: Timestamp) -> TLSConnectionRecord {
        stats.connections += 1
        return TLSConnectionRecord(client: client, clientPort: clientPort, server: server, serverPort: serverPort,
                                   input: input, ts: ts)
    }

    /// Well-known DNS-over-HTTPS service names (SNI): the resolver catalogue's.
    public static let dohNames: Set<String> = ResolverCatalog.dohNames

    public static func isEncryptedDNS(port: UInt16, sni: String?) -> (dot: Bool, doh: Bool) {
        let doh = sni.map { dohNames.contains($0.lowercased()) } ?? false
        return (port == 853, doh && port == 443)
    }

    /// The connection is no longer followed: judge it. `captureEnd` is the last timestamp of its input.
    public func close(_ r: TLSConnectionRecord) {
        if r.hasClientHello { stats.clientHellos += 1 }
        if r.hasServerHello { stats.serverHellos += 1 }
        let enc = TLSConnectionTracker.isEncryptedDNS(port: r.serverPort, sni: r.clientHello?.sni)
        if enc.dot { stats.dotConnections += 1 }
        if enc.doh { stats.dohConnections += 1 }
        if r.hasClientHello && r.hasServerHello { stats.completedHandshakes += 1 }
        judge(r, encryptedDNS: enc.dot || enc.doh)
    }

    func judge(_ r: TLSConnectionRecord, encryptedDNS: Bool) {
        // A DoT connection whose SYN was refused or never answered; the same for HTTPS (DoH) to an
        // address the capture shows answering plain DNS (an unanswered one is judged at the end,
        // when every DNS answer of the capture is known).
        let dohToResolver = r.serverPort == 443 && !r.hasClientHello && r.synAck == nil && r.syn != nil
            && (r.resets.contains { !$0.fromClient } ? answersPlainDNS?(r.server) == true : true)
        if (r.serverPort == 853 || dohToResolver) && !r.hasClientHello {
            if r.synAck == nil, let s = r.syn {
                if let reset = r.resets.first(where: { !$0.fromClient }) {
                    var failure = EncryptedDNSBlockedEvidence.Failure.refused
                    // The server's packets all travel the same path: a reset arriving with another IP
                    // TTL (even one hop fewer: the middlebox in front of it) did not come from it.
                    if let usual = usualServerTTL?(r.server), reset.ttl != usual {
                        failure = .refusedByInjectedReset(marks: ["IP TTL \(reset.ttl) where the server's own packets arrive with \(usual)"])
                    }
                    add(encryptedDNSBlocked(r, failure: failure, frames: [s.frame, reset.frame], at: s.ts))
                } else if r.serverPort == 853 || pendingSYNs.count < limits.maxPendingHTTPSSYNs {
                    pendingSYNs.append(r)  // judged at the end: did the capture wait long enough?
                }
            }
            return
        }
        guard let ch = r.clientHello else {
            // Not a TLS handshake (or one cut before its ClientHello was whole): injected resets on any TCP service.
            if let first = r.firstClientData { add(resetInjectionFinding(r, first: first)) }
            return
        }
        if let cert = r.certificate {
            stats.certificatesJudged += 1
            if !cert.verdict.isTrusted {
                stats.untrustedCertificates += 1
                add(untrustedCertificateFinding(r, ch: ch, verdict: cert.verdict, frame: cert.frame))
            }
        }
        // A ServerHello before any reset: the handshake got an answer; later resets are the endpoints' business.
        let shFrame = r.serverHello?.frame
        let resetsBeforeAnswer = r.resets.filter { shFrame == nil || $0.frame < (shFrame ?? 0) }
        if shFrame == nil, let alert = r.alerts.first(where: { !$0.fromClient && $0.alert.isFatal }) {
            add(alertFinding(r, ch: ch, alert: alert.alert, frame: alert.frame))
            return
        }
        if shFrame == nil && !resetsBeforeAnswer.isEmpty {
            stats.resetsAfterClientHello += 1
            add(resetFinding(r, ch: ch, resets: resetsBeforeAnswer, encryptedDNS: encryptedDNS))
            return
        }
        if shFrame == nil && r.serverAnswered == nil && r.fins.contains(where: { !$0.fromClient }) {
            stats.resetsAfterClientHello += 1
            add(resetFinding(r, ch: ch, resets: r.fins.filter { !$0.fromClient }, encryptedDNS: encryptedDNS, closedWithFIN: true))
            return
        }
        if shFrame == nil && r.serverAnswered == nil && r.resets.isEmpty && r.fins.isEmpty {
            pendingTimeouts.append(r)
        }
    }

    /// Findings first decided since the last call (new finding ids, in the order they were
    /// decided), as they stand now; `finish(captureEnd:)` still returns all of them, complete.
    public func drainDecidedFindings() -> [Finding] {
        guard drained < order.count else { return [] }
        defer { drained = order.count }
        return order[drained...].compactMap { findings[$0] }
    }

    /// Live capture: judges the ClientHellos and DoT SYNs left without an answer once `now`
    /// (capture time) is past their timeouts, instead of keeping them until the end.
    public func expire(now: Timestamp) {
        if !pendingTimeouts.isEmpty {
            pendingTimeouts.removeAll { r in
                guard let ch = r.clientHello else { return true }
                let waited = now.nanoseconds(since: ch.ts)
                guard waited >= limits.handshakeTimeoutNanoseconds else { return false }
                stats.timeouts += 1
                add(timeoutFinding(r, ch: ch, waited: waited))
                return true
            }
        }
        if !pendingSYNs.isEmpty {
            pendingSYNs.removeAll { r in
                guard let s = r.syn else { return true }
                guard now.nanoseconds(since: s.ts) >= limits.synTimeoutNanoseconds else { return false }
                if r.serverPort == 853 || answersPlainDNS?(r.server) == true {
                    add(encryptedDNSBlocked(r, failure: .noAnswerToSYN, frames: [s.frame], at: s.ts))
                }
                return true
            }
        }
    }

    /// End of input: ClientHellos left without an answer time out when the capture ran long enough after them.
    public func finish(captureEnd: (Int) -> Timestamp?) -> [Finding] {
        for r in pendingTimeouts {
            guard let ch = r.clientHello, let end = captureEnd(r.input) else { continue }
            let waited = end.nanoseconds(since: ch.ts)
            guard waited >= limits.handshakeTimeoutNanoseconds else { continue }
            stats.timeouts += 1
            add(timeoutFinding(r, ch: ch, waited: waited))
        }
        pendingTimeouts.removeAll()
        for r in pendingSYNs {
            guard let s = r.syn, let end = captureEnd(r.input),
                  end.nanoseconds(since: s.ts) >= limits.synTimeoutNanoseconds else { continue }
            // HTTPS SYNs count only to an address the capture shows answering DNS (a resolver's DoH).
            guard r.serverPort == 853 || answersPlainDNS?(r.server) == true else { continue }
            add(encryptedDNSBlocked(r, failure: .noAnswerToSYN, frames: [s.frame], at: s.ts))
        }
        pendingSYNs.removeAll()
        return order.compactMap { id -> Finding? in
            guard var f = findings[id] else { return nil }
            if let more = evidenceOverflow[id], more > 0, var last = f.evidence.last {
                last.detail += " (and \(more) more connection\(more == 1 ? "" : "s") like this)"
                f.evidence[f.evidence.count - 1] = last
            }
            return f
        }
    }

    private func add(_ f: Finding?) {
        guard let f else { return }
        let id = f.id
        if var existing = findings[id] {
            if existing.evidence.count < limits.maxEvidencePerFinding {
                existing.evidence.append(contentsOf: f.evidence)
                // The strongest judgement among the connections wins.
                if f.severity > existing.severity { existing.severity = f.severity; existing.confidence = f.confidence }
                findings[id] = existing
            } else {
                evidenceOverflow[id, default: 0] += 1
            }
        } else {
            findings[id] = f
            order.append(id)
        }
    }

    // MARK: - Findings

    func sniText(_ sni: String?) -> String { sni ?? "(no SNI)" }

    /// Compares a reset's IP TTL and IP ID with the same side's handshake packet.
    func injectionMarks(_ r: TLSConnectionRecord, _ p: PacketFacts) -> [String] {
        let base = p.fromClient ? (r.syn ?? r.clientBaseline) : r.synAck
        guard let b = base else { return [] }
        var marks: [String] = []
        if abs(Int(p.ttl) - Int(b.ttl)) > 1 {
            marks.append("IP TTL \(p.ttl) where the \(p.fromClient ? "client's SYN" : "server's SYN-ACK") had \(b.ttl)")
        }
        let idDelta = Int(p.ipID) - Int(b.ipID)
        if !r.client.isV6 && b.ipID != 0 && p.ipID != 0 && (idDelta < 0 || idDelta > 1000) {
            marks.append("IP ID \(p.ipID) far from the handshake's \(b.ipID)")
        }
        return marks
    }

    func endpoint(_ r: TLSConnectionRecord, _ sni: String?) -> TLSEndpoint {
        TLSEndpoint(sni: sni, server: r.server.description, port: Int(r.serverPort))
    }

    func service(_ r: TLSConnectionRecord) -> EncryptedDNSBlockedEvidence.Service {
        r.serverPort == 853 ? .dot : .doh
    }

    /// The evidence of a reset (or close) after a ClientHello; the policy (`FindingPolicy.handshakeCut`,
    /// or `encryptedDNSBlocked` for DoT/DoH) decides the finding.
    func resetFinding(_ r: TLSConnectionRecord, ch: (sni: String?, frame: UInt64, ts: Timestamp),
                      resets: [PacketFacts], encryptedDNS: Bool, closedWithFIN: Bool = false) -> Finding? {
        // One evidence item per connection: every reset's frame, the first one described in full.
        var allMarks: [String] = []
        var described: [String] = []
        var facts: [(String, SubjectValue)] = [("time", .string(ch.ts.description)),
                                               ("client", .string(r.client.description)), ("client_port", .int(Int(r.clientPort)))]
        for (i, p) in resets.prefix(4).enumerated() {
            let marks = injectionMarks(r, p)
            allMarks += marks
            let side = p.fromClient ? "from the client's address" : "from the server's address"
            let delay = p.ts.nanoseconds(since: ch.ts)
            let when = delay >= 0 ? "\(ms(delay)) after the ClientHello" : "\(ms(-delay)) before the ClientHello arrived"
            described.append("\(closedWithFIN ? "FIN" : "RST") \(side) \(when), IP TTL \(p.ttl), IP ID \(p.ipID)"
                + (marks.isEmpty ? "" : " (" + marks.joined(separator: "; ") + ")"))
            let n = i + 1
            facts.append(("reset\(n)_from", .string(p.fromClient ? "client" : "server")))
            facts.append(("reset\(n)_ip_ttl", .int(Int(p.ttl))))
            facts.append(("reset\(n)_ip_id", .int(Int(p.ipID))))
            if !marks.isEmpty { facts.append(("reset\(n)_injected", .string(marks.joined(separator: "; ")))) }
        }
        if let s = r.syn { facts.append(("client_syn_ip_ttl", .int(Int(s.ttl)))); facts.append(("client_syn_ip_id", .int(Int(s.ipID)))) }
        if let s = r.synAck { facts.append(("server_synack_ip_ttl", .int(Int(s.ttl)))); facts.append(("server_synack_ip_id", .int(Int(s.ipID)))) }
        let evidence = [Evidence(
            source: .capture, input: inputName(r.input), frames: [ch.frame] + resets.prefix(4).map(\.frame),
            detail: "client port \(r.clientPort): no ServerHello; " + described.joined(separator: "; ")
                + (allMarks.isEmpty ? "" : " — likely injected by a middlebox"),
            facts: facts)]
        if encryptedDNS {
            return FindingPolicy.encryptedDNSBlocked(
                EncryptedDNSBlockedEvidence(server: r.server.description, port: Int(r.serverPort), service: service(r),
                                            failure: .cutAfterClientHello(injectedMarks: allMarks), offered: .clientAttempted,
                                            plainDNSWorks: answersPlainDNS?(r.server)),
                evidence: evidence)
        }
        return FindingPolicy.handshakeCut(
            HandshakeCutEvidence(endpoint: endpoint(r, ch.sni), cut: closedWithFIN && allMarks.isEmpty ? .closed : .reset(injectedMarks: allMarks)),
            evidence: evidence)
    }

    func alertFinding(_ r: TLSConnectionRecord, ch: (sni: String?, frame: UInt64, ts: Timestamp), alert: TLSAlert,
                      frame: UInt64) -> Finding {
        FindingPolicy.handshakeCut(
            HandshakeCutEvidence(endpoint: endpoint(r, ch.sni), cut: .alert(name: alert.descriptionName)),
            evidence: [Evidence(source: .capture, input: inputName(r.input), frames: [ch.frame, frame],
                                detail: "\(alert.levelName) alert \(alert.descriptionName) (\(alert.description)) from the server side, no ServerHello",
                                facts: [("time", .string(ch.ts.description)), ("alert", .int(Int(alert.description)))])])
    }

    func timeoutFinding(_ r: TLSConnectionRecord, ch: (sni: String?, frame: UInt64, ts: Timestamp), waited: Int64) -> Finding? {
        let enc = TLSConnectionTracker.isEncryptedDNS(port: r.serverPort, sni: ch.sni)
        let evidence = [Evidence(source: .capture, input: inputName(r.input), frames: [ch.frame],
                                 detail: "ClientHello for \(sniText(ch.sni)): no ServerHello, reset or close in the \(ms(waited)) the capture ran after it",
                                 facts: [("time", .string(ch.ts.description)), ("waited_ns", .int(Int(waited)))])]
        if enc.dot || enc.doh {
            return FindingPolicy.encryptedDNSBlocked(
                EncryptedDNSBlockedEvidence(server: r.server.description, port: Int(r.serverPort), service: service(r),
                                            failure: .helloUnanswered, offered: .clientAttempted, plainDNSWorks: answersPlainDNS?(r.server)),
                evidence: evidence)
        }
        return FindingPolicy.handshakeCut(
            HandshakeCutEvidence(endpoint: endpoint(r, ch.sni), cut: .silence(waitedMilliseconds: Int(waited / 1_000_000))),
            evidence: evidence)
    }

    /// A server certificate that does not chain to a trusted root, does not cover the SNI, or was
    /// outside its validity at the time of the connection: the evidence, judged by
    /// `FindingPolicy.untrustedCertificate` (the same rules as for a probe's handshake).
    func untrustedCertificateFinding(_ r: TLSConnectionRecord, ch: (sni: String?, frame: UInt64, ts: Timestamp),
                                     verdict v: CertificateVerdict, frame: UInt64) -> Finding? {
        var facts: [(String, SubjectValue)] = [("time", .string(ch.ts.description)),
                                               ("client", .string(r.client.description)), ("client_port", .int(Int(r.clientPort)))]
        if let leaf = v.leaf {
            facts.append(("subject_dn", .string(leaf.subject)))
            facts.append(("issuer_dn", .string(leaf.issuer)))
            if !leaf.subjectAlternativeNames.isEmpty {
                facts.append(("san", .string(leaf.subjectAlternativeNames.prefix(8).joined(separator: ", "))))
            }
            facts.append(("sha256", .string(leaf.sha256)))
        }
        facts.append(("problems", .string(v.problems.map(\.rawValue).joined(separator: ","))))
        if let p = v.interceptionPattern { facts.append(("interception_product", .string(p))) }
        return FindingPolicy.untrustedCertificate(
            UntrustedCertificateEvidence(endpoint: endpoint(r, ch.sni), verdict: v, checkedIdentity: ch.sni),
            evidence: [Evidence(source: .capture, input: inputName(r.input), frames: [ch.frame, frame],
                                detail: "client port \(r.clientPort): " + v.reasons.joined(separator: "; "), facts: facts)])
    }

    /// A DoT (or, to a resolver, HTTPS) connection whose SYN was refused or never answered: a client here tried it.
    func encryptedDNSBlocked(_ r: TLSConnectionRecord, failure: EncryptedDNSBlockedEvidence.Failure, frames: [UInt64], at time: Timestamp) -> Finding? {
        let what: String
        switch failure {
        case .refused: what = "was refused with a TCP reset"
        case .refusedByInjectedReset(let marks): what = "was refused with a TCP reset (" + marks.joined(separator: "; ") + ")"
        default: what = "got no answer to its SYN"
        }
        return FindingPolicy.encryptedDNSBlocked(
            EncryptedDNSBlockedEvidence(server: r.server.description, port: Int(r.serverPort), service: r.serverPort == 443 ? .doh : .dot,
                                        failure: failure, offered: .clientAttempted, plainDNSWorks: answersPlainDNS?(r.server)),
            evidence: [Evidence(source: .capture, input: inputName(r.input), frames: frames,
                                detail: "the connection from client port \(r.clientPort) to port \(r.serverPort) \(what)",
                                facts: [("time", .string(time.description))])])
    }
}

func ms(_ ns: Int64) -> String {
    let tenths = (ns + 50_000) / 100_000
    return "\(tenths / 10).\(tenths % 10) ms"
}
