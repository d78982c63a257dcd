import AnalysisEngine
import Findings
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// Issue 15 bug 10: SYNs to port 443 of an address the same capture shows answering DNS that
/// never complete are blocked DoH; the same SYNs to a web server are no finding.
final class DoHBlockTests: XCTestCase {
    let client = IPAddress("198.18.40.1")!
    let resolver = IPAddress("198.18.40.53")!
    let web = IPAddress("198.18.41.80")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    func at(_ ms: Int64) -> Timestamp { t0.adding(nanoseconds: ms * 1_000_000) }

    func dns(id: UInt16, answer: Bool) -> [UInt8] {
        var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), answer ? 0x81 : 0x01, answer ? 0x80 : 0x00, 0, 1, 0, answer ? 1 : 0, 0, 0, 0, 0]
        m += [3] + Array("www".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
        if answer { m += [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 93, 184, 216, 34] }
        return m
    }

    func run(synTo server: IPAddress) -> [Finding] {
        let f = CaptureFeeder()
        let feed = f.feed
        feed(IPPacket.udp(from: client, 40_000, to: resolver, 53, payload: dns(id: 1, answer: false)), at(0))
        feed(IPPacket.udp(from: resolver, 53, to: client, 40_000, payload: dns(id: 1, answer: true)), at(20))
        for (i, ms) in [1_000, 2_000, 4_000].enumerated() {  // the SYN and its retransmissions, never answered
            feed(IPPacket.tcp(from: client, 41_000, to: server, 443, seq: 1, ack: 0, flags: .syn), at(Int64(ms) + Int64(i)))
        }
        feed(IPPacket.udp(from: client, 40_001, to: resolver, 53, payload: dns(id: 2, answer: false)), at(9_000))
        feed(IPPacket.udp(from: resolver, 53, to: client, 40_001, payload: dns(id: 2, answer: true)), at(9_020))
        return f.finish()
    }

    func testUnansweredHTTPSSYNsToAResolverAreBlockedDoH() {
        let findings = run(synTo: resolver).filter { $0.kind == FindingKind.encryptedDNSBlocked }
        XCTAssertEqual(findings.count, 1, "\(findings.map(\.title))")
        XCTAssertEqual(findings.first?.subjectValue("server"), .string("198.18.40.53"))
        XCTAssertEqual(findings.first?.subjectValue("port"), .int(443))
        XCTAssertGreaterThanOrEqual(findings.first?.severity ?? .info, .medium)
        XCTAssertTrue(findings.first?.title.contains("HTTPS") ?? false, findings.first?.title ?? "")
    }

    func testUnansweredHTTPSSYNsToAWebServerAreNoFinding() {
        XCTAssertEqual(run(synTo: web).filter { $0.kind == FindingKind.encryptedDNSBlocked }.count, 0)
    }
}
