import XCTest
import TLSWire

final class ClientHelloTests: XCTestCase {
    private let chromeJA4R = "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
        + "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"

    func testTLS12ClientHello() throws {
        let ch = try XCTUnwrap(clientHelloFromRecords(Vectors.tls12ClientHelloRecord))
        XCTAssertNil(ch.sni)
        XCTAssertEqual(ch.legacyVersion, 0x0303)
        XCTAssertEqual(ch.versionString, "1.2")
        XCTAssertEqual(ch.cipherSuites.count, 80)
        XCTAssertEqual(ch.compressionMethods, [1, 0])
        XCTAssertEqual(ch.extensionTypes, [11, 10, 35, 13, 15])
        XCTAssertEqual(ch.ecPointFormats, [0, 1, 2])
        XCTAssertTrue(ch.alpn.isEmpty)
        let ja3 = JA3.compute(ch)
        XCTAssertEqual(ja3.hash, "bd9c99b3a0f752c3ab8b052a79e9de3e")
        XCTAssertEqual(ja3.string, "771,49200-49196-49192-49188-49172-49162-49186-49185-163-159-107-106-57-56-136-135-49202-"
            + "49198-49194-49190-49167-49157-157-61-53-132-49170-49160-49180-49179-22-19-49165-49155-10-49199-49195-49191-"
            + "49187-49171-49161-49183-49182-162-158-103-64-51-50-154-153-69-68-49201-49197-49193-49189-49166-49156-156-60-"
            + "47-150-65-7-49169-49159-49164-49154-5-4-21-18-9-20-17-8-6-3-255,11-10-35-13-15,14-13-25-11-12-24-9-10-22-23-"
            + "8-6-7-20-21-4-5-18-19-1-2-3-15-16-17,0-1-2")
        XCTAssertTrue(JA4.compute(ch, transport: .tcp).ja4.hasPrefix("t12i800500_"))
    }

    func testChromeTLS13ClientHelloWithGREASE() throws {
        let ch = try XCTUnwrap(clientHelloFromRecords(Vectors.chromeClientHelloRecord))
        XCTAssertEqual(ch.sni, "pdx-col.eum-appdynamics.com")
        XCTAssertEqual(ch.alpn.map { String(decoding: $0, as: UTF8.self) }, ["h2", "http/1.1"])
        XCTAssertEqual(ch.versionString, "1.3")
        XCTAssertEqual(ch.highestOfferedVersion, 0x0304)
        XCTAssertEqual(ch.legacyVersion, 0x0303)
        XCTAssertTrue(isGREASE(ch.cipherSuites[0]))
        XCTAssertEqual(ch.cipherSuites.count, 16)
        XCTAssertTrue(ch.supportedVersions.contains { isGREASE($0) })
        XCTAssertTrue(ch.keyShareGroups.contains(29))
        XCTAssertEqual(ch.supportedGroups.filter { !isGREASE($0) }, [29, 23, 24])
        XCTAssertFalse(ch.hasECH)
        let ja3 = JA3.compute(ch)
        XCTAssertEqual(ja3.hash, "8883b2acda8ceb1a4f416c16d9b6c42f")
        XCTAssertEqual(ja3.string, "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
            + "35-65281-0-27-18-17513-45-43-13-16-51-10-5-23-11-21,29-23-24,0")
        let ja4 = JA4.compute(ch, transport: .tcp)
        XCTAssertEqual(ja4.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1")
        XCTAssertEqual(ja4.ja4_r, chromeJA4R)
        XCTAssertEqual(JA4.compute(ch, transport: .quic).ja4, "q13d1516h2_8daaf6152771_e5627efa2ab1")
    }

    func testThreeHundredFiftyCipherSuites() throws {
        let ch = try XCTUnwrap(clientHelloFromRecords(Vectors.lotsOfCiphersRecord))
        XCTAssertEqual(ch.cipherSuites.count, 350)
        XCTAssertNil(ch.sni)
        XCTAssertEqual(JA3.compute(ch).hash, "b2498734f22ddc9be05c39837ac8ac54")
        let ja4 = JA4.compute(ch, transport: .tcp)
        // The cipher count saturates at 99.
        XCTAssertEqual(String(ja4.ja4.prefix(6)), "t12i99")
    }

    func testNonASCIIALPN() throws {
        let ch = try XCTUnwrap(clientHelloFromRecords(Vectors.nonASCIIALPNRecord))
        XCTAssertEqual(ch.alpn.first, [0xba, 0xad])
        XCTAssertEqual(ch.sni, "clientservices.googleapis.com")
        XCTAssertEqual(JA3.compute(ch).hash, "1c258ebef8eee2dfa3df6d8d07285af9")
        let ja4 = JA4.compute(ch, transport: .tcp)
        // FoxIO python and rust reference outputs (the prose would give "bd").
        XCTAssertEqual(ja4.ja4, "t13d151699_8daaf6152771_e5627efa2ab1")
        XCTAssertEqual(ja4.ja4_r, chromeJA4R.replacingOccurrences(of: "t13d1516h2_", with: "t13d151699_"))
    }

    func testJA4ALPNCharacters() {
        XCTAssertEqual(JA4.alpnCode(nil), "00")
        XCTAssertEqual(JA4.alpnCode([]), "00")
        XCTAssertEqual(JA4.alpnCode(Array("h2".utf8)), "h2")
        XCTAssertEqual(JA4.alpnCode(Array("http/1.1".utf8)), "h1")
        XCTAssertEqual(JA4.alpnCode(Array("h".utf8)), "hh")
        XCTAssertEqual(JA4.alpnCode([0xba, 0xad]), "99")
        XCTAssertEqual(JA4.alpnCode(Array("h2-".utf8)), "6d") // ASCII, not alphanumeric: hex digits
    }

    func testHelloRetryRequestSecondClientHello() throws {
        var r = TLSHandshakeReassembler()
        var hellos: [ClientHello] = []
        var events: [TLSEvent] = []
        for seg in [Vectors.hrrClientSegment1, Vectors.hrrClientSegment2] {
            for ev in r.feed(seg) {
                events.append(ev)
                if case .handshake(1, let body) = ev, let ch = ClientHello.parse(body) { hellos.append(ch) }
            }
        }
        XCTAssertEqual(hellos.count, 2)
        XCTAssertTrue(events.contains(.changeCipherSpec))
        XCTAssertFalse(events.contains(.encryptedRecord))
        XCTAssertEqual(hellos.map { JA4.compute($0, transport: .tcp).ja4 },
                       ["t13d1516h2_8daaf6152771_e5627efa2ab1", "t13d1515h2_8daaf6152771_f37e75b10bcc"])
        XCTAssertEqual(hellos.map { JA3.compute($0).hash },
                       ["9e7fd085859af4550bd92586d02652e2", "989457eb4c148cbbe80b7799ac9aef59"])
        XCTAssertEqual(hellos.map { $0.sni }, ["mem.gfx.ms", "mem.gfx.ms"])
        // Then the client's encrypted Finished: a type-23 record ends the stream.
        let after = r.feed([0x17, 0x03, 0x03, 0x00, 0x03, 1, 2, 3])
        XCTAssertEqual(after, [.encryptedRecord, .applicationData])
        XCTAssertTrue(r.isDone)
    }

    func testGREASE() {
        let all: [UInt16] = [0x0a0a, 0x1a1a, 0x2a2a, 0x3a3a, 0x4a4a, 0x5a5a, 0x6a6a, 0x7a7a,
                             0x8a8a, 0x9a9a, 0xaaaa, 0xbaba, 0xcaca, 0xdada, 0xeaea, 0xfafa]
        XCTAssertEqual((0...0xffff).filter { isGREASE(UInt16($0)) }.map { UInt16($0) }, all)
    }

    func testMalformedClientHellosAreRejected() {
        let body = Array(Vectors.chromeClientHelloRecord.dropFirst(9))
        XCTAssertNotNil(ClientHello.parse(body))
        // A truncated hello fails, except the cut right before the extension block, which is
        // a valid extension-less (SSL 3.0 style) hello.
        for n in 0..<body.count {
            if let ch = ClientHello.parse(Array(body.prefix(n))) {
                XCTAssertFalse(ch.hasExtensionsBlock, "prefix \(n)")
                XCTAssertTrue(ch.extensions.isEmpty)
            }
        }
        XCTAssertNil(ClientHello.parse([]))
        // A session id longer than 32 bytes.
        var bad = body
        bad[34] = 33
        XCTAssertNil(ClientHello.parse(bad))
    }

    func testServerFlightTLS12() throws {
        var r = TLSHandshakeReassembler()
        var types: [UInt8] = []
        var sh: ServerHello?
        var certs: CertificateMessage?
        // Feed in 7-byte chunks to cross every boundary.
        let bytes = Vectors.tls12ServerFlight
        var i = 0
        while i < bytes.count {
            let chunk = Array(bytes[i..<min(i + 7, bytes.count)])
            for case .handshake(let t, let body) in r.feed(chunk) {
                types.append(t)
                if t == 2 { sh = ServerHello.parse(body) }
                if t == 11 { certs = body.withUnsafeBytes { CertificateMessage.parse($0) } }
            }
            i += 7
        }
        XCTAssertEqual(Array(types.prefix(2)), [2, 11])
        XCTAssertEqual(sh?.cipherSuite, 0x0004)
        XCTAssertEqual(sh?.versionString, "1.2")
        XCTAssertEqual(sh?.isHelloRetryRequest, false)
        XCTAssertEqual(certs?.certificates.count, 3)
        XCTAssertEqual(certs?.certificates.first?.first, 0x30) // DER SEQUENCE
        XCTAssertEqual(r.role, .server)
    }

    func testServerHelloTLS13AndHRR() throws {
        func serverHello(random: [UInt8]) -> [UInt8] {
            var body: [UInt8] = [0x03, 0x03] + random + [0x00, 0x13, 0x01, 0x00, 0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]
            body = [0x02, 0x00, 0x00, UInt8(body.count)] + body
            return [0x16, 0x03, 0x03, 0x00, UInt8(body.count)] + body
        }
        let hrr = serverHello(random: ServerHello.helloRetryRequestRandom)
        let sh = serverHello(random: Array(repeating: 7, count: 32))
        let ccs: [UInt8] = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01]
        let app: [UInt8] = [0x17, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb]
        var r = TLSHandshakeReassembler()
        let events = r.feed(hrr + ccs + sh + ccs + app + app)
        var shs: [ServerHello] = []
        for case .handshake(2, let body) in events { if let s = ServerHello.parse(body) { shs.append(s) } }
        XCTAssertEqual(shs.map(\.isHelloRetryRequest), [true, false])
        XCTAssertEqual(shs.map(\.versionString), ["1.3", "1.3"])
        XCTAssertEqual(shs.last?.cipherSuite, 0x1301)
        XCTAssertEqual(Array(events.suffix(2)), [.encryptedRecord, .applicationData])
        XCTAssertTrue(r.isDone)
        XCTAssertTrue(r.feed(app).isEmpty)
    }
}
