/// How bad a finding is. Ordered: `info < low < medium < high < critical`.
public enum Severity: String, Sendable, CaseIterable, Comparable, Codable {
    case info, low, medium, high, critical

    var rank: Int {
        switch self {
        case .info: return 0
        case .low: return 1
        case .medium: return 2
        case .high: return 3
        case .critical: return 4
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// How sure we are. `confirmed` means two independent signals agree.
public enum Confidence: String, Sendable, CaseIterable, Codable {
    case confirmed, likely, possible
}

/// A value in a finding's subject: the contract keeps addresses as strings and ports/handles as numbers.
public enum SubjectValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case string(String)
    case int(Int)

    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        }
    }
}

/// One named value of a finding's subject or an evidence's facts, in order.
public struct Fact: Sendable, Hashable, Codable {
    public var key: String
    public var value: SubjectValue

    public init(_ key: String, _ value: SubjectValue) {
        self.key = key
        self.value = value
    }
}

/// One piece of evidence: where it came from, which frames or rules, and what it shows. A plain
/// value: equality, hashing and coding are synthesized over its stored properties.
public struct Evidence: Sendable, Hashable, Codable {
    /// Where it came from; the report writes its contract string (`capture`, `ruleset`, `reference`, `probe`).
    public var source: EvidenceSource
    /// The input file or interface, when there are several.
    public var input: String?
    public var frames: [UInt64]
    public var detail: String
    /// Structured facts (ordered), e.g. ("answers", "203.0.113.66"), ("ip_ttl", "243").
    public var factList: [Fact]

    /// `factList` as (key, value) pairs.
    public var facts: [(String, SubjectValue)] {
        get { factList.map { ($0.key, $0.value) } }
        set { factList = newValue.map { Fact($0.0, $0.1) } }
    }

    public init(source: EvidenceSource, input: String? = nil, frames: [UInt64] = [], detail: String,
                facts: [(String, SubjectValue)] = []) {
        self.source = source
        self.input = input
        self.frames = frames
        self.detail = detail
        self.factList = facts.map { Fact($0.0, $0.1) }
    }
}

/// A finding per the report contract. `id` is a stable hash of kind + subject. A plain value:
/// equality, hashing and coding are synthesized over its stored properties.
public struct Finding: Sendable, Hashable, Codable {
    public var kind: FindingKind
    public var severity: Severity
    public var confidence: Confidence
    public var title: String
    /// Ordered subject keys (contract names: qname, qtype, transport, resolver, client, …).
    public var subjectFacts: [Fact]
    public var evidence: [Evidence]
    public var remediation: String
    /// Ids of other findings in the same report that this one supports or is supported by (a
    /// redirect rule and the forged answers it produced). Sorted, no duplicates.
    public var related: [String]

    public init(kind: FindingKind, severity: Severity, confidence: Confidence, title: String,
                subject: [(String, SubjectValue)], evidence: [Evidence], remediation: String, related: [String] = []) {
        self.kind = kind
        self.severity = severity
        self.confidence = confidence
        self.title = title
        self.subjectFacts = subject.map { Fact($0.0, $0.1) }
        self.evidence = evidence
        self.remediation = remediation
        self.related = related
    }

    /// Adds `id` to `related` (kept sorted, without duplicates, never this finding's own id).
    public mutating func relate(to id: String) {
        guard id != self.id, !related.contains(id) else { return }
        related.append(id)
        related.sort()
    }

    /// Stable across runs: FNV-1a 64 over the kind and the subject sorted by key.
    public var id: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) {
            for b in s.utf8 {
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01b3
            }
            h ^= 0xff
            h = h &* 0x0000_0100_0000_01b3
        }
        mix(kind.rawValue)
        for f in subjectFacts.sorted(by: { $0.key < $1.key }) {
            mix(f.key)
            mix(f.value.description)
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// `subjectFacts` as (key, value) pairs.
    public var subject: [(String, SubjectValue)] {
        get { subjectFacts.map { ($0.key, $0.value) } }
        set { subjectFacts = newValue.map { Fact($0.0, $0.1) } }
    }

    public func subjectValue(_ key: String) -> SubjectValue? {
        subjectFacts.first { $0.key == key }?.value
    }
}

/// Every finding kind the report contract names: the one list. Its raw value is the contract's
/// name (`dns.injection`); nothing emits a kind that is not a case here.
public enum FindingKind: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case dnsInjection = "dns.injection"
    case dnsUnsolicitedResponse = "dns.unsolicited-response"
    case dnsAnswerMismatch = "dns.answer-mismatch"
    case dnsNXDomainRewrite = "dns.nxdomain-rewrite"
    case dnsResolverIdentityMismatch = "dns.resolver-identity-mismatch"
    case dnsUnapprovedResolver = "dns.unapproved-resolver"
    case tlsResetAfterClientHello = "tls.reset-after-clienthello"
    case tlsHandshakeTimeout = "tls.handshake-timeout"
    case tlsUntrustedCertificate = "tls.untrusted-certificate"
    case firewallDNSRedirect = "firewall.dns-redirect"
    case firewallTLSRedirect = "firewall.tls-redirect"
    case firewallEncryptedDNSBlock = "firewall.encrypted-dns-block"
    case encryptedDNSBlocked = "encrypted-dns.blocked"
    case tlsHandshakeAlert = "tls.handshake-alert"
    /// A TCP connection reset right after the client's first data by a reset the server did not send.
    case tcpResetInjection = "tcp.reset-injection"
    /// A probe target that cannot be reached: a diagnosis (the first broken layer), not tampering.
    case probeUnreachable = "probe.unreachable"
    /// A resolver or forwarder whose upstream queries are easy to spoof: a fixed source port, or
    /// predictable transaction ids (the exposure behind Kaminsky-style cache poisoning).
    case dnsPoisoningExposure = "dns.poisoning-exposure"
    /// A burst of responses with varying transaction ids for one outstanding query: someone is
    /// guessing the id to poison a cache (a spray), not a resolver answering late.
    case dnsPoisoningAttempt = "dns.poisoning-attempt"
    /// The path removes DNSSEC signatures the references return, or claims validation (AD) for
    /// answers that do not validate: DNSSEC is stripped or forged on the way.
    case dnsDNSSECStripped = "dns.dnssec-stripped"
    /// A network answers an encrypted-DNS opt-out canary (Firefox's `use-application-dns.net`,
    /// Apple's `mask.icloud.com` / `mask-h2.icloud.com`) NXDOMAIN or with no data while the
    /// references answer it: the network is switching encrypted DNS / Private Relay off.
    case encryptedDNSOptOutCanary = "encrypted-dns.opt-out-canary"
    /// The path strips `ech=` from (or removes) the HTTPS record the references return for a name:
    /// Encrypted Client Hello is switched off on the way (issue 20 item 4).
    case dnsHTTPSRecordStripped = "dns.https-record-stripped"
    /// The path forwards EDNS Client Subnet: an authoritative echo name saw the client's subnet
    /// (a privacy exposure, not tampering; issue 20 item 6).
    case dnsECSForwarded = "dns.ecs-forwarded"

    /// A resolver's DDR designation (RFC 9462 `_dns.resolver.arpa` SVCB) whose certificate does not
    /// verify: not valid for the designated name, or without the plain resolver's IP address in an
    /// IP SAN (verified discovery, §4.2) — a redirected or spoofed designation (issue 20 item 1).
    case encryptedDNSDDRUnverified = "encrypted-dns.ddr-unverified"

    public var description: String { rawValue }
}
