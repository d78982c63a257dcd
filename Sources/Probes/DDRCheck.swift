import AnswerComparison
import DNSWire
import FindingPolicy
import Findings
import Foundation
import NetTypes
import ResolverClients
import TLSCertificates

/// One SVCB record of `_dns.resolver.arpa` (RFC 9462): the designated resolver's name, ALPNs,
/// port, address hints and DoH path.
public struct DDRDesignation: Sendable, Equatable {
    public var priority: Int
    /// The target name without the final dot ("" for ".": the owner name itself).
    public var target: String
    public var alpns: [String]
    public var port: Int?
    public var hints: [String]
    public var dohPath: String
    /// The designated resolver is at the plain resolver's own address (its hints name it, or its
    /// name resolves to it).
    public var here: Bool

    /// `SVCB 1 dot.lab.test. alpn=dot port=default`.
    public var text: String {
        "SVCB \(priority) \(target.isEmpty ? "." : target + ".") alpn=\(alpns.joined(separator: ",")) port=\(port.map(String.init) ?? "default")"
            + (hints.isEmpty ? "" : " hints=\(hints.joined(separator: ","))")
    }

    public var offersDoT: Bool { alpns.contains("dot") }
    /// DoH over TCP (h2, http/1.1). `h3` alone is HTTP/3 over QUIC (`offersDoH3`), not a promise of TCP.
    public var offersDoH: Bool { alpns.contains { ["h2", "http/1.1"].contains($0) } }
    /// DNS over QUIC (RFC 9250).
    public var offersDoQ: Bool { alpns.contains("doq") }
    /// DoH over HTTP/3 (QUIC, UDP).
    public var offersDoH3: Bool { alpns.contains("h3") }
}

/// What DDR gave for one plain resolver: the designations, the endpoints on its own address
/// (for the encrypted-DNS blocking check), the facts for the report, and the answer in words.
public struct DDRResult: Sendable {
    public var designations: [DDRDesignation] = []
    public var endpoints: [ResolverEndpoint] = []
    public var facts: [String] = []
    /// "NOERROR, 2 SVCB", "NXDOMAIN", "no answer (timed out)".
    public var answer = "no answer"
}

extension ProbeRunner {
    /// The encrypted endpoints the resolver at `host` designates (DDR, RFC 9462): the SVCB records
    /// of `_dns.resolver.arpa` asked over plain DNS. DoT (alpn `dot`) and DoH (`h2`, `http/1.1`:
    /// over TCP, path from `dohpath`) on the resolver's own address are its endpoints (for the
    /// blocking check), and over QUIC DoQ (`doq`) and DoH over HTTP/3 (`h3`); every designation is
    /// verified by `verifyDesignations`.
    func designatedEndpoints(_ host: String, client: ResolverClient) async -> DDRResult {
        var result = DDRResult()
        let m: DNSMessage
        do {
            m = try await client.query("_dns.resolver.arpa", type: DNSType.svcb)
        } catch {
            result.answer = "no answer (\(ResolverError.classify(error)))"
            return result
        }
        let svcbCount = m.answers.filter { if case .svcb = $0.rdata { return true } else { return false } }.count
        result.answer = DNSRCode.name(m.rcode) + (m.rcode == 0 ? (svcbCount == 0 ? ", no SVCB" : ", \(svcbCount) SVCB") : "")
        guard m.rcode == 0 else { return result }
        for rr in m.answers.prefix(16) {
            guard case .svcb(let priority, let target, let params) = rr.rdata, priority > 0 else { continue }
            var d = DDRDesignation(priority: Int(priority), target: target.hasSuffix(".") ? String(target.dropLast()) : target,
                                   alpns: [], port: nil, hints: [], dohPath: "/dns-query", here: false)
            for p in params {
                switch p {
                case .alpn(let ids): d.alpns += ids.prefix(16).map { String(decoding: $0, as: UTF8.self) }
                case .port(let n): d.port = Int(n)
                case .ipv4hint(let a): d.hints += a.prefix(8).map(\.description)
                case .ipv6hint(let a): d.hints += a.prefix(8).map(\.description)
                case .other(key: 7, value: let v):
                    let template = String(decoding: v.prefix(512), as: UTF8.self)
                    let base = template.split(separator: "{", maxSplits: 1).first.map(String.init) ?? template
                    if base.hasPrefix("/"), base.count <= 200 { d.dohPath = base }
                default: break
                }
            }
            // The designation is about this address only when the designated resolver is here: its
            // hints name this address, or its name resolves to it (a forwarder relays its upstream's
            // designation, which points elsewhere). "." is the owner name itself.
            var here = d.target.isEmpty
            if !here && !d.hints.isEmpty {
                here = d.hints.contains { normalizedAddress($0) == normalizedAddress(host) }
            } else if !here {
                here = await resolve(d.target, via: client).contains { normalizedAddress($0) == normalizedAddress(host) }
            }
            d.here = here
            result.designations.append(d)
            result.facts.append(d.text + (here ? "" : " — designates a resolver at another address: not an offer of \(host)"))
            guard here else { continue }
            if d.offersDoT {
                result.endpoints.append(ResolverEndpoint(transport: .dot, host: host, port: d.port ?? 853, tlsName: nil))
            }
            if d.offersDoH {
                result.endpoints.append(ResolverEndpoint(transport: .doh, host: host, port: d.port ?? 443, path: d.dohPath, tlsName: nil))
            }
            if d.offersDoQ {
                result.endpoints.append(ResolverEndpoint(transport: .doq, host: host, port: d.port ?? 853, tlsName: nil))
            }
            if d.offersDoH3 {
                result.endpoints.append(ResolverEndpoint(transport: .doh3, host: host, port: d.port ?? 443, path: d.dohPath, tlsName: nil))
            }
        }
        return result
    }

    /// The addresses `name` has through the plain resolver (A, then AAAA).
    func resolve(_ name: String, via client: ResolverClient) async -> [String] {
        var out: [String] = []
        for type in [DNSType.a, DNSType.aaaa] {
            if let a = try? await client.query(name, type: type) { out += AnswerSet(message: a).addresses }
        }
        return out
    }

    /// An address in one textual form (IPv6 compressed the same way), for comparisons.
    func normalizedAddress(_ text: String) -> String {
        NetTypes.IPAddress(text)?.description ?? text.lowercased()
    }

    /// Verified discovery (RFC 9462 §4.2) for each designation of `endpoint`: connect to the
    /// designated resolver (DoT; DoH when its ALPNs name HTTP), take its certificate, and check it
    /// is trusted, valid for the designated name, and holds the plain resolver's IP address in an
    /// iPAddress SAN. A failing designation is an `encrypted-dns.ddr-unverified` finding (the
    /// policy decides; a private plain address is a note); one that cannot be reached is a note
    /// (the blocking check judges the designated endpoints on the resolver's own address).
    func verifyDesignations(_ endpoint: ResolverEndpoint, client: ResolverClient, ddr: DDRResult, into out: inout ProbeResults) async {
        let plain = endpoint.host
        guard !ddr.designations.isEmpty else {
            out.notes.append(FindingPolicy.ddrNothingDesignated(resolver: plain, answer: ddr.answer))
            return
        }
        let judge = CertificateJudge(settings: trustSettings())
        let isPrivate = Bogon.isPrivate(plain) || (NetTypes.IPAddress(plain)?.isLoopback ?? false)
            || plain.lowercased().hasPrefix("fe80:") || plain.hasPrefix("169.254.")
        for d in ddr.designations.prefix(8) {
            var services: [(DDRDesignationEvidence.Service, Int)] = []
            if d.offersDoT { services.append((.dot, d.port ?? 853)) }
            if d.offersDoH { services.append((.doh, d.port ?? 443)) }
            if d.offersDoQ { services.append((.doq, d.port ?? 853)) }
            if d.offersDoH3 { services.append((.doh3, d.port ?? 443)) }
            guard !services.isEmpty else {
                out.notes.append("DDR: \(plain) designates \(d.text): no DoT, DoH, DoQ or h3 ALPN; not verified")
                continue
            }
            guard !d.target.isEmpty else {
                out.notes.append("DDR: \(plain) designates \(d.text): the target is the owner name itself, which no certificate can name; not verified")
                continue
            }
            // Where the designated resolver is: its hints, else its name through the plain resolver,
            // else (AliasMode-less "here") the plain address.
            var addresses = d.hints
            if addresses.isEmpty { addresses = await resolve(d.target, via: client) }
            guard let address = addresses.first(where: { NetTypes.IPAddress($0) != nil }) else {
                out.notes.append("DDR: \(plain) designates \(d.text): \(d.target) has no address; not verified")
                continue
            }
            for (service, port) in services {
                let (chain, failure) = await designationChain(service, address: address, port: port, name: d.target)
                guard failure == nil, let leaf = chain.first else {
                    let why = failure ?? "no certificate"
                    out.notes.append("DDR: \(plain) designates \(d.target) (\(service.rawValue) at \(address):\(port)): could not connect (\(why)); not verified")
                    out.inputs.append(ReportInput(kind: "probe", name: "DDR verification of \(plain): \(d.target) \(service.rawValue)",
                                                  facts: [("designation", .string(d.text)), ("endpoint", .string("\(address):\(port)")),
                                                          ("verified", .string("no: could not connect (\(why))"))]))
                    continue
                }
                var names: [String] = []
                var trusted = false
                var problem: String?
                switch judge.judge(der: chain, serverName: d.target, at: Date()) {
                case .judged(let v):
                    names = v.leaf?.subjectAlternativeNames ?? []
                    // A name mismatch is reported as such below; trust is about the chain.
                    let chainProblems = v.problems.filter { $0 != .nameMismatch }
                    trusted = chainProblems.isEmpty
                    problem = chainProblems.first?.rawValue
                case .malformed(let e): problem = "malformed certificate: \(e)"
                case .empty: problem = "no certificate"
                case .noTrustStore: problem = "no trust store could be loaded"
                }
                let e = DDRDesignationEvidence(
                    plainResolver: plain, designation: d.text, designatedName: d.target, service: service, address: address, port: port,
                    certificateNames: names, nameCovered: CertificateNames.names(leaf, host: d.target), trusted: trusted, trustProblem: problem,
                    plainAddressCovered: CertificateNames.names(leaf, host: plain), plainAddressIsPrivate: isPrivate)
                out.inputs.append(ReportInput(kind: "probe", name: "DDR verification of \(plain): \(d.target) \(service.rawValue)",
                                              facts: [("designation", .string(d.text)), ("endpoint", .string("\(address):\(port)")),
                                                      ("certificate_names", .string(names.joined(separator: ","))),
                                                      ("verified", .string(e.isVerified ? "yes" : "no: " + e.failures.joined(separator: "; ")))]))
                if let f = FindingPolicy.ddrUnverified(e, evidence: [
                    Evidence(source: .probe, detail: "\(plain) answers _dns.resolver.arpa SVCB with \(d.text)",
                             facts: [("designation", .string(d.text))]),
                ]) {
                    out.findings.append(f)
                } else {
                    out.notes.append(FindingPolicy.ddrNote(e))
                }
            }
        }
    }

    /// The certificate chain a designated resolver presents for `name`: a TLS handshake over TCP
    /// (DoT, DoH) or a QUIC handshake with ALPN `doq` or `h3` (DoQ, DoH over HTTP/3). The failure: why, in words.
    func designationChain(_ service: DDRDesignationEvidence.Service, address: String, port: Int, name: String) async -> (chain: [[UInt8]], failure: String?) {
        switch service {
        case .dot, .doh:
            let o = await TLSConnectProbe.run(address: address, port: port, sni: name, host: name, httpPath: nil, timeout: config.settings.timeout)
            guard case .success? = o.tls, !o.chain.isEmpty else {
                return ([], o.firstFailure.map { "\($0.layer.rawValue): \($0.error)" } ?? "no certificate")
            }
            return (o.chain, nil)
        case .doq, .doh3:
            let alpn = service == .doq ? "doq" : "h3"
            let sni: String? = NetTypes.IPAddress.isLiteral(name) ? nil : name
            switch await QUICPeerChain.fetch(address: address, port: port, sni: sni, alpn: alpn, timeout: config.settings.timeout) {
            case .success(let chain): return (chain, chain.isEmpty ? "quic (ALPN \(alpn)): no certificate" : nil)
            case .failure(let f): return ([], "quic (ALPN \(alpn)): \(f.failure.rawValue) (\(f.detail))")
            }
        }
    }

    /// The trust the verifying clients use: the system's roots plus `--ca-file` (only the file
    /// when the settings say so).
    func trustSettings() -> TrustSettings {
        guard let ca = config.settings.caFile, let roots = try? TrustRoots.load(pemFile: ca) else { return TrustSettings() }
        return TrustSettings(useSystemStore: !config.settings.onlyCAFile, additionalRoots: roots)
    }
}
