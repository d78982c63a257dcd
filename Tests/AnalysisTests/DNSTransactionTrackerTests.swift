import DNSAnalysis
import DNSWire
import Findings
import NetTypes
import XCTest

/// The DNS transaction tracker driven directly, with assertions on its evidence (no report).
final class DNSTransactionTrackerTests: XCTestCase {
    let client = IPAddress("192.0.2.10")!
    let resolver = IPAddress("198.51.100.53")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    func at(_ ms: Int64) -> Timestamp { t0.adding(nanoseconds: ms * 1_000_000) }

    /// A query for `name` A (txid `id`), or its response: one A record, or SERVFAIL without one.
    func message(id: UInt16, name: String, answer: [UInt8]? = nil, servfail: Bool = false) -> [UInt8] {
        var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") { m.append(UInt8(label.utf8.count)); m += Array(label.utf8) }
        m += [0, 0, 1, 0, 1]
        if servfail { m[2] = 0x81; m[3] = 0x82 }
        if let a = answer {
            m[2] = 0x81; m[3] = 0x80; m[7] = 1
            m += [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4] + a
        }
        return m
    }

    func feed(_ t: DNSTransactionTracker, _ m: [UInt8], fromClient: Bool, frame: UInt64, ts: Timestamp, ttl: UInt8 = 60, port: UInt16 = 40_000) {
        let obs = fromClient
            ? DNSObservation(frame: frame, ts: ts, src: client, dst: resolver, sport: port, dport: 53, transport: .udp, ipTTL: 64, ipID: 1)
            : DNSObservation(frame: frame, ts: ts, src: resolver, dst: client, sport: 53, dport: port, transport: .udp, ipTTL: ttl, ipID: UInt32(frame))
        guard let s = DNSSummary.summarize(m) else { return XCTFail("test message does not summarize") }
        m.withUnsafeBytes { t.observe(obs, bytes: $0, summary: s) }
    }

    /// A resolver that answers SERVFAIL after its own upstream timeout (past the 10 s query
    /// timeout: seen in zeek/erspan-gre-teb.pcap) gives a late answer, not an unsolicited response.
    func testAnswerAfterTheQueryTimedOutIsLateNotUnsolicited() {
        let t = DNSTransactionTracker()
        feed(t, message(id: 1, name: "ok.example.com"), fromClient: true, frame: 1, ts: at(0))
        feed(t, message(id: 1, name: "ok.example.com", answer: [198, 51, 100, 1]), fromClient: false, frame: 2, ts: at(20))
        feed(t, message(id: 9, name: "slow.example.com"), fromClient: true, frame: 3, ts: at(2_000))
        // A response with another txid on the same flow while the query is open is still unsolicited.
        feed(t, message(id: 77, name: "slow.example.com", servfail: true), fromClient: false, frame: 4, ts: at(4_000))
        feed(t, message(id: 9, name: "slow.example.com", servfail: true), fromClient: false, frame: 5, ts: at(13_400))
        XCTAssertEqual(t.stats.lateResponses, 1)
        let findings = t.finish()
        XCTAssertEqual(t.stats.lateResponses, 1)
        XCTAssertEqual(t.stats.unanswered, 0, "answered late, so not unanswered")
        let unsolicited = findings.filter { $0.kind == FindingKind.dnsUnsolicitedResponse && $0.severity >= .medium }
        XCTAssertEqual(unsolicited.count, 1)
        XCTAssertEqual(unsolicited.first?.evidence.flatMap(\.frames), [4], "only the wrong-txid response")
    }

    /// The first answer of a race establishes no baseline: with no other traffic from the resolver
    /// there is no "usual" TTL; with other traffic, the usual one is the other traffic's.
    func testRaceAnswersEstablishNoBaseline() {
        let alone = DNSTransactionTracker()
        feed(alone, message(id: 2, name: "www.example.org"), fromClient: true, frame: 11, ts: at(5_000))
        feed(alone, message(id: 2, name: "www.example.org", answer: [203, 0, 113, 66]), fromClient: false, frame: 12, ts: at(5_002), ttl: 243)
        feed(alone, message(id: 2, name: "www.example.org", answer: [93, 184, 215, 14]), fromClient: false, frame: 13, ts: at(5_025), ttl: 57)
        let race = alone.finish().first { $0.kind == FindingKind.dnsInjection }
        XCTAssertNotNil(race)
        XCTAssertFalse(race?.evidence.contains { $0.detail.contains("usual") } ?? true, "\(race?.evidence.map(\.detail) ?? [])")
        XCTAssertEqual(race?.evidence.map(\.frames), [[11, 12], [11, 13]])

        let withTraffic = DNSTransactionTracker()
        for i in 0..<5 {
            let ms = Int64(i) * 1_000
            feed(withTraffic, message(id: UInt16(100 + i), name: "n\(i).example.org"), fromClient: true, frame: UInt64(2 * i + 1), ts: at(ms))
            feed(withTraffic, message(id: UInt16(100 + i), name: "n\(i).example.org", answer: [93, 184, 215, 1]), fromClient: false,
                 frame: UInt64(2 * i + 2), ts: at(ms + 25), ttl: 57)
        }
        feed(withTraffic, message(id: 2, name: "www.example.org"), fromClient: true, frame: 11, ts: at(6_000))
        feed(withTraffic, message(id: 2, name: "www.example.org", answer: [203, 0, 113, 66]), fromClient: false, frame: 12, ts: at(6_002), ttl: 243)
        feed(withTraffic, message(id: 2, name: "www.example.org", answer: [93, 184, 215, 14]), fromClient: false, frame: 13, ts: at(6_025), ttl: 57)
        let f = withTraffic.finish().first { $0.kind == FindingKind.dnsInjection }
        XCTAssertEqual(f?.severity, .high)
        XCTAssertEqual(f?.confidence, .likely)
        let details = f?.evidence.map(\.detail) ?? []
        XCTAssertTrue(details.first?.contains("IP TTL 243 differs from the resolver's usual 57") ?? false, "\(details)")
        XCTAssertFalse(details.last?.contains("differs") ?? true, "\(details)")
    }
}
