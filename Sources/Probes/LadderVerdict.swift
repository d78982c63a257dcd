import Findings
import Foundation
import ResolverClients
import TLSCertificates

/// Turns finished ladders into findings and one plain-language line per target: the first broken
/// layer and what to do. Synchronous on purpose: the certificate judge blocks while it verifies.
public enum LadderVerdict {
    /// Judges every ladder. `verified` names the targets whose DNS answer disagreed with the
    /// references (`no-overlap`) while an address it gave completed a TLS handshake with a trusted
    /// certificate for the name: Iris's "independently verifiable" — consistent after all (a CDN
    /// answering differently by region), see `rescue`.
    public static func assess(_ ladders: [LadderResult], judge: CertificateJudge, now: Date = Date())
        -> (findings: [Finding], notes: [String], verified: Set<String>) {
        var findings: [Finding] = []
        var notes: [String] = []
        var verified = Set<String>()
        for var l in ladders {
            let t = l.target
            // Certificates of the path's addresses (a reference address is only a comparison).
            var certProblem: String?
            for c in l.connections where t.tls && !c.outcome.chain.isEmpty {
                guard case .judged(let v) = judge.judge(der: c.outcome.chain, serverName: t.host, at: now) else { continue }
                // The certificate rung goes right after this address's TLS rung.
                let tlsIndex = l.steps.lastIndex { $0.layer == "tls" && $0.address == c.address && $0.fromReference == c.fromReference }
                let label = LadderStep.label(c.address, fromReference: c.fromReference)
                let at = tlsIndex.map { $0 + 1 } ?? l.steps.count
                if v.isTrusted {
                    if !c.fromReference && l.dnsComparison?.reason == "no-overlap",
                       let d = l.steps.firstIndex(where: { $0.layer == "dns" && !$0.ok }) {
                        l.steps[d].ok = true
                        l.steps[d].detail += "; but \(c.address) serves a trusted certificate for \(t.host): consistent (tls-verified)"
                        verified.insert(t.host)
                    }
                    l.steps.insert(LadderStep(layer: "certificate", ok: true,
                                              detail: "\(label): certificate for \(t.host) chains to \(v.trustedRoot ?? "a trusted root")",
                                              address: c.address, fromReference: c.fromReference), at: at)
                    continue
                }
                let issuer = v.interceptionIssuer ?? v.untrustedIssuer ?? v.leaf?.issuer ?? "?"
                l.steps.insert(LadderStep(layer: "certificate", ok: false, detail: "\(label): \(v.reasons.joined(separator: "; "))",
                                          address: c.address, fromReference: c.fromReference), at: at)
                if c.fromReference { continue }
                certProblem = certProblem ?? "the certificate presented for \(t.host) is not trusted (issuer \(issuer))"
                let trustProblem = v.problems.contains(.unknownIssuer) || v.problems.contains(.selfSigned)
                findings.append(Finding(
                    kind: FindingKind.tlsUntrustedCertificate,
                    severity: v.interceptionPattern != nil || trustProblem ? .high : .medium,
                    confidence: v.interceptionPattern != nil ? .confirmed : .likely,
                    title: "TLS to \(t.host) (\(c.address):\(t.port)) presents a certificate from \(issuer)"
                        + (v.interceptionPattern.map { ", the CA of a TLS interception product (\($0))" } ?? ", which is not trusted"),
                    subject: [("sni", .string(t.host)), ("server", .string(c.address)), ("port", .int(t.port)),
                              ("transport", .string("tcp")), ("reason", .string(v.primaryProblem?.rawValue ?? "untrusted"))],
                    evidence: [Evidence(source: "probe", detail: v.reasons.joined(separator: "; "),
                                        facts: [("issuer_dn", .string(v.leaf?.issuer ?? "")), ("subject_dn", .string(v.leaf?.subject ?? "")),
                                                ("sha256", .string(v.leaf?.sha256 ?? ""))])],
                    remediation: "Something between this machine and \(t.host) terminates TLS with its own CA. If it is your organisation's "
                        + "inspection proxy, give its CA with --ca-file; otherwise treat the connection as intercepted."))
            }
            // The first broken layer of the path's own addresses.
            let pathSteps = l.steps.filter { !$0.fromReference }
            let broken = pathSteps.first { !$0.ok }
            let refWorks = l.connections.contains { c in
                c.fromReference && c.outcome.firstFailure == nil
            }
            let chainText = pathSteps.map { "\($0.layer) \($0.ok ? "ok" : "BROKEN")" }.joined(separator: " → ")
            guard let broken else {
                notes.append("\(t): \(chainText) — reachable")
                continue
            }
            var advice: String
            switch broken.layer {
            case "dns":
                advice = "DNS is the broken layer: \(broken.detail)."
                if refWorks { advice += " The references' address works, so the resolver is being hijacked or filters this name." }
                advice += " Use a DoH/DoT-capable resolver, or ask the network operator."
                if t.path?.contains("/@v/") ?? false { advice += " For Go modules, GOPROXY can point at a proxy that resolves, or set GOFLAGS=-mod=mod with a working resolver." }
            case "tcp":
                advice = "TCP is the broken layer: \(broken.detail). A firewall drops or refuses the connection" + (refWorks ? "" : " (the references' address fails as well)") + "."
            case "tls":
                advice = "TLS is the broken layer: \(broken.detail). A reset or silence right after the ClientHello is how SNI filtering looks."
            case "certificate":
                advice = "The certificate is the broken layer: \(certProblem ?? broken.detail)."
            default:
                advice = "HTTP is the broken layer: \(broken.detail)."
            }
            notes.append("\(t): \(chainText) — \(advice)")
            // TCP / TLS / HTTP failures become findings (DNS and certificate ones already are).
            if broken.layer == "tcp" || broken.layer == "tls" || broken.layer == "http" {
                let failedConn = l.connections.first { !$0.fromReference && $0.outcome.firstFailure?.layer.rawValue == broken.layer }
                let e = failedConn?.outcome.firstFailure?.error
                let kind: String
                var severity: Severity = .medium
                switch (broken.layer, e) {
                case ("tls", .connectionReset?), ("tls", .closed?):
                    kind = FindingKind.tlsResetAfterClientHello
                    severity = .high
                case ("tls", .timeout?): kind = FindingKind.tlsHandshakeTimeout
                default: kind = "probe.unreachable"
                }
                findings.append(Finding(
                    kind: kind, severity: severity, confidence: refWorks ? .likely : .possible,
                    title: "\(t.host): the \(broken.layer.uppercased()) layer is broken (\(broken.detail))",
                    subject: [("sni", .string(t.host)), ("server", .string(failedConn?.address ?? "")), ("port", .int(t.port)),
                              ("transport", .string("tcp")), ("reason", .string(e?.description ?? broken.layer))],
                    evidence: pathSteps.map { Evidence(source: "probe", detail: "\($0.layer): \($0.detail)") },
                    remediation: advice))
            }
        }
        return (findings, notes, verified)
    }

    /// The DNS findings of verified targets become info: the answer differed from the references,
    /// but the address it gave proved itself with a certificate for the name.
    public static func rescue(_ findings: [Finding], verified: Set<String>) -> [Finding] {
        guard !verified.isEmpty else { return findings }
        return findings.map { f in
            guard f.kind == FindingKind.dnsAnswerMismatch,
                  f.subject.contains(where: { $0.0 == "reason" && "\($0.1)" == "no-overlap" }),
                  let q = f.subject.first(where: { $0.0 == "qname" }).map({ "\($0.1)" }), verified.contains(q) else { return f }
            var g = f
            g.severity = .info
            g.confidence = .possible
            g.title = "Consistent after all: " + f.title + "; the address serves a trusted certificate for the name (tls-verified)"
            g.evidence.append(Evidence(source: "probe", detail: "the TLS handshake to the path's address validated for \(q): a CDN answering differently, not a forgery"))
            return g
        }
    }
}
