import Findings

/// An HTTPS/SVCB answer of the path that differs from the references' (issue 20 item 4), from a
/// probe or from a capture under `analyze --reference`.
public struct HTTPSRecordEvidence: Sendable {
    public var qname: String
    /// `HTTPS` or `SVCB`.
    public var qtype: String
    public var resolver: String?
    public var transport: String?
    /// The comparison's reason: `ech-stripped`, `record-stripped`, `ech-changed`, `ech-added`,
    /// `alpn-rewritten`, `port-rewritten`, `hint-rewritten`, `hint-stripped`, `target-rewritten`,
    /// `record-added`, `blocked-servfail`, `blocked-refused`.
    public var reason: String
    /// Every difference, worded.
    public var differences: [String]
    /// The path's records (or its rcode) and the references' records, as text.
    public var pathAnswer: String
    public var referenceRecords: [String]
    public var referencesWithRecord: Int
    public var referencesHaveECH: Bool
    /// Two or more references agree (`likely`), or one (`possible`).
    public var likely: Bool

    public init(qname: String, qtype: String, resolver: String?, transport: String? = nil, reason: String, differences: [String],
                pathAnswer: String, referenceRecords: [String], referencesWithRecord: Int, referencesHaveECH: Bool, likely: Bool) {
        self.qname = qname
        self.qtype = qtype
        self.resolver = resolver
        self.transport = transport
        self.reason = reason
        self.differences = differences
        self.pathAnswer = pathAnswer
        self.referenceRecords = referenceRecords
        self.referencesWithRecord = referencesWithRecord
        self.referencesHaveECH = referencesHaveECH
        self.likely = likely
    }

    /// ECH or the whole record removed: `dns.https-record-stripped`.
    public var isStripped: Bool { reason == "ech-stripped" || reason == "record-stripped" }
}

/// A whoami-style name's answer showing which EDNS Client Subnet the authoritative received via
/// the path (issue 20 item 6).
public struct ECSForwardedEvidence: Sendable {
    public var echoName: String
    public var resolver: String
    /// The subnet the authoritative saw, `ADDRESS/PREFIX` (e.g. `198.18.101.0/24`).
    public var subnet: String
    public var prefixLength: Int
    public var isIPv6: Bool

    public init(echoName: String, resolver: String, subnet: String, prefixLength: Int, isIPv6: Bool) {
        self.echoName = echoName
        self.resolver = resolver
        self.subnet = subnet
        self.prefixLength = prefixLength
        self.isIPv6 = isIPv6
    }
}

extension FindingPolicy {
    /// `dns.https-record-stripped` (ECH or the record removed) and the HTTPS reasons of
    /// `dns.answer-mismatch` (other rewrites). Stripping ECH where the references publish it is a
    /// downgrade of every client's privacy: **high / likely** with two or more references agreeing
    /// (removing the whole record while the references' carries `ech` counts the same); a record
    /// without ECH removed: medium. Rewritten `alpn`, `port`, target or hints: medium; a different
    /// ECH configuration alone (configurations rotate), an added record or a failed lookup: low.
    /// With one reference: at most medium, `possible`.
    public static func httpsRecord(_ e: HTTPSRecordEvidence, evidence: [Evidence]) -> Finding {
        var severity: Severity
        switch e.reason {
        case "ech-stripped": severity = .high
        case "record-stripped": severity = e.referencesHaveECH ? .high : .medium
        case "alpn-rewritten", "port-rewritten", "hint-rewritten", "hint-stripped", "target-rewritten": severity = .medium
        default: severity = .low
        }
        if !e.likely && severity > .medium { severity = .medium }
        let confidence: Confidence = e.likely ? .likely : .possible
        let name = e.qname.hasSuffix(".") ? String(e.qname.dropLast()) : e.qname
        let by = e.resolver.map { " (resolver \($0))" } ?? ""
        let refs = e.referenceRecords.prefix(2).joined(separator: " | ")
        let title: String
        switch e.reason {
        case "ech-stripped":
            title = "\(name) \(e.qtype): the path\(by) removes ech= from the record the references publish (\(refs)): Encrypted Client Hello is switched off"
        case "record-stripped":
            title = "\(name) \(e.qtype): the path\(by) answers \(e.pathAnswer) while the references publish \(refs)"
                + (e.referencesHaveECH ? ": the record and its ECH configuration are stripped" : ": the record is stripped")
        default:
            title = "\(name) \(e.qtype): the path\(by) rewrites the record (\(e.differences.first ?? e.reason))"
        }
        var subject: [(String, SubjectValue)] = [("qname", .string(name)), ("qtype", .string(e.qtype))]
        if let r = e.resolver { subject.append(("resolver", .string(r))) }
        if let t = e.transport { subject.append(("transport", .string(t))) }
        subject.append(("reason", .string(e.isStripped ? e.reason : "https-" + e.reason)))
        let remediation = e.isStripped
            ? "Something on the path removes the HTTPS record's ECH configuration, so browsers send the real server name in clear. "
                + "Use encrypted DNS (DoH/DoT) to a resolver you trust, and find out which resolver or middlebox rewrites HTTPS records."
            : "The path's resolver changes the HTTPS record (where and how browsers connect). Check who answers (dnsaudit probe) and use encrypted DNS until it is explained."
        return Finding(kind: e.isStripped ? .dnsHTTPSRecordStripped : .dnsAnswerMismatch, severity: severity, confidence: confidence,
                       title: title, subject: subject, evidence: evidence, remediation: remediation)
    }

    /// `dns.ecs-forwarded`: the path sends the client's subnet to authoritative servers (RFC 7871).
    /// A privacy exposure, not tampering: **info / likely** for a prefix of at most /24 (IPv4) or
    /// /56 (IPv6), the RFC's recommended truncation; **low / likely** for a longer one (it narrows
    /// the client down to a few addresses, or names it).
    public static func ecsForwarded(_ e: ECSForwardedEvidence, evidence: [Evidence]) -> Finding {
        let precise = e.isIPv6 ? e.prefixLength > 56 : e.prefixLength > 24
        let name = e.echoName.hasSuffix(".") ? String(e.echoName.dropLast()) : e.echoName
        return Finding(
            kind: .dnsECSForwarded, severity: precise ? .low : .info, confidence: .likely,
            title: "\(e.resolver) forwards EDNS Client Subnet: the authoritative server of \(name) saw \(e.subnet)"
                + (precise ? " (longer than RFC 7871's recommended /\(e.isIPv6 ? 56 : 24))" : ""),
            subject: [("qname", .string(name)), ("resolver", .string(e.resolver)), ("reason", .string(precise ? "precise-prefix" : "truncated-prefix"))],
            evidence: evidence,
            remediation: "Authoritative servers (and anyone on their path) learn which network each query comes from. "
                + "If that is not wanted, turn ECS off on the resolver (unbound: no send-client-subnet; dnsdist: useClientSubnet=false) or use one that does not send it.")
    }
}
