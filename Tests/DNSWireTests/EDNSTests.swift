import DNSWire
import XCTest

final class EDNSTests: XCTestCase {
    /// A response to example.com/A carrying an OPT RR with raw option bytes `options`.
    func withOPT(ttl: UInt32 = 0, udp: UInt16 = 1232, options: String, extra: String = "", arCount: UInt16 = 1,
                 rcode: UInt16 = 0) -> [UInt8] {
        let opts = hex(options)
        var b: [UInt8] = [0xab, 0xcd, 0x81, 0x80 | UInt8(rcode), 0, 1, 0, 0, 0, 0, UInt8(arCount >> 8), UInt8(arCount & 0xff)]
        b += hex("076578616d706c6503636f6d0000010001")
        b += [0, 0, 41, UInt8(udp >> 8), UInt8(udp & 0xff)]
        b += [UInt8(ttl >> 24), UInt8(ttl >> 16 & 0xff), UInt8(ttl >> 8 & 0xff), UInt8(ttl & 0xff)]
        b += [UInt8(opts.count >> 8), UInt8(opts.count & 0xff)] + opts
        return b + hex(extra)
    }

    func testHeaderFieldsOfOPT() {
        // Extended RCODE 1 (upper bits) + header 0 = 16 BADVERS; version 0; DO set.
        let m = parseOK(withOPT(ttl: 0x0100_8000, udp: 4096, options: ""))
        XCTAssertEqual(m.edns, EDNSInfo(udpSize: 4096, extendedRCode: 16, version: 0, dnssecOK: true, options: []))
        XCTAssertEqual(DNSRCode.name(m.edns?.extendedRCode ?? 0), "BADVERS")
        let m2 = parseOK(withOPT(ttl: 0x0201_0000, options: "", rcode: 3))
        XCTAssertEqual(m2.edns?.extendedRCode, 0x23)
        XCTAssertEqual(m2.edns?.version, 1)
        XCTAssertEqual(m2.edns?.dnssecOK, false)
        XCTAssertEqual(m2.rcode, 3)
        XCTAssertTrue(m2.additional.isEmpty)
    }

    func testECS() {
        let m = parseOK(withOPT(options: "0008 0007 0001 18 00 c00002"))
        XCTAssertEqual(m.edns?.options, [.ecs(family: 1, sourcePrefix: 24, scopePrefix: 0, address: "192.0.2.0")])
        let v6 = parseOK(withOPT(options: "0008 000b 0002 38 30 20010db80001aa"))
        XCTAssertEqual(v6.edns?.options, [.ecs(family: 2, sourcePrefix: 56, scopePrefix: 48, address: "2001:db8:1:aa00::")])
        XCTAssertEqual(v6.anomalies, [])
        // Address bytes that do not match the source prefix: kept, flagged.
        let bad = parseOK(withOPT(options: "0008 0008 0001 10 00 c0000201"))
        XCTAssertEqual(bad.edns?.options, [.ecs(family: 1, sourcePrefix: 16, scopePrefix: 0, address: "192.0.2.1")])
        XCTAssertEqual(codes(bad), ["DNS_EDNS_bad_option_length"])
        // More address bytes than the family allows: raw.
        let worse = parseOK(withOPT(options: "0008 0009 0001 20 00 c000020101"))
        XCTAssertEqual(worse.edns?.options, [.other(code: 8, data: hex("00012000c000020101"))])
        XCTAssertEqual(codes(worse), ["DNS_EDNS_bad_option_length"])
        // Unknown family: hex address.
        let fam = parseOK(withOPT(options: "0008 0005 0003 08 00 ab"))
        XCTAssertEqual(fam.edns?.options, [.ecs(family: 3, sourcePrefix: 8, scopePrefix: 0, address: "ab")])
    }

    func testCookie() {
        XCTAssertEqual(parseOK(withOPT(options: "000a 0008 0102030405060708")).edns?.options,
                       [.cookie(client: hex("0102030405060708"), server: nil)])
        let bad = parseOK(withOPT(options: "000a 0005 0102030405"))
        XCTAssertEqual(bad.edns?.options, [.other(code: 10, data: hex("0102030405"))])
        XCTAssertEqual(codes(bad), ["DNS_EDNS_bad_option_length"])
    }

    func testNSIDPaddingEDE() {
        let m = parseOK(withOPT(options: "0003 0009 677064 6e732d616d73" + "000c 0003 000000"
                                    + "000f 0011 0010" + "626c6f636b6564206279206c6177" + "00" + "000f 0002 0011"))
        XCTAssertEqual(m.edns?.options, [
            .nsid(Array("gpdns-ams".utf8)), .padding(3),
            .extendedError(infoCode: 16, extraText: "blocked by law"),
            .extendedError(infoCode: 17, extraText: ""),
        ])
        XCTAssertEqual(EDNSOption.printable(hex("676f6f6401ff")), "good..")
        XCTAssertEqual(m.anomalies, [])
        let short = parseOK(withOPT(options: "000f 0001 00"))
        XCTAssertEqual(short.edns?.options, [.other(code: 15, data: [0])])
        XCTAssertEqual(codes(short), ["DNS_EDNS_bad_option_length"])
    }

    func testOverrunningOptionKeepsEarlierOnes() {
        let m = parseOK(withOPT(options: "0003 0002 6869" + "000c 0010 0000"))
        XCTAssertEqual(m.edns?.options, [.nsid(Array("hi".utf8))])
        XCTAssertEqual(codes(m), ["DNS_EDNS_bad_option_length"])
        XCTAssertFalse(m.truncated)
        // Fewer than 4 bytes left for an option header.
        let m2 = parseOK(withOPT(options: "0003 0000 00"))
        XCTAssertEqual(m2.edns?.options, [.nsid([])])
        XCTAssertEqual(codes(m2), ["DNS_EDNS_bad_option_length"])
    }

    func testOPTPlacementProblems() {
        // Two OPT RRs: the first is used, the second reported.
        let second = "0000290200000000000000"
        let m = parseOK(withOPT(udp: 4096, options: "", extra: second, arCount: 2))
        XCTAssertEqual(m.edns?.udpSize, 4096)
        XCTAssertEqual(codes(m), ["DNS_EDNS_multiple_OPT"])
        XCTAssertTrue(m.additional.isEmpty)
        // OPT with a non-root owner.
        var b = hex("abcd81800001000000000001076578616d706c6503636f6d0000010001")
        b += hex("c00c 0029 1000 00000000 0000")
        XCTAssertEqual(codes(parseOK(b)), ["DNS_EDNS_bad_owner"])
        // OPT in the answer section: an ordinary record there, flagged; summarize agrees.
        var a = hex("abcd81800001000100000000076578616d706c6503636f6d0000010001")
        a += hex("00 0029 1000 00000000 0000")
        let ma = parseOK(a)
        XCTAssertEqual(ma.answers.map(\.type), [41])
        XCTAssertNil(ma.edns)
        XCTAssertEqual(codes(ma), ["DNS_EDNS_misplaced_OPT"])
        XCTAssertEqual(DNSSummary.summarize(a)?.wellFormed, false)
    }

    func testBuilderEDNSRoundTrip() throws {
        var b = DNSMessageBuilder(id: 77, flags: DNSMessageBuilder.responseFlags(rcode: 0))
        try b.addQuestion(name: "example.com", type: DNSType.a)
        let options: [EDNSOption] = [
            .ecs(family: 1, sourcePrefix: 24, scopePrefix: 0, address: "198.51.100.0"),
            .ecs(family: 2, sourcePrefix: 56, scopePrefix: 0, address: "2001:db8:1:aa00::"),
            .cookie(client: hex("0102030405060708"), server: hex("1112131415161718")),
            .nsid(Array("resolver-7".utf8)),
            .padding(5),
            .extendedError(infoCode: 15, extraText: "blocked"),
            .other(code: 65001, data: hex("beef")),
        ]
        b.setEDNS(udpSize: 1400, dnssecOK: true, options: options, version: 0, extendedRCode: 16)
        let m = parseOK(try b.build())
        XCTAssertEqual(m.edns, EDNSInfo(udpSize: 1400, extendedRCode: 16, version: 0, dnssecOK: true, options: options))
        XCTAssertEqual(m.counts.ar, 1)
        XCTAssertEqual(m.anomalies, [])

        // ECS source bits beyond the prefix are cleared; an invalid address is an error.
        var c = DNSMessageBuilder(id: 1, flags: 0)
        c.setEDNS(options: [.ecs(family: 1, sourcePrefix: 20, scopePrefix: 0, address: "192.0.255.255")])
        XCTAssertEqual(parseOK(try c.build()).edns?.options, [.ecs(family: 1, sourcePrefix: 20, scopePrefix: 0, address: "192.0.240.0")])
        c.setEDNS(options: [.ecs(family: 1, sourcePrefix: 20, scopePrefix: 0, address: "not-an-address")])
        XCTAssertThrowsError(try c.build())
    }

    func testQueryWithNSIDRequest() throws {
        let q = try DNSQuery.make(id: 0x1234, name: "id.server", type: DNSType.txt, qclass: DNSClass.ch,
                                  recursionDesired: false, edns: (udpSize: 1232, dnssecOK: false, requestNSID: true))
        let m = parseOK(q)
        XCTAssertEqual(m.id, 0x1234)
        XCTAssertFalse(m.qr)
        XCTAssertFalse(m.rd)
        XCTAssertEqual(m.questions, [DNSQuestion(name: "id.server.", type: 16, qclass: 3)])
        XCTAssertEqual(m.edns?.options, [.nsid([])])
        XCTAssertEqual(m.edns?.udpSize, 1232)
        XCTAssertEqual(toHex(q), "12340000000100000000000102696406736572766572000010000300002904d000000000000400030000")
    }
}
