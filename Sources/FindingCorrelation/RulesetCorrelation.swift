import DNSAnalysis
import Findings
import FirewallAudit
import NetTypes

/// Ties a firewall's redirect rules to the DNS a capture holds (`analyze --ruleset`).
///
/// For each `firewall.dns-redirect` finding, the capture's queries that the rule would take
/// (transport, destination port and destination address inside the rule's selector, and not
/// already addressed to the rule's target) are counted and named as evidence. When the capture
/// also holds DNS findings about those same resolvers (an injection, unsolicited responses, answers
/// that disagree with the references), the rule and the forged answers are two independent signals
/// of one hijack: both become `confirmed`, each names the other in `related` and in an evidence
/// line, and every finding keeps its own kind — a SIEM rule on `dns.answer-mismatch` still sees
/// each forged name, per qname, qtype, resolver and transport.
public enum RulesetCorrelation {
    /// DNS finding kinds that a redirect to another resolver explains.
    public static let explainedKinds: Set<FindingKind> = [
        .dnsInjection, .dnsUnsolicitedResponse, .dnsAnswerMismatch, .dnsNXDomainRewrite, .dnsResolverIdentityMismatch,
    ]

    public struct Result: Sendable {
        public var findings: [Finding]
        public var notes: [String]
    }

    public static func correlate(firewall: [Finding], redirects: [RedirectRule], capture: [Finding],
                                 paths: DNSPathTally, inputName: (Int) -> String?) -> Result {
        var rules: [Finding] = []
        var dns = capture
        var notes: [String] = []
        for var f in firewall {
            guard f.kind == FindingKind.firewallDNSRedirect, let rule = rule(for: f, in: redirects) else {
                rules.append(f)
                continue
            }
            // The capture's queries this rule takes.
            var matched: [(DNSPathTally.Path, DNSPathTally.Count)] = []
            for (p, c) in paths.paths {
                let proto = p.transport == .tcp ? "tcp" : "udp"
                guard rule.applies(toPort: p.port, proto: proto), rule.applies(toDestination: p.resolver.description) else { continue }
                if rule.targetAddresses.contains(p.resolver.description) { continue }  // already goes there
                matched.append((p, c))
            }
            let ruleName = describe(f)
            guard !matched.isEmpty else {
                // The queries may not be in the capture under their original address (an output-hook
                // redirect sends them to loopback, after the capture point), but the answers are: DNS
                // findings about a resolver the rule names by address confirm the rule all the same.
                let named = dns.indices.filter { i in
                    explainedKinds.contains(dns[i].kind) && rule.selector.destinations != nil
                        && resolverOf(dns[i]).map { rule.applies(toDestination: $0) && !rule.targetAddresses.contains($0) } == true
                        && (dns[i].subjectValue("transport").map { rule.selector.allows(protocol: "\($0)") } ?? true)
                }
                if named.isEmpty {
                    notes.append("\(ruleName): the capture holds no DNS query that this rule would take")
                    rules.append(f)
                    continue
                }
                let target = f.subject.first { $0.0 == "target" }.map { "\($0.1)" } ?? rule.target()
                confirm(&f, with: named, in: &dns, ruleName: ruleName, target: target, input: nil)
                rules.append(f)
                continue
            }
            matched.sort { $0.1.firstFrame < $1.1.firstFrame }
            let total = matched.reduce(0) { $0 + $1.1.queries }
            var perResolver: [String: Int] = [:]
            var resolverOrder: [String] = []
            var clients = Set<IPAddress>()
            for (p, c) in matched {
                let key = "\(p.resolver.isV6 ? "[\(p.resolver)]" : p.resolver.description):\(p.port)/\(p.transport == .tcp ? "tcp" : "udp")"
                if perResolver[key] == nil { resolverOrder.append(key) }
                perResolver[key, default: 0] += c.queries
                clients.insert(p.client)
            }
            let resolverText = resolverOrder.prefix(6).map { "\($0) ×\(perResolver[$0] ?? 0)" }.joined(separator: ", ")
                + (resolverOrder.count > 6 ? " and \(resolverOrder.count - 6) more" : "")
            let target = f.subject.first { $0.0 == "target" }.map { "\($0.1)" } ?? rule.target()
            f.evidence.append(Evidence(
                source: .capture, input: inputName(matched[0].1.input), frames: matched.prefix(8).map { $0.1.firstFrame },
                detail: "the rule takes \(total) quer\(total == 1 ? "y" : "ies") in the capture, from \(clients.count) client\(clients.count == 1 ? "" : "s"), "
                    + "addressed to \(resolverText); it sends them to \(target)",
                facts: [("time", .string(matched[0].1.firstTS.description)),
                        ("matched_queries", .int(total)), ("matched_clients", .int(clients.count))]))
            // DNS findings about the same resolvers (and transport): the answers this rule produced.
            let taken = Set(matched.map { "\($0.0.resolver.description)|\($0.0.transport == .tcp ? "tcp" : "udp")" })
            var explained: [Int] = []
            for (i, d) in dns.enumerated() where explainedKinds.contains(d.kind) {
                guard let r = resolverOf(d) else { continue }
                let transports = d.subjectValue("transport").map { ["\($0)"] } ?? ["udp", "tcp"]
                guard transports.contains(where: { taken.contains("\(r)|\($0)") }) else { continue }
                explained.append(i)
            }
            if !explained.isEmpty {
                confirm(&f, with: explained, in: &dns, ruleName: ruleName, target: target, input: inputName(matched[0].1.input))
            } else {
                f.title += " — \(total) captured quer\(total == 1 ? "y matches" : "ies match") it"
            }
            rules.append(f)
        }
        return Result(findings: rules + dns, notes: notes)
    }

    /// The rule finding and the DNS findings it explains confirm each other: both `confirmed`,
    /// each names the other in `related` and in an evidence line; the rule takes the highest severity.
    static func confirm(_ f: inout Finding, with explained: [Int], in dns: inout [Finding], ruleName: String, target: String, input: String?) {
        let ruleID = f.id
        f.confidence = .confirmed
        var kinds: [String: Int] = [:]
        for i in explained {
            let d = dns[i]
            if d.severity > f.severity { f.severity = d.severity }
            kinds[d.kind.rawValue, default: 0] += 1
            f.relate(to: d.id)
            dns[i].confidence = .confirmed
            dns[i].relate(to: ruleID)
            dns[i].evidence.append(Evidence(
                source: .ruleset, input: f.evidence.first?.input,
                detail: "\(ruleName) diverts DNS sent to \(resolverOf(d) ?? "this resolver") to \(target): this answer came from there (finding \(ruleID))",
                facts: [("related_rule", .string(ruleID)), ("to", .string(target))]))
        }
        let summary = kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        f.evidence.append(Evidence(
            source: .capture, input: input,
            detail: "the capture shows its effect: \(summary) about the resolvers it diverts (see related findings)",
            facts: [("related_findings", .int(explained.count))]))
        f.title += " — confirmed: the capture shows its effect (\(kinds.keys.sorted().joined(separator: ", ")))"
    }

    /// The redirect rule a firewall finding was made from (same family, table, chain and handle).
    static func rule(for f: Finding, in redirects: [RedirectRule]) -> RedirectRule? {
        func value(_ k: String) -> String? { f.subject.first { $0.0 == k }.map { "\($0.1)" } }
        let family = value("family"), table = value("table"), chain = value("chain")
        let handle = value("handle"), position = value("rule")
        return redirects.first { r in
            guard r.family == family && r.table == table && r.chain == chain else { return false }
            if let h = r.handle { return handle == String(h) }
            return position == String(r.position) || handle == String(r.position)
        }
    }

    static func resolverOf(_ d: Finding) -> String? {
        if let r = d.subject.first(where: { $0.0 == "resolver" }) { return "\(r.1)" }
        return nil
    }

    static func describe(_ f: Finding) -> String {
        func value(_ k: String) -> String { f.subject.first { $0.0 == k }.map { "\($0.1)" } ?? "?" }
        return "rule \(value("family")) \(value("table")) \(value("chain")) handle \(value("handle"))"
    }
}
