import AnswerComparison
import DNSWire
import Findings
import Foundation
import NIOCore
import ResolverClients

/// What `dnsaudit probe` checks, and against what.
public struct ProbeConfiguration: Sendable {
    /// The plaintext resolvers under test (the system's, or --resolver).
    public var resolvers: [ResolverEndpoint] = []
    public var references: [ResolverEndpoint] = []
    public var settings = ClientSettings()
    public var targets: [ProbeTarget] = []
    /// A name every resolver can answer (reachability, NSID).
    public var checkName = "example.com"
    /// Random labels under this zone must not exist (nil: no canary).
    public var canaryZone: String? = "com"
    /// A DNSSEC-signed name (AD expected from a validating path) and a deliberately broken one
    /// (a validating path must SERVFAIL). nil: not checked.
    public var dnssecSigned: String? = "isc.org"
    public var dnssecBroken: String? = "dnssec-failed.org"
    public var identity = true
    /// Pinned identities: address → text one of its identity answers must contain.
    public var expectedIdentities: [String: String] = [:]
    public init() {}
}

/// One rung of a target's ladder, for the report.
public struct LadderStep: Sendable {
    public var layer: String
    public var ok: Bool
    public var detail: String
    /// The address this rung connected to (nil for DNS), and whether it came from a reference
    /// (tried only for comparison: it does not decide the target's verdict).
    public var address: String? = nil
    public var fromReference = false

    /// "198.18.50.10" or "198.18.50.10 (reference address)", as the rung's detail names it.
    static func label(_ address: String, fromReference: Bool) -> String {
        fromReference ? "\(address) (reference address)" : address
    }
}

/// A target's ladder: DNS → TCP → TLS → HTTP, per address tried.
public struct LadderResult: Sendable {
    public var target: ProbeTarget
    public var pathAddresses: [String] = []
    public var referenceAddresses: [String] = []
    public var dnsComparison: AnswerComparisonResult?
    public var connections: [(address: String, fromReference: Bool, outcome: ConnectOutcome)] = []
    public var steps: [LadderStep] = []
}

/// Everything a probe run found, before certificate judgement (done synchronously by the caller).
public struct ProbeResults: Sendable {
    public var findings: [Finding] = []
    public var notes: [String] = []
    public var inputs: [ReportInput] = []
    public var ladders: [LadderResult] = []
}

/// Runs the probes: reference reachability, resolver identity (plaintext vs DoT on the same
/// address), the NXDOMAIN canary, DNSSEC, and a ladder per target.
public struct ProbeRunner: Sendable {
    public let config: ProbeConfiguration
    public init(_ config: ProbeConfiguration) { self.config = config }

    public func run() async -> ProbeResults {
        var out = ProbeResults()
        let group = ResolverEventLoops.shared
        let timeout = config.settings.timeout

        // 1. References: reachable at TCP level (else encrypted DNS is blocked), then answering.
        var usable: [ResolverEndpoint] = []
        for ref in config.references {
            let tcp = await TLSConnectProbe.run(address: ref.host, port: ref.port, sni: nil, host: ref.host, httpPath: nil,
                                                timeout: timeout, group: group)
            var facts: [(String, SubjectValue)] = [("transport", .string(ref.transport.rawValue))]
            if case .failure(let e)? = tcp.tcp {
                facts.append(("reachable", .string("no: \(e)")))
                out.inputs.append(ReportInput(kind: "reference", name: ref.description, facts: facts))
                if e.looksBlocked {
                    out.findings.append(encryptedDNSBlocked(ref, e))
                } else {
                    out.notes.append("reference \(ref) unavailable: \(e)")
                }
                continue
            }
            var client: ResolverClient?
            do {
                let c = try ResolverClient(endpoint: ref, settings: config.settings, group: group)
                client = c
                let m = try await c.query(config.checkName, type: DNSType.a)
                await c.close()
                facts.append(("reachable", .string("yes")))
                facts.append(("check", .string("\(config.checkName) A → \(DNSRCode.name(m.rcode))")))
                usable.append(ref)
            } catch {
                await client?.close()
                let e = ResolverError.classify(error)
                facts.append(("reachable", .string("connects, but: \(e)")))
                out.notes.append("reference \(ref) unavailable: it accepts connections but \(e); it is not used for comparisons")
            }
            out.inputs.append(ReportInput(kind: "reference", name: ref.description, facts: facts))
        }
        if !config.references.isEmpty && usable.isEmpty {
            out.notes.append("no reference answered: answers could not be compared with trusted references")
        }
        let references: ReferenceSet? = usable.isEmpty ? nil
            : try? ReferenceSet(endpoints: usable, settings: config.settings, group: group)

        // 2. The resolvers under test.
        var resolverClients: [(ResolverEndpoint, ResolverClient)] = []
        for r in config.resolvers {
            if let c = try? ResolverClient(endpoint: r, settings: config.settings, group: group) { resolverClients.append((r, c)) }
        }

        if config.identity {
            await identityChecks(resolverClients, usable: usable, into: &out)
        }
        if let zone = config.canaryZone {
            await canary(zone: zone, resolverClients, references, into: &out)
        }
        if config.dnssecSigned != nil || config.dnssecBroken != nil {
            await dnssec(resolverClients, references, into: &out)
        }
        for t in config.targets {
            out.ladders.append(await ladder(t, resolver: resolverClients.first, references, into: &out))
        }
        // Every client is shut down before the run returns (an HTTP client must be, before it goes away).
        for (_, c) in resolverClients { await c.close() }
        await references?.close()
        return out
    }

    // MARK: - Identity

    func identityChecks(_ resolvers: [(ResolverEndpoint, ResolverClient)], usable: [ResolverEndpoint], into out: inout ProbeResults) async {
        let group = ResolverEventLoops.shared
        // Plaintext addresses to ask: the resolvers under test, and the IP-literal encrypted references
        // (the same address over port 53: public resolvers serve both).
        var plain: [(ResolverEndpoint, ResolverClient?)] = resolvers.map { ($0.0, $0.1) }
        for ref in usable where ref.isIPLiteral && (ref.transport == .dot || ref.transport == .doh) {
            if plain.contains(where: { $0.0.host == ref.host }) { continue }
            plain.append((ResolverEndpoint(transport: .udp, host: ref.host, port: 53), nil))
        }
        for (endpoint, existing) in plain {
            guard let client = existing ?? (try? ResolverClient(endpoint: endpoint, settings: config.settings, group: group)) else { continue }
            let plainID = await ResolverIdentity.ask(client, checkName: config.checkName)
            if existing == nil { await client.close() }
            var facts: [(String, SubjectValue)] = [("identity", .string(plainID.summary))]
            // The same address over DoT: a reference on that host, or a well-known resolver's name.
            var encrypted: ResolverEndpoint?
            if let ref = usable.first(where: { $0.host == endpoint.host && $0.transport == .dot }) {
                encrypted = ref
            } else if let known = KnownResolvers.entry(for: endpoint.host) {
                encrypted = ResolverEndpoint(transport: .dot, host: endpoint.host, port: 853, tlsName: known.tlsName)
            }
            var dotID: ResolverIdentity?
            if let enc = encrypted, let c = try? ResolverClient(endpoint: enc, settings: config.settings, group: group) {
                let id = await ResolverIdentity.ask(c, checkName: config.checkName)
                await c.close()
                if id.failure == nil { dotID = id }
                facts.append(("identity_over_dot", .string(id.summary)))
            }
            out.inputs.append(ReportInput(kind: "probe", name: "identity of \(endpoint)", facts: facts))
            if let d = dotID, let enc = encrypted, plainID.failure == nil {
                let diffs = plainID.differences(from: d)
                if !diffs.isEmpty {
                    let list = diffs.map { "\($0.question): \"\($0.mine)\" over port 53, \"\($0.theirs)\" over DoT" }
                    out.findings.append(Finding(
                        kind: FindingKind.dnsResolverIdentityMismatch, severity: .high, confidence: .likely,
                        title: "\(endpoint.host) answers as someone else over plain DNS than over DoT: plaintext DNS to it is intercepted",
                        subject: [("resolver", .string(endpoint.host)), ("transport", .string("udp")), ("reason", .string("plaintext-vs-dot"))],
                        evidence: [
                            Evidence(source: "probe", detail: "over port 53: \(plainID.summary)", facts: [("identity", .string(plainID.summary))]),
                            Evidence(source: "probe", detail: "over DoT (\(enc), certificate verified): \(d.summary)", facts: [("identity", .string(d.summary))]),
                            Evidence(source: "probe", detail: list.joined(separator: "; ")),
                        ],
                        remediation: "Something on the path answers DNS sent to \(endpoint.host) itself (a DNAT/redirect rule or a transparent DNS proxy). "
                            + "Use DoT/DoH to that resolver, and look for the redirect (dnsaudit rules on the router)."))
                    continue
                }
            }
            if let known = KnownResolvers.entry(for: endpoint.host), let sw = plainID.software,
               ["dnsmasq", "pi-hole", "adguard", "windows", "technitium", "coredns"].contains(sw) {
                out.findings.append(Finding(
                    kind: FindingKind.dnsResolverIdentityMismatch, severity: .high, confidence: .likely,
                    title: "\(endpoint.host) is \(known.operatorName)'s resolver, but what answers says it is \(plainID.answers["version.bind"] ?? sw)",
                    subject: [("resolver", .string(endpoint.host)), ("transport", .string("udp")), ("reason", .string("software"))],
                    evidence: [Evidence(source: "probe", detail: "version.bind over port 53: \"\(plainID.answers["version.bind"] ?? "")\"; \(plainID.summary)")],
                    remediation: "A home router or middlebox answers queries addressed to \(known.operatorName). Find the redirect, or use DoT/DoH."))
                continue
            }
            if let expected = config.expectedIdentities[endpoint.host], plainID.failure == nil,
               !plainID.answers.values.contains(where: { $0.contains(expected) }) {
                out.findings.append(Finding(
                    kind: FindingKind.dnsResolverIdentityMismatch, severity: .high, confidence: .likely,
                    title: "\(endpoint.host) does not identify as \"\(expected)\", as the policy expects",
                    subject: [("resolver", .string(endpoint.host)), ("transport", .string("udp")), ("reason", .string("pinned-identity"))],
                    evidence: [Evidence(source: "probe", detail: "identity answers: \(plainID.summary)")],
                    remediation: "Something other than the expected resolver answers at \(endpoint.host); check the path and the DNS server itself."))
            }
        }
    }

    // MARK: - Canary and DNSSEC

    func canary(zone: String, _ resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet?, into out: inout ProbeResults) async {
        let label = "dnsaudit-canary-" + (0..<12).map { _ in String("0123456789abcdefghijklmnopqrstuvwxyz".randomElement()!) }.joined()
        let name = label + "." + (zone.hasSuffix(".") ? String(zone.dropLast()) : zone)
        let refs = await references?.lookup(name, type: DNSType.a) ?? []
        let refSets: [AnswerSet?] = refs.map { $0.message.map(AnswerSet.init(message:)) }
        for (endpoint, client) in resolvers {
            do {
                let m = try await client.query(name, type: DNSType.a)
                let path = AnswerSet(message: m)
                out.inputs.append(ReportInput(kind: "probe", name: "NXDOMAIN canary via \(endpoint.host)",
                                              facts: [("qname", .string(name)), ("answer", .string(AnswerFindings.describe(path)))]))
                var result = AnswerComparator.compare(path: path, references: refSets)
                if refSets.allSatisfy({ $0 == nil }) && !path.addresses.isEmpty && !path.isNXDomain {
                    // No reference: a random name under a real zone does not exist; addresses are a rewrite.
                    result = AnswerComparisonResult(verdict: .inconsistent, reason: "nxdomain-rewrite", certainty: .possible, bogons: [],
                                              referenceAddresses: [], referencesAnswered: 0)
                }
                if result.reason == "nxdomain-rewrite",
                   let f = AnswerFindings.finding(qname: name, qtype: DNSType.a, path: path, result: result, resolver: endpoint.host,
                                                  references: references?.endpoints.map(\.description) ?? [], source: "probe") {
                    out.findings.append(f)
                }
            } catch {
                out.notes.append("NXDOMAIN canary via \(endpoint.host): \(ResolverError.classify(error))")
            }
        }
    }

    func dnssec(_ resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet?, into out: inout ProbeResults) async {
        guard let references else { return }
        for (endpoint, client) in resolvers {
            var facts: [(String, SubjectValue)] = []
            if let signed = config.dnssecSigned {
                let refs = await references.lookup(signed, type: DNSType.a, dnssecOK: true).compactMap(\.message)
                let refAD = !refs.isEmpty && refs.filter(\.ad).count * 2 > refs.count
                if let m = try? await client.query(signed, type: DNSType.a, dnssecOK: true) {
                    facts.append(("signed_name", .string("\(signed): AD=\(m.ad ? 1 : 0), references AD=\(refAD ? 1 : 0)")))
                    if refAD && !m.ad && m.rcode == 0 {
                        out.findings.append(dnssecFinding(endpoint, name: signed, detail: "the references validate \(signed) (AD set); \(endpoint.host) does not set AD"))
                    }
                }
            }
            if let broken = config.dnssecBroken {
                let refs = await references.lookup(broken, type: DNSType.a, dnssecOK: true).compactMap(\.message)
                let refServfail = !refs.isEmpty && refs.allSatisfy { $0.rcode == DNSRCode.servFail }
                if let m = try? await client.query(broken, type: DNSType.a, dnssecOK: true) {
                    facts.append(("broken_name", .string("\(broken): \(DNSRCode.name(m.rcode)), references \(refServfail ? "SERVFAIL" : "answer")")))
                    if refServfail && m.rcode == 0 && !AnswerSet(message: m).addresses.isEmpty {
                        out.findings.append(dnssecFinding(endpoint, name: broken, detail: "\(broken) has a broken signature: the references SERVFAIL, \(endpoint.host) answers it"))
                    }
                }
            }
            if !facts.isEmpty { out.inputs.append(ReportInput(kind: "probe", name: "DNSSEC via \(endpoint.host)", facts: facts)) }
        }
    }

    func dnssecFinding(_ e: ResolverEndpoint, name: String, detail: String) -> Finding {
        Finding(kind: FindingKind.dnsAnswerMismatch, severity: .low, confidence: .likely,
                title: "\(e.host) does not validate DNSSEC: forged answers for signed names would pass",
                subject: [("qname", .string(name)), ("resolver", .string(e.host)), ("reason", .string("dnssec-not-validated"))],
                evidence: [Evidence(source: "probe", detail: detail)],
                remediation: "Use a validating resolver (or validate locally); without it, DNSSEC does not protect this machine.")
    }

    // MARK: - The ladder

    func ladder(_ t: ProbeTarget, resolver: (ResolverEndpoint, ResolverClient)?, _ references: ReferenceSet?,
                into out: inout ProbeResults) async -> LadderResult {
        var r = LadderResult(target: t)
        let timeout = config.settings.timeout
        let isLiteral = IPText.isIPv4(t.host) || IPText.isIPv6(t.host)
        if isLiteral {
            r.pathAddresses = [t.host]
            r.steps.append(LadderStep(layer: "dns", ok: true, detail: "an address, no DNS needed"))
        } else if let (endpoint, client) = resolver {
            do {
                let m = try await client.query(t.host, type: DNSType.a)
                let a = AnswerSet(message: m)
                r.pathAddresses = a.addresses
                let refs = await references?.lookup(t.host, type: DNSType.a) ?? []
                let sets = refs.map { $0.message.map(AnswerSet.init(message:)) }
                let cmp = AnswerComparator.compare(path: a, references: sets)
                r.dnsComparison = cmp
                r.referenceAddresses = cmp.referenceAddresses
                if cmp.isInconsistent {
                    r.steps.append(LadderStep(layer: "dns", ok: false,
                                              detail: "\(endpoint.host) answers \(AnswerFindings.describe(a)); the references answer \(cmp.referenceAddresses.isEmpty ? "no address" : cmp.referenceAddresses.joined(separator: ", ")) (\(cmp.reason))"))
                    if let f = AnswerFindings.finding(qname: t.host, qtype: DNSType.a, path: a, result: cmp, resolver: endpoint.host,
                                                      references: references?.endpoints.map(\.description) ?? [], source: "probe") {
                        out.findings.append(f)
                    }
                } else {
                    r.steps.append(LadderStep(layer: "dns", ok: !a.addresses.isEmpty,
                                              detail: "\(endpoint.host) answers \(AnswerFindings.describe(a))"
                                                + (cmp.verdict == .consistent ? " (agrees with the references: \(cmp.reason))" : " (\(cmp.verdict.rawValue))")))
                }
            } catch {
                let e = ResolverError.classify(error)
                r.steps.append(LadderStep(layer: "dns", ok: false, detail: "\(endpoint.host) gave no answer: \(e)"))
            }
        } else {
            r.steps.append(LadderStep(layer: "dns", ok: false, detail: "no resolver to ask"))
        }

        // Connect to the path's addresses; when DNS looks wrong, also to a reference's (to show what works).
        var tries: [(String, Bool)] = r.pathAddresses.prefix(2).map { ($0, false) }
        let dnsBroken = r.dnsComparison?.isInconsistent ?? false
        if dnsBroken || tries.isEmpty, let first = r.referenceAddresses.first(where: { !r.pathAddresses.contains($0) }) {
            tries.append((first, true))
        }
        for (address, fromRef) in tries {
            let o = await TLSConnectProbe.run(address: address, port: t.port, sni: t.tls ? t.host : nil, host: t.host,
                                              httpPath: t.path, timeout: timeout)
            r.connections.append((address, fromRef, o))
            let label = LadderStep.label(address, fromReference: fromRef)
            func step(_ layer: String, _ ok: Bool, _ detail: String) {
                r.steps.append(LadderStep(layer: layer, ok: ok, detail: detail, address: address, fromReference: fromRef))
            }
            if case .failure(let e)? = o.tcp {
                step("tcp", false, "\(label):\(t.port) \(e)")
                continue
            }
            if case .success(let ms)? = o.tcp { step("tcp", true, "\(label):\(t.port) connected in \(Int(ms)) ms") }
            if t.tls {
                switch o.tls {
                case .failure(let e)?: step("tls", false, "\(label): TLS with SNI \(t.host) \(e)")
                case .success?: step("tls", true, "\(label): TLS handshake with SNI \(t.host) done (\(o.chain.count) certificate(s))")
                case nil: break
                }
            }
            switch o.http {
            case .success(let code)?:
                // The server answered. Below 400 is success; a 4xx for "/" is still an answer from a web
                // server (the target need not serve its root); 5xx, or 4xx for an explicit path, is broken.
                let ok = code < 400 || (code < 500 && (t.path ?? "/") == "/")
                step("http", ok, "\(label): GET \(t.path ?? "/") → HTTP \(code)")
            case .failure(let e)?: step("http", false, "\(label): GET \(t.path ?? "/") \(e)")
            case nil: break
            }
        }
        return r
    }

    func encryptedDNSBlocked(_ ref: ResolverEndpoint, _ e: ResolverError) -> Finding {
        let what = ref.transport == .dot ? "DNS over TLS" : "DNS over HTTPS"
        return Finding(
            kind: FindingKind.encryptedDNSBlocked, severity: .medium, confidence: .possible,
            title: "\(what) to \(ref.host):\(ref.port) is unreachable: \(e)",
            subject: [("server", .string(ref.host)), ("port", .int(ref.port)), ("transport", .string("tcp")), ("reason", .string(e.description))],
            evidence: [Evidence(source: "probe", detail: "TCP connect to \(ref.host):\(ref.port) for \(ref): \(e)")],
            remediation: "Something on the path blocks encrypted DNS to \(ref.host). Check the firewall (dnsaudit rules) or ask the network operator; plaintext DNS can then be read and rewritten.")
    }
}
