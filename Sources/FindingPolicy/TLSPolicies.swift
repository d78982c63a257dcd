import Findings
import TLSCertificates

/// The TLS server a piece of evidence is about: the same subject whether a capture saw the
/// connection or a probe made it, so equal evidence gives the same finding id.
public struct TLSEndpoint: Sendable, Equatable {
    /// The name the client asked for (SNI), or for a probe of an address, nil.
    public var sni: String?
    public var server: String
    public var port: Int

    public init(sni: String?, server: String, port: Int) {
        self.sni = sni
        self.server = server
        self.port = port
    }

    var sniText: String { sni ?? "(no SNI)" }

    func subject(reason: String? = nil) -> [(String, SubjectValue)] {
        var s: [(String, SubjectValue)] = []
        if let sni { s.append(("sni", .string(sni))) }
        s.append(("server", .string(server)))
        s.append(("port", .int(port)))
        s.append(("transport", .string("tcp")))
        if let reason { s.append(("reason", .string(reason))) }
        return s
    }
}

// MARK: - tls.untrusted-certificate

/// A judged server certificate chain, from a capture (TLS ≤ 1.2) or a probe's handshake.
public struct UntrustedCertificateEvidence: Sendable {
    public var endpoint: TLSEndpoint
    public var verdict: CertificateVerdict
    /// The identity the certificate was checked against: the SNI, or for a probe of an address
    /// the address (IP SAN). nil: nothing said which certificate was due (a capture without SNI).
    public var checkedIdentity: String?

    public init(endpoint: TLSEndpoint, verdict: CertificateVerdict, checkedIdentity: String?) {
        self.endpoint = endpoint
        self.verdict = verdict
        self.checkedIdentity = checkedIdentity
    }
}

extension FindingPolicy {
    /// `tls.untrusted-certificate`. nil when the chain is trusted, valid and names the server.
    ///
    /// - a known interception product's CA: high / likely;
    /// - an untrusted chain (unknown issuer or self-signed): high — likely when it also names
    ///   another host, possible when it names the right one (a private CA is possible);
    /// - a trusted chain that names another host: low / likely, a misconfiguration, not interception;
    /// - a chain that is only expired or not yet valid: low / possible;
    /// - an untrusted chain ending at a retired public root (an old capture): info / possible;
    /// - no identity to check (no SNI): at most low, unless an interception product's CA.
    public static func untrustedCertificate(_ e: UntrustedCertificateEvidence, evidence: [Evidence]) -> Finding? {
        let v = e.verdict
        guard !v.isTrusted else { return nil }
        let problems = Set(v.problems)
        let trustProblem = problems.contains(.unknownIssuer) || problems.contains(.selfSigned)
        let nameProblem = problems.contains(.nameMismatch)
        let retired = v.untrustedIssuer.flatMap(RetiredRoots.match)
        var severity: Severity
        var confidence: Confidence
        var caveats: [String] = []
        if v.interceptionPattern != nil {
            severity = .high; confidence = .likely
        } else if trustProblem {
            severity = .high; confidence = nameProblem ? .likely : .possible
        } else if nameProblem {
            severity = .low; confidence = .likely
            caveats.append("the chain is trusted: a certificate for another name from a public CA is a server misconfiguration, not interception")
        } else {
            severity = .low; confidence = .possible
        }
        if v.interceptionPattern == nil, let retired, !nameProblem {
            severity = .info; confidence = .possible
            caveats.append("the chain ends at \(retired), a public root that today's trust store no longer holds; it was probably trusted when this was captured")
        } else if v.interceptionPattern == nil && e.checkedIdentity == nil && severity > .low {
            severity = .low
            caveats.append("the client sent no SNI, so there is no name the certificate should have carried")
        }
        let issuer = v.interceptionIssuer ?? v.untrustedIssuer ?? v.leaf?.issuer ?? "?"
        let what: String
        if let p = v.interceptionPattern {
            what = "a certificate from \(issuer), the CA of a TLS interception product (\(p))"
        } else if problems.contains(.selfSigned) {
            what = "a self-signed certificate (\(issuer)), which is not trusted"
        } else if trustProblem, let retired {
            what = "a certificate chaining to a retired public root (\(retired))"
        } else if trustProblem {
            what = "a certificate from \(issuer), which is not trusted"
        } else if nameProblem {
            what = "a trusted certificate for another name: a misconfiguration, not interception"
        } else {
            what = "a certificate outside its validity period"
        }
        var items = evidence
        if !caveats.isEmpty {
            items.append(Evidence(source: evidence.first?.source ?? .capture, input: evidence.first?.input, detail: caveats.joined(separator: "; ")))
        }
        let host = e.endpoint.sni ?? e.endpoint.server
        let remediation: String
        if retired != nil && severity == .info {
            remediation = "Probably nothing: the capture predates the removal of that root. Check the server today if it matters."
        } else if trustProblem || v.interceptionPattern != nil {
            remediation = "Something between this machine and \(host) terminates TLS with its own CA. If it is your organisation's "
                + "inspection proxy, give its CA with --ca-file; otherwise treat the connection as intercepted and find the device."
        } else if nameProblem {
            remediation = "The server \(e.endpoint.server) presents a certificate for other names; fix the server's certificate or the name clients use for it."
        } else {
            remediation = "Check the server's certificate (validity dates) and any proxy in front of it."
        }
        return Finding(
            kind: FindingKind.tlsUntrustedCertificate, severity: severity, confidence: confidence,
            title: "TLS to \(e.endpoint.sniText) (\(e.endpoint.server):\(e.endpoint.port)) presented \(what)",
            subject: e.endpoint.subject(reason: v.primaryProblem?.rawValue ?? "untrusted"),
            evidence: items, remediation: remediation)
    }
}

// MARK: - tls.reset-after-clienthello, tls.handshake-timeout, tls.handshake-alert

/// How a TLS handshake ended without a ServerHello.
public enum HandshakeCut: Sendable, Equatable {
    /// RST right after the ClientHello; `injectedMarks` says why it looks injected (IP TTL / IP ID
    /// unlike the server's handshake packets), empty when nothing does or nobody could look (a probe).
    case reset(injectedMarks: [String])
    /// FIN from the server side, no data.
    case closed
    /// No answer at all for `waitedMilliseconds`.
    case silence(waitedMilliseconds: Int)
    /// A fatal alert from the server side.
    case alert(name: String)
}

/// A ClientHello that got no ServerHello.
public struct HandshakeCutEvidence: Sendable {
    public var endpoint: TLSEndpoint
    public var cut: HandshakeCut
    /// A control shows the path works otherwise (the same server without this name, a reference's
    /// address for the same name): nil when nothing was compared; false when the control fails too.
    public var controlWorks: Bool?

    public init(endpoint: TLSEndpoint, cut: HandshakeCut, controlWorks: Bool? = nil) {
        self.endpoint = endpoint
        self.cut = cut
        self.controlWorks = controlWorks
    }
}

extension FindingPolicy {
    /// `tls.reset-after-clienthello` (a reset or close), `tls.handshake-timeout` (silence) or
    /// `tls.handshake-alert` (a fatal alert). Encrypted DNS endpoints go to `encryptedDNSBlocked`.
    ///
    /// - a reset that looks injected (IP TTL / IP ID): high / likely;
    /// - a reset or close without such marks, or silence after the ClientHello: medium / likely when
    ///   a control works (the same server without this name, a reference's address), medium /
    ///   possible when there was none (a capture), low / possible when the control fails as well
    ///   (the server fails for every name: its own problem, not filtering);
    /// - a fatal alert from the server: low / likely (the server refused; not interference).
    public static func handshakeCut(_ e: HandshakeCutEvidence, evidence: [Evidence]) -> Finding {
        let ep = e.endpoint
        let controlled = e.controlWorks == true
        switch e.cut {
        case .reset(let marks) where !marks.isEmpty:
            return Finding(
                kind: FindingKind.tlsResetAfterClientHello, severity: .high, confidence: .likely,
                title: "TLS to \(ep.sniText) (\(ep.server):\(ep.port)) was reset right after the ClientHello: the reset looks injected",
                subject: ep.subject(), evidence: evidence,
                remediation: "A middlebox on the path resets connections by SNI. Compare with another network or a VPN; report it to the network operator.")
        case .reset, .closed:
            let verb: String
            if case .closed = e.cut { verb = "closed" } else { verb = "reset" }
            return Finding(
                kind: FindingKind.tlsResetAfterClientHello, severity: e.controlWorks == false ? .low : .medium,
                confidence: controlled ? .likely : .possible,
                title: "TLS to \(ep.sniText) (\(ep.server):\(ep.port)) was \(verb) right after the ClientHello"
                    + (controlled ? ", while a handshake without this name succeeds" : e.controlWorks == false ? ", as is a handshake without this name" : ""),
                subject: ep.subject(), evidence: evidence,
                remediation: controlled
                    ? "The handshake fails only for this name while a control succeeds: a middlebox that filters by SNI is likely. Compare with another network or a VPN."
                    : "The server or a device in front of it refused the handshake; check the server's TLS configuration and any firewall or proxy in between.")
        case .silence:
            return Finding(
                kind: FindingKind.tlsHandshakeTimeout, severity: e.controlWorks == false ? .low : .medium,
                confidence: controlled ? .likely : .possible,
                title: "ClientHello for \(ep.sniText) to \(ep.server):\(ep.port) got no answer"
                    + (controlled ? ", while a handshake without this name succeeds" : e.controlWorks == false ? ", nor does one without this name" : ""),
                subject: ep.subject(), evidence: evidence,
                remediation: controlled
                    ? "Silent drops after the ClientHello for one name only are how SNI filtering looks; compare with another network or a VPN."
                    : "The server does not answer TLS here; check it and any firewall or proxy in between.")
        case .alert(let name):
            return Finding(
                kind: FindingKind.tlsHandshakeAlert, severity: .low, confidence: .likely,
                title: "TLS to \(ep.sniText) (\(ep.server):\(ep.port)) was refused with a \(name) alert",
                subject: ep.subject(reason: name), evidence: evidence,
                remediation: "The server (or a TLS-terminating device) rejected the handshake; check the SNI, versions and ciphers it accepts.")
        }
    }
}
