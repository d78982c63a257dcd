import Findings

/// Pieces shared by the report formats: what each finding kind means, the verdict line,
/// severity scales, and the RFC 3339 parsing the Prometheus format needs.
enum ReportText {
    /// One line per finding kind (CONTRACT.md "Finding kinds"), for SARIF rules and the HTML page.
    static let kindDescriptions: [(kind: String, text: String)] = [
        ("\(FindingKind.dnsInjection)", "Two or more different responses to one DNS query: an on-path injector racing the real resolver."),
        ("\(FindingKind.dnsUnsolicitedResponse)", "A DNS response that matches no query (wrong transaction id, wrong port, never asked)."),
        ("\(FindingKind.dnsAnswerMismatch)", "The path's DNS answer is inconsistent with trusted reference resolvers."),
        ("\(FindingKind.dnsNXDomainRewrite)", "The references say the name does not exist; the path answered with addresses."),
        ("\(FindingKind.dnsResolverIdentityMismatch)", "Resolver identity answers do not match the operator of the address that was asked."),
        ("\(FindingKind.dnsUnapprovedResolver)", "Plaintext DNS to a resolver the policy does not allow."),
        ("\(FindingKind.tlsResetAfterClientHello)", "A TLS connection was reset or closed right after the ClientHello, with no ServerHello."),
        ("\(FindingKind.tlsHandshakeTimeout)", "A TLS ClientHello that got no answer."),
        ("\(FindingKind.tlsUntrustedCertificate)", "The server certificate does not chain to a trusted root or does not match the SNI."),
        ("\(FindingKind.firewallDNSRedirect)", "A NAT rule rewrites traffic to port 53 or 853 (DNS redirect)."),
        ("\(FindingKind.firewallTLSRedirect)", "A NAT rule rewrites traffic to port 443 (transparent TLS proxy)."),
        ("\(FindingKind.firewallEncryptedDNSBlock)", "A firewall rule drops or rejects DoT (853) or DoH to known resolver addresses."),
        ("\(FindingKind.encryptedDNSBlocked)", "DoT/DoH attempts that never got an answer, or were reset."),
        ("\(FindingKind.tlsHandshakeAlert)", "A TLS handshake refused with a fatal alert."),
        ("\(FindingKind.probeUnreachable)", "A probe target that cannot be reached: the first broken layer (a diagnosis, not tampering)."),
        ("\(FindingKind.tcpResetInjection)", "A TCP connection reset right after the client's first data by a reset the server did not send."),
        ("dns.poisoning-exposure", "A resolver whose upstream queries are easy to spoof (a fixed source port, predictable transaction ids)."),
        ("dns.poisoning-attempt", "A burst of responses with varying transaction ids for one query: someone guessing the id to poison a cache."),
        ("dns.dnssec-stripped", "The path removes DNSSEC signatures the references return, or claims validation for answers that do not validate."),
        ("encrypted-dns.opt-out-canary", "The network answers an encrypted-DNS opt-out canary NXDOMAIN or empty while the references answer it."),
        ("dns.https-record-stripped", "The path removes ech= from (or drops) the HTTPS record the references publish: Encrypted Client Hello is switched off."),
        ("dns.ecs-forwarded", "The resolver forwards EDNS Client Subnet: authoritative servers learn the client's network."),
        ("encrypted-dns.ddr-unverified", "A resolver's DDR designation whose certificate does not cover the designated name or the plain resolver's IP address (RFC 9462)."),
    ]

    static func describe(kind: String) -> String {
        kindDescriptions.first { $0.kind == kind }?.text ?? "dnsaudit finding \(kind)."
    }

    /// The one-line verdict, as the text report words it (without colour). A run without findings
    /// at medium or above that could not examine part of its input is inconclusive, never clean.
    static func verdict(_ report: Report) -> (headline: String, worst: Severity?) {
        let findings = report.sortedFindings
        let inconclusive = report.verdict == "inconclusive"
        guard let worst = findings.first?.severity else {
            if inconclusive {
                return ("Inconclusive — no findings, but not everything could be examined: " + report.inconclusive.joined(separator: "; ") + ".", nil)
            }
            return ("No findings — nothing in this input shows DNS or TLS tampering.", nil)
        }
        let parts = report.findingsBySeverity.filter { $0.1 > 0 }.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")
        let verdict = worst >= .medium ? "tampering evidence found"
            : (inconclusive ? "only informational findings, and inconclusive: " + report.inconclusive.joined(separator: "; ") : "only informational findings")
        return ("\(parts) — \(verdict)", worst)
    }

    /// The input a piece of evidence names, when it is a file (a capture or ruleset, not stdin or an interface).
    static func evidenceFile(_ e: Evidence, _ report: Report) -> String? {
        guard let name = e.input, !name.isEmpty, name != "-" else { return nil }
        if let input = report.inputs.first(where: { $0.name == name }) {
            return input.kind == "capture" || input.kind == "ruleset" ? name : nil
        }
        return e.source == .capture || e.source == .ruleset ? name : nil
    }

    /// "source input frames 1, 2" for a piece of evidence.
    static func evidenceWhere(_ e: Evidence) -> String {
        var s = e.source.rawValue
        if let i = e.input { s += " \(i)" }
        if !e.frames.isEmpty {
            s += " frame" + (e.frames.count > 1 ? "s " : " ") + e.frames.map(String.init).joined(separator: ", ")
        }
        return s
    }
}

extension Finding {
    /// The kind's contract name (`dns.injection`), whether `kind` is a string or a typed kind.
    var kindName: String { "\(kind)" }
}

extension Severity {
    /// ECS `event.severity`: numeric, higher is worse, on Elastic's risk-score scale
    /// (info 1, low 21, medium 47, high 73, critical 99).
    var ecsNumber: Int {
        switch self {
        case .info: return 1
        case .low: return 21
        case .medium: return 47
        case .high: return 73
        case .critical: return 99
        }
    }

    /// SARIF `level`: critical/high → error, medium → warning, low/info → note.
    var sarifLevel: String {
        switch self {
        case .critical, .high: return "error"
        case .medium: return "warning"
        case .low, .info: return "note"
        }
    }

    /// GitHub code scanning's `security-severity` (CVSS-like 0.0–10.0).
    var securitySeverity: String {
        switch self {
        case .critical: return "9.5"
        case .high: return "8.0"
        case .medium: return "5.5"
        case .low: return "3.0"
        case .info: return "0.0"
        }
    }
}

enum RFC3339 {
    /// Seconds since the Unix epoch for `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; nil when malformed.
    static func epochSeconds(_ text: String) -> Double? {
        let b = Array(text.utf8)
        func num(_ at: Int, _ len: Int) -> Int? {
            guard at + len <= b.count else { return nil }
            var v = 0
            for c in b[at..<(at + len)] {
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard b.count >= 20, let y = num(0, 4), b[4] == 0x2d, let mo = num(5, 2), b[7] == 0x2d, let d = num(8, 2),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == 0x20,
              let h = num(11, 2), b[13] == 0x3a, let mi = num(14, 2), b[16] == 0x3a, let s = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s <= 60 else { return nil }
        var i = 19
        var frac = 0.0
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                frac += Double(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            if i == start { return nil }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3a, let om = num(i + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86_400 + h * 3600 + mi * 60 + s - offset) + frac
    }
}
