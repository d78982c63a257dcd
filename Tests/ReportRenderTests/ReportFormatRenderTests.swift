import Findings
import Foundation
import ReportRender
import XCTest

/// Every report format rendered from one hostile report: structure, escaping, grammar.
final class ReportFormatRenderTests: XCTestCase {
    static let hostileTitle = "Forged answer for <script>alert(\"x\")</script> \\ back\\slash\nsecond line — ünïcødé 🛑 | pipe & amp 'q'"
    static let hostileQName = "<script>evil\"name\\.example.\n"

    static func report() -> Report {
        var summary = ReportSummary()
        summary.packets = 1234
        summary.dnsMessages = 99
        summary.dnsTransactions = 40
        summary.unansweredQueries = 3
        summary.tlsClientHellos = 7
        summary.resolvers = ["198.51.100.53", "2001:db8::53", "<script>"]
        summary.malformed = 2
        summary.dropped = 1
        summary.counters = [("skipped_non_ip", 2), ("malformed_dns", 1)]
        let findings = [
            Finding(kind: FindingKind.dnsUnsolicitedResponse, severity: .medium, confidence: .likely,
                    title: "Unsolicited response from 198.51.100.53",
                    subject: [("resolver", .string("198.51.100.53")), ("client", .string("192.0.2.10")), ("client_port", .int(53015))],
                    evidence: [Evidence(source: .capture, input: "caps/a b.pcap", frames: [27], detail: "txid 48879 matches nothing")],
                    remediation: "Check the sender."),
            Finding(kind: FindingKind.dnsInjection, severity: .critical, confidence: .confirmed,
                    title: hostileTitle,
                    subject: [("qname", .string(hostileQName)), ("qtype", .string("A")), ("transport", .string("udp")),
                              ("resolver", .string("198.51.100.53")), ("client", .string("192.0.2.10"))],
                    evidence: [
                        Evidence(source: .capture, input: "caps/a b.pcap", frames: [11, 12], detail: "response 1 of 2: <b>A 203.0.113.66</b>",
                                 facts: [("answers", .string("A 203.0.113.66, AAAA 2001:db8::66, CNAME x.example.")), ("ip_ttl", .int(243))]),
                        Evidence(source: .capture, input: "caps/a b.pcap", frames: [11, 13], detail: "response 2 of 2: \"quoted\" \\ \u{7}bell",
                                 facts: [("answers", .string("A 93.184.215.14"))]),
                    ],
                    remediation: "Use <encrypted> DNS & find the injector."),
            Finding(kind: FindingKind.firewallDNSRedirect, severity: .high, confidence: .likely,
                    title: "DNS redirected by rule in inet nat/prerouting",
                    subject: [("family", .string("inet")), ("table", .string("nat")), ("chain", .string("prerouting")),
                              ("hook", .string("prerouting")), ("handle", .int(7)), ("target", .string("127.0.0.1:5353")), ("origin", .string("nft"))],
                    evidence: [Evidence(source: .ruleset, input: "/etc/nft rules.conf", detail: "udp dport 53 redirect to :5353")],
                    remediation: "Remove the rule."),
            Finding(kind: FindingKind.tlsHandshakeAlert, severity: .info, confidence: .possible,
                    title: "An info finding of an unknown kind",
                    subject: [("sni", .string("bad\"sni.example")), ("server", .string("203.0.113.9"))],
                    evidence: [], remediation: ""),
            Finding(kind: FindingKind.tlsResetAfterClientHello, severity: .low, confidence: .possible,
                    title: "Reset after ClientHello",
                    subject: [("sni", .string("www.example.com")), ("server", .string("203.0.113.9")), ("port", .int(443))],
                    evidence: [Evidence(source: .capture, input: "-", frames: [5], detail: "RST")],
                    remediation: "Look for a middlebox."),
        ]
        return Report(toolVersion: "9.9.9", generatedAt: "2024-01-02T03:04:05Z",
                      inputs: [ReportInput(kind: "capture", name: "caps/a b.pcap", facts: [("packets", .int(1234))]),
                               ReportInput(kind: "capture", name: "-"),
                               ReportInput(kind: "ruleset", name: "/etc/nft rules.conf")],
                      summary: summary, findings: findings,
                      notes: ["a note with <script>x</script> and\nnewline", "second note"])
    }

    func json(_ s: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(s.utf8), options: [.fragmentsAllowed])
    }

    // MARK: JSON and JSON lines

    func testJSONParsesAndRoundTripsEscapes() throws {
        let rep = Self.report()
        for pretty in [false, true] {
            let obj = try XCTUnwrap(try json(JSONReportRenderer.render(rep, pretty: pretty)) as? [String: Any])
            XCTAssertEqual(obj["schema"] as? String, "dnsaudit/report-v1")
            let findings = try XCTUnwrap(obj["findings"] as? [[String: Any]])
            XCTAssertEqual(findings.count, 5)
            XCTAssertEqual(findings.first?["title"] as? String, Self.hostileTitle, "most severe first, text round-trips")
            XCTAssertEqual((findings.first?["subject"] as? [String: Any])?["qname"] as? String, Self.hostileQName)
        }
    }

    func testJSONLinesKeepOldKeysAndAddECS() throws {
        let rep = Self.report()
        let text = JSONLinesRenderer.render(rep)
        XCTAssertTrue(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, 6, "one line per finding and a summary")
        var objs: [[String: Any]] = []
        for l in lines {
            objs.append(try XCTUnwrap(try json(String(l)) as? [String: Any], String(l)))
        }
        for o in objs.dropLast() {
            XCTAssertEqual(o["event_type"] as? String, "finding")
            XCTAssertEqual(o["generated_at"] as? String, "2024-01-02T03:04:05Z")
            let f = try XCTUnwrap(o["finding"] as? [String: Any])
            XCTAssertNotNil(f["id"]); XCTAssertNotNil(f["kind"]); XCTAssertNotNil(f["severity"])
            let event = try XCTUnwrap(o["event"] as? [String: Any])
            XCTAssertEqual(event["kind"] as? String, "alert")
            XCTAssertNotNil(event["severity"] as? Int, "event.severity is numeric")
            XCTAssertFalse((event["category"] as? [String] ?? []).isEmpty)
            XCTAssertEqual((o["rule"] as? [String: Any])?["name"] as? String, f["kind"] as? String)
            XCTAssertEqual(o["message"] as? String, f["title"] as? String)
            XCTAssertEqual(o["@timestamp"] as? String, "2024-01-02T03:04:05Z")
        }
        let inj = objs[0]
        XCTAssertEqual((inj["event"] as? [String: Any])?["severity"] as? Int, 99)
        let dns = try XCTUnwrap(inj["dns"] as? [String: Any])
        let q = try XCTUnwrap(dns["question"] as? [String: Any])
        XCTAssertEqual(q["type"] as? String, "A")
        XCTAssertEqual(q["name"] as? String, Self.hostileQName, "no trailing dot to strip here: kept as is")
        XCTAssertEqual(dns["resolved_ip"] as? [String], ["203.0.113.66", "2001:db8::66", "93.184.215.14"])
        XCTAssertEqual((inj["source"] as? [String: Any])?["ip"] as? String, "192.0.2.10")
        XCTAssertEqual((inj["client"] as? [String: Any])?["ip"] as? String, "192.0.2.10")
        XCTAssertEqual((inj["server"] as? [String: Any])?["ip"] as? String, "198.51.100.53")
        XCTAssertEqual((inj["destination"] as? [String: Any])?["ip"] as? String, "198.51.100.53")
        XCTAssertEqual((inj["network"] as? [String: Any])?["transport"] as? String, "udp")

        let tls = try XCTUnwrap(objs.first { ($0["rule"] as? [String: Any])?["name"] as? String == "\(FindingKind.tlsResetAfterClientHello)" })
        XCTAssertEqual(((tls["tls"] as? [String: Any])?["client"] as? [String: Any])?["server_name"] as? String, "www.example.com")
        XCTAssertEqual((tls["destination"] as? [String: Any])?["port"] as? Int, 443)
        let unsolicited = try XCTUnwrap(objs.first { ($0["rule"] as? [String: Any])?["name"] as? String == "\(FindingKind.dnsUnsolicitedResponse)" })
        XCTAssertEqual((unsolicited["client"] as? [String: Any])?["port"] as? Int, 53015)
        // A firewall rule's target is not an address: no server.ip for it.
        let fw = try XCTUnwrap(objs.first { ($0["rule"] as? [String: Any])?["name"] as? String == "\(FindingKind.firewallDNSRedirect)" })
        XCTAssertNil(fw["server"])
        XCTAssertEqual((fw["event"] as? [String: Any])?["category"] as? [String], ["configuration", "network"])

        let summary = try XCTUnwrap(objs.last)
        XCTAssertEqual(summary["event_type"] as? String, "summary")
        XCTAssertNotNil(summary["summary"] as? [String: Any])
        XCTAssertEqual(summary["notes"] as? [String], Self.report().notes)
    }

    // MARK: SARIF

    func testSARIFStructureAndLevels() throws {
        let rep = Self.report()
        let root = try XCTUnwrap(try json(SARIFReportRenderer.render(rep)) as? [String: Any])
        XCTAssertEqual(root["$schema"] as? String, "https://json.schemastore.org/sarif-2.1.0.json")
        XCTAssertEqual(root["version"] as? String, "2.1.0")
        let runs = try XCTUnwrap(root["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 1)
        let driver = try XCTUnwrap((runs[0]["tool"] as? [String: Any])?["driver"] as? [String: Any])
        XCTAssertEqual(driver["name"] as? String, "dnsaudit")
        XCTAssertEqual(driver["version"] as? String, "9.9.9")
        let rules = try XCTUnwrap(driver["rules"] as? [[String: Any]])
        let ruleIds = rules.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ruleIds).count, 5, "one rule per kind")
        XCTAssertEqual(Set(ruleIds), Set(rep.findings.map { "\($0.kind)" }))
        for r in rules {
            let text = (r["shortDescription"] as? [String: Any])?["text"] as? String
            XCTAssertFalse(text?.isEmpty ?? true, "rule \(r["id"] ?? "") has a shortDescription")
        }
        let results = try XCTUnwrap(runs[0]["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 5)
        let expectedLevel: [String: String] = ["critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"]
        for r in results {
            let ruleId = try XCTUnwrap(r["ruleId"] as? String)
            let index = try XCTUnwrap(r["ruleIndex"] as? Int)
            XCTAssertEqual(ruleIds[index], ruleId, "ruleIndex points at the rule")
            let props = try XCTUnwrap(r["properties"] as? [String: Any])
            let severity = try XCTUnwrap(props["severity"] as? String)
            XCTAssertEqual(r["level"] as? String, expectedLevel[severity])
            XCTAssertNotNil(props["confidence"] as? String)
            XCTAssertNotNil(props["subject"] as? [String: Any])
            XCTAssertNotNil(props["evidence"] as? [Any])
            let fp = try XCTUnwrap(r["partialFingerprints"] as? [String: String])
            XCTAssertEqual(fp.values.first, props["id"] as? String)
            let msg = try XCTUnwrap((r["message"] as? [String: Any])?["text"] as? String)
            XCTAssertFalse(msg.isEmpty)
            let locations = try XCTUnwrap(r["locations"] as? [[String: Any]])
            XCTAssertFalse(locations.isEmpty)
            for l in locations {
                let logical = try XCTUnwrap(l["logicalLocations"] as? [[String: Any]])
                XCTAssertNotNil(logical.first?["name"] as? String)
            }
        }
        let inj = try XCTUnwrap(results.first { $0["ruleId"] as? String == "\(FindingKind.dnsInjection)" })
        XCTAssertEqual((inj["message"] as? [String: Any])?["text"] as? String, Self.hostileTitle)
        let loc = try XCTUnwrap((inj["locations"] as? [[String: Any]])?.first)
        let uri = ((loc["physicalLocation"] as? [String: Any])?["artifactLocation"] as? [String: Any])?["uri"] as? String
        XCTAssertEqual(uri, "caps/a%20b.pcap", "the capture file, as a URI reference")
        XCTAssertEqual((loc["properties"] as? [String: Any])?["frames"] as? [Int], [11, 12, 13])
        let fw = try XCTUnwrap(results.first { $0["ruleId"] as? String == "\(FindingKind.firewallDNSRedirect)" })
        let fwLoc = try XCTUnwrap((fw["locations"] as? [[String: Any]])?.first)
        let fwURI = ((fwLoc["physicalLocation"] as? [String: Any])?["artifactLocation"] as? [String: Any])?["uri"] as? String
        XCTAssertEqual(fwURI, "file:///etc/nft%20rules.conf")
        XCTAssertEqual((fwLoc["logicalLocations"] as? [[String: Any]])?.first?["fullyQualifiedName"] as? String, "inet/nat/prerouting#7")
        // Evidence read from standard input names no file.
        let reset = try XCTUnwrap(results.first { $0["ruleId"] as? String == "\(FindingKind.tlsResetAfterClientHello)" })
        XCTAssertNil((reset["locations"] as? [[String: Any]])?.first?["physicalLocation"])
        // Pretty output is the same document.
        let pretty = try XCTUnwrap(try json(SARIFReportRenderer.render(rep, pretty: true)) as? NSDictionary)
        XCTAssertEqual(pretty, root as NSDictionary)
    }

    // MARK: Prometheus

    func testPrometheusGrammarAndValues() throws {
        let rep = Self.report()
        let text = PrometheusReportRenderer.render(rep)
        let problems = PromValidator.validate(text)
        XCTAssertTrue(problems.isEmpty, problems.joined(separator: "\n"))
        let samples = PromValidator.samples(text)
        XCTAssertEqual(samples["dnsaudit_findings{kind=\"dns.injection\",severity=\"critical\"}"], "1")
        XCTAssertEqual(samples["dnsaudit_findings{kind=\"dns.injection\",severity=\"high\"}"], "0", "zero series are emitted")
        XCTAssertEqual(samples["dnsaudit_findings{kind=\"encrypted-dns.blocked\",severity=\"info\"}"], "0", "every contract kind")
        XCTAssertEqual(samples["dnsaudit_findings{kind=\"tls.handshake-alert\",severity=\"info\"}"], "1")
        XCTAssertEqual(PrometheusReportRenderer.escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd", "label values escaped")
        for (s, n) in [("critical", "1"), ("high", "1"), ("medium", "1"), ("low", "1"), ("info", "1")] {
            XCTAssertEqual(samples["dnsaudit_findings_by_severity{severity=\"\(s)\"}"], n)
        }
        XCTAssertEqual(samples["dnsaudit_last_run_timestamp_seconds"], "1704164645")
        XCTAssertEqual(samples["dnsaudit_last_run_success"], "1")
        XCTAssertEqual(samples["dnsaudit_packets"], "1234")
        XCTAssertEqual(samples["dnsaudit_dns_messages"], "99")
        XCTAssertEqual(samples["dnsaudit_resolvers"], "3")
        XCTAssertEqual(samples["dnsaudit_run_detail{counter=\"skipped_non_ip\"}"], "2")
        XCTAssertEqual(samples["dnsaudit_build_info{version=\"9.9.9\"}"], "1")

        let failed = PromValidator.samples(PrometheusReportRenderer.render(rep, success: false, timestamp: 1.5))
        XCTAssertEqual(failed["dnsaudit_last_run_success"], "0")
        XCTAssertEqual(failed["dnsaudit_last_run_timestamp_seconds"], "1.5")

        var odd = rep
        odd.generatedAt = "2024-02-29T23:59:59.5+02:00"
        XCTAssertEqual(PromValidator.samples(PrometheusReportRenderer.render(odd))["dnsaudit_last_run_timestamp_seconds"], "1709243999.5")
        XCTAssertTrue(PromValidator.validate(PrometheusReportRenderer.render(Report(toolVersion: "1", generatedAt: "bad"))).isEmpty)
    }

    func testPromValidatorRejectsBadLines() {
        XCTAssertFalse(PromValidator.validate("# TYPE a gauge\na{x=\"unterminated} 1\n").isEmpty)
        XCTAssertFalse(PromValidator.validate("# TYPE a gauge\na{x=\"raw\"quote\"} 1\n").isEmpty)
        XCTAssertFalse(PromValidator.validate("# TYPE a gauge\na 1\n# TYPE a gauge\n").isEmpty)
        XCTAssertFalse(PromValidator.validate("1a 1\n").isEmpty)
        XCTAssertFalse(PromValidator.validate("# TYPE a gauge\na one\n").isEmpty)
        XCTAssertFalse(PromValidator.validate("# TYPE a gauge\na 1\na 2\n").isEmpty, "duplicate series")
        XCTAssertTrue(PromValidator.validate("# HELP a x \\\\ y\n# TYPE a gauge\na{b=\"\\\"\\n\\\\\"} +Inf\n").isEmpty)
    }

    // MARK: HTML

    func testHTMLIsSelfContainedAndEscaped() throws {
        let rep = Self.report()
        let html = HTMLReportRenderer.render(rep)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.hasSuffix("</html>\n"))
        let lower = html.lowercased()
        XCTAssertFalse(lower.contains("<script"), "no script, and hostile text is escaped")
        XCTAssertTrue(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
        for external in ["src=", "href=", "<link", "@import", "url(", "http://", "https://", "<iframe", "<img", "<object", "<embed"] {
            XCTAssertFalse(lower.contains(external), "no external asset: \(external)")
        }
        XCTAssertNil(lower.range(of: #"\son[a-z]+="#, options: .regularExpression), "no event handler attributes")
        XCTAssertTrue(lower.contains("<style>"))
        XCTAssertEqual(html.components(separatedBy: "<article ").count - 1, 5, "one article per finding")
        XCTAssertEqual(html.components(separatedBy: "</article>").count - 1, 5)
        // Most severe first.
        let order = ["sev-critical\" id", "sev-high\" id", "sev-medium\" id", "sev-low\" id", "sev-info\" id"].map { html.range(of: "finding " + $0)?.lowerBound }
        XCTAssertFalse(order.contains(nil))
        XCTAssertEqual(order.compactMap { $0 }, order.compactMap { $0 }.sorted())
        XCTAssertTrue(html.contains("Tampering evidence found"))
        XCTAssertTrue(html.contains("198.51.100.53") && html.contains("2001:db8::53"), "resolvers seen")
        XCTAssertTrue(html.contains("second note"))
        XCTAssertTrue(html.contains("ünïcødé 🛑"))
        XCTAssertFalse(html.contains("\u{7}"), "control characters replaced")
        XCTAssertTrue(html.contains("Content-Security-Policy"))
        // Tags balance for the elements the page uses.
        for tag in ["section", "table", "tr", "ol", "ul", "li", "dl", "h3", "p", "details"] {
            let opens = lower.components(separatedBy: "<\(tag)>").count + lower.components(separatedBy: "<\(tag) ").count - 2
            XCTAssertEqual(opens, lower.components(separatedBy: "</\(tag)>").count - 1, "<\(tag)> balanced")
        }
        let empty = HTMLReportRenderer.render(Report(toolVersion: "1", generatedAt: "now"))
        XCTAssertTrue(empty.contains("No tampering found"))
        XCTAssertTrue(empty.contains("No findings."))
    }

    // MARK: Markdown

    func testMarkdownHeadingAndTablePerFinding() throws {
        let rep = Self.report()
        let md = MarkdownReportRenderer.render(rep)
        let lines = md.components(separatedBy: "\n")
        let headings = lines.filter { $0.hasPrefix("### ") }
        XCTAssertEqual(headings.count, 5, "one heading per finding")
        XCTAssertTrue(headings[0].hasPrefix("### 1. CRITICAL"))
        XCTAssertTrue(headings[0].contains("second line"), "a newline in a title does not split the heading")
        XCTAssertTrue(headings[4].hasPrefix("### 5. INFO"))
        // After every heading: a table with the finding's id.
        for f in rep.sortedFindings {
            XCTAssertTrue(md.contains("| id | `\(f.id)` |"))
        }
        XCTAssertEqual(lines.filter { $0 == "| field | value |" }.count, 5)
        XCTAssertFalse(md.contains("<script>"), "HTML in text is escaped")
        XCTAssertFalse(md.contains("</b>"))
        XCTAssertTrue(md.contains("ünïcødé 🛑"))
        // Every table row has as many unescaped pipes as its header.
        var columns: Int?
        for l in lines {
            guard l.hasPrefix("|") else { columns = nil; continue }
            var count = 0
            var escaped = false
            for c in l {
                if escaped { escaped = false; continue }
                if c == "\\" { escaped = true } else if c == "|" { count += 1 }
            }
            if let n = columns { XCTAssertEqual(count, n, "row: \(l)") } else { columns = count }
        }
        XCTAssertTrue(md.contains("## Resolvers seen"))
        XCTAssertTrue(md.contains("## Notes"))
    }

    func testSARIFURIs() {
        XCTAssertEqual(SARIFReportRenderer.uri(forPath: "/tmp/a b#c.pcap"), "file:///tmp/a%20b%23c.pcap")
        XCTAssertEqual(SARIFReportRenderer.uri(forPath: "c:x/é.pcap"), "c%3Ax/%C3%A9.pcap")
    }
}

/// A line validator for the Prometheus text exposition format 0.0.4.
enum PromValidator {
    static let name = "[a-zA-Z_:][a-zA-Z0-9_:]*"
    static let labelValue = #""(?:[^"\\\n]|\\[\\"n])*""#
    static let label = "[a-zA-Z_][a-zA-Z0-9_]*=" + labelValue
    static let value = #"(?:NaN|[+-]?Inf|[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"#
    static let sampleRE = try! NSRegularExpression(pattern: "^(\(name))(\\{(?:\(label)(?:,\(label))*,?)?\\})? \(value)(?: -?[0-9]+)?$")
    static let helpRE = try! NSRegularExpression(pattern: #"^# HELP (\#(name)) (?:[^\\\n]|\\[\\n])*$"#)
    static let typeRE = try! NSRegularExpression(pattern: "^# TYPE (\(name)) (counter|gauge|histogram|summary|untyped)$")

    static func match(_ re: NSRegularExpression, _ line: String) -> String? {
        let ns = line as NSString
        guard let m = re.firstMatch(in: line, range: NSRange(location: 0, length: ns.length)) else { return nil }
        return ns.substring(with: m.range(at: 1))
    }

    /// Problems found: bad lines, a TYPE after samples or twice, a metric's samples not together, duplicate series.
    static func validate(_ text: String) -> [String] {
        var problems: [String] = []
        guard text.hasSuffix("\n") || text.isEmpty else { return ["no final line feed"] }
        var typed: Set<String> = [], helped: Set<String> = [], sampled: Set<String> = [], series: Set<String> = []
        var current: String?
        for (n, line) in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init).enumerated() {
            if line.hasPrefix("# HELP ") {
                guard let m = match(helpRE, line) else { problems.append("\(n + 1): bad HELP: \(line)"); continue }
                if !helped.insert(m).inserted { problems.append("\(n + 1): second HELP for \(m)") }
            } else if line.hasPrefix("# TYPE ") {
                guard let m = match(typeRE, line) else { problems.append("\(n + 1): bad TYPE: \(line)"); continue }
                if !typed.insert(m).inserted { problems.append("\(n + 1): second TYPE for \(m)") }
                if sampled.contains(m) { problems.append("\(n + 1): TYPE after samples of \(m)") }
            } else if line.hasPrefix("#") || line.isEmpty {
                continue
            } else {
                guard let m = match(sampleRE, line) else { problems.append("\(n + 1): bad sample: \(line)"); continue }
                if m != current && sampled.contains(m) { problems.append("\(n + 1): samples of \(m) not together") }
                current = m
                sampled.insert(m)
                let key = String(line[..<line.lastIndex(of: " ")!])
                if !series.insert(key).inserted { problems.append("\(n + 1): duplicate series \(key)") }
            }
        }
        return problems
    }

    /// Series (name with labels, as written) → value.
    static func samples(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let sp = line.lastIndex(of: " ") else { continue }
            out[String(line[..<sp])] = String(line[line.index(after: sp)...])
        }
        return out
    }
}
