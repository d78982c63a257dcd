import Findings

/// A canary name answered "does not exist" (or "no data") by the path, with addresses by the references.
public struct OptOutCanaryEvidence: Sendable {
    /// The products whose encrypted DNS the canary switches off.
    public enum Product: String, Sendable {
        case firefoxDoH = "firefox-doh"
        case iCloudPrivateRelay = "icloud-private-relay"
        case other
    }
    public var canary: String
    public var resolver: String
    /// "NXDOMAIN" or "NOERROR, no address".
    public var pathAnswer: String
    /// How many references answered the canary with addresses, and how many were asked.
    public var referencesAnswering: Int
    /// A severity the user's policy asks for instead of the default (never lowers below info).
    public var raisedTo: Severity?

    public init(canary: String, resolver: String, pathAnswer: String, referencesAnswering: Int, raisedTo: Severity? = nil) {
        self.canary = canary
        self.resolver = resolver
        self.pathAnswer = pathAnswer
        self.referencesAnswering = referencesAnswering
        self.raisedTo = raisedTo
    }

    public var product: Product {
        let n = canary.lowercased().hasSuffix(".") ? String(canary.lowercased().dropLast()) : canary.lowercased()
        switch n {
        case "use-application-dns.net": return .firefoxDoH
        case "mask.icloud.com", "mask-h2.icloud.com": return .iCloudPrivateRelay
        default: return .other
        }
    }
}

extension FindingPolicy {
    /// `encrypted-dns.opt-out-canary`: a deliberate, documented signal, not interference with
    /// traffic — low / likely when two or more references answer the canary, info / possible with
    /// one; a policy may raise it (an organisation that forbids such signals).
    public static func optOutCanary(_ e: OptOutCanaryEvidence, evidence: [Evidence]) -> Finding {
        var (severity, confidence): (Severity, Confidence) = e.referencesAnswering >= 2 ? (.low, .likely) : (.info, .possible)
        var raised = false
        if let r = e.raisedTo, r > severity { severity = r; raised = true }
        let what: String
        switch e.product {
        case .firefoxDoH: what = "Firefox's DNS over HTTPS (the network asks Firefox to fall back to its plaintext resolver)"
        case .iCloudPrivateRelay: what = "iCloud Private Relay (the network asks Apple devices to stop relaying)"
        case .other: what = "encrypted DNS"
        }
        let name = e.canary.hasSuffix(".") ? String(e.canary.dropLast()) : e.canary
        return Finding(
            kind: FindingKind.encryptedDNSOptOutCanary, severity: severity, confidence: confidence,
            title: "\(e.resolver) answers the opt-out canary \(name) \(e.pathAnswer) while the references answer it: this network switches off \(what)",
            subject: [("qname", .string(name)), ("resolver", .string(e.resolver)), ("reason", .string(e.product.rawValue))],
            evidence: evidence,
            remediation: "If this is not your organisation's own choice, the resolver (or something answering for it) disables encrypted DNS "
                + "for the clients that honour \(name); configure DoH/DoT explicitly (clients ignore the canary then) and ask who runs the resolver."
                + (raised ? " (Severity \(severity.rawValue) set by the policy's opt_out_canary_severity.)" : ""))
    }
}
