import DNSAnalysis
import Findings
import FindingCorrelation
import FirewallAudit
import FirewallModel
import Foundation
import NetTypes
import XCTest

/// `analyze --ruleset`: redirect rules tied to the captured queries they take.
final class RulesetCorrelationTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func audit(_ example: String) throws -> FirewallAuditResult {
        let text = try String(contentsOf: Self.root.appendingPathComponent("rules/examples/\(example)"), encoding: .utf8)
        let rs = try IptablesSaveParser.parse(text)
        return FirewallAuditor().audit([RulesetInput(ruleset: rs, name: example)])
    }

    func tally(_ queries: [(client: String, resolver: String, port: UInt16, tcp: Bool, count: Int)]) -> DNSPathTally {
        let counter = DNSPathCounter()
        var frame: UInt64 = 1
        for q in queries {
            for _ in 0..<q.count {
                counter.query(client: IPAddress(q.client)!, resolver: IPAddress(q.resolver)!, port: q.port,
                              transport: q.tcp ? .tcp : .udp, frame: frame, input: 0)
                frame += 1
            }
        }
        return counter.tally
    }

    func injection(resolver: String) -> Finding {
        Finding(kind: FindingKind.dnsInjection, severity: .high, confidence: .likely, title: "Two different answers",
                subject: [("qname", .string("www.example.org.")), ("qtype", .string("A")), ("resolver", .string(resolver))],
                evidence: [Evidence(source: .capture, frames: [11, 12], detail: "response 1 of 2")], remediation: "")
    }

    func testQueriesTakenByTheRuleAreCountedAndDNSFindingsMerge() throws {
        let a = try audit("router-dns-dnat.rules")
        XCTAssertEqual(a.findings.count, 2)
        let paths = tally([("10.0.0.2", "8.8.8.8", 53, false, 30), ("10.0.0.3", "1.1.1.1", 53, false, 7),
                           ("10.0.0.2", "8.8.8.8", 853, true, 4),  // DoT: not this rule's port
                           ("10.0.0.2", "192.168.10.5", 53, false, 5)])  // already to the target
        let other = Finding(kind: .tlsHandshakeTimeout, severity: .medium, confidence: .possible, title: "t",
                            subject: [("sni", .string("x"))], evidence: [], remediation: "")
        let r = RulesetCorrelation.correlate(firewall: a.findings, redirects: a.redirects,
                                             capture: [injection(resolver: "8.8.8.8"), other], paths: paths, inputName: { _ in "c.pcap" })
        // Issue 15 bug 3: the injection stays a finding of its own kind; the UDP rule's finding and
        // the injection point at each other and are both confirmed.
        XCTAssertEqual(r.findings.count, 4)
        let dns = try XCTUnwrap(r.findings.first { $0.kind == FindingKind.dnsInjection })
        XCTAssertTrue(r.findings.contains { $0.kind == .tlsHandshakeTimeout && $0.related.isEmpty })
        let udp = try XCTUnwrap(r.findings.first { $0.kind == FindingKind.firewallDNSRedirect && $0.confidence == .confirmed })
        XCTAssertTrue(udp.title.contains("confirmed"), udp.title)
        XCTAssertEqual(dns.confidence, .confirmed)
        XCTAssertEqual(dns.severity, .high)
        XCTAssertEqual(udp.related, [dns.id])
        XCTAssertEqual(dns.related, [udp.id])
        XCTAssertEqual(dns.subjectValue("qname"), .string("www.example.org."), "the DNS finding keeps its own subject")
        XCTAssertTrue(dns.evidence.contains { $0.source == .ruleset && $0.detail.contains(udp.id) })
        let capture = udp.evidence.filter { $0.source == .capture }
        XCTAssertTrue(capture.contains { $0.detail.contains("37 queries") && $0.detail.contains("2 clients") && $0.detail.contains("8.8.8.8:53/udp ×30") },
                      capture.map(\.detail).joined(separator: "\n"))
        XCTAssertTrue(capture.contains { $0.detail.contains("1 dns.injection") }, capture.map(\.detail).joined(separator: "\n"))
        // The TCP rule matched no TCP query on 53: it stays as it was, with a note.
        let tcp = try XCTUnwrap(r.findings.first { $0.kind == FindingKind.firewallDNSRedirect && $0.confidence != .confirmed })
        XCTAssertEqual(tcp.confidence, .likely)
        XCTAssertTrue(r.notes.contains { $0.contains("no DNS query") }, "\(r.notes)")
    }

    func testDNSFindingsAboutOtherResolversStaySeparate() throws {
        let a = try audit("router-dns-dnat.rules")
        let paths = tally([("10.0.0.2", "8.8.8.8", 53, false, 3)])
        let r = RulesetCorrelation.correlate(firewall: a.findings, redirects: a.redirects,
                                             capture: [injection(resolver: "9.9.9.9")], paths: paths, inputName: { _ in nil })
        XCTAssertTrue(r.findings.contains { $0.kind == FindingKind.dnsInjection })
        XCTAssertFalse(r.findings.contains { $0.confidence == .confirmed })
        XCTAssertTrue(r.findings.contains { $0.title.contains("3 captured queries match it") })
    }

    func testEmptyCaptureChangesNothing() throws {
        let a = try audit("router-dns-dnat.rules")
        let r = RulesetCorrelation.correlate(firewall: a.findings, redirects: a.redirects, capture: [], paths: DNSPathTally(),
                                             inputName: { _ in nil })
        XCTAssertEqual(r.findings.map(\.id), a.findings.map(\.id))
        XCTAssertEqual(r.findings.map(\.title), a.findings.map(\.title))
    }
}
