import Findings

public struct DNSSECStrippingEvidence: Sendable {
    public enum Reason: String, Sendable {
        /// AD set on a name the references SERVFAIL (its signature is broken).
        case forgedADOnBrokenName = "forged-ad"
        /// AD set while the RRSIGs the references return (DO set) are missing.
        case adWithoutSignatures = "ad-without-rrsig"
        /// RRSIGs missing (DO set) where the references return them; no AD claimed.
        case signaturesRemoved = "rrsig-stripped"
    }
    public var resolver: String
    public var qname: String
    public var reason: Reason
    /// From a capture (no references: the rule is RFC 4035's, RRSIGs with DO), not a probe.
    public var fromCapture: Bool
    public init(resolver: String, qname: String, reason: Reason, fromCapture: Bool = false) {
        self.resolver = resolver
        self.qname = qname
        self.reason = reason
        self.fromCapture = fromCapture
    }
}

extension FindingPolicy {
    /// `dns.dnssec-stripped`: AD claimed for what does not validate (a broken signature, or no
    /// signatures at all) → high / likely: a client trusting AD accepts forged answers; RRSIGs
    /// removed without an AD claim → medium / likely: a validating client behind it cannot validate.
    public static func dnssecStripped(_ e: DNSSECStrippingEvidence, evidence: [Evidence]) -> Finding {
        let severity: Severity
        let title: String
        switch e.reason {
        case .forgedADOnBrokenName:
            severity = .high
            title = "\(e.resolver) marks \(e.qname) as validated (AD) although its signature is broken (the references SERVFAIL it): DNSSEC validation is forged on the path"
        case .adWithoutSignatures:
            severity = .high
            title = e.fromCapture
                ? "\(e.resolver) marks \(e.qname) as validated (AD) for a DO query but returns none of its signatures (RRSIG), which a validating server must include: DNSSEC is stripped and validation claimed"
                : "\(e.resolver) marks \(e.qname) as validated (AD) but returns none of the signatures (RRSIG) the references return: DNSSEC is stripped and validation claimed"
        case .signaturesRemoved:
            severity = .medium
            title = "\(e.resolver) returns \(e.qname) without the signatures (RRSIG) the references return with DO set: DNSSEC is stripped on the path"
        }
        return Finding(
            kind: FindingKind.dnsDNSSECStripped, severity: severity, confidence: .likely, title: title,
            subject: [("qname", .string(e.qname)), ("resolver", .string(e.resolver)), ("reason", .string(e.reason.rawValue))],
            evidence: evidence,
            remediation: "Something between this machine and the validating resolver rewrites DNS answers (a DNS proxy or middlebox). "
                + "Validate locally or use DoT/DoH to a validating resolver, and find the proxy.")
    }
}
