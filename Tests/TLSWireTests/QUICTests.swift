import Crypto
import XCTest
@testable import TLSWire

final class QUICTests: XCTestCase {
    func testRFC9001AppendixAKeys() throws {
        let dcid = hexBytes("8394c8f03e515708")
        let client = try XCTUnwrap(QUICInitialKeys(version: QUICVersion.v1, initialDCID: dcid, side: .client))
        XCTAssertEqual(client.key.withUnsafeBytes { [UInt8]($0) }, hexBytes("1f369613dd76d5467730efcbe3b1a22d"))
        XCTAssertEqual(client.iv, hexBytes("fa044b2f42a3fd3b46fb255c"))
        XCTAssertEqual(client.hp.withUnsafeBytes { [UInt8]($0) }, hexBytes("9f50449e04a0e810283a1e9933adedd2"))
        let server = try XCTUnwrap(QUICInitialKeys(version: QUICVersion.v1, initialDCID: dcid, side: .server))
        XCTAssertEqual(server.key.withUnsafeBytes { [UInt8]($0) }, hexBytes("cf3a5331653c364c88f0f379b6067e37"))
        XCTAssertEqual(server.iv, hexBytes("0ac1493ca1905853b0bba03e"))
        XCTAssertEqual(server.hp.withUnsafeBytes { [UInt8]($0) }, hexBytes("c206b8d9b9f0f37644430b490eeaa314"))
        // A.2: header protection sample and mask.
        XCTAssertEqual(client.headerProtectionMask(sample: hexBytes("d1b1c98dd7689fb8ec11d242b123dc9b")),
                       hexBytes("437b9aec36"))
    }

    /// The keyed SHA-256 states compute HMAC-SHA256: RFC 4231's test cases 1, 2, 6 and 7 (keys
    /// shorter and longer than a block), and swift-crypto's `HMAC<SHA256>` for keys of every
    /// length up to 150 bytes and messages up to 200.
    func testKeyedSHA256IsHMAC() {
        func mac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
            key.withUnsafeBytes { k in message.withUnsafeBytes { KeyedSHA256(key: k).mac($0) } }.withUnsafeBytes { [UInt8]($0) }
        }
        XCTAssertEqual(mac([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8)),
                       hexBytes("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"))
        XCTAssertEqual(mac(Array("Jefe".utf8), Array("what do ya want for nothing?".utf8)),
                       hexBytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
        XCTAssertEqual(mac([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)),
                       hexBytes("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"))
        XCTAssertEqual(mac([UInt8](repeating: 0xaa, count: 131), Array(("This is a test using a larger than block-size key and a "
            + "larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.").utf8)),
                       hexBytes("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"))
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> UInt8 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
        for n in 0...150 {
            let key = (0..<n).map { _ in next() }
            let message = (0..<((n * 7) % 201)).map { _ in next() }
            let reference = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
            XCTAssertEqual(mac(key, message), reference.withUnsafeBytes { [UInt8]($0) }, "key length \(n)")
        }
    }

    /// The Initial key derivation (keyed SHA-256 states, one HMAC per expansion) agrees with
    /// swift-crypto's generic HKDF for many connection IDs, both versions and both sides.
    func testInitialKeysMatchGenericHKDF() throws {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
        func expandLabel(_ prk: SymmetricKey, _ label: String, _ length: Int) -> [UInt8] {
            let l = Array(label.utf8)
            let info = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(l.count)] + l + [0]
            return HKDF<SHA256>.expand(pseudoRandomKey: prk, info: info, outputByteCount: length)
                .withUnsafeBytes { [UInt8]($0) }
        }
        for n in 0..<200 {
            let dcid = (0..<(n % 21)).map { _ in next() }
            for version in [QUICVersion.v1, QUICVersion.v2] {
                let prefix = version == QUICVersion.v2 ? "tls13 quicv2 " : "tls13 quic "
                let salt = try XCTUnwrap(QUICVersion.initialSalt(version))
                let initial = HKDF<SHA256>.extract(inputKeyMaterial: SymmetricKey(data: dcid), salt: salt)
                    .withUnsafeBytes { SymmetricKey(data: [UInt8]($0)) }
                for side in [QUICSide.client, .server] {
                    let keys = try XCTUnwrap(QUICInitialKeys(version: version, initialDCID: dcid, side: side))
                    let secret = SymmetricKey(data: expandLabel(initial, side == .client ? "tls13 client in" : "tls13 server in", 32))
                    XCTAssertEqual(keys.key.withUnsafeBytes { [UInt8]($0) }, expandLabel(secret, prefix + "key", 16))
                    XCTAssertEqual(keys.iv, expandLabel(secret, prefix + "iv", 12))
                    XCTAssertEqual(keys.hp.withUnsafeBytes { [UInt8]($0) }, expandLabel(secret, prefix + "hp", 16))
                }
            }
        }
    }

    func testRFC9369AppendixAKeys() throws {
        let dcid = hexBytes("8394c8f03e515708")
        let client = try XCTUnwrap(QUICInitialKeys(version: QUICVersion.v2, initialDCID: dcid, side: .client))
        XCTAssertEqual(client.key.withUnsafeBytes { [UInt8]($0) }, hexBytes("8b1a0bc121284290a29e0971b5cd045d"))
        XCTAssertEqual(client.iv, hexBytes("91f73e2351d8fa91660e909f"))
        XCTAssertEqual(client.hp.withUnsafeBytes { [UInt8]($0) }, hexBytes("45b95e15235d6f45a6b19cbcb0294ba9"))
        let server = try XCTUnwrap(QUICInitialKeys(version: QUICVersion.v2, initialDCID: dcid, side: .server))
        XCTAssertEqual(server.key.withUnsafeBytes { [UInt8]($0) }, hexBytes("82db637861d55e1d011f19ea71d5d2a7"))
        XCTAssertEqual(server.iv, hexBytes("dd13c276499c0249d3310652"))
        XCTAssertEqual(server.hp.withUnsafeBytes { [UInt8]($0) }, hexBytes("edf6d05c83121201b436e16877593c3a"))
        XCTAssertEqual(client.headerProtectionMask(sample: hexBytes("ffe67b6abcdb4298b485dd04de806071")),
                       hexBytes("94a0c95e80"))
    }

    /// RFC 9001 Appendix A.2 (v1) and RFC 9369 Appendix A.2 (v2): the client Initial built
    /// from the published CRYPTO frame must match the published protected packet (header,
    /// first ciphertext bytes = the header-protection sample, and the AEAD tag), and must
    /// decrypt back to the published ClientHello.
    func testRFCClientInitialVectors() throws {
        let dcid = hexBytes("8394c8f03e515708")
        let crypto = hexBytes(
            "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c000004130113020100"
            + "00c000000010000e00000b6578616d706c652e636f6dff01000100000a00080006001d00170018001000070005046"
            + "16c706e000500050100000000003300260024001d00209370b2c9caa47fbabaf4559fedba753de171fa71f50f1ce15d43e9"
            + "94ec74d748002b0003020304000d0010000e0403050306030203080408050806002d00020101001c0002400100390032040"
            + "8ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f088394c8f03e51570806048000ffff")
        let cases: [(UInt32, String, String, String)] = [
            (QUICVersion.v1, "c000000001088394c8f03e5157080000449e7b9aec34", "d1b1c98dd7689fb8ec11d242b123dc9b",
             "e221af44860018ab0856972e194cd934"),
            (QUICVersion.v2, "d76b3343cf088394c8f03e5157080000449ea0c95e82", "ffe67b6abcdb4298b485dd04de806071",
             "a18b2faa745b6fe189cf772a9f84cbfc"),
        ]
        for (version, header, sample, tag) in cases {
            let keys = try XCTUnwrap(QUICInitialKeys(version: version, initialDCID: dcid, side: .client))
            let packet = try XCTUnwrap(keys.sealInitial(dcid: dcid, scid: [], packetNumber: 2, packetNumberLength: 4,
                                                        frames: crypto, padTo: 1200))
            XCTAssertEqual(packet.count, 1200)
            XCTAssertEqual(Array(packet[0..<22]), hexBytes(header))
            XCTAssertEqual(Array(packet[22..<38]), hexBytes(sample))
            XCTAssertEqual(Array(packet.suffix(16)), hexBytes(tag))

            var dec = QUICInitialDecryptor()
            let res = dec.decrypt(datagram: packet)
            XCTAssertEqual(res.errors, [])
            let pkt = try XCTUnwrap(res.initials.first)
            XCTAssertEqual(pkt.version, version)
            XCTAssertEqual(pkt.packetNumber, 2)
            XCTAssertEqual(pkt.dcid, dcid)
            var asm = QUICCryptoAssembler()
            let body = try XCTUnwrap(pkt.cryptoFrames.compactMap { asm.add($0) }.first)
            let ch = try XCTUnwrap(ClientHello.parse(body))
            XCTAssertEqual(ch.sni, "example.com")
            XCTAssertEqual(ch.alpn, [Array("alpn".utf8)])
            XCTAssertEqual(ch.cipherSuites, [0x1301, 0x1302])
            XCTAssertEqual(JA4.compute(ch, transport: .quic).ja4_r, "q13d0211an_1301,1302_0005,000a,000d,001c,002b,002d,"
                + "0033,0039,ff01_0403,0503,0603,0203,0804,0805,0806")
        }
    }

    func testChromeQUICInitial() throws {
        let d = Vectors.quicChromeInitial
        XCTAssertTrue(d.withUnsafeBytes { QUICInitialDecryptor.looksLikeInitial($0) })
        var dec = QUICInitialDecryptor()
        let res = dec.decrypt(datagram: d)
        XCTAssertEqual(res.errors, [])
        XCTAssertEqual(res.initials.count, 1)
        let pkt = try XCTUnwrap(res.initials.first)
        XCTAssertEqual(pkt.version, QUICVersion.v1)
        XCTAssertFalse(pkt.cryptoFrames.isEmpty)
        XCTAssertNil(pkt.stoppedAtFrameType)

        XCTAssertEqual(d.withUnsafeBytes { QUICInitial.clientHelloBody(inDatagram: $0) }, clientHelloFromQUIC([d])?.body)
        XCTAssertEqual(QUICInitial.decryptClientInitial(d).initials.count, 1)
        let (body, packets) = try XCTUnwrap(clientHelloFromQUIC([d]))
        XCTAssertEqual(packets, 1)
        let ch = try XCTUnwrap(ClientHello.parse(body))
        XCTAssertEqual(ch.sni, "www.google.com")
        XCTAssertEqual(ch.alpn, [Array("h3".utf8)])
        XCTAssertTrue(ch.hasExtension(TLSExtensionType.quicTransportParameters))
        XCTAssertEqual(JA3.compute(ch).hash, "0cda1bd7f270e894ed5de2af2f06cb80")
        XCTAssertEqual(JA4.compute(ch, transport: .quic).ja4, "q13d0310h3_55b375c5d22e_cd85d2d88918")
    }

    func testFirefoxClientAndServerInitials() throws {
        let (body, _) = try XCTUnwrap(clientHelloFromQUIC([Vectors.quicFirefoxInitial]))
        let ch = try XCTUnwrap(ClientHello.parse(body))
        XCTAssertEqual(ch.sni, "blog.cloudflare.com")
        XCTAssertEqual(ch.cipherSuites.count, 3)
        XCTAssertEqual(JA3.compute(ch).hash, "b719940c5ab9a3373cb4475d8143ff88")

        // The server's Initial uses keys from the client's original DCID.
        var dec = QUICInitialDecryptor(side: .server)
        let res = dec.decrypt(datagram: Vectors.quicFirefoxServerInitial, initialDCID: hexBytes("c5a5015ae8f479784a"))
        var asm = QUICCryptoAssembler(expectedType: TLSHandshakeType.serverHello)
        var shBody: [UInt8]?
        for p in res.initials { for f in p.cryptoFrames { if let b = asm.add(f) { shBody = b } } }
        let sh = try XCTUnwrap(shBody.flatMap { ServerHello.parse($0) })
        XCTAssertEqual(sh.cipherSuite, 0x1301)
        XCTAssertEqual(sh.selectedVersion, 0x0304)
        XCTAssertFalse(sh.isHelloRetryRequest)

        // Without the right DCID the AEAD check fails cleanly.
        var wrong = QUICInitialDecryptor(side: .server)
        XCTAssertEqual(wrong.decrypt(datagram: Vectors.quicFirefoxServerInitial).errors.first, .decryptionFailed)
    }

    /// A ClientHello split over two Initial packets with CRYPTO frames out of order (what
    /// Chrome does with large post-quantum hellos), for v1 and v2, plus a coalesced datagram.
    func testClientHelloSpanningTwoInitialPackets() throws {
        let (chBody, _) = try XCTUnwrap(clientHelloFromQUIC([Vectors.quicChromeInitial]))
        let msg: [UInt8] = [0x01, 0x00, UInt8(chBody.count >> 8), UInt8(chBody.count & 0xff)] + chBody
        func crypto(_ off: Int, _ data: ArraySlice<UInt8>) -> [UInt8] {
            [0x06, 0x40 | UInt8(off >> 8), UInt8(off & 0xff), 0x40 | UInt8(data.count >> 8), UInt8(data.count & 0xff)] + data
        }
        let a = msg.count / 3, b = 2 * msg.count / 3
        let dcid = hexBytes("0011223344556677")
        for version in [QUICVersion.v1, QUICVersion.v2] {
            let keys = try XCTUnwrap(QUICInitialKeys(version: version, initialDCID: dcid, side: .client))
            // Packet 0: bytes [b, end) then [0, a); packet 1: PING, [a, b).
            let p0 = try XCTUnwrap(keys.sealInitial(dcid: dcid, scid: [9, 9], packetNumber: 0,
                                                    frames: crypto(b, msg[b...]) + crypto(0, msg[..<a]), padTo: 1200))
            let p1 = try XCTUnwrap(keys.sealInitial(dcid: dcid, scid: [9, 9], packetNumber: 1, packetNumberLength: 2,
                                                    frames: [0x01] + crypto(a, msg[a..<b]), padTo: 1200))
            var dec = QUICInitialDecryptor()
            var asm = QUICCryptoAssembler()
            var got: [UInt8]?
            for d in [p0, p1] {
                let res = dec.decrypt(datagram: d)
                XCTAssertEqual(res.errors, [])
                for p in res.initials { for f in p.cryptoFrames { if let body = asm.add(f) { got = body } } }
                if d == p0 { XCTAssertNil(got); XCTAssertEqual(asm.contiguousLength, a) }
            }
            XCTAssertEqual(got, chBody)
            XCTAssertEqual(got.flatMap { ClientHello.parse($0) }?.sni, "www.google.com")

            // Both packets coalesced in one datagram, followed by padding.
            let p0small = try XCTUnwrap(keys.sealInitial(dcid: dcid, scid: [], packetNumber: 2,
                                                         frames: crypto(0, msg[..<b])))
            let p1small = try XCTUnwrap(keys.sealInitial(dcid: dcid, scid: [], packetNumber: 3,
                                                         frames: crypto(b, msg[b...])))
            var dec2 = QUICInitialDecryptor()
            let res = dec2.decrypt(datagram: p0small + p1small + [0, 0, 0, 0])
            XCTAssertEqual(res.initials.map(\.packetNumber), [2, 3])
            var asm2 = QUICCryptoAssembler()
            var got2: [UInt8]?
            for p in res.initials { for f in p.cryptoFrames { if let body = asm2.add(f) { got2 = body } } }
            XCTAssertEqual(got2, chBody)
        }
    }

    func testFramesAckAndConnectionClose() throws {
        let dcid = hexBytes("0102030405060708")
        let keys = try XCTUnwrap(QUICInitialKeys(version: QUICVersion.v1, initialDCID: dcid, side: .client))
        // ACK (largest 5, delay 0, 1 range, first 2, gap 0 len 0), ACK_ECN, CONNECTION_CLOSE 0x1c
        // (code 0x0a, frame 0x06, reason "no"), then an unknown frame type 0x21.
        let frames: [UInt8] = [0x02, 0x05, 0x00, 0x01, 0x02, 0x00, 0x00,
                               0x03, 0x05, 0x00, 0x00, 0x02, 0x01, 0x02, 0x03,
                               0x1c, 0x0a, 0x06, 0x02, 0x6e, 0x6f,
                               0x21, 0xff]
        let pkt = try XCTUnwrap(keys.sealInitial(dcid: dcid, scid: [], packetNumber: 7, frames: frames))
        var dec = QUICInitialDecryptor()
        let res = dec.decrypt(datagram: pkt)
        let p = try XCTUnwrap(res.initials.first)
        XCTAssertTrue(p.sawAck)
        XCTAssertEqual(p.connectionClose, QUICConnectionClose(errorCode: 0x0a, frameType: 0x06, reason: Array("no".utf8), isApplicationClose: false))
        XCTAssertEqual(p.stoppedAtFrameType, 0x21)
        XCTAssertEqual(p.packetNumber, 7)
    }

    /// PADDING runs are skipped eight bytes at a time: every run length and alignment ends where
    /// a byte-by-byte scan ends, and frames after a run (of any length) are still read.
    func testPaddingRunsEndWhereBytesSay() throws {
        for total in 0..<40 {
            for start in 0...total {
                for nonZero in start...total {
                    var bytes = [UInt8](repeating: 0, count: total)
                    if nonZero < total { bytes[nonZero] = 0x01 }
                    var naive = start
                    while naive < total && bytes[naive] == 0 { naive += 1 }
                    XCTAssertEqual(bytes.withUnsafeBytes { endOfZeroRun($0, from: start) }, naive, "\(total) \(start) \(nonZero)")
                }
            }
        }
        let dcid = hexBytes("0102030405060708")
        let keys = try XCTUnwrap(QUICInitialKeys(version: QUICVersion.v1, initialDCID: dcid, side: .client))
        for run in [1, 7, 8, 9, 15, 16, 17, 300] {
            // PADDING, a CRYPTO frame "hi" at offset 0, PADDING, PING, padding to the end.
            let frames = [UInt8](repeating: 0, count: run) + [0x06, 0x00, 0x02, 0x68, 0x69]
                + [UInt8](repeating: 0, count: run) + [0x01]
            let pkt = try XCTUnwrap(keys.sealInitial(dcid: dcid, scid: [], packetNumber: 1, frames: frames, padTo: 1_200))
            var dec = QUICInitialDecryptor()
            let p = try XCTUnwrap(dec.decrypt(datagram: pkt).initials.first)
            XCTAssertEqual(p.cryptoFrames, [QUICCryptoFrame(offset: 0, data: Array("hi".utf8))], "run \(run)")
            XCTAssertTrue(p.sawPing, "run \(run)")
            XCTAssertNil(p.stoppedAtFrameType, "run \(run)")
        }
    }

    func testNotQUIC() {
        var dec = QUICInitialDecryptor()
        XCTAssertEqual(dec.decrypt(datagram: [0x40, 1, 2, 3]).errors, [.notLongHeader])
        XCTAssertEqual(dec.decrypt(datagram: [0xc0, 0, 0, 0, 0, 0]).errors, [.unsupportedVersion(0)])
        XCTAssertEqual(dec.decrypt(datagram: [0xc0, 0, 0, 0, 1, 21]).errors, [.truncated])
        XCTAssertEqual(dec.decrypt(datagram: []).initials, [])
        // Draft 29 to 34 Initials are QUIC we decrypt; draft 28 and Google QUIC are not.
        XCTAssertTrue([UInt8]([0xc0, 0xff, 0, 0, 0x1d, 0, 0]).withUnsafeBytes { QUICInitialDecryptor.looksLikeInitial($0) })
        XCTAssertFalse([UInt8]([0xc0, 0xff, 0, 0, 0x1c, 0, 0]).withUnsafeBytes { QUICInitialDecryptor.looksLikeInitial($0) })
        XCTAssertFalse([UInt8]([0xc0, 0x51, 0x30, 0x35, 0x30, 0, 0]).withUnsafeBytes { QUICInitialDecryptor.looksLikeInitial($0) })
    }

    /// QUIC drafts 29–34: v1's labels with the draft's salt (draft-ietf-quic-tls-29…32 §5.2:
    /// afbfec28…; -33 and -34: RFC 9001's 38762cf7…), checked against swift-crypto's generic HKDF
    /// with the salts written out here; drafts 28 and 35 have no keys.
    func testDraftVersionSalts() throws {
        let pre33 = hexBytes("afbfec289993d24c9e9786f19c6111e04390a899")
        let rfc = hexBytes("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
        func expandLabel(_ prk: SymmetricKey, _ label: String, _ length: Int) -> [UInt8] {
            let l = Array(label.utf8)
            let info = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(l.count)] + l + [0]
            return HKDF<SHA256>.expand(pseudoRandomKey: prk, info: info, outputByteCount: length).withUnsafeBytes { [UInt8]($0) }
        }
        let dcid = hexBytes("8394c8f03e515708")
        for draft in UInt32(29)...34 {
            let version = 0xff00_0000 | draft
            XCTAssertTrue(QUICVersion.isSupported(version))
            XCTAssertEqual(QUICVersion.draftNumber(version), Int(draft))
            let salt = draft <= 32 ? pre33 : rfc
            XCTAssertEqual(QUICVersion.initialSalt(version), salt, "draft \(draft)")
            let initial = HKDF<SHA256>.extract(inputKeyMaterial: SymmetricKey(data: dcid), salt: salt).withUnsafeBytes { SymmetricKey(data: [UInt8]($0)) }
            let secret = SymmetricKey(data: expandLabel(initial, "tls13 client in", 32))
            let keys = try XCTUnwrap(QUICInitialKeys(version: version, initialDCID: dcid, side: .client))
            XCTAssertEqual(keys.key.withUnsafeBytes { [UInt8]($0) }, expandLabel(secret, "tls13 quic key", 16), "draft \(draft)")
            XCTAssertEqual(keys.iv, expandLabel(secret, "tls13 quic iv", 12), "draft \(draft)")
            XCTAssertEqual(keys.hp.withUnsafeBytes { [UInt8]($0) }, expandLabel(secret, "tls13 quic hp", 16), "draft \(draft)")
        }
        XCTAssertNil(QUICInitialKeys(version: 0xff00_001c, initialDCID: dcid, side: .client))
        XCTAssertNil(QUICInitialKeys(version: 0xff00_0023, initialDCID: dcid, side: .client))
        XCTAssertNil(QUICVersion.draftNumber(QUICVersion.v1))
    }

    /// A draft-29 Initial sealed with its keys decrypts to its CRYPTO frame; the same bytes
    /// labelled v1 do not authenticate (the salt matters).
    func testDraft29InitialRoundTrip() throws {
        let dcid = hexBytes("0011223344556677"), scid = hexBytes("aabb")
        let keys = try XCTUnwrap(QUICInitialKeys(version: 0xff00_001d, initialDCID: dcid, side: .client))
        let crypto: [UInt8] = [0x06, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]
        let packet = try XCTUnwrap(keys.sealInitial(dcid: dcid, scid: scid, packetNumber: 2, frames: crypto, padTo: 1200))
        var dec = QUICInitialDecryptor()
        let out = dec.decrypt(datagram: packet)
        XCTAssertEqual(out.errors, [])
        XCTAssertEqual(out.initials.first?.version, 0xff00_001d)
        XCTAssertEqual(out.initials.first?.cryptoFrames, [QUICCryptoFrame(offset: 0, data: [0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef])])
        var relabelled = packet
        relabelled[1...4] = [0, 0, 0, 1]
        XCTAssertEqual(dec.decrypt(datagram: relabelled).errors, [.decryptionFailed])
    }

    /// DNS over QUIC by ALPN: `doq` and the drafts' `doq-i…`, not look-alikes.
    func testOffersDoQ() {
        func hello(_ alpn: [String]) -> [UInt8] {
            var list: [UInt8] = []
            for a in alpn { list.append(UInt8(a.utf8.count)); list += Array(a.utf8) }
            let ext: [UInt8] = [0x00, 0x10, UInt8((list.count + 2) >> 8), UInt8((list.count + 2) & 0xff),
                                UInt8(list.count >> 8), UInt8(list.count & 0xff)] + list
            var b: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 7, count: 32) + [0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00]
            b += [UInt8(ext.count >> 8), UInt8(ext.count & 0xff)] + ext
            return b
        }
        for (alpn, want) in [(["doq"], true), (["h3", "doq-i00"], true), (["doq-i11"], true), (["h3"], false),
                             (["doqx"], false), (["doq-x"], false), (["do"], false), ([], false)] as [([String], Bool)] {
            let body = hello(alpn)
            XCTAssertNotNil(ClientHello.parse(body), "\(alpn)")
            XCTAssertEqual(body.withUnsafeBytes { ClientHello.offersDoQ($0) }, want, "\(alpn)")
        }
        XCTAssertFalse([UInt8]([0x03]).withUnsafeBytes { ClientHello.offersDoQ($0) })
    }

    func testCryptoAssemblerBounds() {
        var a = QUICCryptoAssembler(maxBytes: 1000)
        XCTAssertNil(a.add(offset: UInt64.max - 1, data: [1, 2, 3]))
        XCTAssertTrue(a.overflowed)
        var b = QUICCryptoAssembler()
        XCTAssertNil(b.add(offset: 0, data: [0x02, 0x00, 0x00, 0x01, 0x00]))
        XCTAssertTrue(b.wrongType)
        var c = QUICCryptoAssembler()
        XCTAssertNil(c.add(offset: 4, data: [0xaa]))
        XCTAssertEqual(c.add(offset: 0, data: [0x01, 0x00, 0x00, 0x01]), [0xaa])
        XCTAssertTrue(c.isComplete)
        XCTAssertNil(c.add(offset: 0, data: [0x01]))
    }
}
