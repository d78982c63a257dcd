import FindingPolicy
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
                certProblem = certProblem ?? (v.problems == [.nameMismatch]
                    ? "the certificate for \(t.host) chains to a trusted root but names another host (a misconfiguration, not interception)"
                    : "the certificate presented for \(t.host) is not trusted (issuer \(issuer))")
                let literal = CertificateNames.isIPLiteral(t.host)
                if let f = FindingPolicy.untrustedCertificate(
                    UntrustedCertificateEvidence(endpoint: TLSEndpoint(sni: literal ? nil : t.host, server: c.address, port: t.port),
                                                 verdict: v, checkedIdentity: t.host),
                    evidence: [Evidence(source: .probe, detail: v.reasons.joined(separator: "; "),
                                        facts: [("issuer_dn", .string(v.leaf?.issuer ?? "")), ("subject_dn", .string(v.leaf?.subject ?? "")),
                                                ("san", .string(v.leaf?.subjectAlternativeNames.prefix(8).joined(separator: ", ") ?? "")),
                                                ("sha256", .string(v.leaf?.sha256 ?? ""))])]) {
                    findings.append(f)
                }
            }
            // The first broken layer of the path's own addresses.
            let pathSteps = l.steps.filter { !$0.fromReference }
            let broken = pathSteps.first { !$0.ok && $0.layer != "route" }
            let refTried = l.connections.contains { $0.fromReference }
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
                advice = "TCP is the broken layer: \(broken.detail)."
                if refTried { advice += refWorks ? " The references' address for the name works." : " The references' address fails as well." }
            case "tls":
                advice = "TLS is the broken layer: \(broken.detail). A reset or silence right after the ClientHello is how SNI filtering looks."
            case "certificate":
                advice = "The certificate is the broken layer: \(certProblem ?? broken.detail)."
            default:
                advice = "HTTP is the broken layer: \(broken.detail)."
            }
            for route in l.routes where route.located != nil { advice += " Route: \(route.summary)." }
            notes.append("\(t): \(chainText) — \(advice)")
            // TCP / TLS / HTTP failures become findings (DNS and certificate ones already are), each
            // judged by its kind's policy.
            guard broken.layer == "tcp" || broken.layer == "tls" || broken.layer == "http" else { continue }
            let failedConn = l.connections.first { !$0.fromReference && $0.outcome.firstFailure?.layer.rawValue == broken.layer }
            let e = failedConn?.outcome.firstFailure?.error
            let server = failedConn?.address ?? ""
            // The route rung's step is one evidence item with its facts (below), not a second line.
            var evidence = pathSteps.filter { $0.layer != "route" }.map { Evidence(source: .probe, detail: "\($0.layer): \($0.detail)") }
            if let hop = l.routes.compactMap(\.located).first(where: { $0.probe != .dnsQuery }) { evidence.append(FindingPolicy.hopEvidence(hop)) }
            let endpoint = TLSEndpoint(sni: CertificateNames.isIPLiteral(t.host) ? nil : t.host, server: server, port: t.port)
            let control: Bool? = l.sniControls[server] ?? (refTried ? refWorks : nil)
            switch (broken.layer, e) {
            case ("tls", .connectionReset?):
                findings.append(FindingPolicy.handshakeCut(HandshakeCutEvidence(endpoint: endpoint, cut: .reset(injectedMarks: []), controlWorks: control),
                                                           evidence: evidence))
            case ("tls", .closed?):
                findings.append(FindingPolicy.handshakeCut(HandshakeCutEvidence(endpoint: endpoint, cut: .closed, controlWorks: control),
                                                           evidence: evidence))
            case ("tls", .timeout?):
                let waited = Int((failedConn.flatMap { c -> Double? in if case .success(let ms)? = c.outcome.tcp { return ms } else { return nil } } ?? 0))
                findings.append(FindingPolicy.handshakeCut(HandshakeCutEvidence(endpoint: endpoint, cut: .silence(waitedMilliseconds: waited), controlWorks: control),
                                                           evidence: evidence))
            case ("tls", .tls(let reason)?) where reason.contains("alert"):
                // A fatal alert from the server side: the server refused the handshake (the same rule as a captured alert).
                findings.append(FindingPolicy.handshakeCut(HandshakeCutEvidence(endpoint: endpoint, cut: .alert(name: reason), controlWorks: control),
                                                           evidence: evidence))
            default:
                let failure = e?.reachability ?? .other(broken.detail)
                findings.append(FindingPolicy.probeUnreachable(
                    UnreachableEvidence(target: t.host, server: server, port: t.port,
                                        layer: UnreachableEvidence.Layer(rawValue: broken.layer) ?? .tcp, failure: failure,
                                        detail: broken.detail, referenceAddressWorks: control),
                    evidence: evidence))
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
            g.evidence.append(Evidence(source: .probe, detail: "the TLS handshake to the path's address validated for \(q): a CDN answering differently, not a forgery"))
            return g
        }
    }
}

extension ResolverError {
    /// How a connection or query failed, as a reachability diagnosis.
    var reachability: UnreachableEvidence.Failure {
        switch self {
        case .connectionRefused: return .refused
        case .unreachable: return .noRoute
        case .timeout: return .timeout
        default: return .other(description)
        }
    }
}
