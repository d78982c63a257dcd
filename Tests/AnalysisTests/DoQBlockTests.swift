import AnalysisEngine
import Findings
import NetTypes
import PacketDecode
import PacketSynth
import TLSWire
import XCTest

/// Issue 17 item 3: DNS over QUIC attempts in a capture that get no datagram back, or an ICMP
/// destination unreachable, join `encrypted-dns.blocked` (service DoQ) like DoT SYNs without
/// answer; an answered attempt is no finding. Frames built with PacketSynth (a real RFC 9001
/// Initial carrying a ClientHello with ALPN doq).
final class DoQBlockTests: XCTestCase {
    let client = IPAddress("198.18.50.1")!
    let resolver = IPAddress("198.18.50.53")!
    let router = IPAddress("198.18.50.254")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    func at(_ ms: Int64) -> Timestamp { t0.adding(nanoseconds: ms * 1_000_000) }

    func initial() throws -> [UInt8] {
        var rng = SplitMix64(seed: 7)
        let hello = Array(TLSRecords.clientHello(serverName: "dns.example", alpn: ["doq"], rng: &rng).dropFirst(5))
        let crypto: [UInt8] = [0x06, 0x00, 0x40 | UInt8(truncatingIfNeeded: hello.count >> 8), UInt8(truncatingIfNeeded: hello.count)] + hello
        let dcid: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8], scid: [UInt8] = [9, 9, 9, 9]
        return try XCTUnwrap(QUICInitialKeys(version: QUICVersion.v1, initialDCID: dcid, side: .client)?
            .sealInitial(dcid: dcid, scid: scid, packetNumber: 0, frames: crypto, padTo: 1_252))
    }

    enum Outcome { case answered, silent, icmp(code: UInt8), lateEnd }

    func run(_ outcome: Outcome) throws -> [Finding] {
        let f = CaptureFeeder()
        let feed = f.feed
        let datagram = IPPacket.udp(from: client, 50_000, to: resolver, 853, payload: try initial())
        feed(datagram, at(0))
        feed(datagram, at(1_000))  // the client's retransmission
        switch outcome {
        case .answered:
            feed(IPPacket.udp(from: resolver, 853, to: client, 50_000, payload: [0xc3, 0, 0, 0, 1] + [UInt8](repeating: 0x55, count: 60)), at(30))
        case .icmp(let code):
            feed(FrameBuilder.rawIP.icmp(from: router, to: client, type: 3, code: code, body: [0, 0, 0, 0] + Array(datagram.prefix(28))), at(5))
        case .silent, .lateEnd:
            break
        }
        let end = { if case .lateEnd = outcome { return self.at(500) } else { return self.at(9_000) } }()
        feed(IPPacket.udp(from: client, 40_000, to: resolver, 53, payload: [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]), end)
        return f.finish().filter { $0.kind == FindingKind.encryptedDNSBlocked }
    }

    func testUnansweredDoQIsBlocked() throws {
        let f = try run(.silent)
        XCTAssertEqual(f.count, 1, "\(f.map(\.title))")
        XCTAssertEqual(f.first?.subjectValue("server"), .string("198.18.50.53"))
        XCTAssertEqual(f.first?.subjectValue("port"), .int(853))
        XCTAssertTrue(f.first?.title.contains("QUIC") ?? false, f.first?.title ?? "")
        let e = try XCTUnwrap(f.first?.evidence.first)
        XCTAssertEqual(e.frames, [1])
        XCTAssertTrue(e.facts.contains { $0.0 == "time" && $0.1 == .string(t0.description) }, "\(e.facts)")
        XCTAssertTrue(e.facts.contains { $0.0 == "sni" && $0.1 == .string("dns.example") }, "\(e.facts)")
    }

    func testICMPUnreachableRefusesDoQ() throws {
        let f = try run(.icmp(code: 3))
        XCTAssertEqual(f.count, 1, "\(f.map(\.title))")
        let e = try XCTUnwrap(f.first?.evidence.first)
        XCTAssertEqual(e.frames, [1, 3])
        XCTAssertTrue(e.detail.contains("port unreachable"), e.detail)
        XCTAssertTrue(e.facts.contains { $0.0 == "icmp_from" && $0.1 == .string("198.18.50.254") }, "\(e.facts)")
        XCTAssertTrue(f.first?.title.contains("refused") ?? false, f.first?.title ?? "")
    }

    /// Clean controls: an answered attempt, and one the capture did not wait for long enough.
    func testAnsweredOrTooRecentDoQIsNoFinding() throws {
        XCTAssertEqual(try run(.answered).count, 0)
        XCTAssertEqual(try run(.lateEnd).count, 0)
    }

    /// The ICMP error parser reads what PacketSynth built, and nothing from an echo request.
    func testICMPUnreachableParser() throws {
        let datagram = IPPacket.udp(from: client, 50_000, to: resolver, 853, payload: [1, 2, 3])
        let err = FrameBuilder.rawIP.icmp(from: router, to: client, type: 3, code: 13, body: [0, 0, 0, 0] + datagram)
        let e = try XCTUnwrap(err.withUnsafeBytes { PacketDecoder.icmpUnreachable($0, linkType: .raw) })
        XCTAssertEqual(e.reporter, router)
        XCTAssertEqual(e.quotedSource, client)
        XCTAssertEqual(e.quotedDestination, resolver)
        XCTAssertEqual(e.quotedDestinationPort, 853)
        XCTAssertEqual(e.reason, "communication administratively prohibited")
        let echo = FrameBuilder.rawIP.icmpEcho(from: client, to: resolver, reply: false, identifier: 1, sequence: 1)
        XCTAssertNil(echo.withUnsafeBytes { PacketDecoder.icmpUnreachable($0, linkType: .raw) })
        for n in 0..<err.count { _ = Array(err.prefix(n)).withUnsafeBytes { PacketDecoder.icmpUnreachable($0, linkType: .raw) } }
    }
}
