import AnalysisEngine
import Findings
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// Issue 20 item 10, through the whole capture analyzer with PacketSynth frames: a forwarder's
/// upstream queries with a fixed source port (and sequential ids) are `dns.poisoning-exposure`;
/// random ports and ids are nothing; a spray of responses with guessed ids for one outstanding
/// query is one `dns.poisoning-attempt`, not unsolicited responses.
final class PoisoningTests: XCTestCase {
    let client = IPAddress("198.18.60.1")!
    let forwarder = IPAddress("198.18.60.53")!
    let upstream = IPAddress("198.18.61.53")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    func at(_ ms: Int64) -> Timestamp { t0.adding(nanoseconds: ms * 1_000_000) }

    func dns(id: UInt16, name: String, answer: [UInt8]? = nil, rd: Bool = true) -> [UInt8] {
        var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), rd ? 0x01 : 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") { m.append(UInt8(label.utf8.count)); m += Array(label.utf8) }
        m += [0, 0, 1, 0, 1]
        if let a = answer {
            m[2] |= 0x80; m[3] = 0x80; m[7] = 1
            m += [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4] + a
        }
        return m
    }

    typealias Feeder = CaptureFeeder

    /// 20 client queries, each forwarded upstream with `port(i)` and `id(i)`, answered both ways.
    func forwarding(port: (Int) -> UInt16, id: (Int) -> UInt16, name: (Int) -> String = { "n\($0).example.com" }) -> [Finding] {
        let f = Feeder()
        for i in 0..<20 {
            let ms = Int64(i) * 100
            let cid = UInt16(1000 + i * 7919 % 5000)
            f.feed(IPPacket.udp(from: client, UInt16(40_000 + i), to: forwarder, 53, payload: dns(id: cid, name: name(i))), at(ms))
            f.feed(IPPacket.udp(from: forwarder, port(i), to: upstream, 53, payload: dns(id: id(i), name: name(i))), at(ms + 1))
            f.feed(IPPacket.udp(from: upstream, 53, to: forwarder, port(i), payload: dns(id: id(i), name: name(i), answer: [198, 18, 62, 1])), at(ms + 20))
            f.feed(IPPacket.udp(from: forwarder, 53, to: client, UInt16(40_000 + i), payload: dns(id: cid, name: name(i), answer: [198, 18, 62, 1])), at(ms + 21))
        }
        return f.finish(at(0))
    }

    func testFixedPortAndSequentialIDsAreHighExposure() {
        let findings = forwarding(port: { _ in 5353 }, id: { UInt16(100 + $0) }).filter { $0.kind == FindingKind.dnsPoisoningExposure }
        XCTAssertEqual(findings.count, 1, "\(findings.map(\.title))")
        let f = findings.first
        XCTAssertEqual(f?.subjectValue("resolver"), .string("198.18.60.53"))
        XCTAssertEqual(f?.subjectValue("reason"), .string("fixed-port-sequential-id"))
        XCTAssertEqual(f?.severity, .high)
        XCTAssertTrue(f?.evidence.first?.facts.contains { $0.0 == "distinct_source_ports" && $0.1 == .int(1) } ?? false)
    }

    func testFixedPortWithRandomIDsIsMediumExposure() {
        var rng = SplitMix64(seed: 7)
        let ids = (0..<20).map { _ in UInt16(truncatingIfNeeded: rng.next()) }
        let findings = forwarding(port: { _ in 5353 }, id: { ids[$0] }).filter { $0.kind == FindingKind.dnsPoisoningExposure }
        XCTAssertEqual(findings.map(\.severity), [.medium], "\(findings.map(\.title))")
        XCTAssertEqual(findings.first?.subjectValue("reason"), .string("fixed-port"))
    }

    func testRandomPortsAndIDsAreNoFinding() {
        var rng = SplitMix64(seed: 11)
        let r = (0..<20).map { _ in (UInt16(1024 + rng.next() % 60_000), UInt16(truncatingIfNeeded: rng.next())) }
        let findings = forwarding(port: { r[$0].0 }, id: { r[$0].1 }, name: { "N\($0).ExAmPlE.cOm" })
        XCTAssertEqual(findings.filter { "\($0.kind)".hasPrefix("dns.poisoning") }.count, 0, "\(findings.map(\.title))")
        XCTAssertEqual(findings.filter { $0.severity >= .medium }.count, 0, "\(findings.map(\.title))")
    }

    /// A stub client with a fixed port is not a resolver: not judged.
    func testClientWithAFixedPortIsNotJudged() {
        let f = Feeder()
        for i in 0..<20 {
            let ms = Int64(i) * 100
            f.feed(IPPacket.udp(from: client, 40_000, to: upstream, 53, payload: dns(id: UInt16(i + 1), name: "c\(i).example.com")), at(ms))
            f.feed(IPPacket.udp(from: upstream, 53, to: client, 40_000, payload: dns(id: UInt16(i + 1), name: "c\(i).example.com", answer: [198, 18, 62, 2])), at(ms + 20))
        }
        XCTAssertEqual(f.finish(at(0)).filter { "\($0.kind)".hasPrefix("dns.poisoning") }.count, 0)
    }

    /// One outstanding upstream query, 40 spoofed responses with guessed ids before the real one:
    /// one poisoning attempt, no unsolicited-response finding for them.
    func testSprayIsAPoisoningAttemptNotUnsolicitedResponses() {
        let f = Feeder()
        f.feed(IPPacket.udp(from: forwarder, 33_333, to: upstream, 53, payload: dns(id: 4242, name: "bank.example.com")), at(0))
        for i in 0..<40 {
            f.feed(IPPacket.udp(from: upstream, 53, to: forwarder, 33_333,
                                payload: dns(id: UInt16(9000 + i * 13), name: "bank.example.com", answer: [203, 0, 113, 66]),
                                ip: IPFields(ttl: 250)), at(1 + Int64(i)))
        }
        f.feed(IPPacket.udp(from: upstream, 53, to: forwarder, 33_333, payload: dns(id: 4242, name: "bank.example.com", answer: [198, 18, 62, 3])), at(60))
        let findings = f.finish(at(0))
        let attempts = findings.filter { $0.kind == FindingKind.dnsPoisoningAttempt }
        XCTAssertEqual(attempts.count, 1, "\(findings.map(\.title))")
        XCTAssertEqual(attempts.first?.severity, .high)
        XCTAssertEqual(attempts.first?.subjectValue("qname"), .string("bank.example.com."))
        XCTAssertTrue(attempts.first?.title.contains("40 responses") ?? false, attempts.first?.title ?? "")
        XCTAssertEqual(findings.filter { $0.kind == FindingKind.dnsUnsolicitedResponse }.count, 0, "\(findings.map(\.title))")
    }

    /// One wrong-id response is still an unsolicited response (below the spray threshold).
    func testOneWrongIDIsStillUnsolicited() {
        let f = Feeder()
        f.feed(IPPacket.udp(from: forwarder, 33_333, to: upstream, 53, payload: dns(id: 4242, name: "bank.example.com")), at(0))
        f.feed(IPPacket.udp(from: upstream, 53, to: forwarder, 33_333, payload: dns(id: 7, name: "bank.example.com", answer: [203, 0, 113, 66])), at(5))
        f.feed(IPPacket.udp(from: upstream, 53, to: forwarder, 33_333, payload: dns(id: 4242, name: "bank.example.com", answer: [198, 18, 62, 3])), at(60))
        let findings = f.finish(at(0))
        XCTAssertEqual(findings.filter { $0.kind == FindingKind.dnsPoisoningAttempt }.count, 0)
        XCTAssertEqual(findings.filter { $0.kind == FindingKind.dnsUnsolicitedResponse && $0.severity >= .medium }.count, 1)
    }
}
