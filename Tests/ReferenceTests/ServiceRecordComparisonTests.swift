import AnswerComparison
import DNSWire
import FindingPolicy
import Findings
import Probes
import XCTest

/// Issue 20 items 4 and 6: HTTPS/SVCB records compared with the references (ech=, alpn, port,
/// hints), rebinding protection judged consistent, and ECS echo answers read.
final class ServiceRecordComparisonTests: XCTestCase {
    static let echA: [UInt8] = [0x00, 0x45, 0xfe, 0x0d, 0x00, 0x41, 0x01, 0x02, 0x03]
    static let echB: [UInt8] = [0x00, 0x45, 0xfe, 0x0d, 0x00, 0x41, 0x09, 0x09, 0x09]

    func https(_ params: [DNSSVCParam], target: String = ".", priority: UInt16 = 1, rcode: UInt16 = 0) -> AnswerSet {
        var s = AnswerSet(rcode: rcode, addresses: [])
        s.services = [ServiceRecord(priority: priority, target: target, params: params)]
        return s
    }

    var full: [DNSSVCParam] {
        [.alpnIDs(["h2", "h3"]), .ipv4hint([DNSIPv4Address("104.16.1.1")]), .ech(Self.echA)]
    }

    func testTheSameRecordIsConsistent() {
        let r = ServiceRecordComparator.compare(path: https(full), references: [https(full), https(full)])
        XCTAssertEqual(r.verdict, .consistent)
        XCTAssertEqual(r.reason, "match")
        // A neighbouring hint (same /24) is a CDN's, as for addresses.
        let near = https([.alpnIDs(["h3", "h2"]), .ipv4hint([DNSIPv4Address("104.16.1.9")]), .ech(Self.echA)])
        XCTAssertEqual(ServiceRecordComparator.compare(path: near, references: [https(full)]).verdict, .consistent)
        // No record anywhere: nothing to compare.
        let none = AnswerSet(rcode: 0, addresses: [])
        XCTAssertEqual(ServiceRecordComparator.compare(path: none, references: [none, none]).reason, "both-no-record")
    }

    func testStrippedECHIsTheStrippedKindAndHigh() throws {
        let stripped = https([.alpnIDs(["h2", "h3"]), .ipv4hint([DNSIPv4Address("104.16.1.1")])])
        let r = ServiceRecordComparator.compare(path: stripped, references: [https(full), https(full)])
        XCTAssertEqual(r.verdict, .inconsistent)
        XCTAssertEqual(r.reason, "ech-stripped")
        XCTAssertEqual(r.certainty, .likely)
        XCTAssertTrue(r.isStripped)
        let f = try XCTUnwrap(HTTPSRecordFindings.finding(qname: "ech.example.", qtype: DNSType.https, path: stripped, result: r,
                                                          resolver: "198.18.1.53", references: ["a", "b"], source: .probe))
        XCTAssertEqual(f.kind, .dnsHTTPSRecordStripped)
        XCTAssertEqual(f.severity, .high)
        XCTAssertEqual(f.subjectValue("reason"), .string("ech-stripped"))
        XCTAssertEqual(f.subjectValue("qname"), .string("ech.example"))
        // One reference: medium, possible.
        let one = ServiceRecordComparator.compare(path: stripped, references: [https(full), nil])
        let g = try XCTUnwrap(HTTPSRecordFindings.finding(qname: "ech.example", qtype: DNSType.https, path: stripped, result: one,
                                                          resolver: nil, references: ["a"], source: .capture))
        XCTAssertEqual(g.severity, .medium)
        XCTAssertEqual(g.confidence, .possible)
    }

    func testWholeRecordRemoved() throws {
        for path in [AnswerSet(rcode: 0, addresses: []), AnswerSet(rcode: 3, addresses: [])] {
            let r = ServiceRecordComparator.compare(path: path, references: [https(full), https(full)])
            XCTAssertEqual(r.reason, "record-stripped", "\(path.rcode)")
            let f = try XCTUnwrap(HTTPSRecordFindings.finding(qname: "ech.example", qtype: DNSType.https, path: path, result: r,
                                                              resolver: "r", references: [], source: .probe))
            XCTAssertEqual(f.kind, .dnsHTTPSRecordStripped)
            XCTAssertEqual(f.severity, .high, "the references' record carries ech")
        }
        // Without ech in the references' record: still stripped, medium.
        let plain = https([.alpnIDs(["h2"])])
        let r = ServiceRecordComparator.compare(path: AnswerSet(rcode: 0, addresses: []), references: [plain, plain])
        let f = try XCTUnwrap(HTTPSRecordFindings.finding(qname: "x.example", qtype: DNSType.https, path: AnswerSet(rcode: 0, addresses: []),
                                                          result: r, resolver: "r", references: [], source: .probe))
        XCTAssertEqual(f.severity, .medium)
    }

    func testRewritesAreAnswerMismatchReasons() throws {
        let cases: [([DNSSVCParam], String, String, Severity)] = [
            ([.alpnIDs(["http/1.1"]), .ipv4hint([DNSIPv4Address("104.16.1.1")]), .ech(Self.echA)], ".", "alpn-rewritten", .medium),
            ([.alpnIDs(["h2", "h3"]), .port(8443), .ipv4hint([DNSIPv4Address("104.16.1.1")]), .ech(Self.echA)], ".", "port-rewritten", .medium),
            ([.alpnIDs(["h2", "h3"]), .ipv4hint([DNSIPv4Address("198.51.100.7")]), .ech(Self.echA)], ".", "hint-rewritten", .medium),
            (full, "proxy.evil.example.", "target-rewritten", .medium),
            ([.alpnIDs(["h2", "h3"]), .ipv4hint([DNSIPv4Address("104.16.1.1")]), .ech(Self.echB)], ".", "ech-changed", .low),
        ]
        for (params, target, reason, severity) in cases {
            let path = https(params, target: target)
            let r = ServiceRecordComparator.compare(path: path, references: [https(full), https(full)])
            XCTAssertEqual(r.verdict, .inconsistent, reason)
            XCTAssertEqual(r.reason, reason)
            let f = try XCTUnwrap(HTTPSRecordFindings.finding(qname: "ech.example", qtype: DNSType.https, path: path, result: r,
                                                              resolver: "r", references: [], source: .probe))
            XCTAssertEqual(f.kind, .dnsAnswerMismatch, reason)
            XCTAssertEqual(f.subjectValue("reason"), .string("https-" + reason))
            XCTAssertEqual(f.severity, severity, reason)
        }
    }

    func testReferencesThatDisagreeAreNotJudged() {
        let noECH = https([.alpnIDs(["h2", "h3"]), .ipv4hint([DNSIPv4Address("104.16.1.1")])])
        let r = ServiceRecordComparator.compare(path: noECH, references: [https(full), noECH])
        XCTAssertEqual(r.verdict, .referencesDisagree)
        let none = AnswerSet(rcode: 0, addresses: [])
        XCTAssertEqual(ServiceRecordComparator.compare(path: none, references: [https(full), none]).verdict, .referencesDisagree)
        XCTAssertEqual(ServiceRecordComparator.compare(path: none, references: [nil, nil]).verdict, .noReference)
    }

    /// Parsed from the wire: an HTTPS answer with ech= built by DNSBuilder and read back.
    func testAnswerSetReadsHTTPSRecordsFromAMessage() throws {
        var b = DNSMessageBuilder(id: 7, flags: 0x8180)
        try b.addQuestion(name: "ech.example.", type: DNSType.https)
        try b.addAnswer(name: "ech.example.", type: DNSType.https, ttl: 60, rdata: .https(priority: 1, target: ".", params: full))
        let m = try DNSMessage.parse(try b.build()).get()
        let s = AnswerSet(message: m)
        XCTAssertEqual(s.services.count, 1)
        XCTAssertEqual(s.services.first?.ech, Self.echA)
        XCTAssertEqual(s.services.first?.alpn, ["h2", "h3"])
        XCTAssertEqual(s.services.first?.hints, ["104.16.1.1"])
        XCTAssertTrue(s.addresses.isEmpty)
    }

    // MARK: - Rebinding protection (item 6b)

    func testFilteredPrivateAnswersAreRebindingProtectionNotTampering() {
        for path in [AnswerSet(rcode: 3, addresses: []), AnswerSet(rcode: 0, addresses: []), AnswerSet(rcode: 5, addresses: [])] {
            let r = AnswerComparator.compare(path: path, references: [AnswerSet(rcode: 0, addresses: ["192.168.7.7"]),
                                                                       AnswerSet(rcode: 0, addresses: ["192.168.7.7"])])
            XCTAssertEqual(r.verdict, .consistent, "rcode \(path.rcode)")
            XCTAssertEqual(r.reason, "rebinding-protection")
            XCTAssertTrue(r.tolerance?.contains("resolver filters private answers (rebinding protection)") ?? false)
        }
        for a in ["127.0.0.1", "10.1.2.3", "169.254.1.1", "fd00::1", "fe80::1", "::1"] {
            XCTAssertTrue(Bogon.isRebindingTarget(a), a)
        }
        for a in ["93.184.216.34", "2606:4700::1111", "198.51.100.1"] { XCTAssertFalse(Bogon.isRebindingTarget(a), a) }
        // A public answer blocked is still blocking.
        let blocked = AnswerComparator.compare(path: AnswerSet(rcode: 3, addresses: []),
                                               references: [AnswerSet(rcode: 0, addresses: ["93.184.216.34"]), AnswerSet(rcode: 0, addresses: ["93.184.216.34"])])
        XCTAssertEqual(blocked.reason, "blocked-nxdomain")
        // Mixed public and private reference addresses: not rebinding protection.
        let mixed = AnswerComparator.compare(path: AnswerSet(rcode: 3, addresses: []),
                                             references: [AnswerSet(rcode: 0, addresses: ["93.184.216.34", "10.0.0.1"])])
        XCTAssertEqual(mixed.reason, "blocked-nxdomain")
        // A resolver that answers other names with private addresses does not filter them: its
        // REFUSED / empty answer where the references give a private address is not protection
        // (the router-redirect scenario's rogue dnsmasq refusing AAAA for a lab zone of ULA addresses).
        let refused = AnswerComparator.compare(path: AnswerSet(rcode: 5, addresses: []),
                                               references: [AnswerSet(rcode: 0, addresses: ["fd99:50::25"]), AnswerSet(rcode: 0, addresses: ["fd99:50::25"])],
                                               pathPassesPrivate: true)
        XCTAssertEqual(refused.verdict, .inconsistent)
        XCTAssertEqual(refused.reason, "blocked-refused")
    }

    // MARK: - ECS echo (item 6a)

    func txt(_ strings: [[String]]) throws -> DNSMessage {
        var b = DNSMessageBuilder(id: 9, flags: 0x8180)
        try b.addQuestion(name: "whoami.example.", type: DNSType.txt)
        for s in strings { try b.addAnswer(name: "whoami.example.", type: DNSType.txt, ttl: 0, rdata: .txt(s.map { Array($0.utf8) })) }
        return try DNSMessage.parse(try b.build()).get()
    }

    func testECSEchoAnswersAreRead() throws {
        XCTAssertEqual(ECSEcho.parse(try txt([["edns0-client-subnet 198.18.101.0/24"]])),
                       ECSEcho.Seen(subnet: "198.18.101.0/24", prefixLength: 24, isIPv6: false))
        XCTAssertEqual(ECSEcho.parse(try txt([["ns", "192.0.2.53"], ["ecs", "203.0.113.0/24/0"]]))?.subnet, "203.0.113.0/24")
        XCTAssertEqual(ECSEcho.parse(try txt([["edns0-client-subnet 2001:db8:1::/56"]]))?.isIPv6, true)
        let none = try txt([["192.0.2.53"]])
        XCTAssertNil(ECSEcho.parse(none))
        XCTAssertTrue(ECSEcho.hasTXT(none))
        XCTAssertNil(ECSEcho.parse(try txt([["edns0-client-subnet 999.1.1.0/24"], ["client-subnet 10.0.0.0/99"]])), "garbage is not a subnet")
    }

    /// One policy: a truncated prefix is info, a longer one (it narrows the client down) low.
    func testECSPolicySeverities() {
        let e = Evidence(source: .probe, detail: "x")
        let v4 = FindingPolicy.ecsForwarded(ECSForwardedEvidence(echoName: "w.example.", resolver: "r", subnet: "198.18.1.0/24", prefixLength: 24, isIPv6: false), evidence: [e])
        XCTAssertEqual(v4.kind, .dnsECSForwarded)
        XCTAssertEqual(v4.severity, .info)
        XCTAssertEqual(v4.subjectValue("qname"), .string("w.example"))
        XCTAssertEqual(FindingPolicy.ecsForwarded(ECSForwardedEvidence(echoName: "w", resolver: "r", subnet: "198.18.1.7/32", prefixLength: 32, isIPv6: false),
                                                  evidence: [e]).severity, .low)
        XCTAssertEqual(FindingPolicy.ecsForwarded(ECSForwardedEvidence(echoName: "w", resolver: "r", subnet: "2001:db8::/56", prefixLength: 56, isIPv6: true),
                                                  evidence: [e]).severity, .info)
    }
}
