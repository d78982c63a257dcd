import Findings

/// One designation of a resolver's Discovery of Designated Resolvers (DDR, RFC 9462) that the
/// probe connected to and whose certificate it checked: verified discovery (§4.2) needs a
/// certificate valid for the designated name (`nameCovered`, `trusted`) that also holds the
/// plaintext resolver's IP address in an iPAddress SAN (`plainAddressCovered`).
public struct DDRDesignationEvidence: Sendable {
    public enum Service: String, Sendable {
        case dot = "DoT", doh = "DoH"
        /// Verified over QUIC (ALPN `doq`, `h3`).
        case doq = "DoQ", doh3 = "DoH3"
    }

    /// The unencrypted resolver that answered `_dns.resolver.arpa` SVCB.
    public var plainResolver: String
    /// The SVCB record as text (`SVCB 1 dot.lab.test. alpn=dot …`).
    public var designation: String
    /// The designated name (the SVCB target) and where it was reached.
    public var designatedName: String
    public var service: Service
    public var address: String
    public var port: Int
    /// The certificate's DNS and IP subject alternative names (what it covered).
    public var certificateNames: [String]
    public var nameCovered: Bool
    /// The chain leads to a trusted root (the system's or `--ca-file`) and is in date.
    public var trusted: Bool
    /// Why the chain was not trusted ("unknown-issuer", …) when it was not.
    public var trustProblem: String?
    public var plainAddressCovered: Bool
    /// The plaintext resolver's address is private (RFC 1918, ULA, CGNAT, loopback, link-local):
    /// RFC 9462 §4.2 says clients do not use verified discovery then (opportunistic discovery,
    /// §4.3, applies instead), so an address missing from the certificate is expected.
    public var plainAddressIsPrivate: Bool

    public init(plainResolver: String, designation: String, designatedName: String, service: Service, address: String, port: Int,
                certificateNames: [String], nameCovered: Bool, trusted: Bool, trustProblem: String? = nil,
                plainAddressCovered: Bool, plainAddressIsPrivate: Bool) {
        self.plainResolver = plainResolver
        self.designation = designation
        self.designatedName = designatedName
        self.service = service
        self.address = address
        self.port = port
        self.certificateNames = certificateNames
        self.nameCovered = nameCovered
        self.trusted = trusted
        self.trustProblem = trustProblem
        self.plainAddressCovered = plainAddressCovered
        self.plainAddressIsPrivate = plainAddressIsPrivate
    }

    /// Verified discovery succeeds (RFC 9462 §4.2).
    public var isVerified: Bool { nameCovered && trusted && plainAddressCovered }

    /// What failed, in words, in the order a client checks.
    public var failures: [String] {
        var out: [String] = []
        if !trusted { out.append("the certificate is not trusted (\(trustProblem ?? "no trusted chain"))") }
        if !nameCovered { out.append("the certificate does not cover the designated name \(designatedName)") }
        if !plainAddressCovered { out.append("the certificate has no IP address SAN for the plain resolver \(plainResolver)") }
        return out
    }
}

extension FindingPolicy {
    /// `encrypted-dns.ddr-unverified`: a designation a browser would refuse (RFC 9462 §4.2) —
    /// medium / likely: the designation points to a resolver that cannot prove it speaks for the
    /// plain resolver (a redirected or spoofed designation, or a misconfigured one). nil (a note,
    /// see `ddrNote`) when the designation verifies, or when the plain resolver's address is
    /// private (verified discovery does not apply there, §4.2 / §4.3).
    public static func ddrUnverified(_ e: DDRDesignationEvidence, evidence: [Evidence]) -> Finding? {
        guard !e.isVerified, !e.plainAddressIsPrivate else { return nil }
        let covered = e.certificateNames.isEmpty ? "no names" : e.certificateNames.prefix(12).joined(separator: ", ")
        var items = evidence
        items.append(Evidence(source: .probe,
                              detail: "\(e.service.rawValue) to \(e.address):\(e.port) for \(e.designatedName): the certificate covers \(covered); "
                                + e.failures.joined(separator: "; "),
                              facts: [("certificate_names", .string(e.certificateNames.joined(separator: ","))),
                                      ("name_covered", .string(e.nameCovered ? "yes" : "no")),
                                      ("trusted", .string(e.trusted ? "yes" : "no")),
                                      ("plain_address_covered", .string(e.plainAddressCovered ? "yes" : "no"))]))
        return Finding(
            kind: FindingKind.encryptedDNSDDRUnverified, severity: .medium, confidence: .likely,
            title: "\(e.plainResolver) designates \(e.designatedName) (\(e.service.rawValue)) for itself, but the designation does not verify: "
                + (e.failures.first ?? "verification failed"),
            subject: [("resolver", .string(e.plainResolver)), ("designated", .string(e.designatedName)),
                      ("service", .string(e.service.rawValue.lowercased())), ("reason", .string(e.reasonCode))],
            evidence: items,
            remediation: "Clients that follow RFC 9462 will not upgrade to this encrypted resolver. If the resolver's operator did not "
                + "publish this designation, something on the path answers `_dns.resolver.arpa` for it (a redirected or spoofed "
                + "designation); otherwise its certificate must list \(e.plainResolver) as an IP address SAN.")
    }

    /// The note for a resolver whose DDR needs no finding: it designates nothing, a designation
    /// verified, or verification does not apply (a private address).
    public static func ddrNote(_ e: DDRDesignationEvidence) -> String {
        if e.isVerified {
            return "DDR: \(e.plainResolver) designates \(e.designatedName) (\(e.service.rawValue) at \(e.address):\(e.port)); verified (RFC 9462 §4.2: "
                + "the certificate covers \(e.designatedName) and the IP address \(e.plainResolver))"
        }
        return "DDR: \(e.plainResolver) designates \(e.designatedName) (\(e.service.rawValue) at \(e.address):\(e.port)); not verifiable — "
            + e.failures.joined(separator: "; ") + "; \(e.plainResolver) is a private address, where RFC 9462 §4.3 allows only "
            + "opportunistic discovery: not a finding"
    }

    /// The note for a resolver that answers no designation (no SVCB for `_dns.resolver.arpa`).
    public static func ddrNothingDesignated(resolver: String, answer: String) -> String {
        "DDR: \(resolver) designates no encrypted resolver (_dns.resolver.arpa SVCB: \(answer)): clients stay on plain DNS unless configured otherwise"
    }
}

extension DDRDesignationEvidence {
    /// The subject's `reason`: the first failure a client meets.
    var reasonCode: String {
        if !trusted { return "untrusted-certificate" }
        if !nameCovered { return "name-not-covered" }
        return "address-not-covered"
    }
}
