import Foundation
import IntegrationSupport
import XCTest

/// `analyze --ruleset` ties a redirect rule to the capture's DNS findings about the queries it
/// takes. A same-port WAN publication (`iifname "wan0" udp dport 53 dnat`, masquerade out of
/// wan0) takes no client's DNS: it stays info and unrelated, while a LAN-side DNAT of the same
/// port is confirmed by the capture's injection. Black box, no root needed.
final class WanCorrelationTests: XCTestCase {
    func run(_ ruleset: String) throws -> [[String: Any]] {
        let b = try FW.requireBinary()
        let capture = FW.root.appendingPathComponent("captures/dns-injection.pcap").path
        let r = try runProcess(b, ["analyze", "--format", "json", "--quiet", "--ruleset", FW.examples.appendingPathComponent(ruleset).path, capture])
        XCTAssertEqual(r.status, 1, "the capture's injection is high: \(r.stderr.prefix(300))")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        return try XCTUnwrap(json["findings"] as? [[String: Any]])
    }

    func testWANPublicationIsNotConfirmedByClientDNS() throws {
        let findings = try run("wan-same-port-forward.json")
        let rules = findings.filter { ($0["kind"] as? String)?.hasPrefix("firewall.") ?? false }
        XCTAssertEqual(rules.count, 3)
        for f in rules {
            XCTAssertEqual(f["severity"] as? String, "info", "\(f["title"] ?? "")")
            XCTAssertNotEqual(f["confidence"] as? String, "confirmed", "\(f["title"] ?? "")")
            XCTAssertNil(f["related"], "\(f["title"] ?? "")")
        }
        XCTAssertTrue(findings.contains { $0["kind"] as? String == "dns.injection" && $0["related"] == nil })
    }

    func testLANHijackIsConfirmedByClientDNS() throws {
        let findings = try run("wan-router-hijacks.json")
        let lan = findings.filter { f in
            f["kind"] as? String == "firewall.dns-redirect" && ((f["subject"] as? [String: Any])?["hook"] as? String) == "prerouting"
                && (f["confidence"] as? String) == "confirmed"
        }
        XCTAssertEqual(lan.count, 1, "the iifname lan0 udp 53 DNAT takes the capture's queries: \(findings.map { $0["title"] ?? "" })")
        XCTAssertEqual(lan.first?["severity"] as? String, "high")
        let published = findings.filter { ($0["title"] as? String)?.contains("published service") ?? false }
        XCTAssertEqual(published.count, 1)
        XCTAssertEqual(published.first?["severity"] as? String, "info")
        XCTAssertNil(published.first?["related"])
    }
}
