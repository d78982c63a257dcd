import Foundation
import IntegrationSupport
import XCTest

/// `dnsaudit analyze --ruleset`: one report with the rule and the captured DNS it affected.
final class RulesetCorrelationCLITests: XCTestCase {
    func testRedirectRuleAndInjectionBecomeOneConfirmedFinding() throws {
        let capture = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path
        let rules = TestPaths.root.appendingPathComponent("rules/examples/router-dns-dnat.rules").path
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", "--ruleset", rules, capture])
        XCTAssertEqual(r.status, 1, r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let findings = report["findings"] as? [[String: Any]] ?? []
        let inputs = report["inputs"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(inputs.compactMap { $0["kind"] as? String }), ["capture", "ruleset"])
        let confirmed = findings.filter { $0["confidence"] as? String == "confirmed" }
        XCTAssertEqual(confirmed.count, 1)
        XCTAssertEqual(confirmed.first?["kind"] as? String, "firewall.dns-redirect")
        let evidence = confirmed.first?["evidence"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(evidence.compactMap { $0["source"] as? String }), ["ruleset", "capture"])
        XCTAssertFalse(findings.contains { $0["kind"] as? String == "dns.injection" }, "the injection is part of the confirmed finding")
    }

    func testBadRulesetFailsBeforeReading() throws {
        let capture = TestPaths.root.appendingPathComponent("captures/dns-clean.pcap").path
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-bad-\(getpid()).rules")
        try Data("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp --dport 53 -j DNAT --to-destination 10.0.0.1\n".utf8).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--ruleset", bad.path, capture])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("COMMIT"), r.stderr)
        let p = try runProcess(TestPaths.dnsaudit, ["analyze", "--policy", "/nonexistent/policy.toml", capture])
        XCTAssertEqual(p.status, 2)
        XCTAssertTrue(p.stderr.contains("policy"), p.stderr)
    }

    /// A policy that lists approved resolvers turns DNS to any other one into dns.unapproved-resolver.
    func testUnapprovedResolver() throws {
        let capture = TestPaths.root.appendingPathComponent("captures/dns-clean.pcap").path
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-policy-\(getpid()).toml")
        try Data("approved_resolvers = [\"10.20.0.53\"]\n".utf8).write(to: policy)
        defer { try? FileManager.default.removeItem(at: policy) }
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", "--policy", policy.path, capture])
        XCTAssertEqual(r.status, 1, r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let kinds = (report["findings"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        XCTAssertTrue(kinds.contains("dns.unapproved-resolver"), "\(kinds)")
        // The example policy approves nothing in this capture either; with its resolver approved: clean.
        let resolvers = (report["summary"] as? [String: Any])?["resolvers"] as? [String] ?? []
        try Data("approved_resolvers = [\(resolvers.map { "\"\($0)\"" }.joined(separator: ","))]\n".utf8).write(to: policy)
        let ok = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", "--policy", policy.path, capture])
        XCTAssertEqual(ok.status, 0, String(decoding: ok.stdout, as: UTF8.self))
    }
}
