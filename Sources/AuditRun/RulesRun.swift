import Findings
import FirewallAudit
import FirewallSource

/// What `rules` is asked to do: a saved ruleset file, or the live ruleset (nil), and a policy file.
public struct RulesRequest: Sendable {
    /// A saved ruleset (nft text or JSON, iptables-save); nil = the live ruleset.
    public var file: String?
    public var policyPath: String?

    public init(file: String? = nil, policyPath: String? = nil) {
        self.file = file
        self.policyPath = policyPath
    }
}

/// `rules`: the firewall audit of a saved or the live ruleset, in one report.
public enum RulesRun {
    public static func run(_ request: RulesRequest) throws -> Report {
        let firewallPolicy = try loadPolicy(request.policyPath)

        let read: RulesetReadResult
        if let file = request.file {
            read = try readSavedRuleset(file)
        } else {
            do {
                read = try LiveRulesetReader.read()
            } catch let e as RulesetSourceError {
                throw RunFailure(e.message)
            }
        }

        let inputs = read.rulesets.map { RulesetInput(ruleset: $0.ruleset, name: $0.name) }
        // Live: this machine's own resolvers count as resolvers whose encrypted ports must stay open.
        let own = request.file == nil ? machineResolvers() : []
        let result = FirewallAuditor(policy: firewallPolicy, extraResolvers: own).audit(inputs)
        var notes = read.notes + result.notes
        if request.file == nil && read.rulesets.allSatisfy({ $0.ruleset.isEmpty }) {
            notes.append("The live ruleset is empty: no nftables tables and no iptables-legacy tables, so nothing rewrites or blocks traffic here")
        }
        if let p = request.policyPath {
            notes.append("policy \(p): \(firewallPolicy.approvedResolvers.count) approved resolver(s), \(firewallPolicy.approvedTargets.count) approved target(s)\(firewallPolicy.approveEncryptedDNSBlocks ? ", encrypted-DNS blocks approved" : "")")
        }

        var summary = ReportSummary()
        summary.counters = [("rules", result.totalRules), ("reachable_rules", result.reachableRules), ("redirect_rules", result.redirects.count)]
        return Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(),
                      inputs: read.rulesets.map(rulesetInput), summary: summary, findings: result.findings, notes: notes)
    }
}
