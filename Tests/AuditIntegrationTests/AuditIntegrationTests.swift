import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Root only. Each test builds its own client — router — services namespaces (see `AuditLab`):
/// a "public" unbound (Do53 / DoT / DoH) at 198.18.10.53, a rogue dnsmasq at 198.18.20.53
/// (www.lab.test → 198.18.66.66) and a web server for www.lab.test at 198.18.50.10; in the hijack
/// tests the router DNATs the client's plain DNS for 198.18.10.53 to the rogue. The built
/// `dnsaudit live --reference` runs in the client namespace, `dnsaudit audit` in the router
/// namespace (it audits the ruleset of its own namespace) — always with the lab's own references,
/// resolvers and names, never the built-in public defaults.
///
/// Needs: root, `ip` and `ss` (iproute2), `nft`, `unbound`, `dnsmasq`, `openssl`. Optional:
/// python3 with jsonschema / prometheus_client, chromium, systemd-analyze (their checks are
/// skipped, with the reason printed, when missing).
final class AuditIntegrationTests: XCTestCase {
    private let session = LabSession<AuditLab>("audit lab", kept: "configs, server logs, reports")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    /// Tools (or skip), a built topology, the PKI and the services; with `hijack` the router's DNAT.
    private func makeLab(_ tag: String, hijack: Bool) throws -> (AuditLab, AuditLabPKI) {
        let lab = try session.begin { try AuditLab(tools: try AuditLabTools.require(), tag: tag) }
        try lab.build()
        let pki = try AuditLabPKI.make(in: lab.dir, openssl: lab.tools.openssl)
        try lab.startServices(pki)
        if hijack { try lab.routerRules(AuditLab.hijackRules) }
        // The lab does what it should: plain DNS from the client gets the rogue's answer only when hijacked.
        let a = try AuditNamespaceDNS.query(in: lab.clientNS, server: AuditLab.resolverAddress, name: AuditLab.webName)
        XCTAssertEqual(a.addresses, [hijack ? AuditLab.rogueWebAnswer : AuditLab.webAddress], "lab: the client's view of www.lab.test")
        return (lab, pki)
    }

    private static var references: [String] { ["--reference", AuditLab.dohReference, "--reference", AuditLab.dotReference] }

    // MARK: - 1. live --reference

    /// Runs `dnsaudit live --reference` on the client's veth while the client asks for www.lab.test
    /// a few times; returns the parsed report and the process.
    private func runLive(_ lab: AuditLab, _ pki: AuditLabPKI, name: String) throws -> (AuditReport, SpawnedProcess) {
        let args = [PackagePaths.dnsaudit.path, "live", "-i", lab.clientIf, "--duration", "6", "--format", "json"]
            + Self.references + ["--ca-file", pki.caCert.path]
        // Guard: a live run with references in this lab always names the lab's own references.
        precondition(args.contains(AuditLab.dohReference) && args.contains(AuditLab.dotReference))
        let live = try lab.spawn(lab.clientNS, name: name, args, separateOutputs: true)
        guard waitUntil(timeout: 15, poll: 0.05, { !live.isRunning || live.stderr.contains("listening on") }), live.isRunning else {
            throw LabError("dnsaudit live did not start listening (exit \(live.exitCode.map(String.init) ?? "?")): \(live.stderr)")
        }

        // Privileges are gone once it listens (default --user nobody).
        XCTAssertEqual(auditProcessUids(live.pid), Array(repeating: defaultDropUID(), count: 4),
                       "dnsaudit live --reference should run as nobody after opening the capture")

        var answers: [String] = []
        for _ in 0..<4 {
            let a = try AuditNamespaceDNS.query(in: lab.clientNS, server: AuditLab.resolverAddress, name: AuditLab.webName)
            answers += a.addresses
            usleep(200_000)
        }
        print("audit lab \(name): client got \(answers)")
        guard live.waitForExit(timeout: 40) else {
            live.stop(signal: SIGKILL)
            throw LabError("dnsaudit live did not stop after --duration 6 (killed): \(live.stderr)")
        }
        let r = try AuditReport(data: live.stdoutData, what: "dnsaudit live --reference")
        print("dnsaudit live --reference (\(name)): exit \(live.exitCode.map(String.init) ?? "?"); \(r.described)\nstderr: \(live.stderr.prefix(800))")
        return (r, live)
    }

    func testLiveReferencesFindTheHijackedAnswer() throws {
        let (lab, pki) = try makeLab("h", hijack: true)
        let (r, live) = try runLive(lab, pki, name: "live-hijack")
        XCTAssertEqual(live.exitCode, 1, "a hijacked answer: exit 1; stderr: \(live.stderr)")
        let mismatch = r.findings(kind: "dns.answer-mismatch").filter { AuditReport.qname($0) == AuditLab.webName }
        XCTAssertEqual(mismatch.count, 1, "one dns.answer-mismatch for www.lab.test\n\(r.described)")
        if let f = mismatch.first {
            XCTAssertTrue(AuditReport.mediumOrAbove.contains(f["severity"] as? String ?? ""), "\(r.described)")
            let s = AuditReport.subject(f)
            XCTAssertEqual(s["qtype"] as? String, "A", "\(r.described)")
            XCTAssertEqual(s["resolver"] as? String, AuditLab.resolverAddress, "the resolver the client asked\n\(r.described)")
            let text = AuditReport.json(f)
            XCTAssertTrue(text.contains(AuditLab.rogueWebAnswer), "the path's answer is in the finding: \(text)")
            XCTAssertTrue(text.contains(AuditLab.webAddress), "the references' answer is in the finding: \(text)")
        }
        // The references are reported as inputs, and nothing says they were unavailable.
        XCTAssertEqual(r.inputs.filter { $0["kind"] as? String == "reference" }.count, 2, "two reference inputs: \(AuditReport.json(r.inputs))")
        XCTAssertTrue(r.inputs.contains { $0["kind"] as? String == "live" }, "a live input: \(AuditReport.json(r.inputs))")
        XCTAssertFalse(r.notes.contains { $0.lowercased().contains("unavailable") }, "both lab references must be usable\n\(r.described)")
        // The references' own encrypted traffic on the same interface is no finding.
        XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty, "\(r.described)")
        XCTAssertTrue(r.findings.filter { ($0["kind"] as? String ?? "").hasPrefix("tls.") }.isEmpty, "\(r.described)")
    }

    func testLiveReferencesCleanControl() throws {
        let (lab, pki) = try makeLab("k", hijack: false)
        let (r, live) = try runLive(lab, pki, name: "live-clean")
        XCTAssertEqual(live.exitCode, 0, "a clean path: exit 0\n\(r.described)\nstderr: \(live.stderr)")
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, "a clean path: no medium+ finding\n\(r.described)")
        XCTAssertTrue(r.findings(kind: "dns.answer-mismatch").isEmpty, "\(r.described)")
        XCTAssertTrue(r.findings(kind: "dns.nxdomain-rewrite").isEmpty, "\(r.described)")
        XCTAssertGreaterThanOrEqual(r.summary["dns_transactions"] as? Int ?? 0, 4, "the client's 4 queries were seen: \(AuditReport.json(r.summary))")
    }

    // MARK: - 2. audit

    static let outputFormats: [(format: String, file: String)] = [
        ("text", "report.txt"), ("json", "report.json"), ("jsonl", "report.jsonl"), ("markdown", "report.md"),
        ("html", "report.html"), ("sarif", "report.sarif"), ("prometheus", "dnsaudit.prom"),
    ]

    /// A policy for the router namespace: lab references, resolvers, targets and names only.
    private func writePolicy(_ lab: AuditLab, _ pki: AuditLabPKI, outputs: URL) throws -> URL {
        let outs = Self.outputFormats.map { "\($0.format) = \"\(outputs.appendingPathComponent($0.file).path)\"" }.joined(separator: "\n")
        let policy = """
        # dnsaudit audit policy for the namespace lab (router namespace). Lab addresses only.
        approved_resolvers = ["\(AuditLab.resolverAddress)"]

        [firewall]
        approved_targets = []
        approve_encrypted_dns_blocks = false
        doh_resolvers = ["\(AuditLab.resolverAddress)"]

        [audit]
        interface = "\(lab.routerClientIf)"
        duration = 5
        fail_on = "medium"

        [audit.outputs]
        \(outs)

        [references]
        urls = ["\(AuditLab.dohReference)", "\(AuditLab.dotReference)"]
        ca_file = "\(pki.caCert.path)"
        timeout = 2

        [probe]
        resolvers = ["\(AuditLab.resolverAddress)"]
        targets = ["\(AuditLab.webName)"]
        check_name = "\(AuditLab.webName)"
        canary_zone = "\(AuditLab.zone)"
        dnssec = false
        identity = true

        """
        let url = lab.file("policy.toml")
        try policy.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// Runs `dnsaudit audit` inside the router namespace while the client asks for www.lab.test
    /// every 300 ms (through the router, so the capture window sees it).
    private func runAudit(_ lab: AuditLab, policy: URL, name: String) throws -> (SpawnedProcess, AuditReport) {
        let policyText = try String(contentsOf: policy, encoding: .utf8)
        // Guard: the policy names the lab's references, resolvers and names, never the defaults.
        precondition(policyText.contains(AuditLab.dohReference) && policyText.contains("check_name = \"\(AuditLab.webName)\"")
                     && policyText.contains("canary_zone = \"\(AuditLab.zone)\"") && policyText.contains("dnssec = false"))
        let flag = AuditStopFlag()
        AuditNamespaceDNS.startQueryLoop(in: lab.clientNS, server: AuditLab.resolverAddress, name: AuditLab.webName, interval: 0.3, flag: flag)
        defer { flag.stop() }
        let t0 = Date()
        let audit = try lab.spawn(lab.routerNS, name: name, [PackagePaths.dnsaudit.path, "audit", "--policy", policy.path,
                                                             "--interface", lab.routerClientIf, "--duration", "5", "--format", "json"],
                                  separateOutputs: true)
        guard audit.waitForExit(timeout: 120) else {
            audit.stop(signal: SIGKILL)
            throw LabError("dnsaudit audit did not finish in 120 s (killed): \(audit.stderr.prefix(2000))")
        }
        flag.stop()
        guard let code = audit.exitCode, code == 0 || code == 1 else {
            let crash = audit.stderr.split(separator: "\n").filter { $0.contains("Fatal error") || $0.contains("crashed") || $0.hasPrefix("dnsaudit:") }
            throw LabError("dnsaudit audit ended with \(audit.exitCode.map { "exit \($0)" } ?? "a signal") and no report: "
                                + crash.prefix(6).joined(separator: " / "))
        }
        let r = try AuditReport(data: audit.stdoutData, what: "dnsaudit audit (stdout)")
        print(String(format: "dnsaudit audit (%@): %.1f s, exit %@; client queries answered during the run: %d; ",
                     name, Date().timeIntervalSince(t0), audit.exitCode.map(String.init) ?? "?", flag.value)
              + r.described + "\nstderr: \(audit.stderr.prefix(1500))")
        return (audit, r)
    }

    func testAuditInHijackingRouterAndItsOutputs() throws {
        let (lab, pki) = try makeLab("a", hijack: true)
        let outputs = lab.file("out")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        chmod(outputs.path, 0o1777)
        let policy = try writePolicy(lab, pki, outputs: outputs)
        let (audit, stdoutReport) = try runAudit(lab, policy: policy, name: "audit-hijack")
        XCTAssertEqual(audit.exitCode, 1, "a DNAT of DNS to a rogue resolver: exit 1; stderr: \(audit.stderr.prefix(1500))")

        // Every [audit.outputs] entry exists, and nothing else (atomic writes leave no temp files).
        let written = Set((try? FileManager.default.contentsOfDirectory(atPath: outputs.path)) ?? [])
        XCTAssertEqual(written, Set(Self.outputFormats.map { $0.file }), "the [audit.outputs] files, and no leftovers")
        for o in Self.outputFormats {
            let size = (try? FileManager.default.attributesOfItem(atPath: outputs.appendingPathComponent(o.file).path)[.size] as? NSNumber)?.intValue ?? 0
            XCTAssertGreaterThan(size, 0, "\(o.file) (\(o.format)) is empty or missing")
        }

        // JSON: the contract's shape, and the redirect.
        let jsonURL = outputs.appendingPathComponent("report.json")
        let r = try AuditReport(data: (try? Data(contentsOf: jsonURL)) ?? Data(), what: "report.json")
        checkContractShape(r)
        let redirect = r.findings(kind: "firewall.dns-redirect")
        XCTAssertGreaterThanOrEqual(redirect.count, 1, "firewall.dns-redirect for the router's DNAT\n\(r.described)")
        if let f = redirect.first {
            XCTAssertTrue(AuditReport.mediumOrAbove.contains(f["severity"] as? String ?? ""), "\(r.described)")
            XCTAssertTrue(AuditReport.json(f).contains(AuditLab.rogueAddress), "the DNAT target is named: \(AuditReport.json(f))")
        }
        let kinds = Set(r.inputs.compactMap { $0["kind"] as? String })
        XCTAssertTrue(kinds.isSuperset(of: ["ruleset", "probe", "live"]), "one run = rules + probes + capture: input kinds \(kinds)")
        XCTAssertEqual(Set(r.findings.compactMap { $0["id"] as? String }), Set(stdoutReport.findings.compactMap { $0["id"] as? String }),
                       "report.json and the --format json on stdout carry the same findings")
        let byKind = Dictionary(grouping: r.findings, by: { $0["kind"] as? String ?? "?" }).mapValues { $0.count }
        print("audit lab: hijacked audit findings by kind: \(byKind.sorted { $0.key < $1.key })")

        checkSARIF(outputs.appendingPathComponent("report.sarif"), findings: r.findings)
        checkPrometheus(outputs.appendingPathComponent("dnsaudit.prom"), report: r)
        checkHTML(outputs.appendingPathComponent("report.html"), findings: r.findings, lab: lab)
        let md = (try? String(contentsOf: outputs.appendingPathComponent("report.md"), encoding: .utf8)) ?? ""
        XCTAssertTrue(md.contains("firewall.dns-redirect"), "the markdown report names the redirect")
        let jsonl = (try? String(contentsOf: outputs.appendingPathComponent("report.jsonl"), encoding: .utf8)) ?? ""
        let lines = jsonl.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        XCTAssertEqual(lines.count, jsonl.split(separator: "\n").count, "every jsonl line is a JSON object")
        let text = (try? String(contentsOf: outputs.appendingPathComponent("report.txt"), encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("firewall.dns-redirect"), "the text report names the redirect")
    }

    func testAuditCleanRouterExitsZero() throws {
        let (lab, pki) = try makeLab("n", hijack: false)
        let outputs = lab.file("out")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        chmod(outputs.path, 0o1777)
        let policy = try writePolicy(lab, pki, outputs: outputs)
        let (audit, r) = try runAudit(lab, policy: policy, name: "audit-clean")
        XCTAssertEqual(audit.exitCode, 0, "a clean router: exit 0\n\(r.described)\nstderr: \(audit.stderr.prefix(1500))")
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, "no medium+ finding\n\(r.described)")
        XCTAssertTrue(r.findings(kind: "firewall.dns-redirect").isEmpty, "\(r.described)")
        XCTAssertFalse(r.notes.contains { $0.lowercased().contains("unavailable") }, "both lab references must be usable\n\(r.described)")
        for o in Self.outputFormats {
            XCTAssertTrue(FileManager.default.fileExists(atPath: outputs.appendingPathComponent(o.file).path), "\(o.file) written on a clean run too")
        }
    }

    // MARK: Output checks

    private func checkContractShape(_ r: AuditReport, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.report["schema"] as? String, "dnsaudit/report-v1", file: file, line: line)
        for key in ["schema", "tool", "generated_at", "inputs", "summary", "findings"] {
            XCTAssertNotNil(r.report[key], "top-level key \(key)", file: file, line: line)
        }
        XCTAssertEqual((r.report["tool"] as? [String: Any])?["name"] as? String, "dnsaudit", file: file, line: line)
        let generated = r.report["generated_at"] as? String ?? ""
        XCTAssertNotNil(generated.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"#, options: .regularExpression),
                        "generated_at is RFC 3339 UTC: \(generated)", file: file, line: line)
        for key in ["findings_by_severity", "packets", "dns_messages", "dns_transactions", "unanswered_queries",
                    "tls_client_hellos", "resolvers", "malformed", "dropped"] {
            XCTAssertNotNil(r.summary[key], "summary.\(key)", file: file, line: line)
        }
        let bySeverity = r.summary["findings_by_severity"] as? [String: Int] ?? [:]
        XCTAssertEqual(Set(bySeverity.keys), ["critical", "high", "medium", "low", "info"], file: file, line: line)
        XCTAssertEqual(bySeverity.values.reduce(0, +), r.findings.count, "findings_by_severity adds up", file: file, line: line)
        for f in r.findings {
            for key in ["id", "kind", "severity", "confidence", "title", "subject", "evidence", "remediation"] {
                XCTAssertNotNil(f[key], "finding key \(key) in \(AuditReport.json(f))", file: file, line: line)
            }
            XCTAssertTrue(["critical", "high", "medium", "low", "info"].contains(f["severity"] as? String ?? ""), file: file, line: line)
            XCTAssertTrue(["confirmed", "likely", "possible"].contains(f["confidence"] as? String ?? ""), file: file, line: line)
        }
        for i in r.inputs {
            XCTAssertNotNil(i["kind"] as? String, "input kind: \(AuditReport.json(i))", file: file, line: line)
            XCTAssertNotNil(i["name"] as? String, "input name: \(AuditReport.json(i))", file: file, line: line)
        }
    }

    static let sarifSchema = #"""
    {"type": "object", "required": ["version", "runs"],
     "properties": {
       "version": {"const": "2.1.0"},
       "runs": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["tool", "results"],
         "properties": {
           "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {"type": "object", "required": ["name"],
             "properties": {"name": {"const": "dnsaudit"}, "version": {"type": "string"},
                            "rules": {"type": "array", "items": {"type": "object", "required": ["id"]}}}}}},
           "results": {"type": "array", "items": {"type": "object", "required": ["message"],
             "properties": {"ruleId": {"type": "string"}, "level": {"enum": ["none", "note", "warning", "error"]},
                            "message": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
                            "locations": {"type": "array"}}}}}}}}}
    """#

    private func checkSARIF(_ url: URL, findings: [[String: Any]]) {
        guard let data = try? Data(contentsOf: url), let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return XCTFail("report.sarif is not a JSON object")
        }
        XCTAssertEqual(o["version"] as? String, "2.1.0")
        let run = (o["runs"] as? [[String: Any]])?.first ?? [:]
        let driver = (run["tool"] as? [String: Any])?["driver"] as? [String: Any] ?? [:]
        XCTAssertEqual(driver["name"] as? String, "dnsaudit")
        let results = run["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(results.count, findings.count, "one SARIF result per finding")
        let ruleIds = Set(results.compactMap { $0["ruleId"] as? String })
        XCTAssertTrue(ruleIds.contains("firewall.dns-redirect") || results.contains { AuditReport.json($0).contains("firewall.dns-redirect") },
                      "the redirect is among the SARIF results: \(ruleIds)")
        guard let python = pythonWith(module: "jsonschema") else {
            print("audit lab: SARIF schema validation skipped: no python3 with the jsonschema module")
            return
        }
        let schemaURL = url.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sarif-min.schema.json")
        try? Self.sarifSchema.write(to: schemaURL, atomically: true, encoding: .utf8)
        let script = "import json, sys, jsonschema\njsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))\nprint('sarif ok')"
        let r = try? runBounded(python, ["-c", script, url.path, schemaURL.path], timeout: 60)
        XCTAssertEqual(r?.status, 0, "SARIF against a minimal 2.1.0 schema: \(r?.output.suffix(1500) ?? "did not run")")
    }

    private func checkPrometheus(_ url: URL, report r: AuditReport) {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("dnsaudit_findings"), "dnsaudit_findings series in the .prom file:\n\(text.prefix(1500))")
        XCTAssertTrue(text.hasSuffix("\n"), "a textfile-collector file ends with a newline")
        guard let python = pythonWith(module: "prometheus_client") else {
            print("audit lab: Prometheus parse check skipped: no python3 with the prometheus_client module")
            return
        }
        let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
            for s in fam.samples:
                out.append({"family": fam.name, "name": s.name, "labels": s.labels, "value": s.value})
        print(json.dumps(out))
        """
        guard let run = try? runBounded(python, ["-c", script, url.path], timeout: 60), run.status == 0,
              let samples = (try? JSONSerialization.jsonObject(with: run.stdoutData)) as? [[String: Any]] else {
            return XCTFail("prometheus_client could not parse the .prom file:\n\(text.prefix(1500))")
        }
        let findings = samples.filter { $0["family"] as? String == "dnsaudit_findings" }
        XCTAssertFalse(findings.isEmpty, "a dnsaudit_findings family: \(Set(samples.compactMap { $0["family"] as? String }))")
        // When every sample carries a severity label, their sums per severity match the JSON report.
        if !findings.isEmpty, findings.allSatisfy({ ($0["labels"] as? [String: String])?["severity"] != nil }) {
            var sums: [String: Int] = [:]
            for s in findings {
                sums[(s["labels"] as? [String: String])?["severity"] ?? "", default: 0] += Int((s["value"] as? Double) ?? 0)
            }
            let bySeverity = r.summary["findings_by_severity"] as? [String: Int] ?? [:]
            for (sev, n) in bySeverity { XCTAssertEqual(sums[sev] ?? 0, n, "dnsaudit_findings{severity=\"\(sev)\"} vs the JSON report") }
        }
        print("audit lab: prometheus families: \(Set(samples.compactMap { $0["family"] as? String }).sorted())")
    }

    private func checkHTML(_ url: URL, findings: [[String: Any]], lab: AuditLab) {
        let html = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        XCTAssertTrue(html.lowercased().contains("<html"), "an HTML document")
        let normalized = htmlNormalizedQuotes(html)
        for f in findings {
            let title = f["title"] as? String ?? ""
            XCTAssertTrue(normalized.contains(htmlEscaped(title)), "the HTML report shows the title (HTML-escaped): \(title)")
        }
        guard let chromium = AuditLabTools.find("chromium") ?? AuditLabTools.find("chromium-browser") else {
            print("audit lab: HTML rendering check skipped: no chromium or chromium-browser binary")
            return
        }
        // Rendered in the isolated router namespace (a file:// page; nothing to reach anyway).
        let png = lab.file("report.png")
        let r = try? lab.exec(lab.routerNS, [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--screenshot=\(png.path)",
                                             "--window-size=1200,2000", "file://\(url.path)"], timeout: 90)
        let size = (try? FileManager.default.attributesOfItem(atPath: png.path)[.size] as? NSNumber)?.intValue ?? 0
        XCTAssertGreaterThan(size, 10_000, "chromium rendered the HTML report to a PNG: \(r?.output.suffix(800) ?? "did not run")")
    }

    // MARK: - 3. --print-systemd

    func testPrintSystemdUnits() throws {
        let lab = try session.begin { try AuditLab(tools: try AuditLabTools.require(), tag: "s") }
        // Run in an empty namespace: printing the units should send nothing; if it did not, nothing could leave anyway.
        let ns = try lab.buildIsolated()
        let policy = lab.file("policy.toml")
        try """
        approved_resolvers = ["\(AuditLab.resolverAddress)"]
        [audit]
        interface = "lo"
        duration = 5
        [references]
        urls = ["\(AuditLab.dohReference)"]
        [probe]
        resolvers = ["\(AuditLab.resolverAddress)"]
        targets = ["\(AuditLab.webName)"]
        check_name = "\(AuditLab.webName)"
        canary_zone = "\(AuditLab.zone)"
        dnssec = false

        """.write(to: policy, atomically: true, encoding: .utf8)
        let r = try lab.exec(ns, [PackagePaths.dnsaudit.path, "audit", "--print-systemd", "--policy", policy.path], timeout: 30)
        print("dnsaudit audit --print-systemd: exit \(r.status)\n\(r.stdout)\nstderr: \(r.stderr)")
        XCTAssertEqual(r.status, 0, r.output)
        let out = r.stdout
        let lines = out.components(separatedBy: "\n")
        for section in ["[Unit]", "[Service]", "[Timer]", "[Install]"] {
            XCTAssertTrue(lines.contains { $0.trimmingCharacters(in: .whitespaces) == section }, "\(section) section:\n\(out)")
        }
        let execStart = lines.first { $0.hasPrefix("ExecStart=") } ?? ""
        XCTAssertTrue(execStart.contains("dnsaudit audit") || execStart.range(of: #"dnsaudit\S* audit"#, options: .regularExpression) != nil,
                      "ExecStart runs dnsaudit audit: \(execStart)")
        XCTAssertTrue(execStart.contains(policy.path), "ExecStart names the policy given: \(execStart)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("OnCalendar=") }, "the timer has OnCalendar=:\n\(out)")

        // Split into the service and the timer: the timer starts at the last [Unit] before [Timer]
        // that comes after [Service] (or at [Timer] itself).
        guard let serviceIdx = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "[Service]" }),
              let timerIdx = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "[Timer]" }), serviceIdx < timerIdx else {
            return XCTFail("a service followed by a timer:\n\(out)")
        }
        let timerStart = lines[serviceIdx..<timerIdx].lastIndex { $0.trimmingCharacters(in: .whitespaces) == "[Unit]" } ?? timerIdx
        let service = lines[..<timerStart].joined(separator: "\n") + "\n"
        let timer = lines[timerStart...].joined(separator: "\n") + "\n"
        guard let analyze = AuditLabTools.find("systemd-analyze") else {
            print("audit lab: systemd-analyze verify skipped: systemd-analyze is not installed")
            return
        }
        // Unit names: the timer's Unit= if it says, else dnsaudit-audit.
        var base = "dnsaudit-audit"
        if let u = lines.first(where: { $0.hasPrefix("Unit=") }), u.hasSuffix(".service") {
            base = String(u.dropFirst("Unit=".count).dropLast(".service".count))
        }
        let unitDir = lab.file("units")
        try FileManager.default.createDirectory(at: unitDir, withIntermediateDirectories: true)
        let serviceURL = unitDir.appendingPathComponent("\(base).service"), timerURL = unitDir.appendingPathComponent("\(base).timer")
        try service.write(to: serviceURL, atomically: true, encoding: .utf8)
        try timer.write(to: timerURL, atomically: true, encoding: .utf8)
        // --man=no: Documentation=man:… pages need not be installed on a test machine.
        let v = try lab.exec(ns, [analyze, "verify", "--man=no", serviceURL.path, timerURL.path], timeout: 60)
        print("systemd-analyze verify: exit \(v.status)\n\(v.output)")
        // Ignore complaints that have nothing to do with the units (no systemd running as PID 1 in
        // a container, an ExecStart binary not installed under that path on this machine).
        let relevant = v.output.split(separator: "\n").filter { l in
            (l.contains(base) || l.contains("Unknown") || l.contains("Invalid") || l.contains("Failed to parse") || l.contains("Missing"))
                && !l.contains("is not executable") && !l.contains("No such file or directory")
        }
        XCTAssertTrue(relevant.isEmpty, "systemd-analyze verify complains about the units:\n\(v.output)\n--- service:\n\(service)--- timer:\n\(timer)")
    }
}
