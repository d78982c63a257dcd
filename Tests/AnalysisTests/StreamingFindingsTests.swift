import AnalysisEngine
import Findings
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// The live-mode streaming mechanism: `AnalysisOptions.streamFindings`, `drainNewFindings()` and
/// `expire(now:)`, fed frame by frame as `dnsaudit live` does.
final class StreamingFindingsTests: XCTestCase {
    let client = IPAddress("198.18.30.1")!
    let resolver = IPAddress("198.18.30.53")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    func at(_ ms: Int64) -> Timestamp { t0.adding(nanoseconds: ms * 1_000_000) }

    /// A query for `name` A (txid `id`), or its response with one A record.
    func dns(id: UInt16, name: String, answer: [UInt8]? = nil) -> [UInt8] {
        var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") { m.append(UInt8(label.utf8.count)); m += Array(label.utf8) }
        m += [0, 0, 1, 0, 1]
        if let a = answer {
            m[2] = 0x81; m[3] = 0x80; m[7] = 1
            m += [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4] + a
        }
        return m
    }

    func feed(_ a: CaptureAnalyzer, _ packet: [UInt8], frame: UInt64, ts: Timestamp) {
        packet.withUnsafeBytes { a.processFrame($0, link: .raw, frame: frame, ts: ts) }
    }

    func query(_ a: CaptureAnalyzer, id: UInt16, name: String, frame: UInt64, ts: Timestamp, port: UInt16 = 40_000) {
        feed(a, IPPacket.udp(from: client, port, to: resolver, 53, payload: dns(id: id, name: name)), frame: frame, ts: ts)
    }

    func response(_ a: CaptureAnalyzer, id: UInt16, name: String, answer: [UInt8], ttl: UInt8 = 60, frame: UInt64, ts: Timestamp,
                  port: UInt16 = 40_000) {
        feed(a, IPPacket.udp(from: resolver, 53, to: client, port, payload: dns(id: id, name: name, answer: answer),
                             ip: IPFields(ttl: ttl, identification: UInt16(frame))), frame: frame, ts: ts)
    }

    func liveAnalyzer(stream: Bool = true) -> CaptureAnalyzer {
        var o = AnalysisOptions()
        o.streamFindings = stream
        o.trust = nil
        let a = CaptureAnalyzer(options: o)
        a.beginInput(name: "test0")
        return a
    }

    func testInjectionIsStreamedWhenTheSecondDifferentAnswerArrives() {
        let a = liveAnalyzer()
        // A clean transaction first (a baseline), a second later: past the capture-start grace.
        query(a, id: 1, name: "ok.example.com", frame: 1, ts: at(0))
        response(a, id: 1, name: "ok.example.com", answer: [198, 18, 100, 1], frame: 2, ts: at(20))
        query(a, id: 2, name: "www.example.com", frame: 3, ts: at(1_500))
        response(a, id: 2, name: "www.example.com", answer: [198, 18, 66, 6], ttl: 250, frame: 4, ts: at(1_501))
        XCTAssertEqual(a.drainNewFindings().count, 0, "one answer is no finding yet")
        response(a, id: 2, name: "www.example.com", answer: [198, 18, 100, 1], frame: 5, ts: at(1_520))
        let streamed = a.drainNewFindings()
        XCTAssertEqual(streamed.map(\.kind), [FindingKind.dnsInjection], "decided at the second, different answer")
        XCTAssertEqual(streamed.first?.evidence.flatMap(\.frames), [3, 4, 3, 5])
        XCTAssertTrue(streamed.first?.evidence.first?.detail.contains("198.18.66.6") ?? false)
        XCTAssertEqual(a.drainNewFindings().count, 0, "drained once")

        // A third different answer is more evidence for the same finding: not streamed again.
        response(a, id: 2, name: "www.example.com", answer: [198, 18, 66, 7], ttl: 250, frame: 6, ts: at(1_530))
        XCTAssertEqual(a.drainNewFindings().count, 0, "the same finding id is streamed once")

        // The final report still has it, complete, with the same id.
        let final = a.finish()
        XCTAssertEqual(final.map(\.kind), [FindingKind.dnsInjection])
        XCTAssertEqual(final.first?.id, streamed.first?.id)
        XCTAssertEqual(final.first?.evidence.count, 3, "all three distinct answers at the end")
    }

    func testIdenticalDuplicateIsNotStreamed() {
        let a = liveAnalyzer()
        query(a, id: 7, name: "dup.example.com", frame: 1, ts: at(1_500))
        response(a, id: 7, name: "dup.example.com", answer: [198, 18, 100, 1], frame: 2, ts: at(1_510))
        response(a, id: 7, name: "dup.example.com", answer: [198, 18, 100, 1], frame: 3, ts: at(1_511))
        XCTAssertEqual(a.drainNewFindings().count, 0)
        XCTAssertEqual(a.finish().count, 0)
    }

    func testUnsolicitedResponseIsStreamedOncePerFlow() {
        let a = liveAnalyzer()
        query(a, id: 10, name: "a.example.com", frame: 1, ts: at(0))
        response(a, id: 10, name: "a.example.com", answer: [198, 18, 100, 1], frame: 2, ts: at(10))
        // Wrong txid on the same flow, after the capture-start grace.
        response(a, id: 99, name: "a.example.com", answer: [198, 18, 66, 6], frame: 3, ts: at(1_500))
        XCTAssertEqual(a.drainNewFindings().map(\.kind), [FindingKind.dnsUnsolicitedResponse])
        response(a, id: 98, name: "a.example.com", answer: [198, 18, 66, 6], frame: 4, ts: at(1_600))
        XCTAssertEqual(a.drainNewFindings().count, 0, "same flow, same finding")
        XCTAssertEqual(a.finish().filter { $0.kind == FindingKind.dnsUnsolicitedResponse }.first?.evidence.count, 2)
    }

    /// Offline analysis keeps nothing for streaming: its output cannot change.
    func testWithoutStreamFindingsNothingIsDrainedAndFinishIsTheSame() {
        let streaming = liveAnalyzer(stream: true), offline = liveAnalyzer(stream: false)
        for a in [streaming, offline] {
            query(a, id: 2, name: "www.example.com", frame: 1, ts: at(1_500))
            response(a, id: 2, name: "www.example.com", answer: [198, 18, 66, 6], ttl: 250, frame: 2, ts: at(1_501))
            response(a, id: 2, name: "www.example.com", answer: [198, 18, 100, 1], frame: 3, ts: at(1_520))
        }
        XCTAssertEqual(offline.drainNewFindings().count, 0)
        XCTAssertEqual(streaming.drainNewFindings().count, 1)
        XCTAssertEqual(streaming.finish(), offline.finish())
    }

    /// `expire(now:)` follows the clock with no packets: open queries become unanswered, and the
    /// tables empty (memory bounded by time in live mode, not only by size).
    func testExpireRetiresTransactionsWithoutTraffic() {
        let a = liveAnalyzer()
        for i in 0..<100 { query(a, id: UInt16(i), name: "q\(i).example.com", frame: UInt64(i + 1), ts: at(Int64(i))) }
        a.expire(now: at(2_000))
        XCTAssertEqual(a.summary().unansweredQueries, 0, "still inside the 10 s query timeout")
        a.expire(now: at(12_000))
        XCTAssertEqual(a.summary().unansweredQueries, 100, "retired by the clock, no packet needed")
    }

    /// A ClientHello that never gets an answer is decided while running: the TCP idle timeout closes
    /// the connection and the TLS handshake timeout judges it, both on `expire(now:)`.
    func testUnansweredClientHelloIsDecidedByExpire() {
        let a = liveAnalyzer()
        let server = IPAddress("198.18.31.10")!
        var rng = SplitMix64(seed: 7)
        let hello = TLSRecords.clientHello(serverName: "blocked.lab.test", rng: &rng)
        let c = client
        feed(a, IPPacket.tcp(from: c, 50_000, to: server, 443, seq: 100, ack: 0, flags: [.syn]), frame: 1, ts: at(0))
        feed(a, IPPacket.tcp(from: server, 443, to: c, 50_000, seq: 900, ack: 101, flags: [.syn, .ack]), frame: 2, ts: at(10))
        feed(a, IPPacket.tcp(from: c, 50_000, to: server, 443, seq: 101, ack: 901, flags: [.ack]), frame: 3, ts: at(11))
        feed(a, IPPacket.tcp(from: c, 50_000, to: server, 443, seq: 101, ack: 901, flags: [.ack, .psh], payload: hello), frame: 4, ts: at(12))
        a.expire(now: at(5_000))
        XCTAssertEqual(a.drainNewFindings().count, 0, "too early to call")
        a.expire(now: at(130_000))  // past the 120 s TCP idle timeout
        XCTAssertEqual(a.drainNewFindings().map(\.kind), [FindingKind.tlsHandshakeTimeout])
        XCTAssertEqual(a.finish().map(\.kind), [FindingKind.tlsHandshakeTimeout], "and once in the final findings")
    }
}
