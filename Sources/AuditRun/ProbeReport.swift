import Findings

extension ProbeOutcome {
    /// The `probe` command's report: the outcome's findings, notes, inputs and inconclusive
    /// reasons, with the resolvers checked and the counts (references, resolvers, targets) as its summary.
    public func report() -> Report {
        var summary = ReportSummary()
        summary.resolvers = config.resolvers.map(\.host)
        summary.counters = [("references", config.references.count), ("resolvers_checked", config.resolvers.count),
                            ("targets", config.targets.count)]
        var rep = Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(), inputs: inputs, summary: summary,
                         findings: findings, notes: notes)
        rep.inconclusive = inconclusive
        return rep
    }
}
