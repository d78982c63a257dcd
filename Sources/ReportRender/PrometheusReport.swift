import Findings

/// `--format prometheus`: the text exposition format 0.0.4, for node_exporter's textfile
/// collector (`*.prom`). Names and types follow the Prometheus naming guide (`promtool check
/// metrics` is clean): every metric is a gauge describing the last run (a textfile is rewritten
/// each run, so nothing here is a counter and no name ends in `_total`):
///
/// - `dnsaudit_findings{kind,severity}`: every contract kind (and any other kind present) ×
///   every severity, zeros included, so dashboards and alerts always have the series;
/// - `dnsaudit_findings_by_severity{severity}`: all kinds together (was
///   `dnsaudit_findings_total`, renamed: `_total` is reserved for counters);
/// - `dnsaudit_last_run_timestamp_seconds`, `dnsaudit_last_run_success` (1: the run completed),
///   `dnsaudit_last_run_inconclusive` (1: nothing found, but part of the input was not examined);
/// - `dnsaudit_packets`, `dnsaudit_dns_messages`, `dnsaudit_dns_transactions`,
///   `dnsaudit_unanswered_queries`, `dnsaudit_tls_client_hellos`, `dnsaudit_resolvers`,
///   `dnsaudit_malformed`, `dnsaudit_dropped`, `dnsaudit_inputs`, and
///   `dnsaudit_run_detail{counter}` for the summary's extra counters (was
///   `dnsaudit_summary_counter`: a name must not contain a metric type);
/// - `dnsaudit_build_info{version}` = 1.
public enum PrometheusReportRenderer {
    /// - Parameters:
    ///   - success: whether the run completed (`dnsaudit_last_run_success`).
    ///   - timestamp: the run's time in Unix seconds; by default parsed from `generatedAt`.
    public static func render(_ report: Report, success: Bool = true, timestamp: Double? = nil) -> String {
        var out = ""
        func header(_ name: String, _ help: String) {
            out += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) gauge\n"
        }
        func sample(_ name: String, _ labels: [(String, String)] = [], _ value: String) {
            out += name
            if !labels.isEmpty {
                out += "{" + labels.map { "\($0.0)=\"\(escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
            }
            out += " " + value + "\n"
        }

        var kinds = ReportText.kindDescriptions.map(\.kind)
        for f in report.findings where !kinds.contains(f.kindName) { kinds.append(f.kindName) }
        kinds.sort()
        let severities = Severity.allCases.reversed()

        header("dnsaudit_findings", "Findings in the last dnsaudit run, by finding kind and severity.")
        for k in kinds {
            for s in severities {
                sample("dnsaudit_findings", [("kind", k), ("severity", s.rawValue)],
                       String(report.findings.filter { $0.kindName == k && $0.severity == s }.count))
            }
        }
        header("dnsaudit_findings_by_severity", "Findings in the last dnsaudit run, by severity (all kinds).")
        for (s, n) in report.findingsBySeverity {
            sample("dnsaudit_findings_by_severity", [("severity", s.rawValue)], String(n))
        }

        header("dnsaudit_last_run_timestamp_seconds", "Unix time of the last dnsaudit run.")
        let ts = timestamp ?? RFC3339.epochSeconds(report.generatedAt) ?? 0
        sample("dnsaudit_last_run_timestamp_seconds", [], formatValue(ts))
        header("dnsaudit_last_run_success", "1 if the last dnsaudit run completed, 0 if it failed.")
        sample("dnsaudit_last_run_success", [], success ? "1" : "0")
        header("dnsaudit_last_run_inconclusive", "1 if the last dnsaudit run found nothing at medium or above but could not examine part of its input.")
        sample("dnsaudit_last_run_inconclusive", [], report.verdict == "inconclusive" ? "1" : "0")

        let s = report.summary
        let counts: [(String, String, Int)] = [
            ("dnsaudit_inputs", "Inputs (captures, interfaces, rulesets, probes) of the last run.", report.inputs.count),
            ("dnsaudit_packets", "Packets read in the last run.", s.packets),
            ("dnsaudit_dns_messages", "DNS messages decoded in the last run.", s.dnsMessages),
            ("dnsaudit_dns_transactions", "DNS query/response transactions in the last run.", s.dnsTransactions),
            ("dnsaudit_unanswered_queries", "DNS queries without a response in the last run.", s.unansweredQueries),
            ("dnsaudit_tls_client_hellos", "TLS ClientHellos seen in the last run.", s.tlsClientHellos),
            ("dnsaudit_resolvers", "Distinct DNS resolvers asked in the last run.", s.resolvers.count),
            ("dnsaudit_malformed", "Malformed frames and messages in the last run.", s.malformed),
            ("dnsaudit_dropped", "Packets or state dropped in the last run.", s.dropped),
        ]
        for (name, help, value) in counts {
            header(name, help)
            sample(name, [], String(value))
        }
        if !s.counters.isEmpty {
            header("dnsaudit_run_detail", "The last run's detailed counts (skipped and malformed per reason, reassembly, TLS).")
            var seen: [String] = []
            for (k, n) in s.counters where !seen.contains(k) {
                seen.append(k)
                sample("dnsaudit_run_detail", [("counter", k)], String(n))
            }
        }
        header("dnsaudit_build_info", "The dnsaudit version that wrote this file.")
        sample("dnsaudit_build_info", [("version", report.toolVersion)], "1")
        return out
    }

    /// Label values: backslash, double quote and line feed are escaped (exposition format 0.0.4).
    public static func escapeLabelValue(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// HELP text: backslash and line feed are escaped.
    static func escapeHelp(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Integers without a decimal point, others with Go-compatible spellings for the specials.
    static func formatValue(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}
