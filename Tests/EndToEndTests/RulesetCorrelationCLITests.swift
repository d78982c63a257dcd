import Foundation
import IntegrationSupport
import XCTest

/// `dnsaudit analyze --ruleset`: one report with the rule and the captured DNS it affected.
final class RulesetCorrelationCLITests: XCTestCase {
    /// Issue 15 bug 3: the rule and the injection confirm each other, and each stays a finding of its own kind.
    func testRedirectRuleAndInjectionConfirmEachOther() throws {
        let capture = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path
        let rules = TestPaths.root.appendingPathComponent("rules/examples/router-dns-dnat.rules").path
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", "--ruleset", rules, capture])
        XCTAssertEqual(r.status, 1, r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let findings = report["findings"] as? [[String: Any]] ?? []
        let inputs = report["inputs"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(inputs.compactMap { $0["kind"] as? String }), ["capture", "ruleset"])
        let rule = try XCTUnwrap(findings.first { $0["kind"] as? String == "firewall.dns-redirect" && $0["confidence"] as? String == "confirmed" })
        let injection = try XCTUnwrap(findings.first { $0["kind"] as? String == "dns.injection" }, "the injection stays a finding")
        XCTAssertEqual(injection["confidence"] as? String, "confirmed")
        XCTAssertEqual((injection["subject"] as? [String: Any])?["qname"] as? String, "www.example.org.")
        // The rule relates to every DNS finding about the resolvers it diverts (the injection and the unsolicited response).
        let unsolicited = try XCTUnwrap(findings.first { $0["kind"] as? String == "dns.unsolicited-response" })
        XCTAssertEqual(Set(rule["related"] as? [String] ?? []), Set([injection["id"], unsolicited["id"]].compactMap { $0 as? String }))
        XCTAssertEqual(injection["related"] as? [String], [rule["id"] as? String].compactMap { $0 })
        let evidence = rule["evidence"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(evidence.compactMap { $0["source"] as? String }), ["ruleset", "capture"])
    }

    /// Issue 15 bug 1: a ruleset that cannot be read is a note and makes the run inconclusive; the
    /// capture is still analysed, and several --ruleset options are read together.
    func testUnreadableRulesetIsANoteAndTheCaptureIsStillAnalysed() throws {
        let capture = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path
        let good = TestPaths.root.appendingPathComponent("rules/examples/router-dns-dnat.rules").path
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-bad-\(getpid()).rules")
        try Data("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp --dport 53 -j DNAT --to-destination 10.0.0.1\n".utf8).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", "--ruleset", bad.path, "--ruleset", good, capture])
        XCTAssertEqual(r.status, 1, r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let kinds = (report["findings"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        XCTAssertTrue(kinds.contains("dns.injection"), "the capture was analysed: \(kinds)")
        XCTAssertTrue(kinds.contains("firewall.dns-redirect"), "the readable ruleset was audited: \(kinds)")
        let notes = report["notes"] as? [String] ?? []
        XCTAssertTrue(notes.contains { $0.contains(bad.path) && $0.contains("COMMIT") }, "\(notes)")
        XCTAssertTrue((report["inconclusive"] as? [String] ?? []).contains { $0.contains(bad.path) })
        // Only the bad ruleset and a clean capture: no finding, an inconclusive verdict, exit 3 on request.
        let clean = TestPaths.root.appendingPathComponent("captures/dns-clean.pcap").path
        let c = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", "--fail-on-inconclusive", "--ruleset", bad.path, clean])
        XCTAssertEqual(c.status, 3, c.stderr)
        let cr = try XCTUnwrap(JSONSerialization.jsonObject(with: c.stdout) as? [String: Any])
        XCTAssertEqual(cr["verdict"] as? String, "inconclusive")
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
