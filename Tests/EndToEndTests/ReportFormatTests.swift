import Foundation
import IntegrationSupport
import XCTest

/// Every `--format` of the built binary on a demo capture, and `--output` written atomically.
final class ReportFormatTests: XCTestCase {
    static let capture = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path

    func analyze(_ args: [String]) throws -> ProcessResult {
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--quiet"] + args + [Self.capture])
        XCTAssertEqual(r.status, 1, "the capture has a high finding: exit 1 (\(args)); stderr: \(r.stderr)")
        return r
    }

    func testEveryFormatOnStandardOutput() throws {
        for format in ["text", "json", "jsonl", "markdown", "html", "sarif", "prometheus"] {
            let r = try analyze(["--format", format])
            let out = String(decoding: r.stdout, as: UTF8.self)
            XCTAssertFalse(out.isEmpty, format)
            XCTAssertTrue(r.stderr.isEmpty, "\(format): \(r.stderr)")
            switch format {
            case "text":
                XCTAssertFalse(out.contains("\u{1B}["), "no colour when piped")
                XCTAssertTrue(out.contains("dns.injection"))
            case "json":
                let o = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
                XCTAssertEqual(o["schema"] as? String, "dnsaudit/report-v1")
            case "jsonl":
                let lines = out.split(separator: "\n")
                XCTAssertGreaterThanOrEqual(lines.count, 2)
                for l in lines {
                    let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any], String(l))
                    XCTAssertNotNil(o["event_type"])
                }
                let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
                XCTAssertEqual((first["rule"] as? [String: Any])?["name"] as? String, "dns.injection")
                XCTAssertEqual(((first["dns"] as? [String: Any])?["question"] as? [String: Any])?["name"] as? String, "www.example.org")
            case "markdown":
                XCTAssertTrue(out.hasPrefix("# dnsaudit report"))
                XCTAssertTrue(out.contains("### 1. HIGH"))
            case "html":
                XCTAssertTrue(out.hasPrefix("<!DOCTYPE html>"))
                XCTAssertFalse(out.lowercased().contains("<script"))
                XCTAssertTrue(out.contains("198.51.100.53"))
            case "sarif":
                let o = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
                XCTAssertEqual(o["version"] as? String, "2.1.0")
                let run = try XCTUnwrap((o["runs"] as? [[String: Any]])?.first)
                let results = try XCTUnwrap(run["results"] as? [[String: Any]])
                XCTAssertEqual(results.first?["ruleId"] as? String, "dns.injection")
                XCTAssertEqual(results.first?["level"] as? String, "error")
                let loc = (results.first?["locations"] as? [[String: Any]])?.first
                let uri = ((loc?["physicalLocation"] as? [String: Any])?["artifactLocation"] as? [String: Any])?["uri"] as? String
                XCTAssertTrue(uri?.hasSuffix("captures/dns-injection.pcap") ?? false, "artifact: \(uri ?? "none")")
            case "prometheus":
                XCTAssertEqual(promProblems(out), [])
                XCTAssertTrue(out.contains("dnsaudit_findings{kind=\"dns.injection\",severity=\"high\"} 1\n"))
                XCTAssertTrue(out.contains("dnsaudit_last_run_success 1\n"))
                XCTAssertTrue(out.contains("dnsaudit_packets 28\n"))
            default:
                XCTFail(format)
            }
        }
    }

    func testPrometheusOutputFileIsWrittenAtomically() throws {
        let dir = try TempDirs.make(prefix: "dnsaudit-prom", unique: UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: dir) }
        let prom = dir.appendingPathComponent("dnsaudit.prom")
        for round in 0..<2 {  // the second run replaces the first file
            let r = try analyze(["--format", "prometheus", "--output", prom.path])
            XCTAssertTrue(r.stdout.isEmpty, "nothing on standard output with --output")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["dnsaudit.prom"],
                           "round \(round): the file and no temporary file left behind")
        }
        let text = try String(contentsOf: prom, encoding: .utf8)
        XCTAssertEqual(promProblems(text), [])
        XCTAssertTrue(text.contains("dnsaudit_findings{kind=\"dns.injection\",severity=\"high\"} 1\n"))
        try parseWithPrometheusClient(prom)

        // Every other format honours --output too.
        let json = dir.appendingPathComponent("report.json")
        _ = try analyze(["--format", "json", "--output", json.path])
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)), ["dnsaudit.prom", "report.json"])

        // A directory that does not exist: exit 2 with one line on stderr.
        let bad = try runProcess(TestPaths.dnsaudit, ["analyze", "--quiet", "--format", "prometheus", "--output",
                                                      dir.appendingPathComponent("missing/x.prom").path, Self.capture])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("cannot write"), bad.stderr)
    }

    /// The official Python client's parser, when python3 and prometheus_client are installed.
    func parseWithPrometheusClient(_ file: URL) throws {
        let script = """
        import json, sys
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError as e:
            print("SKIP " + str(e)); sys.exit(0)
        out = {}
        for fam in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()):
            for s in fam.samples:
                out.setdefault(fam.name, []).append([s.name, s.labels, s.value])
        print(json.dumps(out))
        """
        let r: ProcessResult
        do {
            r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, file.path])
        } catch {
            print("ReportFormatTests: python3 not runnable (\(error)); prometheus_client parse skipped")
            return
        }
        let out = String(decoding: r.stdout, as: UTF8.self)
        if r.status == 127 || out.hasPrefix("SKIP") {
            print("ReportFormatTests: prometheus_client parse skipped: \(r.status == 127 ? "python3 not found" : out)")
            return
        }
        XCTAssertEqual(r.status, 0, "prometheus_client could not parse the file: \(r.stderr)")
        let families = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: [[Any]]], out)
        let findings = try XCTUnwrap(families["dnsaudit_findings"])
        XCTAssertTrue(findings.contains {
            ($0[1] as? [String: String]) == ["kind": "dns.injection", "severity": "high"] && ($0[2] as? Double) == 1
        })
        XCTAssertEqual(families["dnsaudit_last_run_success"]?.first?[2] as? Double, 1)
        XCTAssertEqual(families["dnsaudit_packets"]?.first?[2] as? Double, 28)
        XCTAssertGreaterThan(families["dnsaudit_last_run_timestamp_seconds"]?.first?[2] as? Double ?? 0, 1_600_000_000)
    }

    /// Exposition format 0.0.4, line by line: HELP, TYPE (once, before the samples), samples.
    func promProblems(_ text: String) -> [String] {
        let name = "[a-zA-Z_:][a-zA-Z0-9_:]*"
        let label = #"[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*""#
        let value = #"(?:NaN|[+-]?Inf|[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"#
        let patterns = [
            #"^# HELP \#(name) (?:[^\\\n]|\\[\\n])*$"#,
            "^# TYPE \(name) (?:counter|gauge|histogram|summary|untyped)$",
            "^\(name)(?:\\{(?:\(label)(?:,\(label))*,?)?\\})? \(value)(?: -?[0-9]+)?$",
        ]
        var problems: [String] = []
        var typed: Set<String> = []
        var sampled: Set<String> = []
        guard text.hasSuffix("\n") else { return ["no final line feed"] }
        for line in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            guard patterns.contains(where: { line.range(of: $0, options: .regularExpression) != nil }) else {
                problems.append("bad line: \(line)")
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let metric = line.split(separator: " ")[2]
                if !typed.insert(String(metric)).inserted || sampled.contains(String(metric)) { problems.append("misplaced TYPE: \(line)") }
            } else if !line.hasPrefix("#") {
                let metric = String(line.prefix { $0 != "{" && $0 != " " })
                sampled.insert(metric)
                if !typed.contains(metric) { problems.append("sample before its TYPE: \(line)") }
            }
        }
        return problems
    }
}
