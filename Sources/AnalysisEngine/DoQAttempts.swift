import FindingPolicy
import Findings
import NetTypes
import PacketDecode

/// DNS over QUIC attempts in a capture (issue 17 item 3): a client's Initial with a ClientHello to
/// a DoQ port (or offering ALPN `doq`), and what came back — any datagram from the server's
/// address and port (answered), an ICMP destination unreachable quoting it (refused), or nothing
/// until the capture had run `timeout` past it (dropped). The unanswered and refused ones join
/// `encrypted-dns.blocked` through the same policy as DoT SYNs without answer
/// (`FindingPolicy.encryptedDNSBlocked`, service DoQ). Bounded: 4096 attempts followed.
final class DoQAttempts {
    struct Key: Hashable {
        var client: IPAddress
        var clientPort: UInt16
        var server: IPAddress
        var serverPort: UInt16
    }

    struct Attempt {
        var frame: UInt64
        var ts: Timestamp
        var input: Int
        var sni: String?
        var answered = false
        var unreachable: (frame: UInt64, ts: Timestamp, error: ICMPUnreachable)?
    }

    static let maxAttempts = 4096
    private var attempts: [Key: Attempt] = [:]
    private var order: [Key] = []
    /// Whether any attempt waits for its answer (the packet path asks this before looking).
    private(set) var waiting = false
    private(set) var overflow = 0

    /// A client Initial whose ClientHello makes it DoQ.
    func noteInitial(_ seg: TransportSegment, sni: String?, frame: UInt64, ts: Timestamp, input: Int) {
        let k = Key(client: seg.ip.src, clientPort: seg.sport, server: seg.ip.dst, serverPort: seg.dport)
        guard attempts[k] == nil else { return }
        guard attempts.count < DoQAttempts.maxAttempts else { overflow += 1; return }
        attempts[k] = Attempt(frame: frame, ts: ts, input: input, sni: sni)
        order.append(k)
        waiting = true
    }

    /// A UDP datagram that may come from a DoQ server to a client that tried it.
    @inline(never)
    func noteDatagram(_ seg: TransportSegment) {
        let k = Key(client: seg.ip.dst, clientPort: seg.dport, server: seg.ip.src, serverPort: seg.sport)
        if let i = attempts.index(forKey: k) { attempts.values[i].answered = true }
    }

    /// An ICMP destination unreachable: refuses the attempt it quotes (the first error only).
    func noteUnreachable(_ e: ICMPUnreachable, frame: UInt64, ts: Timestamp) {
        guard e.quotedProtocol == 17 else { return }
        let k = Key(client: e.quotedSource, clientPort: e.quotedSourcePort, server: e.quotedDestination, serverPort: e.quotedDestinationPort)
        if let i = attempts.index(forKey: k), attempts.values[i].unreachable == nil {
            attempts.values[i].unreachable = (frame, ts, e)
        }
    }

    /// The blocked attempts: refused by ICMP, or unanswered for `timeout` before their input ended.
    /// One finding per server and port (the policy's subject); its evidence lists up to 8 attempts.
    func findings(timeout: Int64, captureEnd: (Int) -> Timestamp?, inputName: (Int) -> String?,
                  plainDNSWorks: (IPAddress) -> Bool) -> [Finding] {
        var out: [Finding] = []
        var byID: [String: Int] = [:]
        for k in order {
            guard let a = attempts[k], !a.answered else { continue }
            let failure: EncryptedDNSBlockedEvidence.Failure
            let frames: [UInt64]
            var facts: [(String, SubjectValue)] = [("time", .string(a.ts.description)), ("client", .string(k.client.description)),
                                                   ("client_port", .int(Int(k.clientPort)))]
            if let sni = a.sni { facts.append(("sni", .string(sni))) }
            let detail: String
            if let u = a.unreachable {
                failure = .refused
                frames = [a.frame, u.frame]
                facts.append(("icmp_type", .int(Int(u.error.type))))
                facts.append(("icmp_code", .int(Int(u.error.code))))
                facts.append(("icmp_from", .string(u.error.reporter.description)))
                detail = "the QUIC Initial from client port \(k.clientPort) to UDP port \(k.serverPort) was answered by an ICMP\(u.error.isV6 ? "v6" : "") "
                    + "destination unreachable (\(u.error.reason)) from \(u.error.reporter)"
            } else {
                guard let end = captureEnd(a.input) else { continue }
                let waited = end.nanoseconds(since: a.ts)
                guard waited >= timeout else { continue }
                failure = .noAnswerToSYN
                frames = [a.frame]
                facts.append(("waited_ns", .int(Int(waited))))
                detail = "the QUIC Initial from client port \(k.clientPort) to UDP port \(k.serverPort) got no datagram back in the "
                    + "\(waited / 1_000_000) ms the capture ran after it"
            }
            let evidence = Evidence(source: .capture, input: inputName(a.input), frames: frames, detail: detail, facts: facts)
            guard let f = FindingPolicy.encryptedDNSBlocked(
                EncryptedDNSBlockedEvidence(server: k.server.description, port: Int(k.serverPort), service: .doq, failure: failure,
                                            offered: .clientAttempted, plainDNSWorks: plainDNSWorks(k.server)),
                evidence: [evidence]) else { continue }
            if let i = byID[f.id] {
                if out[i].evidence.filter({ $0.source == .capture && !$0.frames.isEmpty }).count < 8 {
                    out[i].evidence.insert(evidence, at: out[i].evidence.lastIndex { $0.source == .capture && !$0.frames.isEmpty }.map { $0 + 1 } ?? 0)
                }
            } else {
                byID[f.id] = out.count
                out.append(f)
            }
        }
        return out
    }
}
