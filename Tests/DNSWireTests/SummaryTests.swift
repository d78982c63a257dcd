import DNSWire
import Foundation
import XCTest

final class SummaryTests: XCTestCase {
    typealias RR = (name: String, type: UInt16, ttl: UInt32, rdata: DNSRData)

    /// A response built by DNSMessageBuilder (compressed names).
    func compressed(id: UInt16 = 1, question: String = "www.example.com.", qtype: UInt16 = DNSType.a, _ rrs: [RR]) throws -> [UInt8] {
        var b = DNSMessageBuilder(id: id, flags: DNSMessageBuilder.responseFlags())
        try b.addQuestion(name: question, type: qtype)
        for r in rrs { try b.addAnswer(name: r.name, type: r.type, ttl: r.ttl, rdata: r.rdata) }
        return try b.build()
    }

    /// The same response written without any compression (names inside CNAME/MX RDATA too).
    func uncompressed(id: UInt16 = 1, question: String = "www.example.com.", qtype: UInt16 = DNSType.a, _ rrs: [RR]) throws -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
        var out = u16(id) + u16(DNSMessageBuilder.responseFlags()) + u16(1) + u16(UInt16(rrs.count)) + u16(0) + u16(0)
        out += try dnsWireName(question) + u16(qtype) + u16(1)
        for r in rrs {
            var rd: [UInt8]
            switch r.rdata {
            case .cname(let n): rd = try dnsWireName(n)
            case .mx(let p, let n): rd = u16(p) + (try dnsWireName(n))
            case .a(let a): rd = a.bytes
            case .aaaa(let a): rd = a.bytes
            default: XCTFail("unsupported in this helper"); rd = []
            }
            out += try dnsWireName(r.name) + u16(r.type) + u16(1)
            out += u16(UInt16(r.ttl >> 16)) + u16(UInt16(r.ttl & 0xffff)) + u16(UInt16(rd.count)) + rd
        }
        return out
    }

    let answers: [RR] = [
        ("www.example.com.", DNSType.cname, 300, .cname("edge.example.net.")),
        ("edge.example.net.", DNSType.a, 60, .a("192.0.2.10")),
        ("edge.example.net.", DNSType.a, 60, .a("192.0.2.11")),
    ]

    func digest(_ b: [UInt8]) -> UInt64 { DNSSummary.summarize(b)?.answerDigest ?? 0 }

    func testDigestIgnoresOrderTTLCompressionAndCase() throws {
        let base = digest(try compressed(answers))
        XCTAssertNotEqual(base, 0)
        XCTAssertEqual(digest(try compressed(answers.reversed())), base)
        XCTAssertEqual(digest(try compressed([answers[1], answers[0], answers[2]])), base)
        XCTAssertEqual(digest(try compressed(answers.map { ($0.name, $0.type, $0.ttl + 1234, $0.rdata) })), base)
        let plain = try uncompressed(answers)
        XCTAssertGreaterThan(plain.count, try compressed(answers).count)
        XCTAssertEqual(digest(plain), base)
        XCTAssertEqual(digest(try uncompressed(answers.reversed())), base)
        let shouting: [RR] = [
            ("WWW.EXAMPLE.COM.", DNSType.cname, 1, .cname("Edge.Example.NET.")),
            ("edge.EXAMPLE.net.", DNSType.a, 2, .a("192.0.2.10")),
            ("EDGE.example.NET.", DNSType.a, 3, .a("192.0.2.11")),
        ]
        XCTAssertEqual(digest(try compressed(shouting)), base)
        // Different transaction id and question case do not matter either.
        XCTAssertEqual(digest(try compressed(id: 999, question: "WWW.example.com", answers)), base)
    }

    func testDigestSeesRealDifferences() throws {
        let base = digest(try compressed(answers))
        var forged = answers
        forged[2].rdata = .a("203.0.113.66")
        XCTAssertNotEqual(digest(try compressed(forged)), base)
        XCTAssertNotEqual(digest(try compressed(Array(answers.prefix(2)))), base)
        XCTAssertNotEqual(digest(try compressed(answers + [answers[2]])), base)  // a duplicate counts
        var renamed = answers
        renamed[0].rdata = .cname("edge.example.org.")
        XCTAssertNotEqual(digest(try compressed(renamed)), base)
        var otherOwner = answers
        otherOwner[1].name = "other.example.net."
        XCTAssertNotEqual(digest(try compressed(otherOwner)), base)
        // MX embedded names are canonicalised too.
        let mx: [RR] = [("example.com.", DNSType.mx, 1, .mx(preference: 10, exchange: "Mail.Example.com."))]
        let mx2: [RR] = [("example.com.", DNSType.mx, 9, .mx(preference: 10, exchange: "mail.example.com."))]
        XCTAssertEqual(digest(try compressed(question: "example.com.", qtype: DNSType.mx, mx)),
                       digest(try uncompressed(question: "example.com.", qtype: DNSType.mx, mx2)))
        XCTAssertEqual(digest(try compressed([])), 0)
    }

    func testSummaryFieldsMatchParse() throws {
        for v in [Vectors.googleA, Vectors.googleMX, Vectors.httpsResponse, Vectors.txtMultiple, Vectors.rrsigResponse] {
            let s = try XCTUnwrap(DNSSummary.summarize(v))
            let m = parseOK(v)
            XCTAssertEqual(s.id, m.id)
            XCTAssertEqual(s.flags, m.flags)
            XCTAssertEqual(s.counts, m.counts)
            XCTAssertEqual(s.qtype, m.questions.first?.type)
            XCTAssertEqual(s.qclass, m.questions.first?.qclass)
            XCTAssertTrue(s.wellFormed)
            XCTAssertEqual(Int(s.answersParsed), m.answers.count)
            XCTAssertTrue(s.qr)
        }
        // questionHash: per label its length octet (an FNV-1a step), then its lowercased bytes as
        // little-endian 8-byte words, zero-padded (multiply, fold the high half down); the root's
        // zero octet, type and class (FNV-1a steps).
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func fnv(_ b: UInt8) { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        func word(_ s: String) {
            var w: UInt64 = 0
            for (i, b) in s.utf8.enumerated() { w |= UInt64(b) << (8 * UInt64(i)) }
            let x = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h = x ^ (x >> 32)
        }
        fnv(6); word("google"); fnv(3); word("com"); fnv(0)
        for b: UInt8 in [0, 1, 0, 1] { fnv(b) }
        XCTAssertEqual(DNSSummary.summarize(Vectors.googleA)?.questionHash, h)
        XCTAssertEqual(DNSSummary.summarize(hex("000001000000000000000000"))?.questionHash, 0)
    }

    /// `isQuery` says from the header alone what `summarize` would: a summary with `qr` false.
    func testIsQueryAgreesWithSummarize() {
        var rng = SystemRandomNumberGenerator()
        var inputs: [[UInt8]] = [[], [0], Array(repeating: 0, count: 11), Array(repeating: 0, count: 12),
                                 Array(repeating: 0xff, count: 12), Vectors.googleA]
        for n in 0..<2_000 {
            inputs.append((0..<(n % 40)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        for m in inputs {
            let expected = m.withUnsafeBytes { DNSSummary.summarize($0).map { !$0.qr } ?? false }
            XCTAssertEqual(m.withUnsafeBytes { DNSSummary.isQuery($0) }, expected, "\(m)")
        }
    }

    /// Prints the summarize() rate on a typical 3-answer response (never asserts on time).
    func testSummarizeThroughput() throws {
        var wire = try compressed(answers)
        let iterations = 2_000_000
        var sink: UInt64 = 0
        let start = DispatchTime.now().uptimeNanoseconds
        wire.withUnsafeMutableBytes { buf in
            for i in 0..<iterations {
                // Change the id and the last address byte so the optimizer cannot hoist the call.
                buf[1] = UInt8(truncatingIfNeeded: i)
                buf[buf.count - 1] = UInt8(truncatingIfNeeded: i >> 8)
                if let s = DNSSummary.summarize(UnsafeRawBufferPointer(buf)) { sink &+= s.answerDigest &+ UInt64(s.id) }
            }
        }
        let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let parseIterations = 100_000
        let pstart = DispatchTime.now().uptimeNanoseconds
        wire.withUnsafeBytes { buf in
            for _ in 0..<parseIterations {
                if case .success(let m) = DNSMessage.parse(buf) { sink &+= UInt64(m.answers.count) }
            }
        }
        let psecs = Double(DispatchTime.now().uptimeNanoseconds - pstart) / 1e9
        print(String(format: "summarize(): %.2f M calls/s on a %d-byte 3-answer response (%.0f ns/call); parse(): %.0f K calls/s [sink %llu]",
                     Double(iterations) / secs / 1e6, wire.count, secs / Double(iterations) * 1e9,
                     Double(parseIterations) / psecs / 1e3, sink))
    }
}
