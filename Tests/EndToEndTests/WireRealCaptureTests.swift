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
}
