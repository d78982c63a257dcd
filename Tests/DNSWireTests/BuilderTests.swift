import DNSWire
import XCTest

final class BuilderTests: XCTestCase {
    func testFlags() {
        XCTAssertEqual(DNSMessageBuilder.queryFlags(), 0x0100)
        XCTAssertEqual(DNSMessageBuilder.queryFlags(rd: false), 0x0000)
        XCTAssertEqual(DNSMessageBuilder.responseFlags(rcode: 0, aa: false, rd: true, ra: true), 0x8180)
        XCTAssertEqual(DNSMessageBuilder.responseFlags(rcode: 3, aa: true, rd: true, ra: true), 0x8583)
        XCTAssertEqual(DNSMessageBuilder.responseFlags(rcode: 2, aa: false, rd: false, ra: false), 0x8002)
        let m = DNSMessage(id: 1, flags: DNSMessageBuilder.responseFlags(rcode: 5, aa: true, rd: true, ra: true, tc: true, ad: true, cd: true))
        XCTAssertTrue(m.qr && m.aa && m.tc && m.rd && m.ra && m.ad && m.cd)
        XCTAssertFalse(m.z)
        XCTAssertEqual(m.rcode, 5)
        XCTAssertEqual(m.opcode, 0)
    }

    func testFullMessageRoundTrip() throws {
        var b = DNSMessageBuilder(id: 0xbeef, flags: DNSMessageBuilder.responseFlags(rcode: 0, aa: true, rd: true, ra: false))
        try b.addQuestion(name: "example.org", type: DNSType.any)
        let answers: [DNSResourceRecord] = [
            DNSResourceRecord(name: "example.org.", type: DNSType.a, ttl: 1, rdata: .a("192.0.2.1")),
            DNSResourceRecord(name: "example.org.", type: DNSType.aaaa, ttl: 2, rdata: .aaaa("2001:db8::1")),
            DNSResourceRecord(name: "example.org.", type: DNSType.mx, ttl: 3, rdata: .mx(preference: 5, exchange: "mx.example.org.")),
            DNSResourceRecord(name: "example.org.", type: DNSType.txt, ttl: 4, rdata: .text("hello world")),
            DNSResourceRecord(name: "www.example.org.", type: DNSType.cname, ttl: 5, rdata: .cname("example.org.")),
            DNSResourceRecord(name: "example.org.", type: DNSType.https, ttl: 6,
                              rdata: .https(priority: 1, target: ".", params: [.alpnIDs(["h2"]), .ipv4hint(["192.0.2.1"])])),
            DNSResourceRecord(name: "example.org.", type: DNSType.caa, ttl: 7, rdata: .caa(flags: 0, tag: "issue", value: Array(";".utf8))),
        ]
        for a in answers { try b.addAnswer(name: a.name, type: a.type, rrclass: a.rrclass, ttl: a.ttl, rdata: a.rdata) }
        let soa = DNSResourceRecord(name: "example.org.", type: DNSType.soa, ttl: 60,
                                    rdata: .soa(mname: "ns1.example.org.", rname: "admin.example.org.", serial: 1, refresh: 2,
                                                retry: 3, expire: 4, minimum: 5))
        try b.addAuthority(name: soa.name, type: soa.type, ttl: soa.ttl, rdata: soa.rdata)
        let glue = DNSResourceRecord(name: "ns1.example.org.", type: DNSType.a, ttl: 60, rdata: .a("192.0.2.53"))
        try b.addAdditional(name: glue.name, type: glue.type, ttl: glue.ttl, rdata: glue.rdata)
        b.setEDNS(udpSize: 1232, dnssecOK: false, options: [.padding(4)])
        let wire = try b.build()
        let m = parseOK(wire)
        XCTAssertEqual(m, DNSMessage(id: 0xbeef, flags: 0x8500, counts: DNSCounts(qd: 1, an: 7, ns: 1, ar: 2),
                                     questions: [DNSQuestion(name: "example.org.", type: DNSType.any)],
                                     answers: answers, authority: [soa], additional: [glue],
                                     edns: EDNSInfo(udpSize: 1232, options: [.padding(4)])))
        // Building the parsed message again gives the same bytes.
        var again = DNSMessageBuilder(id: m.id, flags: m.flags)
        for q in m.questions { try again.addQuestion(name: q.name, type: q.type, qclass: q.qclass) }
        for r in m.answers { try again.addAnswer(name: r.name, type: r.type, rrclass: r.rrclass, ttl: r.ttl, rdata: r.rdata) }
        for r in m.authority { try again.addAuthority(name: r.name, type: r.type, rrclass: r.rrclass, ttl: r.ttl, rdata: r.rdata) }
        for r in m.additional { try again.addAdditional(name: r.name, type: r.type, rrclass: r.rrclass, ttl: r.ttl, rdata: r.rdata) }
        if let e = m.edns { again.setEDNS(udpSize: e.udpSize, dnssecOK: e.dnssecOK, options: e.options) }
        XCTAssertEqual(try again.build(), wire)
    }

    func testRealResponsesRebuildIdentically() throws {
        // Messages whose compression matches ours byte for byte once rebuilt.
        for v in [Vectors.googleA, Vectors.googleMX, Vectors.forwardPointerResponse] {
            let m = parseOK(v)
            var b = DNSMessageBuilder(id: m.id, flags: m.flags)
            for q in m.questions { try b.addQuestion(name: q.name, type: q.type, qclass: q.qclass) }
            for r in m.answers { try b.addAnswer(name: r.name, type: r.type, rrclass: r.rrclass, ttl: r.ttl, rdata: r.rdata) }
            if let e = m.edns { b.setEDNS(udpSize: e.udpSize, dnssecOK: e.dnssecOK, options: e.options) }
            XCTAssertEqual(parseOK(try b.build()), m)
        }
    }

    func testDNSWireName() throws {
        XCTAssertEqual(try dnsWireName("example.com"), hex("076578616d706c6503636f6d00"))
        XCTAssertEqual(try dnsWireName("example.com."), hex("076578616d706c6503636f6d00"))
        XCTAssertEqual(try dnsWireName("."), [0])
        XCTAssertEqual(try dnsWireName(""), [0])
        XCTAssertEqual(try dnsWireName("a\\.b.c"), hex("03612e62016300"))
        XCTAssertEqual(try dnsWireName("a\\\\b"), hex("03615c6200"))
        XCTAssertEqual(try dnsWireName("\\000\\255x"), hex("0300ff7800"))
        XCTAssertEqual(try dnsWireName("sp\\ ace"), hex("0673702061636500"))
        XCTAssertThrowsError(try dnsWireName("a..b"))
        XCTAssertThrowsError(try dnsWireName(".a"))
        XCTAssertThrowsError(try dnsWireName("a\\"))
        XCTAssertThrowsError(try dnsWireName("a\\25"))
        XCTAssertThrowsError(try dnsWireName("a\\256"))
        XCTAssertThrowsError(try dnsWireName(String(repeating: "x", count: 64)))
    }

    func testBuilderRejectsMismatchedRData() {
        var b = DNSMessageBuilder(id: 1, flags: 0)
        XCTAssertThrowsError(try b.addAnswer(name: "x.", type: DNSType.aaaa, ttl: 1, rdata: .a("192.0.2.1")))
        XCTAssertThrowsError(try b.addAnswer(name: "x.", type: DNSType.a, ttl: 1, rdata: .cname("y.")))
        XCTAssertNoThrow(try b.addAnswer(name: "x.", type: DNSType.a, ttl: 1, rdata: .unknown([1, 2, 3, 4])))
        XCTAssertNoThrow(try b.addAnswer(name: "x.", type: DNSType.a, ttl: 1, rdata: .malformed([1, 2, 3])))
        XCTAssertThrowsError(try b.addAnswer(name: "bad..name", type: DNSType.a, ttl: 1, rdata: .a("192.0.2.1")))
        var t = DNSMessageBuilder(id: 1, flags: 0)
        XCTAssertNoThrow(try t.addAnswer(name: "x.", type: DNSType.txt, ttl: 1, rdata: .txt([[UInt8](repeating: 0x61, count: 256)])))
        XCTAssertThrowsError(try t.build())
    }

    /// Builder output used as raw malformed input (test generators rely on this).
    func testMalformedRawRDataIsReported() throws {
        var b = DNSMessageBuilder(id: 1, flags: DNSMessageBuilder.responseFlags())
        try b.addQuestion(name: "x.example.", type: DNSType.a)
        try b.addAnswer(name: "x.example.", type: DNSType.a, ttl: 1, rdata: .malformed([1, 2, 3]))
        let m = parseOK(try b.build())
        XCTAssertEqual(m.answers.first?.rdata, .malformed([1, 2, 3]))
        XCTAssertEqual(m.answers.first?.rdata.presentation, "\\# 3 010203")
    }
}
