import AnswerComparison
import DNSWire
import Probes
import XCTest

/// Issue 15 bug 5: reserved addresses are never a legitimate answer for a public name; only
/// private ones (RFC 1918, CGNAT, ULA) are tolerated as split-horizon, and the result says why.
final class ReservedAnswerTests: XCTestCase {
    func nx() -> AnswerSet { AnswerSet(rcode: 3, addresses: []) }
    func a(_ addrs: String...) -> AnswerSet { AnswerSet(rcode: 0, addresses: addrs) }

    func testNXDomainRewrittenToAReservedAddressIsARewrite() {
        for reserved in ["203.0.113.7", "198.51.100.9", "192.0.2.1", "198.18.0.10", "169.254.1.1", "224.0.0.251",
                         "240.0.0.1", "2001:db8::1", "fe80::1", "ff02::1"] {
            let r = AnswerComparator.compare(path: a(reserved), references: [nx(), nx()])
            XCTAssertEqual(r.verdict, .inconsistent, reserved)
            XCTAssertEqual(r.reason, "nxdomain-rewrite", reserved)
            XCTAssertEqual(r.certainty, .likely, reserved)
            let f = AnswerFindings.finding(qname: "nope.example.", qtype: DNSType.a, path: a(reserved), result: r, resolver: "10.0.0.1",
                                           references: ["ref1", "ref2"], source: .capture)
            XCTAssertEqual(f?.kind, .dnsNXDomainRewrite, reserved)
            XCTAssertEqual(f?.severity, .high, reserved)
        }
    }

    func testPrivateAnswersForUnknownNamesAreToleratedWithAReason() {
        for priv in ["10.1.2.3", "172.16.5.5", "192.168.1.10", "100.64.0.1", "fd00::53"] {
            let r = AnswerComparator.compare(path: a(priv), references: [nx(), nx()])
            XCTAssertEqual(r.verdict, .consistent, priv)
            XCTAssertEqual(r.reason, "split-horizon", priv)
            XCTAssertTrue(r.tolerance?.contains("split-horizon") ?? false, "\(r)")
            XCTAssertTrue(r.tolerance?.contains(priv) ?? false, "\(r)")
        }
        // A private address mixed with a reserved one is still a rewrite.
        XCTAssertEqual(AnswerComparator.compare(path: a("10.1.2.3", "203.0.113.5"), references: [nx()]).reason, "nxdomain-rewrite")
        // A sinkhole for a name nobody knows: blocked on both sides, and said so.
        let sink = AnswerComparator.compare(path: a("0.0.0.0"), references: [nx()])
        XCTAssertEqual(sink.reason, "both-blocked")
        XCTAssertNotNil(sink.tolerance)
    }

    func testReservedAnswerForAResolvableNameIsABogonEvenWhenReferencesAnswerPrivately() {
        // The references answer an internal (private) address; the path answers a documentation address.
        let r = AnswerComparator.compare(path: a("203.0.113.66"), references: [a("10.20.0.5"), a("10.20.0.5")])
        XCTAssertEqual(r.verdict, .inconsistent)
        XCTAssertEqual(r.reason, "bogon")
        // Both sides reserved and the same (a lab): consistent.
        XCTAssertEqual(AnswerComparator.compare(path: a("198.18.2.2"), references: [a("198.18.2.2")]).reason, "overlap")
        // A neighbouring CDN address is tolerated, with the reason.
        let cdn = AnswerComparator.compare(path: a("151.101.1.69"), references: [a("151.101.1.70"), a("151.101.1.70")])
        XCTAssertEqual(cdn.reason, "same-prefix")
        XCTAssertTrue(cdn.tolerance?.contains("/24") ?? false)
    }
}
