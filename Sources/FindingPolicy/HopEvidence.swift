import Findings

/// Where on the route a tampering appears (issue 20 item 8, the ladder's "route" rung): the
/// offending packet — the DNS query, the TCP SYN, the ClientHello — repeated with IP TTL 1, 2, …
/// (CenTrace / tcptraceroute). The router that sent ICMP time-exceeded at TTL k-1 is the last
/// clean hop; the forged answer or reset first arriving at TTL k puts the tamperer between hop
/// k-1 and hop k. A silent drop is located where the path stops answering.
public struct TamperingHopEvidence: Sendable, Equatable {
    /// Which packet was repeated.
    public enum Probe: String, Sendable {
        case dnsQuery = "dns-query"
        case tcpSyn = "tcp-syn"
        case clientHello = "client-hello"
    }
    /// What came back early (or did not come back at all).
    public enum Tampering: String, Sendable {
        case forgedAnswer = "forged-answer"
        case reset
        case forgedData = "forged-data"
        case closed
        case silence
    }
    public var probe: Probe
    public var tampering: Tampering
    /// The address the probe was sent to.
    public var destination: String
    /// The TTL (hop limit) at which the tampering first appears (for silence: the first silent TTL).
    public var ttl: Int
    /// The router at TTL `ttl` (ICMP time-exceeded from it for this probe or an innocuous one);
    /// nil when no router answered at that TTL.
    public var tamperHop: String?
    /// The router that answered time-exceeded at TTL `ttl - 1`; nil at TTL 1 (this host is the
    /// last clean point).
    public var lastCleanHop: String?

    public init(probe: Probe, tampering: Tampering, destination: String, ttl: Int, tamperHop: String?, lastCleanHop: String?) {
        self.probe = probe
        self.tampering = tampering
        self.destination = destination
        self.ttl = ttl
        self.tamperHop = tamperHop
        self.lastCleanHop = lastCleanHop
    }
}

extension FindingPolicy {
    /// The sentence and facts of a located tampering: `tamper_hop`, `last_clean_hop` ("this host"
    /// at TTL 1), `ttl`, `hop_probe`. The finding's kind, severity and title stay its own policy's.
    public static func hopEvidence(_ e: TamperingHopEvidence) -> Evidence {
        let what: String
        switch e.tampering {
        case .forgedAnswer: what = "a forged answer"
        case .reset: what = "a reset"
        case .forgedData: what = "data no server could have sent yet"
        case .closed: what = "a connection close"
        case .silence: what = "silence"
        }
        let clean = e.lastCleanHop ?? "this host"
        let cleanTTL = e.ttl > 1 ? "TTL \(e.ttl - 1)" : "the sender"
        let hop = e.tamperHop ?? "the unnamed hop \(e.ttl)"
        let detail: String
        if e.tampering == .silence {
            detail = "route: the \(e.probe.rawValue) to \(e.destination) goes unanswered from TTL \(e.ttl) on; "
                + "the last hop that answered is \(clean) (\(cleanTTL)); the drop sits between \(clean) and \(hop)"
        } else {
            detail = "route: \(what) to the \(e.probe.rawValue) for \(e.destination) first comes back at TTL \(e.ttl), "
                + "before the packet can reach it: the tamperer sits between \(clean) (\(cleanTTL)) and \(hop) (TTL \(e.ttl))"
        }
        return Evidence(source: .probe, detail: detail,
                        facts: [("tamper_hop", .string(e.tamperHop ?? "")), ("last_clean_hop", .string(clean)),
                                ("ttl", .int(e.ttl)), ("hop_probe", .string(e.probe.rawValue)), ("tampering", .string(e.tampering.rawValue))])
    }

    /// `finding` with the located hop appended to its evidence.
    public static func withHop(_ finding: Finding, _ e: TamperingHopEvidence) -> Finding {
        var f = finding
        f.evidence.append(hopEvidence(e))
        return f
    }
}
