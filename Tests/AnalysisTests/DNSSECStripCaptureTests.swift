import AnalysisEngine
import DNSWire
import Findings
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// Issue 20 item 5 in captures, with PacketSynth frames: AD set for a DO query (DO echoed) with
/// an answer and no RRSIG is `dns.dnssec-stripped` (ad-without-rrsig); the same with its RRSIG,
/// or without AD, or without DO, is nothing.
final class DNSSECStripCaptureTests: XCTestCase {
    let client = IPAddress("198.18.63.1")!
    let resolver = IPAddress("198.18.63.53")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    func at(_ ms: Int64) -> Timestamp { t0.adding(nanoseconds: ms * 1_000_000) }

    func response(id: UInt16, ad: Bool, dnssecOK: Bool, rrsig: Bool) throws -> [UInt8] {
        var b = DNSMessageBuilder(id: id, flags: DNSMessageBuilder.responseFlags(ad: ad))
        try b.addQuestion(name: "www.sec.example", type: DNSType.a)
        try b.addAnswer(name: "www.sec.example", type: DNSType.a, ttl: 300, rdata: .a(DNSIPv4Address(198, 18, 63, 10)))
        if rrsig {
            try b.addAnswer(name: "www.sec.example", type: 46, ttl: 300, rdata: .rrsig(
                typeCovered: DNSType.a, algorithm: 13, labels: 3, originalTTL: 300, expiration: 1_800_000_000, inception: 1_600_000_000,
                keyTag: 1234, signerName: "sec.example", signature: Array(repeating: 7, count: 64)))
        }
        b.setEDNS(udpSize: 1232, dnssecOK: dnssecOK)
        return try b.build()
    }

    func run(ad: Bool, dnssecOK: Bool, rrsig: Bool) throws -> [Finding] {
        var o = AnalysisOptions()
        o.trust = nil
        let a = CaptureAnalyzer(options: o)
        a.beginInput(name: "test")
        let q = try DNSQuery.make(id: 77, name: "www.sec.example", type: DNSType.a, edns: (udpSize: 1232, dnssecOK: dnssecOK, requestNSID: false))
        let r = try response(id: 77, ad: ad, dnssecOK: dnssecOK, rrsig: rrsig)
        IPPacket.udp(from: client, 40_000, to: resolver, 53, payload: q).withUnsafeBytes { a.processFrame($0, link: .raw, frame: 1, ts: at(0)) }
        IPPacket.udp(from: resolver, 53, to: client, 40_000, payload: r).withUnsafeBytes { a.processFrame($0, link: .raw, frame: 2, ts: at(20)) }
        var result = InputResult(name: "test", linkType: .raw)
        result.first = at(0)
        result.last = at(20)
        result.packets = 2
        a.endInput(result)
        return a.finish().filter { $0.kind == FindingKind.dnsDNSSECStripped }
    }

    func testADWithoutSignaturesForADOQueryIsStripping() throws {
        let f = try run(ad: true, dnssecOK: true, rrsig: false)
        XCTAssertEqual(f.count, 1, "\(f.map(\.title))")
        XCTAssertEqual(f.first?.subjectValue("reason"), .string("ad-without-rrsig"))
        XCTAssertEqual(f.first?.subjectValue("resolver"), .string("198.18.63.53"))
        XCTAssertEqual(f.first?.severity, .high)
        XCTAssertEqual(f.first?.evidence.first?.frames, [2])
    }

    func testSignedAnswerUnsignedAnswerOrNoDOAreNothing() throws {
        XCTAssertEqual(try run(ad: true, dnssecOK: true, rrsig: true).count, 0, "AD with its RRSIG: a validator")
        XCTAssertEqual(try run(ad: false, dnssecOK: true, rrsig: false).count, 0, "no AD: an unsigned zone")
        XCTAssertEqual(try run(ad: true, dnssecOK: false, rrsig: false).count, 0, "AD without DO: RRSIGs were not asked for")
    }
}
