import Findings
import NetTypes

/// `--format jsonl`: one event per line (EVE-style `event_type`), findings first, then the summary.
///
/// Each line keeps the original keys (`event_type`, `generated_at`, `finding` / `summary`) and adds
/// Elastic Common Schema fields where ECS has them, as nested objects (`{"event": {"kind": …}}` is
/// ECS's `event.kind`): `@timestamp`, `event.*`, `rule.*`, `message`, `dns.question.*`,
/// `dns.resolved_ip`, `network.transport`, `source`/`client`, `server`/`destination`,
/// `tls.client.server_name`. `@timestamp` is when the event happened (see `EventTime`: the
/// evidence's own time, else the capture's window as `event.start`/`event.end`, else the run's
/// time), `event.created` when the report was made. `event.severity` is numeric on Elastic's risk-score scale
/// (info 1, low 21, medium 47, high 73, critical 99).
public enum JSONLinesRenderer {
    public static func render(_ report: Report) -> String {
        // One buffer for every line.
        var w = JSONWriter(reserving: 4096)
        for f in report.sortedFindings {
            writeFindingLine(f, report, &w)
            w.endLine()
        }
        w.object { w in
            w.field("event_type", "summary")
            w.field("generated_at", report.generatedAt)
            w.key("summary"); JSONReportRenderer.writeSummary(report, &w)
            w.field("notes", strings: report.notes)
            // ECS
            w.field("@timestamp", report.generatedAt)
            w.key("event"); w.object { w in
                w.field("kind", "metric")
                w.field("dataset", "dnsaudit.summary")
                w.field("provider", "dnsaudit")
                w.field("created", report.generatedAt)
            }
            w.field("message", "dnsaudit run summary: " + ReportText.verdict(report).headline)
            w.key("observer"); w.object { w in
                w.field("product", "dnsaudit")
                w.field("version", report.toolVersion)
            }
        }
        w.endLine()
        return w.output
    }

    static func findingLine(_ f: Finding, _ report: Report) -> String {
        var w = JSONWriter(reserving: 1024)
        writeFindingLine(f, report, &w)
        return w.output
    }

    static func writeFindingLine(_ f: Finding, _ report: Report, _ w: inout JSONWriter) {
        w.object { w in
            w.field("event_type", "finding")
            w.field("generated_at", report.generatedAt)
            w.key("finding"); JSONReportRenderer.writeFinding(f, &w)
            writeECS(f, report, &w)
        }
    }

    static func ecsCategories(_ kind: String) -> [String] {
        kind.hasPrefix("firewall.") ? ["configuration", "network"] : ["network", "intrusion_detection"]
    }

    static func string(_ f: Finding, _ key: String) -> String? {
        guard let v = f.subjectValue(key) else { return nil }
        let s = v.description
        return s.isEmpty ? nil : s
    }

    static func port(_ f: Finding, _ key: String) -> Int? {
        switch f.subjectValue(key) {
        case .int(let i)?: return i
        case .string(let s)?: return Int(s)
        case nil: return nil
        }
    }

    /// An address usable as ECS `*.ip` (ECS maps it to the `ip` type; anything else would break ingest).
    static func ip(_ s: String?) -> String? {
        guard let s, IPAddress(s) != nil else { return nil }
        return s
    }

    /// Addresses in the evidence's `answers` facts ("A 192.0.2.1, AAAA 2001:db8::1, CNAME x.").
    static func resolvedIPs(_ f: Finding) -> [String] {
        var ips: [String] = []
        for e in f.evidence {
            for (k, v) in e.facts where k == "answers" {
                for part in v.description.split(separator: ",") {
                    let fields = part.split(separator: " ", omittingEmptySubsequences: true)
                    guard fields.count == 2, fields[0] == "A" || fields[0] == "AAAA" else { continue }
                    let addr = String(fields[1])
                    if IPAddress(addr) != nil && !ips.contains(addr) { ips.append(addr) }
                }
            }
        }
        return ips
    }

    static func writeECS(_ f: Finding, _ report: Report, _ w: inout JSONWriter) {
        // When it happened (the packet's or probe's time, or the capture's window); the report's
        // time is event.created.
        let time = EventTime.of(f, report)
        w.field("@timestamp", time.timestamp)
        w.key("event"); w.object { w in
            if let s = time.start { w.field("start", s) }
            if let e = time.end { w.field("end", e) }
            w.field("kind", "alert")
            w.field("category", strings: ecsCategories(f.kindName))
            w.field("type", strings: ["info"])
            w.field("severity", f.severity.ecsNumber)
            w.field("id", f.id)
            w.field("action", f.kindName)
            w.field("dataset", "dnsaudit.finding")
            w.field("provider", "dnsaudit")
            w.field("created", report.generatedAt)
        }
        w.key("rule"); w.object { w in
            w.field("id", f.kindName)
            w.field("name", f.kindName)
            w.field("ruleset", "dnsaudit")
            w.field("description", ReportText.describe(kind: f.kindName))
        }
        w.field("message", f.title)

        let qname = string(f, "qname")
        let qtype = string(f, "qtype")
        let resolved = resolvedIPs(f)
        if qname != nil || qtype != nil || !resolved.isEmpty {
            w.key("dns"); w.object { w in
                if qname != nil || qtype != nil {
                    w.key("question"); w.object { w in
                        // ECS (like Packetbeat) writes names without the root's trailing dot.
                        if let q = qname { w.field("name", q.count > 1 && q.hasSuffix(".") ? String(q.dropLast()) : q) }
                        if let t = qtype { w.field("type", t) }
                    }
                }
                if !resolved.isEmpty { w.field("resolved_ip", strings: resolved) }
            }
        }
        if let t = string(f, "transport") {
            w.key("network"); w.object { w in w.field("transport", t) }
        }
        // The client is the source of the traffic; the resolver or server its destination.
        let client = ip(string(f, "client"))
        let clientPort = port(f, "client_port")
        if client != nil || clientPort != nil {
            for side in ["source", "client"] {
                w.key(side); w.object { w in
                    if let c = client { w.field("ip", c) }
                    if let p = clientPort { w.field("port", p) }
                }
            }
        }
        let server = ip(string(f, "resolver")) ?? ip(string(f, "server"))
        let serverPort = f.subjectValue("table") == nil ? port(f, "port") : nil
        if server != nil {
            for side in ["server", "destination"] {
                w.key(side); w.object { w in
                    if let s = server { w.field("ip", s) }
                    if let p = serverPort { w.field("port", p) }
                }
            }
        }
        if let sni = string(f, "sni") {
            w.key("tls"); w.object { w in
                w.key("client"); w.object { w in w.field("server_name", sni) }
            }
        }
        w.key("observer"); w.object { w in
            w.field("product", "dnsaudit")
            w.field("version", report.toolVersion)
        }
    }
}
