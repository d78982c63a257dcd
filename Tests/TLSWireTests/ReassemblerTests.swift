import XCTest
import TLSWire

final class ReassemblerTests: XCTestCase {
    /// The handshake message (4-byte header + body) inside a single-record vector.
    private func handshakeMessage(_ record: [UInt8]) -> [UInt8] { Array(record.dropFirst(5)) }

    /// Wrap a handshake byte stream in records of at most `size` bytes.
    private func records(_ hs: [UInt8], size: Int, type: UInt8 = 22) -> [UInt8] {
        var out = [UInt8]()
        var i = 0
        while i < hs.count {
            let n = min(size, hs.count - i)
            out += [type, 0x03, 0x03, UInt8(n >> 8), UInt8(n & 0xff)]
            out += hs[i..<(i + n)]
            i += n
        }
        return out
    }

    func testByteByByteFeedingOfMessagesSpanningRecords() throws {
        let msg = handshakeMessage(Vectors.chromeClientHelloRecord)
        // Two handshake messages (the hello twice) cut into 100-byte records, fed one byte at a time.
        let stream = records(msg + msg, size: 100)
        var r = TLSHandshakeReassembler()
        var bodies: [[UInt8]] = []
        for b in stream {
            for ev in r.feed([b]) {
                guard case .handshake(let t, let body) = ev else { return XCTFail("unexpected \(ev)") }
                XCTAssertEqual(t, 1)
                bodies.append(body)
            }
        }
        XCTAssertEqual(bodies.count, 2)
        XCTAssertEqual(bodies.first, Array(msg.dropFirst(4)))
        XCTAssertEqual(bodies.first.flatMap { ClientHello.parse($0) }?.sni, "pdx-col.eum-appdynamics.com")
        XCTAssertFalse(r.isDone)
        XCTAssertEqual(r.role, .client)
    }

    func testArbitraryChunkingGivesTheSameEvents() {
        let stream = records(handshakeMessage(Vectors.tls12ClientHelloRecord), size: 50)
            + Vectors.tls12ServerFlight.prefix(0)
        var whole = TLSHandshakeReassembler()
        let expected = whole.feed(stream)
        var rng = XorShift(seed: 42)
        for _ in 0..<200 {
            var r = TLSHandshakeReassembler()
            var got: [TLSEvent] = []
            var i = 0
            while i < stream.count {
                let n = 1 + rng.below(64)
                got += r.feed(Array(stream[i..<min(i + n, stream.count)]))
                i += n
            }
            XCTAssertEqual(got, expected)
        }
    }

    func testAlertsAndNotTLS() {
        var r = TLSHandshakeReassembler()
        XCTAssertEqual(r.feed([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]), [.alert(level: 2, description: 40)])
        XCTAssertEqual(TLSAlert(level: 2, description: 40).descriptionName, "handshake_failure")
        XCTAssertEqual(TLSAlert(level: 2, description: 112).descriptionName, "unrecognized_name")
        XCTAssertEqual(TLSAlert(level: 1, description: 0).levelName, "warning")

        var h = TLSHandshakeReassembler()
        XCTAssertEqual(h.feed(Array("GET / HTTP/1.1\r\n".utf8)), [.notTLS])
        XCTAssertTrue(h.isDone)
        XCTAssertEqual(h.feed([0x16, 0x03, 0x01]), [])

        var partial = TLSHandshakeReassembler()
        XCTAssertEqual(partial.feed([0x16]), [])
        XCTAssertEqual(partial.feed([0x03]), [])
        XCTAssertEqual(partial.feed([0x01, 0x00, 0x00]), [.notTLS]) // zero-length first record
    }

    func testSSLv2CompatibleHello() {
        var r = TLSHandshakeReassembler()
        let v2: [UInt8] = [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]
        XCTAssertEqual(r.feed(v2), [.sslv2ClientHello(version: 0x0301)])
        XCTAssertTrue(r.isDone)
    }

    func testOverflowIsBounded() {
        var r = TLSHandshakeReassembler(maxPending: 4096)
        // A handshake header announcing 16 MiB.
        XCTAssertEqual(r.feed([0x16, 0x03, 0x03, 0x00, 0x04, 0x0b, 0xff, 0xff, 0xff]), [.overflow])
        XCTAssertTrue(r.isDone)

        // A message larger than the limit, announced in a record of its own: refused at the header.
        var s = TLSHandshakeReassembler(maxPending: 4096)
        var events = s.feed([0x16, 0x03, 0x03, 0x00, 0x04, 0x0b, 0x00, 0x20, 0x00])
        XCTAssertEqual(events, [.overflow])
        // A message within the limit spread over many records completes.
        var t = TLSHandshakeReassembler(maxPending: 4096)
        events = t.feed([0x16, 0x03, 0x03, 0x00, 0x04, 0x0b, 0x00, 0x0f, 0xfc])
        for _ in 0..<4 { events += t.feed([0x16, 0x03, 0x03, 0x03, 0xff] + Array(repeating: 0, count: 1023)) }
        XCTAssertEqual(events, [.handshake(type: 11, body: Array(repeating: 0, count: 4092))])
    }

    func testMalformedRecordHeaderMidStream() {
        var r = TLSHandshakeReassembler()
        let ch = Vectors.tls12ClientHelloRecord
        var events = r.feed(ch)
        XCTAssertEqual(events.count, 1)
        events = r.feed([0x63, 0x03, 0x03, 0x00, 0x01, 0x00])
        XCTAssertEqual(events, [.malformed])
        XCTAssertTrue(r.isDone)
    }

    func testTLS12ClientKeyExchangeThenEncryptedFinished() {
        var r = TLSHandshakeReassembler()
        _ = r.feed(Vectors.tls12ClientHelloRecord)
        let cke: [UInt8] = [0x16, 0x03, 0x03, 0x00, 0x06, 0x10, 0x00, 0x00, 0x02, 0x01, 0x02]
        let ccs: [UInt8] = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01]
        let finished: [UInt8] = [0x16, 0x03, 0x03, 0x00, 0x28] + Array(repeating: 0x5a, count: 40)
        let alert: [UInt8] = [0x15, 0x03, 0x03, 0x00, 0x1a] + Array(repeating: 0x11, count: 26)
        let events = r.feed(cke + ccs + finished + alert)
        XCTAssertEqual(events, [.handshake(type: 16, body: [0x01, 0x02]), .changeCipherSpec, .encryptedRecord])
        XCTAssertTrue(r.isEncrypted)
        XCTAssertFalse(r.isDone)
        XCTAssertEqual(r.feed([0x17, 0x03, 0x03, 0x00, 0x01, 0x00]), [.applicationData])
        XCTAssertTrue(r.isDone)
    }

    func testProxyPreambleIsSkippedWhenAllowed() {
        let socks: [UInt8] = [0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0x01, 0xbb]
        var strict = TLSHandshakeReassembler()
        XCTAssertEqual(strict.feed(socks + Vectors.tls12ClientHelloRecord), [.notTLS])

        var lenient = TLSHandshakeReassembler(preambleLimit: 1024)
        var events: [TLSEvent] = []
        for b in socks + Vectors.tls12ClientHelloRecord { events += lenient.feed([b]) }
        XCTAssertEqual(events.first, .skippedPreamble(bytes: socks.count))
        XCTAssertEqual(events.count, 2)
        if case .handshake(1, let body)? = events.last {
            XCTAssertEqual(ClientHello.parse(body)?.cipherSuites.count, 80)
        } else {
            XCTFail("no hello")
        }

        var http = TLSHandshakeReassembler(preambleLimit: 64)
        XCTAssertEqual(http.feed(Array(repeating: UInt8(ascii: "A"), count: 200)), [.notTLS])
    }
}
