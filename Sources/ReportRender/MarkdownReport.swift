import Findings

/// `--format markdown`: for a ticket, a wiki page or a pull-request comment (GitHub-flavoured:
/// tables). Every piece of text from the input is escaped, so a hostile name or detail can
/// neither break the layout nor inject HTML.
public enum MarkdownReportRenderer {
    public static func render(_ report: Report) -> String {
        var out = "# dnsaudit report\n\n"
        out += "Generated \(esc(report.generatedAt)) by dnsaudit \(esc(report.toolVersion)) (schema `\(Report.schema)`).\n\n"
        let verdict = ReportText.verdict(report)
        let icon: String
        switch verdict.worst {
        case nil: icon = "✅"
        case let w? where w >= .high: icon = "🛑"
        case let w? where w >= .medium: icon = "⚠️"
        default: icon = "ℹ️"
        }
        out += "> \(icon) **Verdict:** \(esc(verdict.headline))\n\n"

        if !report.inputs.isEmpty {
            out += "## Inputs\n\n| kind | name | details |\n|---|---|---|\n"
            for i in report.inputs {
                let facts = i.facts.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
                out += "| \(cell(i.kind)) | \(cell(i.name)) | \(cell(facts)) |\n"
            }
            out += "\n"
        }

        let s = report.summary
        out += "## Summary\n\n| severity | findings |\n|---|---:|\n"
        for (sev, n) in report.findingsBySeverity { out += "| \(sev.rawValue) | \(n) |\n" }
        out += "\n| counter | value |\n|---|---:|\n"
        for (k, v) in [("packets", s.packets), ("DNS messages", s.dnsMessages), ("DNS transactions", s.dnsTransactions),
                       ("unanswered queries", s.unansweredQueries), ("TLS ClientHellos", s.tlsClientHellos),
                       ("malformed", s.malformed), ("dropped", s.dropped)] {
            out += "| \(k) | \(v) |\n"
        }
        out += "\n"

        let findings = report.sortedFindings
        out += "## Findings\n\n"
        if findings.isEmpty { out += "No findings.\n\n" }
        for (n, f) in findings.enumerated() {
            out += "### \(n + 1). \(f.severity.rawValue.uppercased()) — \(esc(f.kindName)): \(esc(f.title))\n\n"
            out += "| field | value |\n|---|---|\n"
            out += "| id | `\(f.id)` |\n"
            out += "| kind | \(cell(f.kindName)) |\n"
            out += "| severity | \(f.severity.rawValue) |\n"
            out += "| confidence | \(f.confidence.rawValue) |\n"
            for (k, v) in f.subject { out += "| \(cell(k)) | \(cell(v.description)) |\n" }
            out += "\n**Evidence**\n\n"
            if f.evidence.isEmpty { out += "- (none recorded)\n" }
            for e in f.evidence {
                out += "- [\(esc(ReportText.evidenceWhere(e)))] \(esc(e.detail))\n"
                for (k, v) in e.facts { out += "  - \(esc(k)): \(esc(v.description))\n" }
            }
            out += "\n**What to do:** \(esc(f.remediation))\n\n"
        }

        if !s.resolvers.isEmpty {
            out += "## Resolvers seen\n\n"
            for r in s.resolvers { out += "- \(esc(r))\n" }
            out += "\n"
        }
        if !report.notes.isEmpty {
            out += "## Notes\n\n"
            for n in report.notes { out += "- \(esc(n))\n" }
            out += "\n"
        }
        return out
    }

    /// Inline text: Markdown punctuation is backslash-escaped, `&` becomes an entity, and line
    /// breaks become spaces (one item stays one line).
    static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for c in s.unicodeScalars {
            switch c {
            case "\\", "`", "*", "_", "{", "}", "[", "]", "<", ">", "(", ")", "#", "+", "!", "|", "~", "$", "=":
                out += "\\"
                out.unicodeScalars.append(c)
            case "&": out += "&amp;"
            case "\n", "\r", "\u{2028}", "\u{2029}": out += " "
            case _ where c.value < 0x20 || c.value == 0x7f: out += " "
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A table cell: escaped, never empty.
    static func cell(_ s: String) -> String {
        let e = esc(s)
        return e.isEmpty ? " " : e
    }
}
