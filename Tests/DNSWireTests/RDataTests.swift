import DNSWire
import XCTest

/// Per-type parse + presentation, each through the builder (build → parse → equal).
final class RDataTests: XCTestCase {
    /// Build a one-answer response with `rdata`, parse it back, check equality and presentation.
    func roundTrip(_ type: UInt16, _ rdata: DNSRData, _ presentation: String, owner: String = "example.com.",
                   file: StaticString = #filePath, line: UInt = #line) {
        do {
            var b = DNSMessageBuilder(id: 7, flags: DNSMessageBuilder.responseFlags())
            try b.addQuestion(name: owner, type: type)
            try b.addAnswer(name: owner, type: type, ttl: 3600, rdata: rdata)
            let wire = try b.build()
            let m = parseOK(wire, file: file, line: line)
            XCTAssertEqual(m.answers.count, 1, file: file, line: line)
            XCTAssertEqual(m.answers.first?.rdata, rdata, file: file, line: line)
            XCTAssertEqual(m.answers.first?.type, type, file: file, line: line)
            XCTAssertEqual(m.answers.first?.ttl, 3600, file: file, line: line)
            XCTAssertEqual(rdata.presentation, presentation, file: file, line: line)
            XCTAssertEqual(m.anomalies, [], file: file, line: line)
            XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, true, file: file, line: line)
        } catch {
            XCTFail("build failed: \(error)", file: file, line: line)
        }
    }

    func testA() { roundTrip(DNSType.a, .a("192.0.2.1"), "192.0.2.1") }

    func testAAAA() {
        roundTrip(DNSType.aaaa, .aaaa("2001:DB8:0:0:0:0:0:1"), "2001:db8::1")
        let cases: [(String, String)] = [
            ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"), ("2001:db8::0:0:1", "2001:db8::1"),
            ("fe80:0:0:0:200:5efe:c0a8:101", "fe80::200:5efe:c0a8:101"), ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("0:0:1:0:0:0:0:0", "0:0:1::"),
        ]
        for (input, want) in cases {
            XCTAssertEqual(DNSIPv6Address(input)?.description, want, input)
        }
        for bad in ["", ":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::", "1:2:3:4:5:6:7:", "::1.2.3"] {
            XCTAssertNil(DNSIPv6Address(bad), bad)
        }
        // (A literal argument would pick the ExpressibleByStringLiteral init — SE-0213 — so use variables.)
        for bad in ["1.2.3", "1.2.3.256", "1.2.3.4.5", "", "1..2.3", "01234.1.1.1", "a.b.c.d"] {
            XCTAssertNil(DNSIPv4Address(bad), bad)
        }
        let good = "198.51.100.7"
        XCTAssertEqual(DNSIPv4Address(good)?.value, 0xC633_6407)
        let lit: DNSIPv4Address = [10, 0, 0, 1]
        XCTAssertEqual(lit.description, "10.0.0.1")
        XCTAssertEqual(DNSIPv4Address(bytes: [10, 0, 0, 1]), lit)
    }

    func testNameTypes() {
        roundTrip(DNSType.cname, .cname("target.example.net."), "target.example.net.")
        roundTrip(DNSType.ns, .ns("ns1.example.com."), "ns1.example.com.")
        roundTrip(DNSType.ptr, .ptr("host.example.com."), "host.example.com.", owner: "1.2.0.192.in-addr.arpa.")
        roundTrip(DNSType.dname, .dname("example.net."), "example.net.")
        roundTrip(DNSType.cname, .cname("."), ".")
    }

    func testNameEscapes() {
        // A label containing a dot, a backslash, a space and a non-ASCII byte.
        roundTrip(DNSType.ptr, .ptr("a\\.b.c\\\\d.e\\032f.\\255.example."), "a\\.b.c\\\\d.e\\032f.\\255.example.")
        roundTrip(DNSType.cname, .cname("My\\032Printer._ipp._tcp.local."), "My\\032Printer._ipp._tcp.local.")
    }

    func testMX() { roundTrip(DNSType.mx, .mx(preference: 10, exchange: "mail.example.com."), "10 mail.example.com.") }

    func testTXT() {
        roundTrip(DNSType.txt, .text("v=spf1", "-all"), "\"v=spf1\" \"-all\"")
        roundTrip(DNSType.txt, .txt([Array("say \"hi\" \\ ok".utf8), [0x00, 0x7f, 0x41], []]),
                  "\"say \\\"hi\\\" \\\\ ok\" \"\\000\\127A\" \"\"")
        roundTrip(DNSType.spf, .text("v=spf1 ~all"), "\"v=spf1 ~all\"")
    }

    func testSOA() {
        roundTrip(DNSType.soa, .soa(mname: "ns1.example.com.", rname: "hostmaster.example.com.", serial: 2024010101,
                                    refresh: 7200, retry: 3600, expire: 1209600, minimum: 300),
                  "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300")
    }

    func testSRV() {
        roundTrip(DNSType.srv, .srv(priority: 10, weight: 60, port: 5060, target: "sip.example.com."),
                  "10 60 5060 sip.example.com.", owner: "_sip._udp.example.com.")
    }

    func testCAA() {
        roundTrip(DNSType.caa, .caa(flags: 0, tag: "issue", value: Array("letsencrypt.org".utf8)), "0 issue \"letsencrypt.org\"")
        roundTrip(DNSType.caa, .caa(flags: 128, tag: "iodef", value: Array("mailto:a@b.c".utf8)), "128 iodef \"mailto:a@b.c\"")
    }

    func testNAPTR() {
        roundTrip(DNSType.naptr, .naptr(order: 100, preference: 10, flags: Array("U".utf8), services: Array("E2U+sip".utf8),
                                        regexp: Array("!^.*$!sip:info@example.com!".utf8), replacement: "."),
                  "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .")
    }

    func testDSAndDNSKEY() {
        roundTrip(DNSType.ds, .ds(keyTag: 60485, algorithm: 5, digestType: 1, digest: hex("2BB183AF5F22588179A53B0A98631FAD1A292118")),
                  "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118")
        roundTrip(DNSType.cds, .ds(keyTag: 1, algorithm: 13, digestType: 2, digest: [0xab]), "1 13 2 AB")
        roundTrip(DNSType.dnskey, .dnskey(flags: 257, protocol: 3, algorithm: 13, publicKey: Array("hello".utf8)), "257 3 13 aGVsbG8=")
        roundTrip(DNSType.dnskey, .dnskey(flags: 256, protocol: 3, algorithm: 8, publicKey: Array("ab".utf8)), "256 3 8 YWI=")
        roundTrip(DNSType.cdnskey, .dnskey(flags: 0, protocol: 3, algorithm: 0, publicKey: [0]), "0 3 0 AA==")
    }

    func testRRSIG() {
        roundTrip(DNSType.rrsig, .rrsig(typeCovered: DNSType.aaaa, algorithm: 13, labels: 2, originalTTL: 300,
                                        expiration: 1_700_000_000, inception: 0, keyTag: 12345,
                                        signerName: "example.com.", signature: [1, 2, 3, 4, 5, 6]),
                  "AAAA 13 2 300 20231114221320 19700101000000 12345 example.com. AQIDBAUG")
        // Leap-year day and the largest time.
        roundTrip(DNSType.rrsig, .rrsig(typeCovered: 65000, algorithm: 8, labels: 0, originalTTL: 0,
                                        expiration: 951_782_400, inception: UInt32.max, keyTag: 0,
                                        signerName: ".", signature: []),
                  "TYPE65000 8 0 0 20000229000000 21060207062815 0 .")
    }

    func testNSEC() {
        roundTrip(DNSType.nsec, .nsec(nextDomain: "host.example.com.", types: [1, 2, 6, 46, 47, 48, 257, 1234]),
                  "host.example.com. A NS SOA RRSIG NSEC DNSKEY CAA TYPE1234")
        roundTrip(DNSType.nsec, .nsec(nextDomain: "a.example.", types: []), "a.example.")
    }

    func testNSEC3() {
        roundTrip(DNSType.nsec3, .nsec3(hashAlgorithm: 1, flags: 1, iterations: 12, salt: hex("aabbccdd"),
                                        nextHashedOwner: hex("2b5b2f6e4a8b0e9a9f8a"), types: [1, 46]),
                  "1 1 12 AABBCCDD 5DDIURIAHC79L7SA A RRSIG")
        roundTrip(DNSType.nsec3, .nsec3(hashAlgorithm: 1, flags: 0, iterations: 0, salt: [], nextHashedOwner: [0xff], types: []),
                  "1 0 0 - VS")
    }

    func testSVCBAndHTTPS() {
        roundTrip(DNSType.https, .https(priority: 1, target: ".", params: [
            .alpnIDs(["h2", "h3"]), .ipv4hint(["104.16.132.229", "104.16.133.229"]),
            .ipv6hint(["2606:4700::6810:84e5"]),
        ]), "1 . alpn=h2,h3 ipv4hint=104.16.132.229,104.16.133.229 ipv6hint=2606:4700::6810:84e5")
        roundTrip(DNSType.svcb, .svcb(priority: 16, target: "svc.example.net.", params: [
            .mandatory([1, 3]), .alpnIDs(["h3", "a,b\\c"]), .noDefaultALPN, .port(8443), .ech(Array("hello".utf8)),
            .other(key: 65000, value: hex("0102ff")), .other(key: 7, value: []),
        ]), "16 svc.example.net. mandatory=alpn,port alpn=h3,a\\,b\\\\c no-default-alpn port=8443 ech=aGVsbG8= key65000=0102ff key7")
        roundTrip(DNSType.https, .https(priority: 0, target: "alias.example.com.", params: []), "0 alias.example.com.")
    }

    func testTLSAURIUnknown() {
        roundTrip(DNSType.tlsa, .tlsa(usage: 3, selector: 1, matchingType: 1, data: hex("d2abde240d7cd3ee6b4b28c54df034b9")),
                  "3 1 1 D2ABDE240D7CD3EE6B4B28C54DF034B9", owner: "_443._tcp.example.com.")
        roundTrip(DNSType.smimea, .tlsa(usage: 0, selector: 0, matchingType: 0, data: []), "0 0 0")
        roundTrip(DNSType.uri, .uri(priority: 10, weight: 1, target: Array("ftp://ftp1.example.com/public".utf8)),
                  "10 1 \"ftp://ftp1.example.com/public\"")
        roundTrip(65280, .unknown(hex("0a000001")), "\\# 4 0a000001")
        roundTrip(DNSType.hinfo, .unknown([]), "\\# 0")
        roundTrip(DNSType.tsig, .unknown([1, 2]), "\\# 2 0102")
    }

    func testMalformedKnownTypes() throws {
        let cases: [(UInt16, String)] = [
            (DNSType.a, "0a0000"),                 // 3 bytes
            (DNSType.aaaa, "00"),                  // 1 byte
            (DNSType.cname, "03616263"),           // name runs off the RDATA
            (DNSType.cname, "0161000000"),         // trailing bytes after the name
            (DNSType.mx, "000a"),                  // no exchange
            (DNSType.txt, ""),                     // no string at all
            (DNSType.txt, "05616263"),             // string longer than the RDATA
            (DNSType.soa, "00000000000000"),       // too short
            (DNSType.srv, "0001000200"),
            (DNSType.caa, "0000"),                 // empty tag
            (DNSType.caa, "0009697373"),           // tag longer than RDATA
            (DNSType.ds, "000102"),
            (DNSType.dnskey, "0101"),
            (DNSType.rrsig, "0001"),
            (DNSType.nsec, "000000"),              // bitmap window with length 0
            (DNSType.nsec, "0000ff00"),            // bitmap window length 255 > 32
            (DNSType.nsec, "00000201"),            // bitmap shorter than its length
            (DNSType.nsec3, "0100000a00"),         // no next hashed owner
            (DNSType.nsec3, "0100000a0000"),       // empty next hashed owner
            (DNSType.https, "0001000001"),         // truncated param key
            (DNSType.https, "00010000030003000201bb"), // port with length 3 (only 2 bytes left)
            (DNSType.https, "000100000300010c"),   // port with length 1
            (DNSType.https, "000100000100020561"), // alpn id longer than value
            (DNSType.https, "00010000020001ff"),   // no-default-alpn with a value
            (DNSType.https, "0001000004000301020304"), // ipv4hint not a multiple of 4
            (DNSType.tlsa, "0301"),
            (DNSType.uri, "000a00"),
            (DNSType.naptr, "0064000a0155"),
        ]
        for (type, rdataHex) in cases {
            let wire = try messageWithRData(type: type, rdata: hex(rdataHex))
            let m = parseOK(wire)
            XCTAssertEqual(m.answers.first?.rdata, .malformed(hex(rdataHex)), "\(DNSType.mnemonic(type)) \(rdataHex)")
            XCTAssertEqual(codes(m), ["DNS_RR_length_mismatch"], "\(DNSType.mnemonic(type)) \(rdataHex)")
            XCTAssertEqual(m.anomalies.first, .rrLengthMismatch(.answer, type: type))
            XCTAssertFalse(m.truncated)
            XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, false, "\(DNSType.mnemonic(type)) \(rdataHex)")
            let n = hex(rdataHex).count
            XCTAssertEqual(m.answers.first?.rdata.presentation, n == 0 ? "\\# 0" : "\\# \(n) \(rdataHex)")
        }
    }

    /// UPDATE (RFC 2136) deletes carry class ANY/NONE with empty RDATA: not malformed.
    func testEmptyRDataWithClassANY() throws {
        var b = DNSMessageBuilder(id: 1, flags: 0x2800)
        try b.addQuestion(name: "example.com.", type: DNSType.soa)
        try b.addAuthority(name: "host.example.com.", type: DNSType.a, rrclass: DNSClass.any, ttl: 0, rdata: .unknown([]))
        let m = parseOK(try b.build())
        XCTAssertEqual(m.opcode, 5)
        XCTAssertEqual(m.authority.first?.rdata, .unknown([]))
        XCTAssertEqual(m.authority.first?.rrclass, DNSClass.any)
        XCTAssertEqual(m.anomalies, [])
    }

    func testMnemonics() {
        XCTAssertEqual(DNSType.mnemonic(1), "A")
        XCTAssertEqual(DNSType.mnemonic(28), "AAAA")
        XCTAssertEqual(DNSType.mnemonic(41), "OPT")
        XCTAssertEqual(DNSType.mnemonic(255), "ANY")
        XCTAssertEqual(DNSType.mnemonic(252), "AXFR")
        XCTAssertEqual(DNSType.mnemonic(251), "IXFR")
        XCTAssertEqual(DNSType.mnemonic(249), "TKEY")
        XCTAssertEqual(DNSType.mnemonic(250), "TSIG")
        XCTAssertEqual(DNSType.mnemonic(13), "HINFO")
        XCTAssertEqual(DNSType.mnemonic(29), "LOC")
        XCTAssertEqual(DNSType.mnemonic(99), "SPF")
        XCTAssertEqual(DNSType.mnemonic(10), "NULL")
        XCTAssertEqual(DNSType.mnemonic(65), "HTTPS")
        XCTAssertEqual(DNSType.mnemonic(123), "TYPE123")
        XCTAssertEqual(DNSType.code(for: "AAAA"), 28)
        XCTAssertEqual(DNSType.code(for: "https"), 65)
        XCTAssertEqual(DNSType.code(for: "TYPE123"), 123)
        XCTAssertEqual(DNSType.code(for: "NSAP-PTR"), 23)
        XCTAssertNil(DNSType.code(for: "BOGUS"))
        XCTAssertNil(DNSType.code(for: "TYPE99999"))
        for t in UInt16(0)...UInt16(300) {
            XCTAssertEqual(DNSType.code(for: DNSType.mnemonic(t)), t)
        }
        XCTAssertEqual(DNSClass.mnemonic(1), "IN")
        XCTAssertEqual(DNSClass.mnemonic(3), "CH")
        XCTAssertEqual(DNSClass.mnemonic(4), "HS")
        XCTAssertEqual(DNSClass.mnemonic(254), "NONE")
        XCTAssertEqual(DNSClass.mnemonic(255), "ANY")
        XCTAssertEqual(DNSClass.mnemonic(123), "CLASS123")
        XCTAssertEqual(DNSClass.code(for: "ch"), 3)
        XCTAssertEqual(DNSRCode.name(0), "NOERROR")
        XCTAssertEqual(DNSRCode.name(3), "NXDOMAIN")
        XCTAssertEqual(DNSRCode.name(5), "REFUSED")
        XCTAssertEqual(DNSRCode.name(9), "NOTAUTH")
        XCTAssertEqual(DNSRCode.name(10), "NOTZONE")
        XCTAssertEqual(DNSRCode.name(16), "BADVERS")
        XCTAssertEqual(DNSRCode.name(23), "BADCOOKIE")
        XCTAssertEqual(DNSRCode.name(12), "RCODE12")
        XCTAssertEqual(DNSExtendedError.name(15), "Blocked")
        XCTAssertEqual(DNSExtendedError.name(16), "Censored")
        XCTAssertEqual(DNSExtendedError.name(17), "Filtered")
        XCTAssertEqual(DNSExtendedError.name(4), "Forged Answer")
    }
}
