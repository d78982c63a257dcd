import Findings

/// How random a resolver's upstream queries are, measured from a capture.
public struct PoisoningExposureEvidence: Sendable {
    public var resolver: String
    public var queries: Int
    public var distinctPorts: Int
    public var distinctIDs: Int
    /// Queries whose id is the previous query's id plus 1…16 (mod 2^16).
    public var sequentialIDs: Int
    /// Queries with letters in their name, and how many of them mix upper and lower case (0x20).
    public var queriesWithLetters: Int
    public var mixedCaseQueries: Int

    public init(resolver: String, queries: Int, distinctPorts: Int, distinctIDs: Int, sequentialIDs: Int,
                queriesWithLetters: Int, mixedCaseQueries: Int) {
        self.resolver = resolver
        self.queries = queries
        self.distinctPorts = distinctPorts
        self.distinctIDs = distinctIDs
        self.sequentialIDs = sequentialIDs
        self.queriesWithLetters = queriesWithLetters
        self.mixedCaseQueries = mixedCaseQueries
    }

    /// At most two source ports over the queries: a fixed port (with ≥ 8 queries to say so).
    public var fixedPort: Bool { queries >= 8 && distinctPorts <= 2 }
    /// Most ids follow the previous one closely: predictable.
    public var predictableIDs: Bool { queries >= 8 && sequentialIDs * 2 >= queries - 1 }
    public var uses0x20: Bool { queriesWithLetters > 0 && mixedCaseQueries * 2 >= queriesWithLetters }
}

/// Responses with varying ids aimed at one outstanding query.
public struct PoisoningAttemptEvidence: Sendable {
    public var resolver: String   // the address the responses claim to come from
    public var target: String     // the querier (ADDR:PORT) they were sent to
    public var qname: String
    public var wrongIDs: Int
    public var genuineAnswered: Bool

    public init(resolver: String, target: String, qname: String, wrongIDs: Int, genuineAnswered: Bool) {
        self.resolver = resolver
        self.target = target
        self.qname = qname
        self.wrongIDs = wrongIDs
        self.genuineAnswered = genuineAnswered
    }
}

extension FindingPolicy {
    /// `dns.poisoning-exposure`: a fixed source port and predictable ids → high / likely (an
    /// off-path attacker needs a handful of guesses); a fixed port alone → medium / likely (16
    /// bits of id left: the Kaminsky exposure); predictable ids with random ports → low / likely.
    /// Anything else is no finding (nil).
    public static func poisoningExposure(_ e: PoisoningExposureEvidence, evidence: [Evidence]) -> Finding? {
        let severity: Severity
        let reason: String
        let what: String
        switch (e.fixedPort, e.predictableIDs) {
        case (true, true):
            (severity, reason) = (.high, "fixed-port-sequential-id")
            what = "uses a fixed source port (\(e.distinctPorts) port(s) for \(e.queries) queries) and sequential transaction ids: a spoofed answer needs only a handful of guesses to poison its cache"
        case (true, false):
            (severity, reason) = (.medium, "fixed-port")
            what = "uses a fixed source port (\(e.distinctPorts) port(s) for \(e.queries) queries): only the 16-bit transaction id stands between its cache and a spoofed answer (the Kaminsky exposure)"
        case (false, true):
            (severity, reason) = (.low, "sequential-id")
            what = "sends sequential transaction ids (\(e.sequentialIDs) of \(e.queries - 1) follow the previous one): only its source port stands between its cache and a spoofed answer"
        case (false, false):
            return nil
        }
        return Finding(
            kind: FindingKind.dnsPoisoningExposure, severity: severity, confidence: .likely,
            title: "\(e.resolver) \(what)",
            subject: [("resolver", .string(e.resolver)), ("reason", .string(reason))],
            evidence: evidence,
            remediation: "Let the resolver or forwarder pick a random source port per query (dnsmasq: remove query-port=; "
                + "BIND: no query-source port), keep random transaction ids, and prefer one that also randomises case (0x20) or validates DNSSEC.")
    }

    /// `dns.poisoning-attempt`: three or more responses with different wrong ids for one
    /// outstanding query → high / likely.
    public static func poisoningAttempt(_ e: PoisoningAttemptEvidence, evidence: [Evidence]) -> Finding {
        Finding(
            kind: FindingKind.dnsPoisoningAttempt, severity: .high, confidence: .likely,
            title: "\(e.wrongIDs) responses with guessed transaction ids for \(e.qname), claiming to come from \(e.resolver), were sprayed at \(e.target): a cache-poisoning attempt",
            subject: [("resolver", .string(e.resolver)), ("client", .string(e.target)), ("qname", .string(e.qname))],
            evidence: evidence,
            remediation: "Someone is guessing the transaction id of \(e.target)'s query to poison its cache. Make sure that querier randomises "
                + "its source port, flush its cache, validate DNSSEC, and find the sender (the spoofed packets' IP TTL and path).")
    }
}
