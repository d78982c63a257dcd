import Findings
import FirewallModel
import NetTypes

/// One ruleset to audit, with the name the report gives it (`live nftables`, a file path, …).
public struct RulesetInput: Sendable {
    public var ruleset: Ruleset
    public var name: String

    public init(ruleset: Ruleset, name: String) {
        self.ruleset = ruleset
        self.name = name
    }
}

/// What the audit found, and the model the capture detectors can correlate with.
public struct FirewallAuditResult: Sendable {
    public var findings: [Finding] = []
    /// Every reachable rule that diverts traffic, DNS/TLS or not.
    public var redirects: [RedirectRule] = []
    public var notes: [String] = []
    public var totalRules = 0
    public var reachableRules = 0

    /// The redirect rules that can take traffic to `dport` over `proto` (`udp` / `tcp`).
    public func redirects(matching dport: UInt16, proto: String) -> [RedirectRule] {
        redirects.filter { $0.applies(toPort: dport, proto: proto) }
    }
}

/// A resolver address known from this machine or from a capture (not from the public list):
/// `/etc/resolv.conf`'s nameservers, systemd-resolved's upstreams, an address seen answering DNS.
public struct ResolverAddress: Sendable, Hashable {
    public var range: AddressRange
    /// Where it was learned, for the report ("/etc/resolv.conf", "answering DNS in the capture").
    public var source: String

    public init(range: AddressRange, source: String) {
        self.range = range
        self.source = source
    }

    /// nil when `address` is not an address or prefix.
    public init?(_ address: String, source: String) {
        guard let r = AddressRange.parse(address) else { return nil }
        self.init(range: r, source: source)
    }
}

/// Turns reachable rules into `firewall.*` findings (CONTRACT.md).
public struct FirewallAuditor: Sendable {
    public var policy: FirewallPolicy
    /// Public DoH/DoT resolvers: the built-in list and the policy's `doh_resolvers`.
    public var resolvers: [AddressRange]
    /// Resolvers this machine uses or a capture showed answering DNS: blocking their encrypted
    /// ports (tcp/443, udp/443, tcp+udp/853) is `firewall.encrypted-dns-block` too.
    /// The policy's resolvers (`approved_resolvers`, `[probe] resolvers`) are among them.
    public var extraResolvers: [ResolverAddress]

    static let dnsPorts = [53, 853]
    static let tlsPort = 443
    static let dotPort = 853

    public init(policy: FirewallPolicy = FirewallPolicy(), resolvers: [AddressRange] = ResolverAddressList.builtIn,
                extraResolvers: [ResolverAddress] = []) {
        self.policy = policy
        self.resolvers = resolvers + policy.extraDoHResolvers
        self.extraResolvers = extraResolvers + policy.namedResolvers
    }

    public func audit(_ inputs: [RulesetInput]) -> FirewallAuditResult {
        var result = FirewallAuditResult()
        var byID: [String: Int] = [:]
        for input in inputs {
            let rs = input.ruleset
            result.totalRules += rs.rules.count
            let (reached, truncated) = ReachabilityWalker.walk(rs)
            if truncated {
                result.notes.append("\(input.name): the ruleset is too large or too deeply nested to follow completely; the audit covers the first \(ReachabilityWalker.maxVisits) rule visits")
            }
            result.reachableRules += Set(reached.map(\.index)).count
            let positions = Self.positions(rs)
            let untranslated = rs.rules.filter { $0.hasUntranslatedExtensions }.count
            if untranslated > 0 {
                result.notes.append("\(input.name): \(untranslated) iptables-nft rule(s) use extensions whose parameters could not be recovered; findings on them say 'unknown' where a value is missing")
            }
            let wan = WanSide.infer(reached, in: rs) { rr in
                Self.ruleName(rr.rule, position: positions[rr.index] ?? 1) + ": `\(RuleFormatter.text(rr.rule))`"
            }
            var found: [Finding] = []
            for rr in reached {
                let ctx = RuleContext(input: input.name, reach: rr, position: positions[rr.index] ?? 1, ruleset: rs, wan: wan)
                found += redirectFindings(ctx, into: &result.redirects)
                if let b = blockFinding(ctx) { found.append(b) }
            }
            found += policyDropFindings(input: input.name, ruleset: rs, reached: reached, positions: positions)
            for f in found {
                if let k = byID[f.id] {
                    merge(&result.findings[k], f)
                } else {
                    byID[f.id] = result.findings.count
                    result.findings.append(f)
                }
            }
        }
        return result
    }

    /// 1-based position of each rule in its chain.
    static func positions(_ rs: Ruleset) -> [Int: Int] {
        var counters: [String: Int] = [:]
        var out: [Int: Int] = [:]
        for (k, r) in rs.rules.enumerated() {
            let key = r.family + "\u{1}" + r.table + "\u{1}" + r.chain
            let n = (counters[key] ?? 0) + 1
            counters[key] = n
            out[k] = n
        }
        return out
    }

    func merge(_ f: inout Finding, _ g: Finding) {
        if g.severity > f.severity {
            f.severity = g.severity
            f.title = g.title
        }
        for e in g.evidence where !f.evidence.contains(where: { $0.detail == e.detail }) { f.evidence.append(e) }
    }

    // MARK: context

    struct RuleContext {
        var input: String
        var reach: ReachableRule
        var position: Int
        var ruleset: Ruleset
        /// The WAN interfaces this ruleset's source NAT names.
        var wan = WanSide()

        var rule: FirewallRule { reach.rule }
        var hook: String { reach.base.hook ?? "" }
        func set(_ name: String) -> FirewallSet? { ruleset.set(family: rule.family, table: rule.table, name: name) }

        var text: String { RuleFormatter.text(rule) }

        var pathText: String {
            var s = "base chain \(reach.base.name) (hook \(hook)"
            if let p = reach.base.priority { s += ", priority \(p)" }
            s += ")"
            for v in reach.via {
                let how = v.expressions.contains { if case .vmap = $0 { return true } else { return false } } ? "verdict map" : "jump"
                s += " → \(how) in \(v.chain)" + (v.handle.map { " (handle \($0))" } ?? "")
            }
            if !reach.via.isEmpty { s += " → \(rule.chain)" }
            return s
        }

        /// The exact command that deletes this rule from the user's ruleset: `nft delete rule …
        /// handle N` with the rule's own handle, or `iptables -t T -D CHAIN N` with its position in
        /// its chain. Nil for an nft rule without a handle (a listing saved without `-a`).
        var removeCommand: String? {
            switch rule.origin {
            case .nft:
                guard let h = rule.handle else { return nil }
                return "nft delete rule \(rule.family) \(rule.table) \(Self.quoted(rule.chain)) handle \(h)"
            case .iptablesNFT, .iptablesLegacy:
                let tool = (rule.family == "ip6" ? "ip6tables" : "iptables") + (rule.origin == .iptablesLegacy ? "-legacy" : "-nft")
                return "\(tool) -t \(rule.table) -D \(Self.quoted(rule.chain)) \(position)"
            }
        }

        /// How to find the handle when the ruleset did not carry one.
        var findHandleCommand: String {
            "nft -a list chain \(rule.family) \(rule.table) \(Self.quoted(rule.chain))"
        }

        /// The removal step for a remediation text.
        var deleteCommand: String {
            removeCommand ?? "the listing has no handles: find this rule's handle with '\(findHandleCommand)', then nft delete rule \(rule.family) \(rule.table) \(Self.quoted(rule.chain)) handle N"
        }

        /// A chain name as a shell word (names with odd characters in quotes).
        static func quoted(_ name: String) -> String {
            name.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) ? name : "'" + name.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }

        func subject(target: String) -> [(String, SubjectValue)] {
            var s: [(String, SubjectValue)] = [
                ("family", .string(rule.family)), ("table", .string(rule.table)), ("chain", .string(rule.chain)),
                ("hook", .string(hook)),
            ]
            if let h = rule.handle {
                s.append(("handle", .int(h)))
            } else {
                // No handle (a text file parsed without nft): the rule's position keeps two rules apart.
                s.append(("rule", .int(position)))
            }
            s.append(("target", .string(target)))
            s.append(("origin", .string(rule.origin.rawValue)))
            return s
        }

        func evidence(_ selector: TrafficSelector, extra: [(String, SubjectValue)]) -> Evidence {
            var facts: [(String, SubjectValue)] = [("rule", .string(text)), ("path", .string(pathText))]
            facts.append(("transport", .string(selector.transportText.isEmpty ? "none" : selector.transportText)))
            facts.append(("destination_ports", .string(selector.destinationPorts.description)))
            if let d = selector.destinations { facts.append(("destinations", .string(d.map(\.text).joined(separator: ",")))) }
            if !selector.excludedDestinations.isEmpty {
                facts.append(("excluded_destinations", .string(selector.excludedDestinations.map(\.text).joined(separator: ","))))
            }
            if selector.localDestinationOnly { facts.append(("destinations", .string("this machine (fib daddr type local)"))) }
            facts += extra
            if let cmd = removeCommand {
                facts.append(("remove_command", .string(cmd)))
            } else {
                facts.append(("find_handle_command", .string(findHandleCommand)))
            }
            if !selector.otherConditions.isEmpty { facts.append(("conditions", .string(selector.otherConditions.joined(separator: "; ")))) }
            if !selector.unknownConditions.isEmpty { facts.append(("unknown", .string(selector.unknownConditions.joined(separator: "; ")))) }
            let who = rule.origin == .nft ? "nft" : rule.origin.rawValue
            let handle = rule.handle.map { rule.origin == .nft || rule.origin == .iptablesNFT ? " handle \($0)" : " rule \($0)" } ?? ""
            let detail = "\(who) rule in \(rule.family) \(rule.table) \(rule.chain)\(handle): `\(text)`; reached from \(pathText)"
            return Evidence(source: .ruleset, input: input, detail: detail, facts: facts)
        }
    }

    /// `nft rule in ip nat postrouting handle 7`, `iptables-legacy rule in ip nat POSTROUTING rule 2`.
    static func ruleName(_ rule: FirewallRule, position: Int) -> String {
        let who = rule.origin == .nft ? "nft" : rule.origin.rawValue
        let handle: String
        if let h = rule.handle {
            handle = rule.origin == .nft || rule.origin == .iptablesNFT ? " handle \(h)" : " rule \(h)"
        } else {
            handle = " rule \(position)"
        }
        return "\(who) rule in \(rule.family) \(rule.table) \(rule.chain)\(handle)"
    }

    static func hookPhrase(_ hook: String) -> String {
        switch hook {
        case "prerouting": return "arriving from the network"
        case "output": return "sent by this machine's own programs"
        case "input": return "addressed to this machine"
        case "forward": return "routed through this machine"
        case "postrouting": return "leaving this machine"
        default: return "at hook \(hook)"
        }
    }

    static func lower(_ s: Severity) -> Severity {
        switch s {
        case .critical: return .high
        case .high: return .medium
        case .medium: return .low
        case .low, .info: return .info
        }
    }

    // MARK: redirects

    func redirectFindings(_ ctx: RuleContext, into redirects: inout [RedirectRule]) -> [Finding] {
        let rule = ctx.rule
        let sets: (String) -> FirewallSet? = { ctx.set($0) }
        var out: [Finding] = []
        for v in NatVariant.variants(of: rule, sets: sets) {
            let sel = TrafficSelector(ctx.reach.inherited + rule.expressions + v.conditions, sets: sets)
            var rr = RedirectRule(
                input: ctx.input, family: rule.family, table: rule.table, chain: rule.chain, baseChain: ctx.reach.base.name,
                hook: ctx.hook, handle: rule.handle, position: ctx.position, origin: rule.origin, statement: v.statement,
                selector: sel, targetAddresses: v.addresses, targetPorts: v.ports, targetKnown: v.known, text: ctx.text,
                path: ctx.pathText)
            // Taken only when it arrives on the WAN side (the interface source NAT sends traffic
            // out of): traffic from the internet, addressed to the router itself — unless the rule
            // names resolvers as destinations (then it diverts traffic on its way to them).
            if ctx.hook == "prerouting", !namesResolvers(sel), let wan = ctx.wan.arrivesOnlyFromWAN(sel) {
                rr.wanInterfaces = wan.interfaces
                rr.wanEvidence = wan.rules
            }
            redirects.append(rr)
            guard sel.allowsTCPorUDP else { continue }
            // Judged by the traffic the rule takes: a hijack takes traffic that was going to a DNS
            // (53/853) or TLS (443) port, or every port. A rule that takes only other ports and
            // forwards them to 53 or 443 publishes a server (a WAN port-forward, Docker's -p
            // 8443:443): it diverts nobody's DNS or TLS.
            let dns = Self.dnsPorts.filter { sel.destinationPorts.contains($0) }
            let toDNS = v.ports.map { p in Self.dnsPorts.contains { p.contains($0) } } ?? false
            if !dns.isEmpty || toDNS {
                out.append(redirectFinding(ctx, rr, kind: FindingKind.firewallDNSRedirect, servicePorts: dns.isEmpty ? [53] : dns,
                                           namedByTarget: toDNS, published: dns.isEmpty && !sel.destinationPorts.isAll))
            }
            let tls = sel.destinationPorts.contains(Self.tlsPort)
            let toTLS = v.ports.map { $0.contains(Self.tlsPort) } ?? false
            if tls || toTLS {
                out.append(redirectFinding(ctx, rr, kind: FindingKind.firewallTLSRedirect, servicePorts: [Self.tlsPort],
                                           namedByTarget: toTLS, published: !tls && !sel.destinationPorts.isAll))
            }
        }
        return out
    }

    /// Why the rule's destinations are (or are not) resolvers: each resolver destination with where
    /// it was learned, or the sources that were consulted and did not name any.
    func resolverRole(_ sel: TrafficSelector) -> String {
        guard let dests = sel.destinations, !dests.isEmpty else {
            return "not established: the rule names no destination address, so it takes every address's traffic"
        }
        var found: [String] = []
        for d in dests {
            var sources: [String] = []
            if resolvers.contains(where: { $0.overlaps(d) }) { sources.append("public DoH/DoT resolver list") }
            for a in extraResolvers where a.range.overlaps(d) && !sources.contains(a.source) { sources.append(a.source) }
            if !sources.isEmpty { found.append("\(d.text): \(sources.joined(separator: ", "))") }
        }
        if !found.isEmpty { return "established: " + found.joined(separator: "; ") }
        let names = dests.prefix(3).map(\.text).joined(separator: ", ") + (dests.count > 3 ? " and \(dests.count - 3) more" : "")
        return "not established: nothing shows \(names) to be a resolver (not in this machine's resolv.conf or systemd-resolved, "
            + "not named by a policy, not on the public resolver list, not seen answering DNS in a capture); "
            + "a catch-all NAT of that address is reported at low"
    }

    /// Whether the selector's destinations name a resolver (public, this machine's, or seen answering DNS).
    func namesResolvers(_ sel: TrafficSelector) -> Bool {
        (sel.destinations ?? []).contains { r in resolvers.contains { $0.overlaps(r) } || extraResolvers.contains { $0.range.overlaps(r) } }
    }

    func approved(_ rr: RedirectRule, kind: FindingKind) -> String? {
        let port = rr.targetPort
        let addrs = rr.targetAddresses.compactMap { IPAddress(String($0.split(separator: "/").first ?? "")) }
        if kind == FindingKind.firewallDNSRedirect, !addrs.isEmpty,
           addrs.allSatisfy({ a in policy.approvedResolvers.contains { $0.contains(a) } }) {
            return "approved resolver"
        }
        let candidates: [IPAddress?] = addrs.isEmpty ? [nil] : addrs
        for t in policy.approvedTargets where candidates.allSatisfy({ t.matches(address: $0, port: port) }) {
            return "approved target \(t.text)"
        }
        return nil
    }

    func redirectFinding(_ ctx: RuleContext, _ rr: RedirectRule, kind: FindingKind, servicePorts: [Int], namedByTarget: Bool,
                         published: Bool) -> Finding {
        let sel = rr.selector
        let isDNS = kind == FindingKind.firewallDNSRedirect
        let service = isDNS ? "DNS" : "HTTPS/TLS"
        let target = rr.target(forPort: servicePorts.first)
        let toDoH = sel.destinations.map { d in
            d.contains { r in resolvers.contains { $0.overlaps(r) } || extraResolvers.contains { $0.range.overlaps(r) } }
        }
        // A rule without a port match still targets DNS/TLS when it names resolvers (public ones,
        // or those this machine uses or a capture showed answering DNS).
        let specific = sel.portsNamed || namedByTarget || toDoH == true
        let portsText = sel.portsNamed || namedByTarget
            ? "\(sel.transportText) " + servicePorts.map(String.init).joined(separator: ",")
            : "\(sel.transportText), every port"

        var severity: Severity
        var confidence: Confidence = rr.targetKnown && sel.unknownConditions.isEmpty ? .likely : .possible
        var title: String
        let whereTo: String
        switch rr.statement {
        case .redirect: whereTo = "redirected to port \(rr.targetPort.map(String.init) ?? String(servicePorts.first ?? 53)) on this machine"
        case .tproxy: whereTo = "handed to a transparent proxy on this machine (\(target))"
        default:
            whereTo = rr.targetKnown ? (rr.rewritesToThisMachine ? "rewritten to \(target) on this machine" : "rewritten to \(target)")
                : "rewritten by an iptables \(rr.statement.rawValue.uppercased()) rule whose destination could not be read"
        }
        let scope: String
        if let d = sel.destinations {
            scope = "\(service) to \(d.prefix(3).map(\.text).joined(separator: ", "))\(d.count > 3 ? " and \(d.count - 3) more" : "")"
        } else {
            scope = service
        }
        let remediation: String
        var extra: [(String, SubjectValue)] = [("statement", .string(rr.statement.rawValue)), ("to", .string(target))]
        // Without a port condition, the rule diverts a resolver's DNS only when the evidence shows a
        // destination to be a resolver: say which evidence, or that there is none.
        if !sel.portsNamed && !namedByTarget {
            extra.append(("resolver_role", .string(resolverRole(sel))))
        }
        let fromWAN = rr.wanInterfaces.map { (interfaces: $0, rules: rr.wanEvidence) }
        // Traffic already addressed to this machine's loopback (a local stub such as Docker's
        // embedded resolver on 127.0.0.11) moved to another port of the same machine: nobody's
        // DNS leaves for elsewhere.
        let loopbackRemap = rr.rewritesToThisMachine && !(sel.destinations ?? []).isEmpty && (sel.destinations ?? []).allSatisfy(\.isLoopback)
        if loopbackRemap {
            severity = .info
            title = "\(scope) (\(portsText)) to this machine's loopback is moved to \(target) on the same machine (a local service's port, not interception)"
            remediation = "Nothing to do: the traffic was already addressed to a service on this machine (a container's embedded resolver, a local stub); remove the rule only if that service is not meant to run (\(ctx.deleteCommand))."
        } else if sel.localDestinationOnly || published {
            severity = .info
            let ports = sel.destinationPorts.isAll ? "Every port" : "Port \(sel.destinationPorts) (\(sel.transportText))"
            let what = sel.localDestinationOnly ? "\(ports) of this machine" : "\(ports) \(Self.hookPhrase(ctx.hook))"
            title = "\(what) is forwarded to \(target) (a published service, not interception)"
            remediation = "Nothing to do if this service is meant to be published; otherwise remove the port publication (\(ctx.deleteCommand))."
        } else if let fromWAN {
            severity = .info
            let ifaces = fromWAN.interfaces.map { "\"\($0)\"" }.joined(separator: ", ")
            let plural = fromWAN.interfaces.count > 1 ? "s" : ""
            title = "\(scope) (\(portsText)) arriving on the WAN interface\(plural) \(ifaces) is forwarded to \(target) (a published service, not interception: source NAT sends traffic out of \(ifaces), so this takes only traffic from the internet addressed to this router)"
            remediation = "Nothing to do if this service is meant to be published on the WAN address; otherwise remove the port publication (\(ctx.deleteCommand))."
            extra.append(("wan_interfaces", .string(fromWAN.interfaces.joined(separator: ","))))
            extra.append(("wan_evidence", .string(fromWAN.rules.joined(separator: "; "))))
        } else if !specific {
            severity = .low
            confidence = .possible
            let to = sel.destinations.map { d in " to " + d.prefix(3).map(\.text).joined(separator: ", ") } ?? ""
            title = "All traffic\(to) \(Self.hookPhrase(ctx.hook)) that matches this rule, \(service) included, is \(whereTo)"
            remediation = "Check that this catch-all NAT rule (a DMZ host, a lab setup) is intended; if not, remove it (\(ctx.deleteCommand))."
        } else {
            if isDNS {
                severity = rr.rewritesToThisMachine || !rr.targetKnown && rr.statement != .dnat ? .medium : .high
            } else {
                severity = .high
            }
            if let hit = toDoH, !hit { severity = Self.lower(severity) }
            title = "\(scope) (\(portsText)) \(Self.hookPhrase(ctx.hook)) is \(whereTo)"
            if ctx.hook == "prerouting" { title += isDNS ? " — hijacks the DNS of the machines behind it" : " — intercepts their TLS" }
            if ctx.hook == "output" { title += isDNS ? " — hijacks this machine's own DNS" : " — intercepts this machine's TLS" }
            remediation = isDNS
                ? "If nobody here added this rule on purpose, remove it (\(ctx.deleteCommand)) and find out how it got there; if \(target) is your own resolver, list it under approved_resolvers in the policy file."
                : "A transparent TLS proxy can only read traffic with a certificate the clients trust: check the trust stores for an unexpected root. Remove the rule (\(ctx.deleteCommand)) unless it is a sanctioned inspection proxy, then list it under [firewall] approved_targets."
        }
        if let why = approved(rr, kind: kind) {
            severity = .info
            title = "Approved by policy (\(why)): " + title
        }
        return Finding(kind: kind, severity: severity, confidence: confidence, title: title,
                       subject: ctx.subject(target: target), evidence: [ctx.evidence(sel, extra: extra)],
                       remediation: severity == .info && title.hasPrefix("Approved") ? "Approved by the policy\(policy.source.map { " (\($0))" } ?? ""); nothing to do." : remediation)
    }

    // MARK: blocks

    func blockFinding(_ ctx: RuleContext) -> Finding? {
        let rule = ctx.rule
        guard ctx.hook != "input" else { return nil }  // inbound to this machine: protects a local service
        var verdict: String?
        for e in rule.expressions {
            switch e {
            case .verdict(.drop): verdict = "dropped"
            case .verdict(.reject): verdict = "rejected"
            case .xt(type: "target", "REJECT"): verdict = "rejected"
            case .xt(type: "target", "DROP"): verdict = "dropped"
            default: continue
            }
            break
        }
        guard let verdict else { return nil }
        let sel = TrafficSelector(ctx.reach.inherited + rule.expressions, sets: { ctx.set($0) })
        guard sel.allowsTCPorUDP, !sel.localDestinationOnly else { return nil }
        let dotExplicit = sel.portsNamed && sel.destinationPorts.contains(Self.dotPort)
        let dotImplicit = !sel.portsNamed && !sel.destinationPorts.isAll && sel.destinationPorts.contains(Self.dotPort)
        let publicResolvers = (sel.destinations ?? []).filter { r in resolvers.contains { $0.overlaps(r) } }
        let ownResolvers = (sel.destinations ?? []).filter { r in !publicResolvers.contains(r) && extraResolvers.contains { $0.range.overlaps(r) } }
        let dohResolvers = publicResolvers + ownResolvers
        let doh = !dohResolvers.isEmpty && (sel.destinationPorts.isAll || sel.destinationPorts.contains(Self.tlsPort))
        guard dotExplicit || dotImplicit || doh else { return nil }

        var severity: Severity = dotImplicit && !doh ? .low : .medium
        var confidence: Confidence = sel.unknownConditions.isEmpty ? .likely : .possible
        if dotImplicit && !doh { confidence = .possible }
        let target: String
        var title: String
        if doh {
            let first = dohResolvers[0].text
            let port = sel.destinationPorts.isAll ? nil : (sel.portsNamed && sel.destinationPorts.contains(Self.tlsPort) ? "443" : nil)
            target = port.map { (first.contains(":") ? "[\(first)]" : first) + ":" + $0 } ?? first
            let names = dohResolvers.prefix(3).map(\.text).joined(separator: ", ") + (dohResolvers.count > 3 ? " and \(dohResolvers.count - 3) more" : "")
            let plural = dohResolvers.count > 1 ? "s" : ""
            if ownResolvers.isEmpty {
                title = "Traffic to public DoH/DoT resolver\(plural) \(names)"
            } else {
                let sources = Set(ownResolvers.flatMap { r in extraResolvers.filter { $0.range.overlaps(r) }.map(\.source) }).sorted()
                title = "Traffic to resolver\(plural) \(names) (\(publicResolvers.isEmpty ? "" : "public list, ")\(sources.joined(separator: ", ")))"
            }
            title = title
                + (sel.destinationPorts.isAll ? "" : " (port \(sel.destinationPorts.description))")
                + " \(Self.hookPhrase(ctx.hook)) is \(verdict)"
        } else {
            if let d = sel.destinations, d.count == 1 {
                target = (d[0].text.contains(":") ? "[\(d[0].text)]" : d[0].text) + ":853"
            } else {
                target = ":853"
            }
            let transport = sel.transportText == "udp" ? "DNS-over-QUIC (udp 853)" : (sel.transportText == "tcp" ? "DNS-over-TLS (tcp 853)" : "DNS-over-TLS/QUIC (tcp+udp 853)")
            title = dotImplicit
                ? "\(transport) \(Self.hookPhrase(ctx.hook)) is \(verdict) along with every port this rule does not exempt"
                : "\(transport) \(Self.hookPhrase(ctx.hook)) is \(verdict)"
        }
        title += " — clients cannot use encrypted DNS and fall back to plaintext that can be read and rewritten"
        var remediation = "If this block is deliberate (an enterprise that runs its own resolvers), set approve_encrypted_dns_blocks = true under [firewall] in the policy file; otherwise remove it (\(ctx.deleteCommand))."
        if policy.approveEncryptedDNSBlocks {
            severity = .info
            confidence = .likely
            title = "Approved by policy (encrypted-DNS blocks allowed): " + title
            remediation = "Approved by the policy\(policy.source.map { " (\($0))" } ?? ""); nothing to do."
        }
        var extra: [(String, SubjectValue)] = [("statement", .string(verdict == "dropped" ? "drop" : "reject"))]
        if doh {
            // Which resolvers the rule blocks, and where each was learned.
            var sources: [String] = []
            if !publicResolvers.isEmpty { sources.append("public resolver list") }
            for r in ownResolvers {
                for a in extraResolvers where a.range.overlaps(r) && !sources.contains(a.source) { sources.append(a.source) }
            }
            extra.append(("resolvers", .string(dohResolvers.map(\.text).joined(separator: ","))))
            extra.append(("resolver_source", .string(sources.joined(separator: "; "))))
        }
        return Finding(kind: FindingKind.firewallEncryptedDNSBlock, severity: severity, confidence: confidence, title: title,
                       subject: ctx.subject(target: target), evidence: [ctx.evidence(sel, extra: extra)], remediation: remediation)
    }
}
