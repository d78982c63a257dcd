import XCTest
import TLSWire

/// Deterministic mutation loops over real inputs: nothing may trap, hang or grow without bound.
final class MutationTests: XCTestCase {
    fileprivate func mutate(_ input: [UInt8], _ rng: inout XorShift) -> [UInt8] {
        var m = input
        let ops = 1 + rng.below(4)
        for _ in 0..<ops {
            guard !m.isEmpty else { m = [UInt8(truncatingIfNeeded: rng.next())]; continue }
            let i = rng.below(m.count)
            switch rng.below(6) {
            case 0: m[i] = UInt8(truncatingIfNeeded: rng.next())
            case 1: m[i] ^= UInt8(1 << rng.below(8))
            case 2: m.removeSubrange(i..<min(m.count, i + 1 + rng.below(16)))
            case 3: m.insert(contentsOf: (0..<(1 + rng.below(8))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: i)
            case 4: m[i] = [0x00, 0xff, 0x7f, 0x80, 0x01][rng.below(5)]
            default: m = Array(m.prefix(i))
            }
        }
        return m
    }

    func testClientHelloRecordMutations() {
        var rng = XorShift(seed: 0xC0FFEE)
        let seeds = [Vectors.chromeClientHelloRecord, Vectors.tls12ClientHelloRecord, Vectors.nonASCIIALPNRecord,
                     Vectors.hrrClientSegment1 + Vectors.hrrClientSegment2]
        var parsed = 0
        for n in 0..<20_000 {
            let input = mutate(seeds[n % seeds.count], &rng)
            var r = TLSHandshakeReassembler(maxPending: 8192, preambleLimit: n % 2 == 0 ? 0 : 256)
            var i = 0
            while i < input.count && !r.isDone {
                let k = 1 + rng.below(700)
                for case .handshake(let t, let body) in r.feed(Array(input[i..<min(i + k, input.count)])) {
                    if t == 1, let ch = ClientHello.parse(body) {
                        parsed += 1
                        _ = JA3.compute(ch)
                        _ = JA4.compute(ch, transport: .tcp)
                        _ = ch.versionString
                    } else if t == 2 {
                        _ = ServerHello.parse(body)
                    } else if t == 11 {
                        _ = body.withUnsafeBytes { CertificateMessage.parse($0) }
                    }
                }
                i += k
            }
            // Raw body parsing of the mutated bytes, too.
            _ = ClientHello.parse(Array(input.dropFirst(9)))
            _ = ServerHello.parse(Array(input.dropFirst(9)))
            _ = input.withUnsafeBytes { CertificateMessage.parse($0) }
            _ = input.withUnsafeBytes { CertificateMessage.parseTLS13($0) }
        }
        XCTAssertGreaterThan(parsed, 1000)
    }

    func testQUICInitialMutations() throws {
        var rng = XorShift(seed: 0xBADC0DE)
        // Header / ciphertext mutations of real datagrams.
        let seeds = [Vectors.quicChromeInitial, Vectors.quicFirefoxInitial]
        for n in 0..<10_000 {
            let input = mutate(seeds[n % seeds.count], &rng)
            var dec = QUICInitialDecryptor()
            let res = dec.decrypt(datagram: input)
            var asm = QUICCryptoAssembler(maxBytes: 4096)
            for p in res.initials { for f in p.cryptoFrames { if let b = asm.add(f) { _ = ClientHello.parse(b) } } }
        }
        // Plaintext mutations, re-sealed so that they reach the frame parser and the assembler.
        let (chBody, _) = try XCTUnwrap(clientHelloFromQUIC([Vectors.quicChromeInitial]))
        let msg: [UInt8] = [0x06, 0x00, 0x42, 0x00] + [0x01, 0x00, UInt8(chBody.count >> 8), UInt8(chBody.count & 0xff)] + chBody
        let dcid: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let keys = try XCTUnwrap(QUICInitialKeys(version: QUICVersion.v1, initialDCID: dcid, side: .client))
        var reached = 0
        for _ in 0..<10_000 {
            let frames = mutate(msg, &rng)
            let pnLength = 1 + rng.below(4)
            let pn = UInt32(truncatingIfNeeded: rng.next() & ((1 << UInt64(8 * pnLength)) - 1))
            guard let pkt = keys.sealInitial(dcid: dcid, scid: [], packetNumber: pn,
                                             packetNumberLength: pnLength, frames: frames) else { continue }
            var dec = QUICInitialDecryptor()
            let res = dec.decrypt(datagram: pkt)
            var asm = QUICCryptoAssembler(maxBytes: 4096)
            for p in res.initials {
                reached += 1
                for f in p.cryptoFrames { if let b = asm.add(f) { _ = ClientHello.parse(b) } }
            }
        }
        XCTAssertGreaterThan(reached, 9_000)
    }
}

extension MutationTests {
    /// The reassembler's allocation-free TLS 1.3 check agrees with the full parse on every input.
    func testOffersTLS13AgreesWithFullParse() {
        var rng = XorShift(seed: 0x7157_13)
        // Handshake bodies: the record minus the 5-byte record and 4-byte handshake headers.
        let seeds = [Vectors.chromeClientHelloRecord, Vectors.tls12ClientHelloRecord, Vectors.nonASCIIALPNRecord,
                     Vectors.lotsOfCiphersRecord, Vectors.hrrClientSegment1 + Vectors.hrrClientSegment2].map { Array($0.dropFirst(9)) }
        var offered = 0
        for n in 0..<40_000 {
            let body = n < seeds.count ? seeds[n] : mutate(seeds[n % seeds.count], &rng)
            let expected = ClientHello.parse(body)?.supportedVersions.contains(0x0304) ?? false
            let fast = body.withUnsafeBytes { ClientHello.offersTLS13($0) }
            XCTAssertEqual(fast, expected, "mutation \(n)")
            if expected { offered += 1 }
        }
        XCTAssertGreaterThan(offered, 1_000, "the mutations should keep many TLS 1.3 offers intact")
    }
}

extension MutationTests {
    /// The allocation-free ClientHello scan (validity and server name) agrees with the full parse
    /// on every input: analysis without decode output trusts it instead of parsing.
    func testClientHelloScanAgreesWithFullParse() {
        var rng = XorShift(seed: 0x5CA9_11)
        let seeds = [Vectors.chromeClientHelloRecord, Vectors.tls12ClientHelloRecord, Vectors.nonASCIIALPNRecord,
                     Vectors.lotsOfCiphersRecord, Vectors.hrrClientSegment1 + Vectors.hrrClientSegment2].map { Array($0.dropFirst(9)) }
        var named = 0, valid = 0
        for n in 0..<40_000 {
            let body = n < seeds.count ? seeds[n] : mutate(seeds[n % seeds.count], &rng)
            let full = ClientHello.parse(body)
            let scan = body.withUnsafeBytes { ClientHello.scan($0) }
            XCTAssertEqual(scan != nil, full != nil, "validity, mutation \(n)")
            XCTAssertEqual(scan?.sni, full?.sni, "server name, mutation \(n)")
            if full != nil { valid += 1 }
            if full?.sni != nil { named += 1 }
        }
        XCTAssertGreaterThan(valid, 4_000, "the mutations should keep many hellos valid")
        XCTAssertGreaterThan(named, 2_000, "and many server names intact")
    }

    /// `ServerHello.scan` (and `isWellFormed`) agrees with `ServerHello.parse` on every input:
    /// nil exactly when the parse fails, else the same negotiated version and HelloRetryRequest flag.
    func testServerHelloScanAgreesWithFullParse() {
        var rng = XorShift(seed: 0x5E_4E11)
        let tls12 = Array(Vectors.tls12ServerFlight.dropFirst(9).prefix(0x4d))
        var tls13: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0xab, count: 32) + [32] + [UInt8](repeating: 0x11, count: 32)
        tls13 += [0x13, 0x01, 0x00, 0x00, 0x2e, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04, 0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20]
        tls13 += [UInt8](repeating: 0x42, count: 32)
        var seeds = [tls12, tls13, Array(tls12.prefix(38))]
        XCTAssertNotNil(ServerHello.parse(tls12))
        XCTAssertEqual(ServerHello.parse(tls13)?.selectedVersion, 0x0304)
        var hrr = tls13
        hrr.replaceSubrange(2..<34, with: ServerHello.helloRetryRequestRandom)
        XCTAssertEqual(hrr.withUnsafeBytes { ServerHello.scan($0) },
                       ServerHello.Scan(negotiatedVersion: 0x0304, isHelloRetryRequest: true))
        XCTAssertEqual(tls12.withUnsafeBytes { ServerHello.scan($0) },
                       ServerHello.Scan(negotiatedVersion: 0x0303, isHelloRetryRequest: false))
        seeds.append(hrr)
        var valid = 0
        for n in 0..<20_000 {
            let body = n < seeds.count ? seeds[n] : mutate(seeds[n % seeds.count], &rng)
            let full = ServerHello.parse(body)
            let scan = body.withUnsafeBytes { ServerHello.scan($0) }
            XCTAssertEqual(scan, full.map(ServerHello.Scan.init), "mutation \(n)")
            XCTAssertEqual(body.withUnsafeBytes { ServerHello.isWellFormed($0) }, full != nil, "mutation \(n)")
            if full != nil { valid += 1 }
        }
        XCTAssertGreaterThan(valid, 2_000)
    }
}
