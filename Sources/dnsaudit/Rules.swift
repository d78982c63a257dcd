import ArgumentParser
import AuditRun
import Findings
import FirewallSource

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
        let rep = try RulesRun.run(RulesRequest(file: file, policyPath: policy))
        try emit(rep, report)
        throw ExitCode(rep.exitStatus(failOn: report.failOn, failOnInconclusive: report.failOnInconclusive))
    }
}

