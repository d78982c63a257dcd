import Findings

/// `--format jsonl`: one event per line (EVE-style `event_type`), findings first, then the summary.
public enum JSONLinesRenderer {
    public static func render(_ report: Report) -> String {
        var out = ""
        for f in report.sortedFindings {
            var w = JSONWriter()
            w.object { w in
                w.field("event_type", "finding")
                w.field("generated_at", report.generatedAt)
                w.key("finding"); JSONReportRenderer.writeFinding(f, &w)
            }
            out += w.output + "\n"
        }
        var w = JSONWriter()
        w.object { w in
            w.field("event_type", "summary")
            w.field("generated_at", report.generatedAt)
            w.key("summary"); JSONReportRenderer.writeSummary(report, &w)
            w.field("notes", strings: report.notes)
        }
        out += w.output + "\n"
        return out
    }
}
