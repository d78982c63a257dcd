import AnswerComparison
import DNSWire
import FindingPolicy
import Findings
import Foundation
import NetTypes
import NIOCore
import ResolverCatalog
import ResolverClients
import SystemResolverReader

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
    /// Addresses this machine uses as resolvers (resolv.conf, systemd-resolved's stub and
    /// upstreams): a target that is one of them, or of `resolvers`, gets the resolver checks
    /// instead of the web ladder.
    public var systemResolvers: [String] = []
    /// Hold on after the first UDP answer of a target's lookup, to hear a second, different one.
    public var holdOn = true
    /// Opt-out canaries asked through each resolver and the references (empty: not checked).
    public var optOutCanaries: [String] = ProbeRunner.defaultOptOutCanaries
    /// A severity the policy gives `encrypted-dns.opt-out-canary` instead of its default (low / info).
    public var optOutCanarySeverity: Severity? = nil
    /// Per canary product (`firefox-doh`, `icloud-private-relay`, `other`): overrides
    /// `optOutCanarySeverity` for that product's canaries (policy `opt_out_canary_severity` table).
    public var optOutCanarySeverityByProduct: [String: Severity] = [:]
    /// Chrome's check: three random single-label names must not resolve to a shared address.
    public var randomLabelCheck = true
    /// Where DNR options (RFC 9463) are read from (empty: not read).
    public var dnrPlaces: [String] = DNROptions.defaultPlaces
    /// Names whose HTTPS record (with `ech=`) is compared between the path and the references
    /// (issue 20 item 4). Empty by default: nothing is asked unless configured (public examples:
    /// `ProbeRunner.exampleECHNames`).
    public var httpsNames: [String] = []
    /// Whoami-style names whose TXT answer echoes the EDNS Client Subnet their authoritative saw
    /// (issue 20 item 6). Empty by default.
    public var ecsEchoNames: [String] = []
    /// Names whose public answer is a private or loopback address: a path that answers nothing
    /// for them has rebinding protection (a note). Empty by default.
    public var rebindingNames: [String] = []
    /// The route rung (issue 20 item 8): the highest TTL tried when locating the hop that tampers
    /// (0: the rung is off), and how long each TTL is listened to, in seconds.
    public var hopLimit = 16
    public var hopWait: Double = 1.0
    /// Walk the route of every target even when nothing looked tampered (a clean control).
    public var routeAlways = false
    public init() {}

    /// Is `host` (an address) a resolver: under test, this machine's, a local stub, or a
    /// well-known public resolver?
    public func isResolver(_ host: String) -> Bool {
        guard IPAddress.isLiteral(host) else { return false }
        return resolvers.contains { $0.host == host } || systemResolvers.contains(host)
            || SystemResolvers.stubAddresses.contains(host) || ResolverCatalog.identity(for: host) != nil
    }
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
    /// Address → did a TLS handshake without the target's name (no SNI) complete (true), or fail the
    /// same way (false), tried when the handshake with the name was reset or went unanswered: does
    /// the failure follow the name? Absent when the control failed differently.
    public var sniControls: [String: Bool] = [:]
    /// The route rung's walks, when the ladder ran any (see `routeRung`).
    public var routes: [HopWalk] = []
}

/// Everything a probe run found, before certificate judgement (done synchronously by the caller).
public struct ProbeResults: Sendable {
    public var findings: [Finding] = []
    public var notes: [String] = []
    /// Why the run could not examine what it was asked to (every reference unusable while
    /// comparisons were asked for…): the report's `inconclusive`.
    public var inconclusive: [String] = []
    public var inputs: [ReportInput] = []
    public var ladders: [LadderResult] = []
    /// Resolvers under test (host) that answered some name of this run with a private, loopback
    /// or link-local address: rebinding protection cannot explain their empty answers.
    public var privateAnswersFrom: Set<String> = []
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

        // 1. References: reachable, then answering. A reference the user configured is not the
        // network under test: one that fails is an unusable reference (a note and its input's
        // facts), never a finding about the path. Whether a resolver under test's encrypted
        // endpoints are blocked is the resolver checks' business (step 2).
        var usable: [ResolverEndpoint] = []
        for ref in config.references {
            // DoQ is UDP: no TCP connect to check first (its client classifies the QUIC failure).
            let tcp = ref.transport == .doq || ref.transport == .doh3 ? nil : await TLSConnectProbe.run(address: ref.host, port: ref.port, sni: nil, host: ref.host, httpPath: nil,
                                                                              timeout: timeout, group: group)
            var facts: [(String, SubjectValue)] = [("transport", .string(ref.transport.rawValue))]
            if case .failure(let e)? = tcp?.tcp {
                facts.append(("reachable", .string("no: \(e)")))
                facts.append(("usable", .string("no")))
                out.inputs.append(ReportInput(kind: "reference", name: ref.description, facts: facts))
                out.notes.append("reference \(ref) unavailable: \(e); it is not used for comparisons")
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
                // Over QUIC there was no TCP connect to speak of: the QUIC client's failure is the answer.
                facts.append(("reachable", .string(ref.transport == .doq || ref.transport == .doh3 ? "no: \(e)" : "connects, but: \(e)")))
                facts.append(("usable", .string("no")))
                out.notes.append(ref.transport == .doq || ref.transport == .doh3 ? "reference \(ref) unavailable: \(e); it is not used for comparisons"
                                 : "reference \(ref) unavailable: it accepts connections but \(e); it is not used for comparisons")
            }
            out.inputs.append(ReportInput(kind: "reference", name: ref.description, facts: facts))
        }
        if !config.references.isEmpty && usable.isEmpty {
            out.notes.append("no reference answered: answers could not be compared with trusted references")
            out.inconclusive.append("no reference was usable (\(config.references.map(\.description).joined(separator: ", "))): "
                                    + "answers were not compared with trusted references")
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
        await encryptedDNSChecks(resolverClients, into: &out)
        if let zone = config.canaryZone {
            await canary(zone: zone, resolverClients, references, into: &out)
        }
        if config.dnssecSigned != nil || config.dnssecBroken != nil {
            await dnssec(resolverClients, references, into: &out)
            await dnssecStripping(resolverClients, references, into: &out)
        }
        await optOutCanaries(resolverClients, references, into: &out)
        await randomLabelHijack(resolverClients, into: &out)
        await httpsRecordChecks(resolverClients, references, into: &out)
        await ecsChecks(resolverClients, into: &out)
        await rebindingChecks(resolverClients, references, into: &out)
        for t in config.targets {
            if config.isResolver(t.host) {
                // A resolver is not a web site: plain DNS, DoT and DoH where offered, no web ladder.
                await resolverTarget(t, into: &out)
                continue
            }
            out.ladders.append(await ladder(t, resolvers: resolverClients, references, into: &out))
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
            } else if let known = ResolverCatalog.identity(for: endpoint.host) {
                encrypted = ResolverEndpoint(transport: .dot, host: endpoint.host, port: 853, tlsName: known.tlsName)
            } else if endpoint.isIPLiteral && !SystemResolvers.stubAddresses.contains(endpoint.host) {
                // No name is known: DoT to the address itself, verified against its IP SAN (RFC 6125
                // §1.7.2; no SNI is sent for an address). A resolver without DoT simply fails here.
                encrypted = ResolverEndpoint(transport: .dot, host: endpoint.host, port: 853, tlsName: nil)
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
                            Evidence(source: .probe, detail: "over port 53: \(plainID.summary)", facts: [("identity", .string(plainID.summary))]),
                            Evidence(source: .probe, detail: "over DoT (\(enc), certificate verified): \(d.summary)", facts: [("identity", .string(d.summary))]),
                            Evidence(source: .probe, detail: list.joined(separator: "; ")),
                        ],
                        remediation: "Something on the path answers DNS sent to \(endpoint.host) itself (a DNAT/redirect rule or a transparent DNS proxy). "
                            + "Use DoT/DoH to that resolver, and look for the redirect (dnsaudit rules on the router)."))
                    continue
                }
            }
            if let known = ResolverCatalog.identity(for: endpoint.host), let sw = plainID.software,
               ["dnsmasq", "pi-hole", "adguard", "windows", "technitium", "coredns"].contains(sw) {
                out.findings.append(Finding(
                    kind: FindingKind.dnsResolverIdentityMismatch, severity: .high, confidence: .likely,
                    title: "\(endpoint.host) is \(known.name)'s resolver, but what answers says it is \(plainID.answers["version.bind"] ?? sw)",
                    subject: [("resolver", .string(endpoint.host)), ("transport", .string("udp")), ("reason", .string("software"))],
                    evidence: [Evidence(source: .probe, detail: "version.bind over port 53: \"\(plainID.answers["version.bind"] ?? "")\"; \(plainID.summary)")],
                    remediation: "A home router or middlebox answers queries addressed to \(known.name). Find the redirect, or use DoT/DoH."))
                continue
            }
            if let expected = config.expectedIdentities[endpoint.host], plainID.failure == nil,
               !plainID.answers.values.contains(where: { $0.contains(expected) }) {
                out.findings.append(Finding(
                    kind: FindingKind.dnsResolverIdentityMismatch, severity: .high, confidence: .likely,
                    title: "\(endpoint.host) does not identify as \"\(expected)\", as the policy expects",
                    subject: [("resolver", .string(endpoint.host)), ("transport", .string("udp")), ("reason", .string("pinned-identity"))],
                    evidence: [Evidence(source: .probe, detail: "identity answers: \(plainID.summary)")],
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
                                                  references: references?.endpoints.map(\.description) ?? [], source: .probe) {
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
                evidence: [Evidence(source: .probe, detail: detail)],
                remediation: "Use a validating resolver (or validate locally); without it, DNSSEC does not protect this machine.")
    }

    // MARK: - The ladder

    /// One lookup of a target's name through a resolver under test, compared with the references:
    /// Hold-On over UDP (a second, different answer is an injector: reported, and the resolver is
    /// judged by its own answer), an answer finding when the resolver's answer is inconsistent.
    struct Lookup {
        var answer: AnswerSet
        var comparison: AnswerComparisonResult
        var injected: Bool
        var findings: [Finding]
    }

    func lookup(_ name: String, type: UInt16, _ endpoint: ResolverEndpoint, _ client: ResolverClient, _ references: ReferenceSet?) async throws -> Lookup {
        let refs = await references?.lookup(name, type: type) ?? []
        let sets = refs.map { $0.message.map(AnswerSet.init(message:)) }
        var findings: [Finding] = []
        var m: DNSMessage
        var injected = false
        if config.holdOn && endpoint.transport == .udp {
            // Hold-On: keep listening after the first answer; a second, different one means an
            // on-path injector raced the resolver (the resolver's own answer comes later).
            let held = try await client.queryHoldingOn(name, type: type)
            m = held.first
            if let f = injectionFinding(name, qtype: type, endpoint: endpoint, held: held, references: sets) {
                findings.append(f.finding)
                m = f.genuine
                injected = true
            }
        } else {
            m = try await client.query(name, type: type)
        }
        let a = AnswerSet(message: m)
        let cmp = AnswerComparator.compare(path: a, references: sets)
        if !injected, cmp.isInconsistent,
           let f = AnswerFindings.finding(qname: name, qtype: type, path: a, result: cmp, resolver: endpoint.host,
                                          references: references?.endpoints.map(\.description) ?? [], source: .probe) {
            findings.append(f)
        }
        return Lookup(answer: a, comparison: cmp, injected: injected, findings: findings)
    }

    func ladder(_ t: ProbeTarget, resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet?,
                into out: inout ProbeResults) async -> LadderResult {
        var r = LadderResult(target: t)
        let timeout = config.settings.timeout
        let isLiteral = IPAddress.isLiteral(t.host)
        var injectedVia: ResolverEndpoint?
        if isLiteral {
            r.pathAddresses = [t.host]
            r.steps.append(LadderStep(layer: "dns", ok: true, detail: "an address, no DNS needed"))
        } else if let (endpoint, client) = resolvers.first {
            do {
                let l = try await lookup(t.host, type: DNSType.a, endpoint, client, references)
                out.findings += l.findings
                let a = l.answer, cmp = l.comparison
                r.pathAddresses = a.addresses
                r.dnsComparison = cmp
                r.referenceAddresses = cmp.referenceAddresses
                if l.injected {
                    injectedVia = endpoint
                    r.steps.append(LadderStep(layer: "dns", ok: false,
                                              detail: "an injector answered for \(endpoint.host) first; the resolver's own answer that followed is \(AnswerFindings.describe(a))"))
                } else if cmp.isInconsistent {
                    r.steps.append(LadderStep(layer: "dns", ok: false,
                                              detail: "\(endpoint.host) answers \(AnswerFindings.describe(a)); the references answer \(cmp.referenceAddresses.isEmpty ? "no address" : cmp.referenceAddresses.joined(separator: ", ")) (\(cmp.reason))"))
                } else {
                    r.steps.append(LadderStep(layer: "dns", ok: !a.addresses.isEmpty,
                                              detail: "\(endpoint.host) answers \(AnswerFindings.describe(a))"
                                                + (cmp.verdict == .consistent ? " (agrees with the references: \(cmp.reason))" : " (\(cmp.verdict.rawValue))")))
                }            } catch {
                let e = ResolverError.classify(error)
                r.steps.append(LadderStep(layer: "dns", ok: false, detail: "\(endpoint.host) gave no answer: \(e)"))
            }
        } else {
            r.steps.append(LadderStep(layer: "dns", ok: false, detail: "no resolver to ask"))
        }
        if !isLiteral {
            // The name's other lookups — AAAA, and every other resolver under test — are compared
            // too (they do not change the ladder's addresses).
            var facts: [(String, SubjectValue)] = []
            for (i, (endpoint, client)) in resolvers.enumerated() {
                for type in [DNSType.a, DNSType.aaaa] where !(i == 0 && type == DNSType.a) {
                    let label = "\(DNSType.mnemonic(type)) via \(endpoint.host)"
                    do {
                        let l = try await lookup(t.host, type: type, endpoint, client, references)
                        out.findings += l.findings
                        facts.append((label, .string(AnswerFindings.describe(l.answer) + (l.injected ? " (after an injected answer)" : "")
                                                     + " — \(l.comparison.verdict.rawValue) (\(l.comparison.reason))")))
                    } catch {
                        facts.append((label, .string("no answer: \(ResolverError.classify(error))")))
                    }
                }
            }
            if !facts.isEmpty { out.inputs.append(ReportInput(kind: "probe", name: "lookups of \(t.host)", facts: facts)) }
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
                case .failure(let e)?:
                    step("tls", false, "\(label): TLS with SNI \(t.host) \(e)")
                    if !fromRef && !IPAddress.isLiteral(t.host) && [.connectionReset, .closed, .timeout].contains(e) {
                        // The control: the same address without the name (no SNI is sent for an address).
                        // It counts when it completes, or fails the same way (the server treats every
                        // name alike); a different failure (silence after a reset) says nothing.
                        let c = await TLSConnectProbe.run(address: address, port: t.port, sni: address, host: address, httpPath: nil, timeout: timeout)
                        let controlError = c.firstFailure?.error
                        if controlError == nil {
                            r.sniControls[address] = true
                        } else if controlError == e || (controlError == .closed && e == .connectionReset) || (controlError == .connectionReset && e == .closed) {
                            r.sniControls[address] = false
                        }
                        step("tls-control", true, "\(label): TLS without SNI "
                            + (controlError.map { "fails too (\($0))" + (r.sniControls[address] == nil ? ", differently: no conclusion" : "") } ?? "completes"))
                    }
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
        await routeRung(&r, resolver: resolvers.first?.0, injected: injectedVia != nil, into: &out)
        return r
    }

    // MARK: - Hold-On

    /// A `dns.injection` finding when the answers heard under Hold-On differ; with the answer to
    /// take as the resolver's own: the last distinct one that agrees with the references, else the
    /// last distinct one (an injector is nearer than the resolver, so it answers first).
    func injectionFinding(_ name: String, qtype: UInt16 = DNSType.a, endpoint: ResolverEndpoint, held: HeldQuery, references: [AnswerSet?])
        -> (finding: Finding, genuine: DNSMessage)? {
        var distinct: [(message: DNSMessage, set: AnswerSet, ms: Double)] = [(held.first, AnswerSet(message: held.first), held.firstMilliseconds)]
        for l in held.later {
            let set = AnswerSet(message: l.message)
            if !distinct.contains(where: { $0.set == set }) { distinct.append((l.message, set, l.milliseconds)) }
        }
        guard distinct.count >= 2 else { return nil }
        let haveRefs = references.contains { $0 != nil }
        var evidence: [Evidence] = []
        var suspicious = 0
        for (i, d) in distinct.enumerated() {
            var marks: [String] = []
            if haveRefs {
                let c = AnswerComparator.compare(path: d.set, references: references)
                if c.isInconsistent { marks.append("disagrees with the references (\(c.reason))") }
            }
            if i == 0 && distinct.count > 1 && d.ms * 2 < distinct[1].ms { marks.append("arrived well before the next answer") }
            if !marks.isEmpty { suspicious += 1 }
            evidence.append(Evidence(source: .probe,
                                     detail: "answer \(i + 1) of \(distinct.count): \(AnswerFindings.describe(d.set)), \(String(format: "%.1f", d.ms)) ms after the query"
                                        + (marks.isEmpty ? "" : " — " + marks.joined(separator: "; ")),
                                     facts: [("answers", .string(AnswerFindings.describe(d.set))), ("arrival_ms", .string(String(format: "%.1f", d.ms)))]))
        }
        evidence.append(Evidence(source: .probe, detail: "one UDP query; the socket stayed open \(Int(held.windowMilliseconds)) ms after the first answer (Hold-On)"))
        let consistent = distinct.last { d in
            haveRefs && !AnswerComparator.compare(path: d.set, references: references).isInconsistent
        }
        let genuine = consistent ?? distinct[distinct.count - 1]
        guard let f = FindingPolicy.injectionRace(
            InjectionRaceEvidence(qname: name, qtype: DNSType.mnemonic(qtype), transport: "udp", resolver: endpoint.host,
                                  distinctAnswers: distinct.map { AnswerFindings.describe($0.set) }, clientRetried: false, suspiciousAnswers: suspicious),
            evidence: evidence) else { return nil }
        return (f, genuine.message)
    }

    // MARK: - Resolver checks

    /// The encrypted endpoints a resolver is expected to offer: the user's references on the same
    /// address (configured), those it designates for itself (DDR), a well-known operator's DoT and
    /// DoH (known).
    func offeredEncryptedEndpoints(_ host: String, designated: [ResolverEndpoint] = []) -> [(ResolverEndpoint, EncryptedDNSBlockedEvidence.Offered)] {
        var out: [(ResolverEndpoint, EncryptedDNSBlockedEvidence.Offered)] = []
        for ref in config.references where ref.host == host && (ref.transport == .dot || ref.transport == .doh || ref.transport == .doq || ref.transport == .doh3) {
            out.append((ref, .configured))
        }
        for d in designated where !out.contains(where: { $0.0.transport == d.transport && $0.0.port == d.port }) {
            out.append((d, .designated))
        }
        if let known = ResolverCatalog.identity(for: host) {
            if !out.contains(where: { $0.0.transport == .dot }) {
                out.append((ResolverEndpoint(transport: .dot, host: host, port: 853, tlsName: known.tlsName), .knownOperator))
            }
            if !out.contains(where: { $0.0.transport == .doh }) {
                out.append((ResolverEndpoint(transport: .doh, host: host, port: 443, tlsName: known.tlsName), .knownOperator))
            }
        }
        return out
    }

    /// Does plain DNS to the resolver answer (UDP, then TCP)? The answers' facts for the report.
    func plainDNS(_ endpoint: ResolverEndpoint) async -> (udp: Result<String, ResolverError>, tcp: Result<String, ResolverError>) {
        let group = ResolverEventLoops.shared
        var results: [Result<String, ResolverError>] = []
        for transport in [ResolverEndpoint.Transport.udp, .tcp] {
            var e = endpoint
            e.transport = transport
            do {
                let c = try ResolverClient(endpoint: e, settings: config.settings, group: group)
                do {
                    let m = try await c.query(config.checkName, type: DNSType.a)
                    await c.close()
                    results.append(.success("\(config.checkName) A → \(DNSRCode.name(m.rcode))"))
                } catch {
                    await c.close()
                    results.append(.failure(ResolverError.classify(error)))
                }
            } catch {
                results.append(.failure(ResolverError.classify(error)))
            }
        }
        return (results[0], results[1])
    }

    /// Each resolver under test: are the encrypted endpoints it offers (configured or well known)
    /// reachable, while plain DNS to the same address answers? A drop only on the encrypted path
    /// is interference; a closed port it never offered is nothing.
    func encryptedDNSChecks(_ resolvers: [(ResolverEndpoint, ResolverClient)], into out: inout ProbeResults) async {
        var designatedNames: [String: [String]] = [:]
        for (endpoint, client) in resolvers {
            let ddr = await designatedEndpoints(endpoint.host, client: client)
            designatedNames[endpoint.host] = ddr.designations.map(\.target)
            if !ddr.facts.isEmpty {
                out.inputs.append(ReportInput(kind: "probe", name: "DDR of \(endpoint.host)",
                                              facts: ddr.facts.enumerated().map { ("designation\($0.offset + 1)", .string($0.element)) }))
            }
            await verifyDesignations(endpoint, client: client, ddr: ddr, into: &out)
            let offered = offeredEncryptedEndpoints(endpoint.host, designated: ddr.endpoints)
            guard !offered.isEmpty else { continue }
            let plain = await plainDNS(endpoint)
            await checkEncrypted(endpoint.host, offered: offered, plain: plain, into: &out)
        }
        if !config.dnrPlaces.isEmpty { out.notes += DNROptions.notes(DNROptions.read(places: config.dnrPlaces), ddr: designatedNames) }
    }

    func checkEncrypted(_ host: String, offered: [(ResolverEndpoint, EncryptedDNSBlockedEvidence.Offered)],
                        plain: (udp: Result<String, ResolverError>, tcp: Result<String, ResolverError>), into out: inout ProbeResults) async {
        let plainWorks: Bool
        switch (plain.udp, plain.tcp) {
        case (.success, _), (_, .success): plainWorks = true
        default: plainWorks = false
        }
        for (enc, why) in offered {
            if enc.transport == .doq {
                await checkDoQ(host, enc, offered: why, plain: plain, into: &out)
                continue
            }
            if enc.transport == .doh3 {
                await checkDoH3(host, enc, offered: why, plain: plain, into: &out)
                continue
            }
            let o = await TLSConnectProbe.run(address: enc.host, port: enc.port, sni: nil, host: enc.host, httpPath: nil,
                                              timeout: config.settings.timeout)
            let service: EncryptedDNSBlockedEvidence.Service = enc.transport == .dot ? .dot : .doh
            let e: ResolverError
            let failure: EncryptedDNSBlockedEvidence.Failure
            var tcpConnected = false
            if case .failure(let tcpError)? = o.tcp {
                e = tcpError
                switch tcpError {
                case .connectionRefused: failure = .refused
                case .unreachable: failure = .noRoute
                default: failure = .noAnswerToSYN
                }
            } else {
                tcpConnected = true
                // TCP connects: does the service answer? A handshake cut or left unanswered while plain
                // DNS works is SNI/port filtering; a certificate or HTTP problem is the server's own.
                var answered: ResolverError?
                do {
                    let c = try ResolverClient(endpoint: enc, settings: config.settings, group: ResolverEventLoops.shared)
                    do {
                        _ = try await c.query(config.checkName, type: DNSType.a)
                    } catch {
                        answered = ResolverError.classify(error)
                    }
                    await c.close()
                } catch {
                    answered = ResolverError.classify(error)
                }
                switch answered {
                case nil:
                    out.inputs.append(ReportInput(kind: "probe", name: "\(service.rawValue) of \(host)",
                                                  facts: [("endpoint", .string(enc.description)), ("tcp", .string("connects")), ("answers", .string("yes"))]))
                    continue
                case .timeout?:
                    e = .timeout
                    failure = .helloUnanswered
                case .connectionReset?, .closed?:
                    // A verifying client that rejects the server's certificate closes the connection
                    // itself, which can surface here as a plain close. A handshake that completes
                    // (any certificate accepted) shows the server answered the ClientHello: that is
                    // a certificate problem for the certificate and identity checks, not a block.
                    let hs = await TLSConnectProbe.run(address: enc.host, port: enc.port, sni: enc.tlsName ?? enc.host, host: enc.host,
                                                       httpPath: nil, timeout: config.settings.timeout)
                    if case .success? = hs.tls {
                        out.inputs.append(ReportInput(kind: "probe", name: "\(service.rawValue) of \(host)",
                                                      facts: [("endpoint", .string(enc.description)), ("tcp", .string("connects")),
                                                              ("tls", .string("handshake completes")),
                                                              ("answers", .string("no: the verifying client closed (\(answered ?? .closed)); certificate not accepted"))]))
                        out.notes.append("\(service.rawValue) to \(host):\(enc.port) completes a TLS handshake, but the verifying client does not accept the server's certificate — a certificate problem (see the certificate and identity checks), not a block")
                        continue
                    }
                    e = answered ?? .closed  // the reset or close itself
                    failure = .cutAfterClientHello(injectedMarks: [])
                case let other?:
                    out.inputs.append(ReportInput(kind: "probe", name: "\(service.rawValue) of \(host)",
                                                  facts: [("endpoint", .string(enc.description)), ("tcp", .string("connects")), ("answers", .string("no: \(other)"))]))
                    out.notes.append("\(service.rawValue) to \(host):\(enc.port) connects but fails: \(other) — the server's problem, not a block")
                    continue
                }
            }
            out.inputs.append(ReportInput(kind: "probe", name: "\(service.rawValue) of \(host)",
                                          facts: [("endpoint", .string(enc.description)), ("tcp", .string("\(e)")),
                                                  ("plain_dns", .string(plainWorks ? "answers" : "fails"))]))
            let plainText: String
            switch (plain.udp, plain.tcp) {
            case (.success(let u), _): plainText = "plain DNS over UDP to \(host) answers (\(u))"
            case (_, .success(let t)): plainText = "plain DNS over TCP to \(host) answers (\(t))"
            case (.failure(let u), _): plainText = "plain DNS to \(host) fails too (\(u))"
            }
            if let f = FindingPolicy.encryptedDNSBlocked(
                EncryptedDNSBlockedEvidence(server: host, port: enc.port, service: service, failure: failure, offered: why, plainDNSWorks: plainWorks),
                evidence: [Evidence(source: .probe, detail: tcpConnected ? "TCP to \(enc.host):\(enc.port) connects, then \(enc): \(e)"
                                        : "TCP connect to \(enc.host):\(enc.port) for \(enc): \(e)"),
                           Evidence(source: .probe, detail: plainText)]) {
                out.findings.append(f)
            } else {
                out.notes.append("\(service.rawValue) to \(host):\(enc.port): \(e) — not a finding (\(failure == .noRoute ? "no route to the host" : "nothing says \(host) offers it"))")
            }
        }
    }

    /// A target that is a resolver: plain DNS over UDP and TCP, and DoT / DoH where it offers them
    /// (configured or well known; DoT to the address verified by its IP SAN is tried, but not
    /// offering it is no finding).
    func resolverTarget(_ t: ProbeTarget, into out: inout ProbeResults) async {
        let endpoint = ResolverEndpoint(transport: .udp, host: t.host, port: 53)
        let plain = await plainDNS(endpoint)
        func text(_ r: Result<String, ResolverError>) -> String {
            switch r {
            case .success(let s): return "ok (\(s))"
            case .failure(let e): return "BROKEN (\(e))"
            }
        }
        var steps = ["udp \(text(plain.udp))", "tcp \(text(plain.tcp))"]
        var designated: [ResolverEndpoint] = []
        if let c = try? ResolverClient(endpoint: endpoint, settings: config.settings, group: ResolverEventLoops.shared) {
            designated = await designatedEndpoints(t.host, client: c).endpoints
            await c.close()
        }
        var offered = offeredEncryptedEndpoints(t.host, designated: designated)
        if !offered.contains(where: { $0.0.transport == .dot }) && !SystemResolvers.stubAddresses.contains(t.host) {
            // Speculative DoT to the address (IP SAN): reported when it works, never a finding when not.
            let dot = ResolverEndpoint(transport: .dot, host: t.host, port: 853, tlsName: nil)
            if let c = try? ResolverClient(endpoint: dot, settings: config.settings, group: ResolverEventLoops.shared) {
                do {
                    let m = try await c.query(config.checkName, type: DNSType.a)
                    steps.append("dot ok (certificate verified for the address \(t.host); \(config.checkName) A → \(DNSRCode.name(m.rcode)))")
                    offered.append((dot, .observedWorking))
                } catch {
                    steps.append("dot not offered (\(ResolverError.classify(error)))")
                }
                await c.close()
            }
        }
        if !offered.contains(where: { $0.0.transport == .doq }) && !SystemResolvers.stubAddresses.contains(t.host) {
            // Speculative DoQ to the address (IP SAN), as DoT: reported when it works, never a finding when not.
            let doq = await speculativeDoQ(t.host)
            steps.append(doq.step)
            if doq.works { offered.append((ResolverEndpoint(transport: .doq, host: t.host, port: 853, tlsName: nil), .observedWorking)) }
        }
        out.inputs.append(ReportInput(kind: "probe", name: "resolver \(t.host)",
                                      facts: steps.enumerated().map { ("step\($0.offset + 1)", .string($0.element)) }))
        await checkEncrypted(t.host, offered: offered.filter { $0.1 != .observedWorking }, plain: plain, into: &out)
        if case .failure(let u) = plain.udp, case .failure(let tc) = plain.tcp {
            out.findings.append(FindingPolicy.probeUnreachable(
                UnreachableEvidence(target: t.host, server: t.host, port: 53, layer: .dns, failure: u.reachability,
                                    detail: "plain DNS over UDP: \(u); over TCP: \(tc)", referenceAddressWorks: nil),
                evidence: [Evidence(source: .probe, detail: steps.joined(separator: " → "))]))
            out.notes.append("\(t) (a resolver): \(steps.joined(separator: " → ")) — DNS is the broken layer")
        } else {
            out.notes.append("\(t) (a resolver): \(steps.joined(separator: " → ")) — answers; not probed as a web site")
        }
    }
}
