import Findings

/// `--format text`: what a person reads in a terminal. Colour only when asked (on a TTY).
public enum TextReportRenderer {
    public static func render(_ report: Report, color: Bool) -> String {
        var out = ""
        func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        func sevLabel(_ s: Severity) -> String {
            let label = s.rawValue.uppercased()
            let padded = label + String(repeating: " ", count: max(0, 8 - label.count))
            switch s {
            case .critical: return paint(padded, "1;97;41")
            case .high: return paint(padded, "1;31")
            case .medium: return paint(padded, "1;33")
            case .low: return paint(padded, "36")
            case .info: return paint(padded, "2")
            }
        }

        out += paint("dnsaudit \(report.toolVersion)", "1") + " — report generated \(report.generatedAt)\n"
        for i in report.inputs {
            var line = "  \(i.kind): \(i.name)"
            let facts = i.facts.map { "\($0.0.replacingUnderscores) \($0.1)" }
            if !facts.isEmpty { line += " (" + facts.joined(separator: ", ") + ")" }
            out += line + "\n"
        }
        out += "\n"

        let findings = report.sortedFindings
        let verdict = ReportText.verdict(report)
        if let worst = verdict.worst {
            out += paint("VERDICT: " + verdict.headline, worst >= .high ? "1;31" : (worst >= .medium ? "1;33" : "1")) + "\n"
        } else if report.inconclusive.isEmpty {
            out += paint("VERDICT: no findings", "1;32") + " — nothing in this input shows DNS or TLS tampering.\n"
        } else {
            out += paint("VERDICT: inconclusive", "1;35") + " — no findings, but not everything could be examined:\n"
            for r in report.inconclusive { out += "  - \(r)\n" }
        }

        for (n, f) in findings.enumerated() {
            out += "\n" + sevLabel(f.severity) + " " + paint(f.kindName, "1") + "  [\(f.confidence.rawValue)]  #\(n + 1) id \(f.id)\n"
            out += "  " + f.title + "\n"
            let subject = f.subject.map { "\($0.0)=\($0.1)" }.joined(separator: "  ")
            if !subject.isEmpty { out += "  " + paint(subject, "2") + "\n" }
            out += "  Evidence:\n"
            for e in f.evidence {
                var where_ = e.source.rawValue
                if let i = e.input { where_ += " \(i)" }
                if !e.frames.isEmpty { where_ += " frame" + (e.frames.count > 1 ? "s " : " ") + e.frames.map(String.init).joined(separator: ", ") }
                out += "    - [\(where_)] \(e.detail)\n"
            }
            out += "  What to do: \(f.remediation)\n"
        }

        let s = report.summary
        out += "\n" + paint("Summary", "1") + "\n"
        out += "  packets \(s.packets) · DNS messages \(s.dnsMessages) · transactions \(s.dnsTransactions)"
            + " · unanswered queries \(s.unansweredQueries) · TLS ClientHellos \(s.tlsClientHellos)"
            + " · malformed \(s.malformed) · dropped \(s.dropped)\n"
        if !s.resolvers.isEmpty {
            let shown = s.resolvers.prefix(12).joined(separator: ", ")
            out += "  resolvers asked: \(shown)" + (s.resolvers.count > 12 ? " (+\(s.resolvers.count - 12) more)" : "") + "\n"
        }
        let anomalies = s.counters.filter { ($0.0.hasPrefix("malformed_") || $0.0.hasPrefix("dns_anomaly_") || $0.0.hasPrefix("skipped_") || $0.0.hasPrefix("link_type_")) && $0.1 > 0 }
        if !anomalies.isEmpty {
            out += "  counted and skipped: " + anomalies.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + "\n"
        }
        if !report.notes.isEmpty {
            out += "\n" + paint("Notes", "1") + "\n"
            for n in report.notes { out += "  - \(n)\n" }
        }
        return out
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}
