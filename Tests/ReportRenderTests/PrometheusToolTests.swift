import Findings
import Foundation
import ReportRender
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The Prometheus output and the shipped alerting rules, checked by Prometheus's own tool:
/// `promtool check metrics` (exposition format and the naming guide's lint) and `promtool test
/// rules` (rules/prometheus/dnsaudit.rules.test.yml). Skips with a printed reason when promtool
/// (Debian package `prometheus`) is not installed.
final class PrometheusToolTests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func promtool() throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/promtool") {
            return dir + "/promtool"
        }
        let reason = "PrometheusToolTests: promtool not found; install it with: apt-get install -y prometheus"
        print("SKIP " + reason)
        throw XCTSkip(reason)
    }

    /// Runs promtool with `stdin` (may be nil), returns (status, stdout + stderr).
    static func run(_ exe: String, _ args: [String], stdin: String? = nil, cwd: URL? = nil) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-promtool-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: tmp.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = try FileHandle(forWritingTo: tmp)
        p.standardOutput = out
        p.standardError = out
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inPipe.fileHandleForWriting.close()
        p.waitUntilExit()
        try out.close()
        return (p.terminationStatus, String(decoding: (try? Data(contentsOf: tmp)) ?? Data(), as: UTF8.self))
    }

    func testCheckMetricsIsClean() throws {
        let tool = try Self.promtool()
        var reports: [(String, Report)] = [("fixture", ReportFormatRenderTests.report())]
        reports.append(("empty", Report(toolVersion: "1.0", generatedAt: "2026-01-01T00:00:00Z")))
        for (name, rep) in reports {
            for success in [true, false] {
                let text = PrometheusReportRenderer.render(rep, success: success)
                let (status, output) = try Self.run(tool, ["check", "metrics"], stdin: text)
                XCTAssertEqual(status, 0, "promtool check metrics on the \(name) report (success \(success)):\n\(output)")
                XCTAssertTrue(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no lint: \(output)")
            }
        }
        // The tool does reject what the renderer used to write, so a clean result means something.
        let old = "# HELP dnsaudit_findings_total x\n# TYPE dnsaudit_findings_total gauge\ndnsaudit_findings_total{severity=\"high\"} 1\n"
        XCTAssertNotEqual(try Self.run(tool, ["check", "metrics"], stdin: old).0, 0)
    }

    /// The names the alerting rules and dashboards rely on.
    func testNamesAndTypes() {
        let text = PrometheusReportRenderer.render(ReportFormatRenderTests.report())
        var types: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            types[String(parts[2])] = String(parts[3])
        }
        for name in ["dnsaudit_findings", "dnsaudit_findings_by_severity", "dnsaudit_last_run_timestamp_seconds",
                     "dnsaudit_last_run_success", "dnsaudit_last_run_inconclusive", "dnsaudit_build_info"] {
            XCTAssertEqual(types[name], "gauge", name)
        }
        for (name, type) in types {
            XCTAssertEqual(name.hasSuffix("_total"), type == "counter", "\(name): _total only on counters")
        }
    }

    func testAlertingRules() throws {
        let tool = try Self.promtool()
        let dir = Self.repoRoot.appendingPathComponent("rules/prometheus")
        let (cs, co) = try Self.run(tool, ["check", "rules", "dnsaudit.rules.yml"], cwd: dir)
        XCTAssertEqual(cs, 0, co)
        XCTAssertTrue(co.contains("SUCCESS: 4 rules found"), co)
        let (ts, to) = try Self.run(tool, ["test", "rules", "dnsaudit.rules.test.yml"], cwd: dir)
        XCTAssertEqual(ts, 0, to)
        XCTAssertTrue(to.contains("SUCCESS"), to)
    }
}
