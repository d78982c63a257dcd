import Findings

/// `--format html`: one self-contained page (the one a manager opens): inline CSS, no scripts,
/// no external assets (a Content-Security-Policy says so), every piece of text HTML-escaped.
/// Verdict banner, summary counts, findings most severe first with subject and evidence,
/// resolvers and inputs seen, notes and counters.
public enum HTMLReportRenderer {
    public static func render(_ report: Report) -> String {
        let verdict = ReportText.verdict(report)
        let bannerClass: String
        switch verdict.worst {
        case nil: bannerClass = "ok"
        case let w?: bannerClass = w >= .medium ? "sev-\(w.rawValue)" : "minor"
        }
        let label: String
        switch verdict.worst {
        case nil: label = report.verdict == "inconclusive" ? "Inconclusive" : "No tampering found"
        case let w?: label = w >= .medium ? "Tampering evidence found" : "Only informational findings"
        }
        // The banner's second line adds what the first does not say (the counts, the reasons).
        let bannerDetail = Self.bannerDetail(report)
        var h = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
        <meta name="generator" content="dnsaudit \(esc(report.toolVersion))">
        <title>dnsaudit report — \(esc(report.generatedAt))</title>
        <style>\(css)\(HTMLPictures.css)</style>
        </head>
        <body>
        <header>
        <h1>dnsaudit report</h1>
        <p class="meta">Generated \(esc(report.generatedAt)) by dnsaudit \(esc(report.toolVersion)) · schema <code>\(esc(Report.schema))</code></p>
        </header>
        <section class="verdict \(bannerClass)" role="status">
        <strong>\(label)</strong>
        <span>\(bannerDetail)</span>
        </section>

        """

        // Summary counts.
        h += "<section><h2>Summary</h2>\n<div class=\"cards\">\n"
        for (s, n) in report.findingsBySeverity {
            h += "<div class=\"card sev-\(s.rawValue)\(n == 0 ? " zero" : "")\"><span class=\"n\">\(n)</span><span class=\"l\">\(s.rawValue)</span></div>\n"
        }
        h += "</div>\n"
        let s = report.summary
        // Packet counts only when packets were read (a capture or a live window): a ruleset-only
        // or probe-only run has none to show.
        let sawTraffic = report.inputs.contains { $0.kind == "capture" || $0.kind == "live" } || s.packets > 0
        if sawTraffic {
            h += "<table class=\"kv\"><tbody>\n"
            for (k, v) in [("Packets", s.packets), ("DNS messages", s.dnsMessages), ("DNS transactions", s.dnsTransactions),
                           ("Unanswered queries", s.unansweredQueries), ("TLS ClientHellos", s.tlsClientHellos),
                           ("Resolvers seen", s.resolvers.count), ("Malformed", s.malformed), ("Dropped", s.dropped)] {
                h += "<tr><th>\(k)</th><td>\(v)</td></tr>\n"
            }
            h += "</tbody></table>\n"
        }
        h += "</section>\n"

        // Findings.
        let findings = report.sortedFindings
        h += "<section><h2>Findings (\(findings.count))</h2>\n"
        if findings.isEmpty { h += "<p class=\"none\">No findings.</p>\n" }
        for (n, f) in findings.enumerated() {
            h += "<article class=\"finding sev-\(f.severity.rawValue)\" id=\"f-\(f.id)\">\n"
            h += "<h3><span class=\"badge sev-\(f.severity.rawValue)\">\(f.severity.rawValue.uppercased())</span> "
            h += "<span class=\"num\">#\(n + 1)</span> \(esc(f.title))</h3>\n"
            h += "<p class=\"meta\"><code>\(esc(f.kindName))</code> · confidence <b>\(esc(f.confidence.rawValue))</b> · id <code>\(esc(f.id))</code></p>\n"
            h += "<p class=\"kinddesc\">\(esc(ReportText.describe(kind: f.kindName)))</p>\n"
            if !f.subject.isEmpty {
                h += "<table class=\"kv subject\"><caption>Subject</caption><tbody>\n"
                for (k, v) in f.subject { h += "<tr><th>\(esc(k))</th><td>\(esc(v.description))</td></tr>\n" }
                h += "</tbody></table>\n"
            }
            if let pic = HTMLPictures.timeline(f) { h += pic }
            if let pic = HTMLPictures.pathSketch(f, report) { h += pic }
            h += "<h4>Evidence</h4>\n<ol class=\"evidence\">\n"
            for e in f.evidence {
                h += "<li><span class=\"where\">\(esc(ReportText.evidenceWhere(e)))</span> \(rich(e.detail))"
                if !e.facts.isEmpty {
                    h += "\n<dl>"
                    for (k, v) in e.facts { h += "<dt>\(esc(k))</dt><dd>\(esc(Self.factText(k, v)))</dd>" }
                    h += "</dl>"
                }
                h += "</li>\n"
            }
            if f.evidence.isEmpty { h += "<li>(none recorded)</li>\n" }
            h += "</ol>\n"
            h += "<p class=\"fix\"><b>What to do:</b> \(rich(f.remediation))</p>\n"
            h += "</article>\n"
        }
        h += "</section>\n"

        // Resolvers (when traffic was read) and inputs.
        if sawTraffic || !s.resolvers.isEmpty {
            h += "<section><h2>Resolvers seen (\(s.resolvers.count))</h2>\n"
            if s.resolvers.isEmpty {
                h += "<p class=\"none\">No DNS resolvers were seen.</p>\n"
            } else {
                h += "<ul class=\"resolvers\">" + s.resolvers.map { "<li><code>\(esc($0))</code></li>" }.joined() + "</ul>\n"
            }
            h += "</section>\n"
        }
        if !report.inputs.isEmpty {
            h += "<section><h2>Inputs</h2>\n<table class=\"grid\"><thead><tr><th>Kind</th><th>Name</th><th>Details</th></tr></thead><tbody>\n"
            for i in report.inputs {
                let facts = i.facts.map { "<span class=\"fact\">\(esc($0.0)) <b>\(esc(Self.factText($0.0, $0.1)))</b></span>" }.joined(separator: " ")
                h += "<tr><td>\(esc(i.kind))</td><td><code class=\"name\">\(esc(i.name))</code></td><td>\(facts)</td></tr>\n"
            }
            h += "</tbody></table>\n</section>\n"
        }
        if !report.notes.isEmpty {
            h += "<section><h2>Notes</h2>\n<ul class=\"notes\">\n"
            for n in report.notes { h += "<li>\(rich(n))</li>\n" }
            h += "</ul>\n</section>\n"
        }
        let counters = s.counters.filter { $0.1 != 0 }
        if !counters.isEmpty {
            h += "<section><details><summary>Counters (\(counters.count) non-zero)</summary>\n<table class=\"kv\"><tbody>\n"
            for (k, v) in counters { h += "<tr><th>\(esc(k))</th><td>\(v)</td></tr>\n" }
            h += "</tbody></table>\n</details></section>\n"
        }
        h += "<footer>dnsaudit \(esc(report.toolVersion)) · \(esc(report.generatedAt))</footer>\n</body>\n</html>\n"
        return h
    }

    /// The banner's second line: the counts per severity, and what could not be examined — never
    /// the first line's sentence again.
    static func bannerDetail(_ report: Report) -> String {
        let counts = report.findingsBySeverity.filter { $0.1 > 0 }.map { "\($0.1) \($0.0.rawValue)" }
        var parts: [String] = []
        if counts.isEmpty {
            parts.append(report.verdict == "inconclusive" ? "No findings, but not everything could be examined"
                                                           : "Nothing in this input shows DNS or TLS tampering")
        } else {
            parts.append("Findings by severity: " + counts.joined(separator: ", "))
        }
        if !report.inconclusive.isEmpty { parts.append("not examined: " + report.inconclusive.joined(separator: "; ")) }
        return esc(parts.joined(separator: " · ") + ".")
    }

    /// A fact's value for people: durations in nanoseconds (`*_ns`) as "2.1 ms", seconds as "3.0 s".
    static func factText(_ key: String, _ v: SubjectValue) -> String {
        if key.hasSuffix("_ns"), case .int(let ns) = v { return HTMLPictures.duration(ns: ns) }
        if key.hasSuffix("_ns"), case .string(let t) = v, let ns = Int(t) { return HTMLPictures.duration(ns: ns) }
        if key.hasSuffix("_seconds"), let d = JSONReportRenderer.secondsValue(v.description) { return HTMLPictures.format1(d, 1) + " s" }
        return v.description
    }

    /// Escaped text in which `backtick spans` (commands, rule text) become `<code>`; an unpaired
    /// backtick stays as it is.
    static func rich(_ s: String) -> String {
        let pieces = s.split(separator: "`", omittingEmptySubsequences: false)
        guard pieces.count >= 3 else { return esc(s) }
        var out = ""
        for (i, p) in pieces.enumerated() {
            let odd = i % 2 == 1
            if odd && i == pieces.count - 1 { out += "`" + esc(String(p)); break }  // unpaired
            out += odd ? "<code>" + esc(String(p)) + "</code>" : esc(String(p))
        }
        return out
    }

    /// HTML text and attribute escaping: `& < > " '`; other control characters (which HTML
    /// does not allow) become U+FFFD.
    public static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(c)
            case "\r": out += " "
            case _ where c.value < 0x20 || (0x7f...0x9f).contains(c.value): out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static let css = """
    :root{--crit:#7f1d1d;--high:#b91c1c;--med:#b45309;--low:#0e7490;--info:#4b5563;--ok:#15803d}
    *{box-sizing:border-box}
    body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:72rem;padding:1.5rem;color:#111827;background:#f9fafb}
    h1{margin:0 0 .25rem}h2{margin:2rem 0 .75rem;border-bottom:1px solid #e5e7eb;padding-bottom:.25rem}
    h3{margin:0 0 .25rem;font-size:1.1rem}h4{margin:.75rem 0 .25rem}
    code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:0 .25rem;border-radius:3px;overflow-wrap:break-word}
    .meta{color:#4b5563;margin:.25rem 0}
    .verdict{margin:1rem 0;padding:1rem 1.25rem;border-radius:8px;color:#fff;display:flex;flex-direction:column;gap:.25rem;font-size:1.05rem}
    .verdict strong{font-size:1.35rem}
    .verdict.ok{background:var(--ok)}.verdict.minor{background:var(--info)}
    .verdict.sev-medium{background:var(--med)}.verdict.sev-high{background:var(--high)}.verdict.sev-critical{background:var(--crit)}
    .cards{display:flex;flex-wrap:wrap;gap:.75rem;margin-bottom:1rem}
    .card{flex:1 1 8rem;background:#fff;border:1px solid #e5e7eb;border-top:4px solid var(--info);border-radius:6px;padding:.5rem .75rem;display:flex;flex-direction:column}
    .card .n{font-size:1.75rem;font-weight:700}.card .l{text-transform:uppercase;font-size:.8rem;color:#4b5563}
    .card.zero{opacity:.55}
    .card.sev-critical{border-top-color:var(--crit)}.card.sev-high{border-top-color:var(--high)}.card.sev-medium{border-top-color:var(--med)}.card.sev-low{border-top-color:var(--low)}
    table{border-collapse:collapse;background:#fff}
    th,td{text-align:left;padding:.25rem .75rem;border:1px solid #e5e7eb;vertical-align:top;overflow-wrap:break-word}
    .fact{display:inline-block;margin:0 .9rem .1rem 0}
    table.kv th{background:#f3f4f6;font-weight:600;white-space:nowrap}
    table.grid{width:100%}table.grid thead th{background:#f3f4f6}
    caption{text-align:left;font-weight:600;padding:.25rem 0}
    .finding{background:#fff;border:1px solid #e5e7eb;border-left:6px solid var(--info);border-radius:6px;padding:1rem 1.25rem;margin:0 0 1rem}
    .finding.sev-critical{border-left-color:var(--crit)}.finding.sev-high{border-left-color:var(--high)}
    .finding.sev-medium{border-left-color:var(--med)}.finding.sev-low{border-left-color:var(--low)}
    .badge{display:inline-block;color:#fff;background:var(--info);border-radius:4px;padding:0 .4rem;font-size:.8rem;vertical-align:middle}
    .badge.sev-critical{background:var(--crit)}.badge.sev-high{background:var(--high)}.badge.sev-medium{background:var(--med)}.badge.sev-low{background:var(--low)}
    .num{color:#6b7280;font-weight:400}
    .kinddesc{color:#374151;font-style:italic;margin:.25rem 0 .75rem}
    .evidence li{margin:.25rem 0;overflow-wrap:break-word}.where{font-weight:600;color:#374151}
    dl{display:grid;grid-template-columns:max-content 1fr;gap:0 .75rem;margin:.25rem 0 .5rem;font-size:.9rem}
    dt{color:#6b7280}dd{margin:0;overflow-wrap:break-word}
    .fix{background:#f0fdf4;border:1px solid #bbf7d0;border-radius:4px;padding:.5rem .75rem}
    .resolvers{columns:16rem}.none{color:#6b7280}
    footer{margin-top:2rem;color:#6b7280;font-size:.85rem}
    @media print{body{background:#fff}.finding{break-inside:avoid}}
    """
}
