import Findings

/// `--format json`: the report contract's schema `dnsaudit/report-v1`.
public enum JSONReportRenderer {
    public static func render(_ report: Report, pretty: Bool = false) -> String {
        var w = JSONWriter(reserving: 4096)
        w.object { w in
            w.field("schema", Report.schema)
            w.key("tool"); w.object { w in w.field("name", "dnsaudit"); w.field("version", report.toolVersion) }
            w.field("generated_at", report.generatedAt)
            w.key("inputs"); w.array { w in
                for i in report.inputs {
                    w.object { w in
                        w.field("kind", i.kind)
                        w.field("name", i.name)
                        for (k, v) in i.facts {
                            w.key(k)
                            // Durations are numbers ("3.0 s" from a live run's input → 3.0).
                            if k.hasSuffix("_seconds"), case .string(let s) = v, let n = secondsValue(s) {
                                w.double(n)
                            } else {
                                writeValue(v, &w)
                            }
                        }
                    }
                }
            }
            w.key("summary"); writeSummary(report, &w)
            w.key("findings"); w.array { w in
                for f in report.sortedFindings { writeFinding(f, &w) }
            }
            w.field("notes", strings: report.notes)
            w.field("verdict", report.verdict)
            if !report.inconclusive.isEmpty { w.field("inconclusive", strings: report.inconclusive) }
        }
        return pretty ? prettyPrint(w.output) : w.output
    }

    /// A duration written as text (`"3.0 s"`, `"2.5"`) as a number of seconds, or nil.
    static func secondsValue(_ s: String) -> Double? {
        var t = Substring(s)
        if t.hasSuffix(" s") { t = t.dropLast(2) } else if t.hasSuffix("s") { t = t.dropLast() }
        guard let d = Double(t), d.isFinite else { return nil }
        return d
    }

    /// The contract's evidence array: source, input, frames, detail, and the facts as `data`.
    static func writeEvidence(_ evidence: [Evidence], _ w: inout JSONWriter) {
        w.array { w in
            for e in evidence {
                w.object { w in
                    w.field("source", e.source.rawValue)
                    if let i = e.input { w.field("input", i) }
                    w.field("frames", ints: e.frames)
                    w.field("detail", e.detail)
                    if !e.facts.isEmpty {
                        w.key("data"); w.object { w in
                            for (k, v) in e.facts { w.key(k); writeValue(v, &w) }
                        }
                    }
                }
            }
        }
    }

    static func writeValue(_ v: SubjectValue, _ w: inout JSONWriter) {
        switch v {
        case .string(let s): w.string(s)
        case .int(let i): w.int(i)
        }
    }

    static func writeSummary(_ r: Report, _ w: inout JSONWriter) {
        let s = r.summary
        w.object { w in
            w.key("findings_by_severity"); w.object { w in
                for (sev, n) in r.findingsBySeverity { w.field(sev.rawValue, n) }
            }
            w.field("packets", s.packets)
            w.field("dns_messages", s.dnsMessages)
            w.field("dns_transactions", s.dnsTransactions)
            w.field("unanswered_queries", s.unansweredQueries)
            w.field("tls_client_hellos", s.tlsClientHellos)
            w.field("resolvers", strings: s.resolvers)
            w.field("malformed", s.malformed)
            w.field("dropped", s.dropped)
            w.key("counters"); w.object { w in
                for (k, n) in s.counters { w.field(k, n) }
            }
        }
    }

    /// One finding object, shared by the JSON report and JSON lines.
    public static func writeFinding(_ f: Finding, _ w: inout JSONWriter) {
        w.object { w in
            w.field("id", f.id)
            w.field("kind", f.kindName)
            w.field("severity", f.severity.rawValue)
            w.field("confidence", f.confidence.rawValue)
            w.field("title", f.title)
            w.key("subject"); w.object { w in
                for (k, v) in f.subject { w.key(k); writeValue(v, &w) }
            }
            w.key("evidence"); writeEvidence(f.evidence, &w)
            w.field("remediation", f.remediation)
            if !f.related.isEmpty { w.field("related", strings: f.related) }
        }
    }

    /// Re-indents compact JSON (strings are respected).
    public static func prettyPrint(_ json: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(json.utf8.count * 2)
        var depth = 0
        var inString = false
        var escaped = false
        let bytes = Array(json.utf8)
        func newline() {
            out.append(0x0a)
            for _ in 0..<(depth * 2) { out.append(0x20) }
        }
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "\""):
                inString = true
                out.append(c)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close: UInt8 = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if i + 1 < bytes.count && bytes[i + 1] == close {
                    out.append(c); out.append(close)
                    i += 2
                    continue
                }
                out.append(c)
                depth += 1
                newline()
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                newline()
                out.append(c)
            case UInt8(ascii: ","):
                out.append(c)
                newline()
            case UInt8(ascii: ":"):
                out.append(c)
                out.append(0x20)
            default:
                out.append(c)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
