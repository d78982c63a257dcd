import Findings
import Foundation
import ReportRender
import XCTest

/// EVE alert records and the ECS event time, from hand-made reports (the schema validation of
/// real captures is in EndToEndTests.OutputSchemaTests).
final class EVEAndECSRenderTests: XCTestCase {
    func lines(_ s: String) throws -> [[String: Any]] {
        try s.split(separator: "\n").map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    func testEVEAlerts() throws {
        let rep = ReportFormatRenderTests.report()
        let objs = try lines(EVERenderer.render(rep))
        XCTAssertEqual(objs.count, rep.findings.count, "one alert per finding")
        let first = try XCTUnwrap(objs.first)
        XCTAssertEqual(first["event_type"] as? String, "alert")
        XCTAssertEqual(first["timestamp"] as? String, "2024-01-02T03:04:05.000000+0000", "Suricata's timestamp spelling")
        XCTAssertEqual(first["src_ip"] as? String, "192.0.2.10")
        XCTAssertEqual(first["dest_ip"] as? String, "198.51.100.53")
        XCTAssertEqual(first["proto"] as? String, "UDP")
        XCTAssertEqual(first["pcap_cnt"] as? Int, 11)
        let alert = try XCTUnwrap(first["alert"] as? [String: Any])
        XCTAssertEqual(alert["severity"] as? Int, 1, "critical → 1")
        XCTAssertEqual(alert["signature_id"] as? Int, EVERenderer.signatureID("\(FindingKind.dnsInjection)"))
        XCTAssertTrue((alert["signature"] as? String ?? "").hasPrefix("dnsaudit dns.injection: "))
        XCTAssertEqual(EVERenderer.alertSeverity(.medium), 2)
        XCTAssertEqual(EVERenderer.alertSeverity(.info), 3)
        // Stable, distinct ids per kind.
        XCTAssertEqual(EVERenderer.signatureID("x.y"), EVERenderer.signatureID("x.y"))
        XCTAssertNotEqual(EVERenderer.signatureID("\(FindingKind.dnsInjection)"), EVERenderer.signatureID("\(FindingKind.firewallDNSRedirect)"))
        XCTAssertEqual(EVERenderer.timestamp(rfc3339: "2026-01-15T09:00:03.124307000Z"), "2026-01-15T09:00:03.124307+0000")
    }

    func testECSTimestampIsTheEventTime() throws {
        let f1 = Finding(kind: FindingKind.dnsInjection, severity: .high, confidence: .likely, title: "t", subject: [],
                         evidence: [Evidence(source: .capture, input: "a.pcap", frames: [3], detail: "d")], remediation: "")
        let f2 = Finding(kind: FindingKind.probeUnreachable, severity: .low, confidence: .likely, title: "p", subject: [],
                         evidence: [Evidence(source: .probe, detail: "d", facts: [("time", .string("2026-03-01T10:00:00.5Z"))])], remediation: "")
        let f3 = Finding(kind: FindingKind.firewallDNSRedirect, severity: .high, confidence: .likely, title: "r", subject: [],
                         evidence: [Evidence(source: .ruleset, detail: "d")], remediation: "")
        let rep = Report(toolVersion: "1", generatedAt: "2026-12-07T00:00:00Z",
                         inputs: [ReportInput(kind: "capture", name: "a.pcap", facts: [("first_packet", .string("2026-01-15T09:00:00.000000000Z")),
                                                                                       ("last_packet", .string("2026-01-15T09:00:03.124307000Z"))]),
                                  ReportInput(kind: "live", name: "eth0", facts: [("duration_seconds", .string("3.0 s"))])],
                         findings: [f1, f2, f3])
        let objs = try lines(JSONLinesRenderer.render(rep))
        func line(_ title: String) throws -> [String: Any] { try XCTUnwrap(objs.first { $0["message"] as? String == title }) }
        let cap = try line("t")
        XCTAssertEqual(cap["@timestamp"] as? String, "2026-01-15T09:00:00.000000000Z", "the capture's window, not the report's time")
        XCTAssertEqual((cap["event"] as? [String: Any])?["start"] as? String, "2026-01-15T09:00:00.000000000Z")
        XCTAssertEqual((cap["event"] as? [String: Any])?["end"] as? String, "2026-01-15T09:00:03.124307000Z")
        XCTAssertEqual((cap["event"] as? [String: Any])?["created"] as? String, "2026-12-07T00:00:00Z")
        XCTAssertEqual(try line("p")["@timestamp"] as? String, "2026-03-01T10:00:00.5Z", "the evidence's own time")
        XCTAssertEqual(try line("r")["@timestamp"] as? String, "2026-12-07T00:00:00Z", "a ruleset: the run's time")
        // Numbers are numbers.
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(JSONReportRenderer.render(rep).utf8)) as? [String: Any])
        let live = try XCTUnwrap((json["inputs"] as? [[String: Any]])?.first { $0["kind"] as? String == "live" })
        XCTAssertEqual(live["duration_seconds"] as? Double, 3.0)
        XCTAssertFalse(live["duration_seconds"] is String)
    }
}

extension EVEAndECSRenderTests {
    /// Signature ids are fixed (CONTRACT.md lists them): SIEM rules key on them.
    func testSignatureIDsAreFixed() {
        XCTAssertEqual(EVERenderer.signatureID("dns.injection"), 9_100_001)
        XCTAssertEqual(EVERenderer.signatureID("firewall.dns-redirect"), 9_100_010)
        XCTAssertEqual(EVERenderer.signatureID("probe.unreachable"), 9_100_015)
        XCTAssertEqual(EVERenderer.signatureID("tcp.reset-injection"), 9_100_016)
        XCTAssertEqual(EVERenderer.signatureID("encrypted-dns.opt-out-canary"), 9_100_020)
        XCTAssertEqual(EVERenderer.signatureID("dns.https-record-stripped"), 9_100_021)
        XCTAssertEqual(EVERenderer.signatureID("dns.ecs-forwarded"), 9_100_022)
        XCTAssertEqual(EVERenderer.signatureID("encrypted-dns.ddr-unverified"), 9_100_023)
        XCTAssertTrue((9_150_000...9_199_998).contains(EVERenderer.signatureID("some.future-kind")))
    }

    /// Every kind the tool can emit has a fixed id (none falls back to the hash range), all distinct.
    func testEveryFindingKindHasAFixedSignatureID() {
        let ids = FindingKind.allCases.map { EVERenderer.signatureID($0.rawValue) }
        for (kind, id) in zip(FindingKind.allCases, ids) {
            XCTAssertTrue((9_100_001..<9_150_000).contains(id), "\(kind.rawValue) has no fixed signature id (append it to EVERenderer.signatureKinds and CONTRACT.md)")
        }
        XCTAssertEqual(Set(ids).count, ids.count)
    }
}
