import DNSAnalysis
import Findings
import FirewallAudit
import NetTypes

/// `dns.unapproved-resolver`: plaintext DNS (port 53) to a resolver that the policy's
/// `approved_resolvers` does not list. Only judged when the policy lists some: without a list,
/// every resolver is as good as another. Loopback resolvers (a local cache) are not judged.
public enum UnapprovedResolvers {
    public static func findings(paths: DNSPathTally, policy: FirewallPolicy, inputName: (Int) -> String?) -> [Finding] {
        guard !policy.approvedResolvers.isEmpty else { return [] }
        var byResolver: [IPAddress: (queries: Int, clients: Set<IPAddress>, frame: UInt64, input: Int, ts: Timestamp)] = [:]
        for (p, c) in paths.paths where p.port == 53 {
            if policy.approvedResolvers.contains(where: { $0.contains(p.resolver) }) { continue }
            if p.resolver.isLoopback { continue }
            var e = byResolver[p.resolver] ?? (0, [], c.firstFrame, c.input, c.firstTS)
            e.queries += c.queries
            e.clients.insert(p.client)
            if c.firstFrame < e.frame { e.frame = c.firstFrame; e.ts = c.firstTS }
            byResolver[p.resolver] = e
        }
        let approved = policy.approvedResolvers.map(\.text).joined(separator: ", ")
        return byResolver.sorted { $0.value.frame < $1.value.frame }.map { resolver, e in
            Finding(
                kind: FindingKind.dnsUnapprovedResolver, severity: .medium, confidence: .confirmed,
                title: "\(e.queries) plaintext DNS quer\(e.queries == 1 ? "y" : "ies") went to \(resolver), which the policy does not approve",
                subject: [("resolver", .string(resolver.description)), ("transport", .string("udp/tcp")), ("port", .int(53))],
                evidence: [Evidence(source: .capture, input: inputName(e.input), frames: [e.frame],
                                    detail: "\(e.queries) queries from \(e.clients.count) client(s) (\(e.clients.sorted().prefix(4).map(\.description).joined(separator: ", "))); approved resolvers: \(approved)",
                                    facts: [("time", .string(e.ts.description)), ("queries", .int(e.queries)), ("clients", .int(e.clients.count))])],
                remediation: "Find which program or device sends DNS to \(resolver) (a hard-coded resolver, malware, or a misconfigured client) "
                    + "and point it at an approved resolver; block outbound port 53 except to them.")
        }
    }
}
