import ArgumentParser
import AuditRun
import Findings
import FirewallAudit
import FirewallModel
import FirewallSource

#if canImport(Glibc)
import Glibc
#endif

/// `dnsaudit rules`: audit the live nftables / iptables ruleset, or a saved one, for rules that
/// hijack DNS, intercept TLS or block encrypted DNS.
struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit nftables/iptables rules for DNS hijacking, TLS interception and encrypted-DNS blocks.",
        discussion: """
        Without --file: the live ruleset, read through libnftables (needs root or CAP_NET_ADMIN), plus \
        the iptables-legacy tables if the kernel has any. With --file: a saved 'nft list ruleset' text \
        file (checked by nft itself in a private user + network namespace), 'nft -j list ruleset' JSON, \
        or iptables-save output; no root needed. --policy marks approved resolvers and NAT targets.
        """)

    @Option(name: .long, help: "A saved ruleset: 'nft list ruleset' text, 'nft -j list ruleset' JSON, or iptables-save output.")
    var file: String?
    @OptionGroup var report: ReportOptions
    @Option(name: .long, help: "Policy file (TOML): approved resolvers and NAT targets (see rules/policy.example.toml).")
    var policy: String?
    @Option(name: .customLong("internal-load-in-namespace"), help: .hidden)
    var internalLoad: String?

    func run() throws {
        if let path = internalLoad {
            let r = NamespaceChild.run(file: path)
            try writeOutput(r.stdout, to: nil)
            if !r.stderr.isEmpty { writeStderr(r.stderr.hasSuffix("\n") ? r.stderr : r.stderr + "\n") }
            throw ExitCode(r.status)
        }
        try report.validateFormat()
        let firewallPolicy = try loadPolicy(policy)

        let read: RulesetReadResult
        if let file {
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
        let own = file == nil ? machineResolvers() : []
        let result = FirewallAuditor(policy: firewallPolicy, extraResolvers: own).audit(inputs)
        var notes = read.notes + result.notes
        if file == nil && read.rulesets.allSatisfy({ $0.ruleset.isEmpty }) {
            notes.append("The live ruleset is empty: no nftables tables and no iptables-legacy tables, so nothing rewrites or blocks traffic here")
        }
        if let p = policy { notes.append("policy \(p): \(firewallPolicy.approvedResolvers.count) approved resolver(s), \(firewallPolicy.approvedTargets.count) approved target(s)\(firewallPolicy.approveEncryptedDNSBlocks ? ", encrypted-DNS blocks approved" : "")") }

        var summary = ReportSummary()
        summary.counters = [("rules", result.totalRules), ("reachable_rules", result.reachableRules), ("redirect_rules", result.redirects.count)]
        let rep = Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(),
                         inputs: read.rulesets.map(rulesetInput), summary: summary, findings: result.findings, notes: notes)
        try emit(rep, report)
        throw ExitCode(rep.exitStatus(failOn: report.failOn, failOnInconclusive: report.failOnInconclusive))
    }
}

