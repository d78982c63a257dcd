import Foundation
import IntegrationSupport
import XCTest

/// Issue 17 items 3–6 on the real captures: DNS over QUIC (drafts and RFC 9250), cleartext DoH,
/// injected resets on any TCP service.
final class WireRealCaptureTests: XCTestCase {
    func analyze(_ file: String, _ extra: [String] = []) throws -> [String: Any] {
        let base = try TestPaths.requireRealCaptures()
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json"] + extra + [base.appendingPathComponent(file).path])
        XCTAssertTrue(r.status == 0 || r.status == 1, "\(file): \(r.stderr)")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
    }

    func counters(_ report: [String: Any]) -> [String: Int] {
        (report["summary"] as? [String: Any])?["counters"] as? [String: Int] ?? [:]
    }

    /// DoQ: the doq-i00 draft on UDP 784 in a draft-29 Initial (nDPI's AdGuard capture) and RFC 9250
    /// on UDP 853 (Zeek's): one DoQ connection each, counted as encrypted DNS; the QUIC draft-29
    /// Initial over DLT_PPP (hq-29, not DNS) is a QUIC hello and no DoQ.
    func testDoQCountedAsEncryptedDNS() throws {
        for (file, doq) in [("ndpi/ndpi-doq_adguard.pcapng", 1), ("zeek/quicdoq.pcap", 1), ("ndpi/ndpi-dlt_ppp.pcap", 0)] {
            let c = counters(try analyze(file))
            XCTAssertEqual(c["quic_client_hellos"], 1, file)
            XCTAssertEqual(c["encrypted_dns_doq_connections"], doq, file)
        }
    }

    /// Cleartext DoH over h2c (Suricata's capture: POSTs on stream after stream): every query and
    /// response tshark decodes is a DNS message here, paired into transactions by the same tracker
    /// as plain DNS (34 queries, 34 answers, none unanswered), from the resolver on port 80.
    func testH2CDoHIsPairedLikeDNS() throws {
        let r = try analyze("suricata-verify/sv-dns_over_https_POST_h2c.pcap")
        let summary = try XCTUnwrap(r["summary"] as? [String: Any])
        let c = counters(r)
        XCTAssertEqual(summary["dns_messages"] as? Int, 68)
        XCTAssertEqual(c["cleartext_doh_messages"], 68)
        XCTAssertEqual(c["dns_queries"], 34)
        XCTAssertEqual(c["dns_responses"], 34)
        // DoH uses DNS ID 0 (RFC 8484 §4.1) and this client repeats 12 questions on one connection:
        // a repeat while the first is still open counts as a retransmission (as on UDP), so there are
        // between 12 and 34 transactions; every query is answered and nothing is a finding.
        let tx = summary["dns_transactions"] as? Int ?? 0
        XCTAssertTrue((12...34).contains(tx), "\(tx) transactions")
        XCTAssertEqual((r["findings"] as? [[String: Any]])?.count, 0)
        XCTAssertEqual(summary["unanswered_queries"] as? Int, 0)
        XCTAssertEqual(summary["resolvers"] as? [String], ["104.16.248.249"])
    }

    /// Their decode lines say what carried them: `transport: "doh"` (the HTTP connection's ports).
    func testH2CDoHDecodeLinesSayDoH() throws {
        let base = try TestPaths.requireRealCaptures()
        let r = try runProcess(TestPaths.dnsaudit, ["decode", base.appendingPathComponent("suricata-verify/sv-dns_over_https_POST_h2c.pcap").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n")
        let dns = try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["dns"] != nil }
        XCTAssertEqual(dns.count, 68)
        XCTAssertEqual(Set(dns.compactMap { $0["transport"] as? String }), ["doh"])
        XCTAssertTrue(dns.allSatisfy { ($0["sport"] as? Int) == 80 || ($0["dport"] as? Int) == 80 })
    }
}
