import Findings
import Foundation
import ReportRender
import XCTest

/// The HTML report's fixes and pictures: one banner sentence, readable durations, no literal
/// backticks, no packet table without packets, an SVG timeline per race / reset, a path sketch
/// per confirmed finding.
final class HTMLPictureTests: XCTestCase {
    static func injection(confidence: Confidence = .likely, related: [String] = []) -> Finding {
        var f = Finding(kind: FindingKind.dnsInjection, severity: .high, confidence: confidence,
                        title: "Two different answers to one query for www.example.org. A from 198.51.100.53",
                        subject: [("qname", .string("www.example.org.")), ("qtype", .string("A")), ("resolver", .string("198.51.100.53")),
                                  ("client", .string("192.0.2.10"))],
                        evidence: [
                            Evidence(source: .capture, input: "d.pcap", frames: [11, 12], detail: "response 1 of 2",
                                     facts: [("answers", .string("A 203.0.113.66")), ("ip_ttl", .int(243)), ("arrival_after_query_ns", .int(2_137_000)),
                                             ("resolver_usual_ip_ttl", .int(57)), ("resolver_median_rtt_ns", .int(23_907_000)), ("suspicious", .string("IP TTL 243 differs"))]),
                            Evidence(source: .capture, input: "d.pcap", frames: [11, 13], detail: "response 2 of 2",
                                     facts: [("answers", .string("A 93.184.215.14")), ("ip_ttl", .int(57)), ("arrival_after_query_ns", .int(25_731_000)),
                                             ("resolver_usual_ip_ttl", .int(57)), ("resolver_median_rtt_ns", .int(23_907_000))]),
                        ],
                        remediation: "Run `nft -a list ruleset` and look.")
        f.related = related
        return f
    }

    static let reset = Finding(kind: FindingKind.tlsResetAfterClientHello, severity: .high, confidence: .likely,
                               title: "Reset after the ClientHello for blocked.example",
                               subject: [("sni", .string("blocked.example")), ("server", .string("203.0.113.9")), ("port", .int(443))],
                               evidence: [Evidence(source: .capture, input: "r.pcap", frames: [4, 5],
                                                   detail: "client port 40000: no ServerHello; RST from the server's address 1.2 ms after the ClientHello, IP TTL 250, IP ID 0 (TTL differs)",
                                                   facts: [("reset1_from", .string("server")), ("reset1_ip_ttl", .int(250)), ("reset1_ip_id", .int(0)),
                                                           ("reset1_injected", .string("TTL differs")), ("server_synack_ip_ttl", .int(52))])],
                               remediation: "Look for a middlebox.")

    func testTimelinesForRaceAndReset() {
        let html = HTMLReportRenderer.render(Report(toolVersion: "1", generatedAt: "2026-01-01T00:00:00Z",
                                                    inputs: [ReportInput(kind: "capture", name: "d.pcap")],
                                                    findings: [Self.injection(), Self.reset]))
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 2, "one timeline per race / reset finding")
        XCTAssertTrue(html.contains("2.1 ms · A 203.0.113.66"), "the forged answer on the axis")
        XCTAssertTrue(html.contains("25.7 ms · A 93.184.215.14"))
        XCTAssertTrue(html.contains("IP TTL 243 (usual 57) — marked"), "its TTL against the resolver's usual one")
        XCTAssertTrue(html.contains("resolver&#39;s usual RTT 23.9 ms"))
        XCTAssertTrue(html.contains("1.2 ms · RST from the server"), "the reset at its time after the ClientHello")
        XCTAssertTrue(html.contains("IP TTL 250 (SYN-ACK 52) — marked"))
        // Durations are never raw nanoseconds.
        XCTAssertFalse(html.contains("2137000"), "no raw nanoseconds")
        XCTAssertTrue(html.contains("<dd>2.1 ms</dd>"))
        // Backticks become code.
        XCTAssertTrue(html.contains("Run <code>nft -a list ruleset</code> and look."))
        XCTAssertFalse(html.contains("`"), "no literal backticks")
    }

    func testPathSketchForConfirmedFindings() {
        var rule = Finding(kind: FindingKind.firewallDNSRedirect, severity: .high, confidence: .confirmed,
                           title: "DNS redirected", subject: [("family", .string("ip")), ("table", .string("nat")), ("chain", .string("prerouting")),
                                                              ("handle", .int(4)), ("target", .string("198.18.20.53"))],
                           evidence: [Evidence(source: .ruleset, detail: "ip daddr 198.18.10.53 udp dport 53 dnat to 198.18.20.53")],
                           remediation: "Remove it.")
        var mismatch = Finding(kind: FindingKind.dnsAnswerMismatch, severity: .high, confidence: .confirmed,
                               title: "Forged answer", subject: [("qname", .string("www.lab.test")), ("resolver", .string("198.18.10.53")),
                                                                 ("client", .string("198.18.1.1"))],
                               evidence: [Evidence(source: .capture, detail: "path answer", facts: [("answers", .string("A 198.18.66.66"))]),
                                          Evidence(source: .reference, detail: "2 reference(s) answer A 198.18.50.10")],
                               remediation: "")
        rule.related = [mismatch.id]
        mismatch.related = [rule.id]
        let html = HTMLReportRenderer.render(Report(toolVersion: "1", generatedAt: "2026-01-01T00:00:00Z", findings: [rule, mismatch]))
        XCTAssertEqual(html.components(separatedBy: "Path sketch of this confirmed finding").count - 1, 2, "one sketch per confirmed finding")
        for text in ["Rule that diverts", "nat / prerouting #4", "198.18.20.53", "meant for 198.18.10.53", "What the references say",
                     "2 reference(s) answer A 198.18.50.10", "answers A 198.18.66.66"] {
            XCTAssertTrue(html.contains(text), text)
        }
        // A likely finding gets no sketch.
        let likely = HTMLReportRenderer.render(Report(toolVersion: "1", generatedAt: "x", findings: [Self.injection()]))
        XCTAssertFalse(likely.contains("Path sketch"))
    }

    func testBannerSaysItOnceAndRulesetOnlyHasNoPacketTable() {
        let html = HTMLReportRenderer.render(Report(toolVersion: "1", generatedAt: "x", inputs: [ReportInput(kind: "capture", name: "d.pcap")],
                                                    findings: [Self.injection()]))
        XCTAssertEqual(html.lowercased().components(separatedBy: "tampering evidence found").count - 1, 1, "the verdict sentence once")
        XCTAssertTrue(html.contains("Findings by severity: 1 high."))
        XCTAssertTrue(html.contains("<th>Packets</th>"))
        let rules = HTMLReportRenderer.render(Report(toolVersion: "1", generatedAt: "x",
                                                     inputs: [ReportInput(kind: "ruleset", name: "r.nft")], findings: []))
        XCTAssertFalse(rules.contains("<th>Packets</th>"), "a ruleset-only report has no packet table")
        XCTAssertTrue(rules.contains("No tampering found"))
        XCTAssertEqual(rules.components(separatedBy: "No tampering").count + rules.components(separatedBy: "No findings —").count - 2, 1)
    }

    func testInputsTableDoesNotBreakWordsAndDurationsAreReadable() {
        let html = HTMLReportRenderer.render(Report(toolVersion: "1", generatedAt: "x",
                                                    inputs: [ReportInput(kind: "live", name: "eth0", facts: [("duration_seconds", .string("3.0 s")), ("packets", .int(12))])]))
        XCTAssertFalse(html.contains("break-all"), "no mid-word breaks")
        XCTAssertFalse(html.contains("overflow-wrap:anywhere"))
        XCTAssertTrue(html.contains("duration_seconds <b>3.0 s</b>"))
    }
}
