import Findings

/// Two or more different answers to one DNS query (same flow, id and question): an on-path
/// injector racing the resolver (Hold-On, Duan & Weaver 2012). From a capture (the responses on
/// the wire) or a probe (answers heard while holding the socket open after the first).
public struct InjectionRaceEvidence: Sendable {
    public var qname: String
    public var qtype: String
    /// `udp` or `tcp`.
    public var transport: String
    public var resolver: String
    /// The client whose query was raced (a capture); nil for this machine's own probe.
    public var client: String?
    /// Distinct answers, in arrival order.
    public var distinctAnswers: [String]
    /// The client sent the query more than once (each copy may have been answered differently).
    public var clientRetried: Bool
    /// Answers with a mark of forgery (an IP TTL unlike the resolver's, arriving faster than it
    /// can, disagreeing with the references).
    public var suspiciousAnswers: Int

    public init(qname: String, qtype: String, transport: String, resolver: String, client: String? = nil,
                distinctAnswers: [String], clientRetried: Bool, suspiciousAnswers: Int) {
        self.qname = qname
        self.qtype = qtype
        self.transport = transport
        self.resolver = resolver
        self.client = client
        self.distinctAnswers = distinctAnswers
        self.clientRetried = clientRetried
        self.suspiciousAnswers = suspiciousAnswers
    }
}

extension FindingPolicy {
    /// `dns.injection`, or nil when fewer than two distinct answers came.
    ///
    /// - the client asked once, or an answer carries a mark of forgery: high / likely;
    /// - the client retried and nothing marks an answer as forged: medium / possible (each copy
    ///   of the query may have met a different resolver state).
    public static func injectionRace(_ e: InjectionRaceEvidence, evidence: [Evidence]) -> Finding? {
        guard e.distinctAnswers.count >= 2 else { return nil }
        let weak = e.clientRetried && e.suspiciousAnswers == 0
        var subject: [(String, SubjectValue)] = [("qname", .string(e.qname)), ("qtype", .string(e.qtype)),
                                                 ("transport", .string(e.transport)), ("resolver", .string(e.resolver))]
        if let c = e.client { subject.append(("client", .string(c))) }
        return Finding(
            kind: FindingKind.dnsInjection, severity: weak ? .medium : .high, confidence: weak ? .possible : .likely,
            title: "Two different answers to one query for \(e.qname) \(e.qtype) from \(e.resolver): an on-path injector is racing the resolver",
            subject: subject, evidence: evidence,
            remediation: "Do not trust plaintext DNS on this path: use an encrypted resolver (DoT/DoH) or a resolver "
                + "inside your network, and find the device that injects replies (compare the IP TTLs: the forged reply "
                + "usually comes from fewer hops away than the real resolver).")
    }
}
