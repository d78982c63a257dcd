import AnalysisEvents
@testable import AnalysisEngine
import NetTypes
@testable import PacketDecode
import PacketSynth
import TLSAnalysis
import TLSWire
import XCTest

/// The analysis core as every driver feeds it (issue 16): inputs begun and ended by the driver,
/// frames with their lengths, timestamps and numbers; and a stream stage that reports upward.
final class CoreFeedTests: XCTestCase {
    let client = IPAddress("198.18.40.1")!
    let resolver = IPAddress("198.18.40.53")!

    func query(id: UInt16) -> [UInt8] {
        var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        m += [3] + Array("www".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
        return m
    }

    func response(id: UInt16) -> [UInt8] {
        var m = query(id: id)
        m[2] = 0x81; m[3] = 0x80; m[7] = 1
        return m + [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 198, 18, 100, 1]
    }

    func testFeedKeepsEachInputsFactsAndTheDriversFrameNumbers() {
        var o = AnalysisOptions()
        o.trust = nil
        o.wantDecode = true
        let a = CaptureAnalyzer(options: o)
        var seen: [(input: Int, frame: UInt64)] = []
        a.onDecode = { e in
            if case .dns(let c, _, _) = e { seen.append((c.input, c.frame)) }
        }
        let q = IPPacket.udp(from: client, 40_000, to: resolver, 53, payload: query(id: 7))
        let r = IPPacket.udp(from: resolver, 53, to: client, 40_000, payload: response(id: 7))
        XCTAssertEqual(a.beginInput(name: "first.pcap", linkType: .raw), 0)
        // A filter keeps the file's numbers: frames 3 and 7 of the file.
        q.withUnsafeBytes { a.feed($0, captureLength: q.count, seconds: 100, nanoseconds: 5, number: 3) }
        r.withUnsafeBytes { a.feed($0, captureLength: r.count, seconds: 101, nanoseconds: 0, number: 7) }
        XCTAssertEqual(a.currentInputFacts.packets, 2)
        a.endInput(end: .readError("truncated record"))
        XCTAssertEqual(a.beginInput(name: "second.pcap", linkType: .raw), 1)
        q.withUnsafeBytes { a.feed($0, captureLength: q.count, seconds: 200, nanoseconds: 0, number: 1) }
        a.endInput(end: .endOfFile)

        XCTAssertEqual(a.inputs.count, 2)
        let first = a.inputs[0], second = a.inputs[1]
        XCTAssertEqual(first.name, "first.pcap")
        XCTAssertEqual(first.packets, 2)
        XCTAssertEqual(first.bytes, q.count + r.count)
        XCTAssertEqual(first.first, Timestamp(seconds: 100, nanoseconds: 5))
        XCTAssertEqual(first.last, Timestamp(seconds: 101, nanoseconds: 0))
        XCTAssertEqual(first.end, .readError("truncated record"))
        XCTAssertEqual(second.packets, 1)
        XCTAssertEqual(second.end, .endOfFile)
        XCTAssertEqual(seen.map(\.input), [0, 0, 1])
        XCTAssertEqual(seen.map(\.frame), [3, 7, 1])
        XCTAssertEqual(a.summary().packets, 3)
        XCTAssertEqual(a.inputName(1), "second.pcap")
        // An end without a begun input changes nothing.
        a.endInput(end: .endOfFile)
        XCTAssertEqual(a.inputs.count, 2)
    }

    /// Records what a stage reports.
    final class RecordingSink: StreamEventSink {
        var messages: [(bytes: [UInt8], sport: UInt16, dport: UInt16, frame: UInt64)] = []
        var recognised = 0
        func dnsMessage(_ msg: UnsafeRawBufferPointer, flavor: DNSFlavor, seg: TransportSegment, frame: UInt64, ts: Timestamp) {
            messages.append((Array(msg), seg.sport, seg.dport, frame))
        }
        func dnsRecognisedOnStream() { recognised += 1 }
        func tlsClientHello(_ body: [UInt8], seg: TransportSegment, frame: UInt64, ts: Timestamp) -> ClientHello.Scan? { nil }
        func tlsServerHello(_ body: [UInt8], seg: TransportSegment, frame: UInt64, ts: Timestamp) -> Bool { false }
        func tlsCertificate(_ body: [UInt8], record: TLSConnectionRecord, frame: UInt64, ts: Timestamp) {}
        func tlsMalformedRecord() {}
        func tlsConnectionEnded(_ record: TLSConnectionRecord) {}
    }

    func testDNSStreamStageReportsEveryFramedMessageUpwardUntilAGap() {
        let sink = RecordingSink()
        let stage = DNSStreamStage(sink: sink, flavor: .dns)
        let ts = Timestamp(seconds: 1, nanoseconds: 0)
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        let seg = TransportSegment(ip: IPInfo(src: client, dst: resolver, ttl: 64, ipID: 1), proto: .tcp,
                                   sport: 40_001, dport: 53, payload: none)
        let m1 = query(id: 1), m2 = query(id: 2), m3 = query(id: 3)
        func framed(_ m: [UInt8]) -> [UInt8] { [UInt8(m.count >> 8), UInt8(m.count & 0xff)] + m }
        let stream = framed(m1) + framed(m2)
        let cut = framed(m1).count + 5  // the second message spans two deliveries
        stage.segment(seg, fromClient: true, frame: 1, at: ts)
        XCTAssertTrue(Array(stream[..<cut]).withUnsafeBytes { stage.data($0, fromClient: true, frame: 1, at: ts) })
        XCTAssertEqual(sink.messages.count, 1)
        XCTAssertTrue(Array(stream[cut...]).withUnsafeBytes { stage.data($0, fromClient: true, frame: 2, at: ts) })
        XCTAssertEqual(sink.messages.map(\.bytes), [m1, m2])
        XCTAssertEqual(sink.messages.map(\.frame), [1, 2])
        XCTAssertEqual(sink.messages.map(\.dport), [53, 53])
        // Bytes lost: the framing cannot be trusted; the stage wants no more of that direction.
        stage.gap(fromClient: true, bytes: 10)
        XCTAssertFalse(framed(m3).withUnsafeBytes { stage.data($0, fromClient: true, frame: 3, at: ts) })
        XCTAssertEqual(sink.messages.count, 2)
    }
}
