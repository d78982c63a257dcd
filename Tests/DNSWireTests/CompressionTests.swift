import DNSWire
import XCTest

/// Name compression: valid pointers, loops, forward pointers, chain depth, length limits,
/// reserved label types, pointers out of bounds.
final class CompressionTests: XCTestCase {
    /// Header with the given counts, then `body`.
    func message(qd: UInt16 = 1, an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0, flags: UInt16 = 0x8180, _ body: String) -> [UInt8] {
        var b: [UInt8] = [0x12, 0x34, UInt8(flags >> 8), UInt8(flags & 0xff)]
        for c in [qd, an, ns, ar] { b += [UInt8(c >> 8), UInt8(c & 0xff)] }
        return b + hex(body)
    }

    func testValidCompressionFromBuilder() throws {
        var b = DNSMessageBuilder(id: 9, flags: DNSMessageBuilder.responseFlags())
        try b.addQuestion(name: "www.example.com", type: DNSType.a)
        try b.addAnswer(name: "www.example.com.", type: DNSType.cname, ttl: 60, rdata: .cname("cdn.example.com."))
        try b.addAnswer(name: "cdn.example.com.", type: DNSType.a, ttl: 60, rdata: .a("192.0.2.7"))
        let wire = try b.build()
        // Owner of answer 1 is a pointer to the question name (offset 12).
        XCTAssertEqual(Array(wire[33..<35]), [0xc0, 0x0c])
        // header 12 + q 21 + (2+10+6) + (2+10+4)
        XCTAssertEqual(wire.count, 12 + 21 + 18 + 16)
        let m = parseOK(wire)
        XCTAssertEqual(m.answers.map(\.name), ["www.example.com.", "cdn.example.com."])
        XCTAssertEqual(m.answers.first?.rdata, .cname("cdn.example.com."))
        XCTAssertEqual(m.anomalies, [])
    }

    func testSelfPointerLoop() {
        let wire = message("c00c00010001")
        let m = parseOK(wire)
        XCTAssertEqual(m.questions.map(\.name), [DNSName.loopPlaceholder])
        XCTAssertEqual(m.questions.first?.type, 1)
        XCTAssertTrue(codes(m).contains("DNS_compression_loop"))
        XCTAssertFalse(m.truncated)
        XCTAssertFalse(m.isWellFormed)
        XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, false)
    }

    func testTwoPointerLoop() {
        // offset 12: pointer to 14; offset 14: pointer to 12.
        let wire = message("c00ec00c00010001")
        let m = parseOK(wire)
        // The first name is c00e (end at 14), so the question's type is read from offset 14: c00c.
        XCTAssertEqual(m.questions.first?.name, DNSName.loopPlaceholder)
        XCTAssertTrue(codes(m).contains("DNS_compression_loop"))
        XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, false)
    }

    func testLabelLoopIsTooLong() {
        // "a" then a pointer back to itself: the name grows until it passes 255 octets.
        let wire = message("0161c00c00010001")
        let m = parseOK(wire)
        XCTAssertEqual(m.questions.first?.name, DNSName.tooLongPlaceholder)
        XCTAssertEqual(codes(m), ["DNS_name_too_long"])
        XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, false)
    }

    func testChainDepthLimit() {
        // Question 0: "a." at offset 12. Question k (k ≥ 1): a pointer to question k-1's name,
        // so expanding question k takes k hops.
        let n = DNSName.maxPointerHops + 2
        var body = "01610000010001"
        var prev = 12
        var off = 12 + 7
        for _ in 1..<n {
            body += String(format: "%04x00010001", 0xC000 | prev)
            prev = off
            off += 6
        }
        let wire = message(qd: UInt16(n), body)
        let m = parseOK(wire)
        XCTAssertEqual(m.questions.count, n)
        XCTAssertEqual(m.questions[DNSName.maxPointerHops].name, "a.")
        XCTAssertEqual(m.questions[DNSName.maxPointerHops + 1].name, DNSName.loopPlaceholder)
        XCTAssertEqual(codes(m), ["DNS_compression_loop"])
        XCTAssertFalse(m.truncated)
        XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, false)
        // One hop fewer: fine.
        let ok = message(qd: UInt16(n - 1), body)
        XCTAssertEqual(parseOK(ok).anomalies.filter(\.isMalformation), [])
        XCTAssertEqual(DNSSummary.summarize(ok)?.wellFormed, true)
    }

    func testForwardPointerInAnswerRData() {
        // Answer CNAME whose target points forward into the next record's owner.
        // q: a. A IN @12 (7 bytes). ans1 @19: c00c 0005 0001 00000000 0002 c0XX ; ans2 owner "b." then A.
        let ans2 = 19 + 2 + 10 + 2
        let wire = message(an: 2, "01610000010001" + "c00c000500010000003c0002" + String(format: "%04x", 0xC000 | ans2)
                           + "016200" + "000100010000003c00040a000001")
        let m = parseOK(wire)
        XCTAssertEqual(m.answers.first?.rdata, .cname("b."))
        XCTAssertEqual(m.anomalies, [.forwardCompressionPointer(.answer)])
        XCTAssertTrue(m.isWellFormed)
        XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, true)
    }

    func testPointerOutsideMessage() {
        let wire = message("c0ff00010001")
        let m = parseOK(wire)
        XCTAssertEqual(m.questions.first?.name, DNSName.badPointerPlaceholder)
        XCTAssertEqual(codes(m), ["DNS_label_forward_compress_offset", "DNS_bad_compression_pointer"])
        XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, false)
        // A pointer to a label that runs off the end of the message.
        let wire2 = message("c012" + "00010001" + "3f6161")
        XCTAssertEqual(parseOK(wire2).questions.first?.name, DNSName.badPointerPlaceholder)
        XCTAssertTrue(codes(parseOK(wire2)).contains("DNS_bad_compression_pointer"))
        // A pointer into the type field, whose first byte (0x00) reads as the root.
        let wire3 = message("c00e" + "00010001")
        XCTAssertEqual(parseOK(wire3).questions.first?.name, ".")
    }

    func testNameLengthLimits() throws {
        let l63 = String(repeating: "a", count: 63)
        let l61 = String(repeating: "b", count: 61)
        let l62 = String(repeating: "b", count: 62)
        // 3*64 + 62 + 1 = 255 octets: allowed.
        let ok = "\(l63).\(l63).\(l63).\(l61)."
        XCTAssertEqual(try dnsWireName(ok).count, 255)
        XCTAssertThrowsError(try dnsWireName("\(l63).\(l63).\(l63).\(l62)."))
        XCTAssertThrowsError(try dnsWireName(String(repeating: "c", count: 64) + ".com"))
        let q = try DNSQuery.make(id: 1, name: ok, type: DNSType.a)
        XCTAssertEqual(parseOK(q).questions.first?.name, ok)

        // 257 octets on the wire (inline, no pointer): too long, but the record is delimited,
        // so the next question still parses.
        let wire256 = [UInt8](try dnsWireName("\(l63).\(l63).\(l63).\(l61)").dropLast()) + [1, 0x78, 0]
        let wire = message(qd: 2, toHex(wire256) + "00010001" + "0178000001 0001")
        let m = parseOK(wire)
        XCTAssertEqual(m.questions.map(\.name), [DNSName.tooLongPlaceholder, "x."])
        XCTAssertEqual(codes(m), ["DNS_name_too_long"])
        XCTAssertFalse(m.truncated)
        XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, false)
    }

    func testReservedLabelTypes() {
        // 0x40 inline: the record cannot be delimited, so parsing stops.
        let wire = message(an: 1, "4161000001000100")
        let m = parseOK(wire)
        XCTAssertEqual(m.questions, [])
        XCTAssertTrue(m.truncated)
        XCTAssertEqual(codes(m), ["DNS_label_too_long"])
        XCTAssertEqual(DNSSummary.summarize(wire)?.wellFormed, false)
        // 0x80 behind a pointer: the extent is known; placeholder name, parsing goes on.
        let wire2 = message(qd: 1, an: 1, "01610000010001" + "c023000100010000000000040a000001" + "8000")
        let m2 = parseOK(wire2)
        XCTAssertEqual(m2.answers.first?.name, DNSName.badLabelPlaceholder)
        XCTAssertEqual(m2.answers.first?.rdata, .a("10.0.0.1"))
        XCTAssertTrue(codes(m2).contains("DNS_label_too_long"))
        XCTAssertEqual(DNSSummary.summarize(wire2)?.wellFormed, false)
    }

    func testCaseIsPreservedAndHashIsCaseInsensitive() throws {
        let upper = try DNSQuery.make(id: 1, name: "WwW.ExAmPlE.CoM", type: DNSType.a)
        let lower = try DNSQuery.make(id: 2, name: "www.example.com.", type: DNSType.a)
        XCTAssertEqual(parseOK(upper).questions.first?.name, "WwW.ExAmPlE.CoM.")
        let su = DNSSummary.summarize(upper)
        let sl = DNSSummary.summarize(lower)
        XCTAssertNotEqual(su?.questionHash, 0)
        XCTAssertEqual(su?.questionHash, sl?.questionHash)
        let other = try DNSQuery.make(id: 2, name: "www.example.com.", type: DNSType.aaaa)
        XCTAssertNotEqual(DNSSummary.summarize(other)?.questionHash, sl?.questionHash)
    }

    func testRootQuestionAndEmptyMessage() {
        let wire = message(qd: 1, "0000020001")
        let m = parseOK(wire)
        XCTAssertEqual(m.questions, [DNSQuestion(name: ".", type: 2, qclass: 1)])
        let empty = message(qd: 0, "")
        let e = parseOK(empty)
        XCTAssertEqual(e.questions, [])
        XCTAssertEqual(e.anomalies, [])
        XCTAssertEqual(DNSSummary.summarize(empty), DNSSummary(id: 0x1234, flags: 0x8180, counts: DNSCounts()))
    }

    func testMDNSBits() throws {
        var b = DNSMessageBuilder(id: 0, flags: 0x8400)
        try b.addQuestion(name: "_ipp._tcp.local.", type: DNSType.ptr, qclass: 0x8001)
        try b.addAnswer(name: "printer.local.", type: DNSType.a, rrclass: 0x8001, ttl: 120, rdata: .a("192.168.1.20"))
        let m = parseOK(try b.build())
        XCTAssertEqual(m.questions.first, DNSQuestion(name: "_ipp._tcp.local.", type: 12, qclass: 1, unicastResponse: true))
        XCTAssertEqual(m.answers.first?.rrclass, 1)
        XCTAssertEqual(m.answers.first?.cacheFlush, true)
    }
}
