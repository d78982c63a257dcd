import Findings

/// An encrypted-DNS endpoint (DoT, DoH, DoQ) that could not be used, from a capture (a client's
/// SYNs or ClientHello that never completed) or a probe (the resolver checks). A reference the
/// user configured that fails is *not* this: it is an unusable reference (a note), never a finding
/// about the path.
public struct EncryptedDNSBlockedEvidence: Sendable {
    public enum Service: String, Sendable {
        case dot = "DNS over TLS", doh = "DNS over HTTPS", doq = "DNS over QUIC"
        /// DNS over HTTPS over HTTP/3 (QUIC, UDP).
        case doh3 = "DNS over HTTP/3"

        /// Carried over QUIC (UDP): DoQ and DoH over HTTP/3.
        public var overQUIC: Bool { self == .doq || self == .doh3 }
    }

    /// What happened to the attempt.
    public enum Failure: Sendable, Equatable {
        /// SYNs (or UDP Initials for DoQ) never answered: dropped.
        case noAnswerToSYN
        /// A TCP reset to the SYN (ECONNREFUSED): the host, or something in its name, refused.
        case refused
        /// A TCP reset to the SYN that looks injected: `marks` say why (an IP TTL unlike the
        /// server's own packets).
        case refusedByInjectedReset(marks: [String])
        /// The connection was cut right after the ClientHello; `injectedMarks` as for TLS resets.
        case cutAfterClientHello(injectedMarks: [String])
        /// The ClientHello got no answer at all.
        case helloUnanswered
        /// No route to the address from here (ICMP unreachable, ENETUNREACH): a reachability
        /// problem of the whole host, not of its encrypted service.
        case noRoute
    }

    /// Why the endpoint is expected to offer the service.
    public enum Offered: String, Sendable {
        /// A well-known public operator serves it at this address.
        case knownOperator = "a well-known encrypted-DNS operator's address"
        /// The user configured it (a DoT/DoH endpoint of a resolver under test, a policy entry).
        case configured = "configured"
        /// The resolver designates it for itself (DDR, RFC 9462: `_dns.resolver.arpa` SVCB).
        case designated = "designated by the resolver (DDR)"
        /// A client on this network tried it (the capture shows the attempt).
        case clientAttempted = "a client on this network tried it"
        /// The service was seen working at this address (earlier in the capture, or by a probe).
        case observedWorking = "seen working"
        /// Nothing says it does: a port tried speculatively.
        case unknown = "nothing says it offers it"
    }

    public var server: String
    public var port: Int
    public var service: Service
    public var failure: Failure
    public var offered: Offered
    /// Plain DNS to the same address works (the capture shows it answering, or the probe's
    /// UDP/TCP query got an answer): nil when not known.
    public var plainDNSWorks: Bool?

    public init(server: String, port: Int, service: Service, failure: Failure, offered: Offered, plainDNSWorks: Bool? = nil) {
        self.server = server
        self.port = port
        self.service = service
        self.failure = failure
        self.offered = offered
        self.plainDNSWorks = plainDNSWorks
    }
}

extension FindingPolicy {
    /// `encrypted-dns.blocked`, or nil when the evidence is no finding.
    ///
    /// - nothing says the address offers the service (`offered == .unknown`), or there is no route
    ///   to the host at all: nil (a closed port nobody offered, a reachability note);
    /// - an injected-looking reset after the ClientHello or to the SYN: high / likely;
    /// - dropped (no answer to the SYN or the ClientHello) or cut while plain DNS to the same
    ///   address works: high / likely — only the encrypted path fails;
    /// - dropped or cut otherwise: medium / possible;
    /// - refused (a reset to the SYN, nothing marks it injected) while plain DNS to the same address
    ///   works and the service is designated, configured or a known operator's: medium / possible
    ///   (a firewall's reject looks like that; so does a resolver that stopped serving it);
    /// - refused otherwise — including a port a client merely tried: low / possible (the host may
    ///   simply not offer it).
    public static func encryptedDNSBlocked(_ e: EncryptedDNSBlockedEvidence, evidence: [Evidence]) -> Finding? {
        if e.offered == .unknown { return nil }
        let plain = e.plainDNSWorks == true
        let severity: Severity
        let confidence: Confidence
        let what: String
        switch e.failure {
        case .noRoute:
            return nil
        case .cutAfterClientHello(let marks) where !marks.isEmpty:
            severity = .high; confidence = .likely
            what = "was cut off right after the ClientHello by a reset that looks injected"
        case .cutAfterClientHello:
            (severity, confidence) = plain ? (.high, .likely) : (.medium, .possible)
            what = "was cut off right after the ClientHello"
        case .helloUnanswered:
            (severity, confidence) = plain ? (.high, .likely) : (.medium, .possible)
            what = "got no answer to its ClientHello"
        case .noAnswerToSYN:
            (severity, confidence) = plain ? (.high, .likely) : (.medium, .possible)
            what = e.service.overQUIC ? "got no answer to its QUIC Initial packets (dropped)" : "got no answer to its SYN (dropped)"
        case .refused:
            // The host's own refusal of a port a client merely tried says only that it does not serve
            // it; against a designation, a configuration or a known operator it contradicts the offer.
            (severity, confidence) = plain && e.offered != .clientAttempted ? (.medium, .possible) : (.low, .possible)
            what = e.service.overQUIC ? "was refused (ICMP port unreachable)" : "was refused with a TCP reset"
        case .refusedByInjectedReset:
            severity = .high; confidence = .likely
            what = "was refused with a TCP reset that looks injected"
        }
        let context = plain ? ", while plain DNS to the same address answers" : ""
        var items = evidence
        items.append(Evidence(source: evidence.first?.source ?? .capture, input: evidence.first?.input,
                              detail: "expected to offer \(e.service.rawValue): \(e.offered.rawValue)"
                                + (e.plainDNSWorks.map { $0 ? "; plain DNS to \(e.server) answers" : "; plain DNS to \(e.server) fails too" } ?? ""),
                              facts: [("offered", .string(e.offered.rawValue))]
                                + (e.plainDNSWorks.map { [("plain_dns_works", .string($0 ? "yes" : "no"))] } ?? [])))
        let remediation: String
        if severity >= .medium {
            remediation = "Something on the path blocks \(e.service.rawValue) to \(e.server); plaintext DNS on this network can then be read and rewritten. "
                + "Check the firewall (dnsaudit rules), ask the network operator, or use another encrypted-DNS endpoint or port."
        } else {
            remediation = "\(e.server) refuses port \(e.port): it may not offer \(e.service.rawValue). Check the resolver's configuration before suspecting the path."
        }
        return Finding(
            kind: FindingKind.encryptedDNSBlocked, severity: severity, confidence: confidence,
            title: "\(e.service.rawValue) to \(e.server):\(e.port) \(what)\(context)",
            subject: [("server", .string(e.server)), ("port", .int(e.port)), ("transport", .string(e.service.overQUIC ? "udp" : "tcp"))],
            evidence: items, remediation: remediation)
    }
}
