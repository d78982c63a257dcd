import FindingPolicy
import Findings
@testable import Probes
import XCTest

/// The route rung's judgement without a network: the walk's classification of per-TTL
/// observations (forged / reached / silent), the evidence facts, and the error-queue parser on
/// well-formed, short and hostile control buffers.
final class HopEvidenceTests: XCTestCase {
    private let fast = HopLocatorOptions(maxTTL: 8, wait: 0.01, grace: 0.01, silentStop: 3)

    private func walk(_ script: [Int: HopObservation]) -> HopWalk {
        // 127.0.0.1: the innocuous control probe (UDP to a closed loopback port) names no router.
        HopLocator.walk(.dnsQuery, "127.0.0.1", 53, fast) { ttl in .success(script[ttl] ?? HopObservation(ttl: ttl)) }
    }

    func testForgedAnswerAtARouterIsLocatedBetweenTwoHops() {
        let w = walk([1: HopObservation(ttl: 1, router: "10.0.0.1"),
                      2: HopObservation(ttl: 2, router: "10.0.1.1", response: .answer("203.0.113.66"))])
        XCTAssertEqual(w.located, TamperingHopEvidence(probe: .dnsQuery, tampering: .forgedAnswer, destination: "127.0.0.1", ttl: 2,
                                                       tamperHop: "10.0.1.1", lastCleanHop: "10.0.0.1"))
        XCTAssertEqual(w.observations.count, 2, "the walk stops at the tampering")
        let e = FindingPolicy.hopEvidence(w.located!)
        let facts = Dictionary(uniqueKeysWithValues: e.facts.map { ($0.0, $0.1) })
        XCTAssertEqual(facts["tamper_hop"], .string("10.0.1.1"))
        XCTAssertEqual(facts["last_clean_hop"], .string("10.0.0.1"))
        XCTAssertEqual(facts["ttl"], .int(2))
        XCTAssertEqual(facts["tampering"], .string("forged-answer"))
        XCTAssertTrue(e.detail.contains("between 10.0.0.1 (TTL 1) and 10.0.1.1 (TTL 2)"), e.detail)
    }

    func testAnswerWithoutARouterIsTheDestination() {
        let w = walk([1: HopObservation(ttl: 1, router: "10.0.0.1"), 2: HopObservation(ttl: 2, response: .answer("192.0.2.7"))])
        XCTAssertNil(w.located)
        XCTAssertEqual(w.reachedTTL, 2)
        XCTAssertTrue(w.summary.hasPrefix("no tampering hop: the dns-query reached 127.0.0.1 at TTL 2"), w.summary)
    }

    func testSilenceIsLocatedAfterTheLastRouterThatAnswered() {
        let w = walk([1: HopObservation(ttl: 1, router: "10.0.0.1"), 2: HopObservation(ttl: 2, router: "10.0.1.1")])
        XCTAssertEqual(w.located?.tampering, .silence)
        XCTAssertEqual(w.located?.ttl, 3)
        XCTAssertEqual(w.located?.lastCleanHop, "10.0.1.1")
        XCTAssertEqual(w.observations.count, 5, "three silent TTLs end the walk")
    }

    func testTamperingAtTheFirstHopNamesThisHostAsClean() {
        let w = walk([1: HopObservation(ttl: 1, router: "10.0.0.1", response: .reset)])
        XCTAssertEqual(w.located?.lastCleanHop, nil)
        let e = FindingPolicy.hopEvidence(w.located!)
        XCTAssertTrue(e.facts.contains { $0.0 == "last_clean_hop" && $0.1 == .string("this host") })
        XCTAssertTrue(e.detail.contains("this host (the sender)"), e.detail)
    }

    func testASocketFailureSkipsTheRung() {
        let w = HopLocator.walk(.tcpSyn, "127.0.0.1", 443, fast) { _ in .failure(Sockets.Failure(text: "needs CAP_NET_RAW (socket: Operation not permitted)")) }
        XCTAssertNil(w.located)
        XCTAssertEqual(w.summary, "skipped: needs CAP_NET_RAW (socket: Operation not permitted)")
    }

    func testWithHopAppendsOneEvidenceItem() {
        let f = Finding(kind: .dnsInjection, severity: .high, confidence: .likely, title: "t", subject: [("qname", .string("a.test"))],
                        evidence: [Evidence(source: .probe, detail: "two answers")], remediation: "r")
        let g = FindingPolicy.withHop(f, TamperingHopEvidence(probe: .dnsQuery, tampering: .forgedAnswer, destination: "192.0.2.53", ttl: 3,
                                                              tamperHop: "10.0.2.1", lastCleanHop: "10.0.1.1"))
        XCTAssertEqual(g.evidence.count, 2)
        XCTAssertEqual(g.severity, f.severity, "the hop does not change the finding's judgement")
        XCTAssertEqual(g.kind, f.kind)
    }

    // MARK: The error-queue parser

    private func cmsg(level: Int32, type: Int32, origin: UInt8, icmpType: UInt8, offender: [UInt8]) -> [UInt8] {
        var data: [UInt8] = [113, 0, 0, 0, origin, icmpType, 0, 0] + [UInt8](repeating: 0, count: 8)
        data += [2, 0, 0, 0] + offender + [UInt8](repeating: 0, count: 8)  // sockaddr_in
        let length = 16 + data.count
        var c = withUnsafeBytes(of: UInt64(length).littleEndian, Array.init)
        c += withUnsafeBytes(of: level.littleEndian, Array.init) + withUnsafeBytes(of: type.littleEndian, Array.init)
        c += data
        while c.count % 8 != 0 { c.append(0) }
        return c
    }

    func testTimeExceededOffenderIsRead() {
        let c = cmsg(level: 0, type: 11, origin: 2, icmpType: 11, offender: [198, 19, 220, 6])
        let e = Sockets.parseControl(c)
        XCTAssertEqual(e.count, 1)
        XCTAssertEqual(e.first?.offender, "198.19.220.6")
        XCTAssertEqual(e.first?.isTimeExceeded, true)
        let unreachable = Sockets.parseControl(cmsg(level: 0, type: 11, origin: 2, icmpType: 3, offender: [192, 0, 2, 1]))
        XCTAssertEqual(unreachable.first?.isTimeExceeded, false)
    }

    func testShortAndHostileControlBuffersYieldNothingAndDoNotTrap() {
        let good = cmsg(level: 0, type: 11, origin: 2, icmpType: 11, offender: [10, 0, 0, 1])
        for n in 0..<good.count { _ = Sockets.parseControl(Array(good.prefix(n))) }
        XCTAssertTrue(Sockets.parseControl(Array(good.prefix(20))).isEmpty)
        // A length field larger than the buffer, a zero length, and the maximum length.
        for length in [UInt64(0), 15, 4096, UInt64.max] {
            var c = good
            c.replaceSubrange(0..<8, with: withUnsafeBytes(of: length.littleEndian, Array.init))
            XCTAssertTrue(Sockets.parseControl(c).isEmpty, "length \(length)")
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let junk = (0..<Int.random(in: 0...96, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = Sockets.parseControl(junk)
        }
    }
}
