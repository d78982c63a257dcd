import DNSWire
import Foundation
import XCTest

/// Deterministic PRNG for the fuzz loop.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class RobustnessTests: XCTestCase {
    static var corpus: [[UInt8]] {
        var c: [[UInt8]] = [
            Vectors.maxCompressionDepth, Vectors.forwardPointerQuery, Vectors.forwardPointerResponse, Vectors.ednsBadLength,
            Vectors.googleA, Vectors.googleAAAA, Vectors.googleMX, Vectors.srvResponse, Vectors.httpsResponse,
            Vectors.ptrResponse, Vectors.txtMultiple, Vectors.rrsigResponse, Vectors.ecsV4Response, Vectors.cookieEcsResponse,
            Vectors.nsidPaddingCookieQuery,
        ]
        // Synthetic messages with every typed RDATA.
        var b = DNSMessageBuilder(id: 3, flags: DNSMessageBuilder.responseFlags())
        let rrs: [(UInt16, DNSRData)] = [
            (DNSType.soa, .soa(mname: "ns.example.", rname: "h.example.", serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5)),
            (DNSType.caa, .caa(flags: 0, tag: "issue", value: Array("ca.example".utf8))),
            (DNSType.naptr, .naptr(order: 1, preference: 2, flags: [0x55], services: [0x45], regexp: [], replacement: "x.example.")),
            (DNSType.ds, .ds(keyTag: 1, algorithm: 8, digestType: 2, digest: [1, 2, 3])),
            (DNSType.dnskey, .dnskey(flags: 257, protocol: 3, algorithm: 8, publicKey: [9, 9])),
            (DNSType.rrsig, .rrsig(typeCovered: 1, algorithm: 8, labels: 2, originalTTL: 3, expiration: 4, inception: 5,
                                   keyTag: 6, signerName: "example.", signature: [7])),
            (DNSType.nsec, .nsec(nextDomain: "b.example.", types: [1, 2, 46, 47, 1000])),
            (DNSType.nsec3, .nsec3(hashAlgorithm: 1, flags: 0, iterations: 0, salt: [1], nextHashedOwner: [2, 3], types: [1])),
            (DNSType.svcb, .svcb(priority: 1, target: "svc.example.", params: [.mandatory([1]), .alpnIDs(["h2"]), .port(1),
                                                                                .ipv4hint(["1.2.3.4"]), .ech([1]), .ipv6hint(["::1"])])),
            (DNSType.tlsa, .tlsa(usage: 3, selector: 1, matchingType: 1, data: [1])),
            (DNSType.uri, .uri(priority: 1, weight: 1, target: [0x61])),
            (DNSType.mx, .mx(preference: 1, exchange: "mx.example.")),
            (DNSType.srv, .srv(priority: 1, weight: 2, port: 3, target: "t.example.")),
            (DNSType.dname, .dname("d.example.")),
        ]
        try? b.addQuestion(name: "example.", type: DNSType.any)
        for (t, d) in rrs { try? b.addAnswer(name: "example.", type: t, ttl: 1, rdata: d) }
        try? b.addAuthority(name: "example.", type: DNSType.ns, ttl: 1, rdata: .ns("ns.example."))
        try? b.addAdditional(name: "ns.example.", type: DNSType.a, ttl: 1, rdata: .a("192.0.2.53"))
        b.setEDNS(options: [.cookie(client: [1, 2, 3, 4, 5, 6, 7, 8], server: nil), .extendedError(infoCode: 1, extraText: "x")])
        if let w = try? b.build() { c.append(w) }
        return c
    }

    /// Every prefix of real responses: no crash; header-only failures below 12 bytes;
    /// otherwise a message marked truncated.
    func testEveryTruncationLength() {
        for full in [Vectors.googleMX, Vectors.txtMultiple, Vectors.httpsResponse, Vectors.rrsigResponse, Vectors.ndpiMalformed,
                     Vectors.cookieEcsResponse, Vectors.maxCompressionDepth] {
            for len in 0..<full.count {
                let prefix = Array(full[0..<len])
                let s = DNSSummary.summarize(prefix)
                switch DNSMessage.parse(prefix) {
                case .failure(let e):
                    XCTAssertLessThan(len, 12)
                    XCTAssertEqual(e, .tooShort(length: len))
                    XCTAssertNil(s)
                case .success(let m):
                    XCTAssertGreaterThanOrEqual(len, 12)
                    XCTAssertTrue(m.truncated, "length \(len) of \(full.count)")
                    XCTAssertFalse(m.isWellFormed)
                    XCTAssertEqual(s?.wellFormed, parseWellFormedQA(m), "length \(len)")
                    XCTAssertEqual(m.counts, parseOK(full).counts)
                }
            }
        }
    }

    /// ~20k mutated messages: never a crash, and summarize agrees with parse.
    func testFuzzSummarizeAgreesWithParse() {
        var rng = SplitMix(state: 0x5EED_D15A_0D17)
        let corpus = Self.corpus
        var disagreements = 0
        var malformed = 0
        let iterations = 20_000
        for i in 0..<iterations {
            var m = corpus[i % corpus.count]
            let mutations = 1 + Int(rng.next() % 4)
            for _ in 0..<mutations { mutate(&m, &rng) }
            let s = DNSSummary.summarize(m)
            let p = DNSMessage.parse(m)
            switch p {
            case .failure:
                XCTAssertNil(s)
                XCTAssertLessThan(m.count, 12)
            case .success(let msg):
                guard let s else { XCTFail("summary nil for parseable message"); continue }
                if !msg.isWellFormed { malformed += 1 }
                XCTAssertEqual(s.id, msg.id)
                XCTAssertEqual(s.flags, msg.flags)
                XCTAssertEqual(s.counts, msg.counts)
                let agree = s.wellFormed == parseWellFormedQA(msg)
                if !agree {
                    disagreements += 1
                    if disagreements <= 5 {
                        XCTFail("summary wellFormed \(s.wellFormed) vs parse \(msg.anomalies) for \(toHex(m))")
                    }
                }
                if let q = msg.questions.first {
                    XCTAssertEqual(s.qtype, q.type)
                    XCTAssertEqual(s.qclass, q.qclass)
                }
                if s.wellFormed {
                    XCTAssertEqual(Int(s.answersParsed), msg.answers.count)
                    XCTAssertEqual(s.answersParsed, s.counts.an)
                }
                // Presentation and JSON-ish rendering never trap either.
                for rr in msg.answers + msg.authority + msg.additional { _ = rr.rdata.presentation }
            }
        }
        XCTAssertEqual(disagreements, 0)
        print("fuzz: \(iterations) mutated messages, \(malformed) malformed, \(disagreements) disagreements")
    }

    func mutate(_ m: inout [UInt8], _ rng: inout SplitMix) {
        let interesting: [UInt8] = [0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xc0, 0xff, 0x0c, 0x29, 0x20]
        guard !m.isEmpty else { m = [0]; return }
        let at = Int(rng.next() % UInt64(m.count))
        switch rng.next() % 9 {
        case 0: m[at] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
        case 1: m[at] = interesting[Int(rng.next() % UInt64(interesting.count))]
        case 2: m[at] = UInt8(truncatingIfNeeded: rng.next())
        case 3: m.removeSubrange(at..<m.count)
        case 4: m.insert(contentsOf: (0..<(1 + rng.next() % 4)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        case 5:  // a compression pointer to a random offset
            let target = UInt16(rng.next() % UInt64(max(1, m.count + 4)))
            m[at] = 0xC0 | UInt8(truncatingIfNeeded: target >> 8 & 0x3f)
            if at + 1 < m.count { m[at + 1] = UInt8(truncatingIfNeeded: target) }
        case 6:  // header counts
            if m.count >= 12 {
                let field = 4 + 2 * Int(rng.next() % 4)
                m[field] = 0
                m[field + 1] = UInt8(truncatingIfNeeded: rng.next() % 8)
            }
        case 7:  // duplicate a range
            let len = Int(rng.next() % 16)
            let end = min(m.count, at + len)
            m.insert(contentsOf: m[at..<end], at: Int(rng.next() % UInt64(m.count)))
        default:  // RDLENGTH-ish: a 16-bit value
            if at + 1 < m.count {
                m[at] = 0
                m[at + 1] = UInt8(truncatingIfNeeded: rng.next())
            }
        }
    }

    func testRandomGarbage() {
        var rng = SplitMix(state: 42)
        for _ in 0..<3000 {
            let n = Int(rng.next() % 300)
            let m = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = DNSSummary.summarize(m)
            if case .success(let msg) = DNSMessage.parse(m) {
                XCTAssertEqual(DNSSummary.summarize(m)?.wellFormed, parseWellFormedQA(msg))
            }
        }
    }

    /// A 64 KB message built to be as expensive as possible: a chain of 127 pointer hops, then
    /// thousands of questions that each walk the whole chain. Both paths finish quickly.
    func testWorstCaseChainMessageIsBounded() {
        let (wire, qd) = worstCaseChainMessage()
        let start = Date()
        let m = parseOK(wire)
        let s = DNSSummary.summarize(wire)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(m.questions.count, qd)
        XCTAssertEqual(m.anomalies.filter(\.isMalformation), [])
        XCTAssertEqual(s?.wellFormed, true)
        print(String(format: "worst-case %d-byte message with %d questions: parse + summarize in %.1f ms", wire.count, qd, elapsed * 1000))
    }

    /// Counts at 65535 with little data: parse and summarize stop at the end of the bytes.
    func testHugeCountsSmallMessage() {
        let m = hex("0000 8180 ffff ffff ffff ffff 00 0001 0001")
        let p = parseOK(m)
        XCTAssertEqual(p.questions.count, 1)
        XCTAssertTrue(p.truncated)
        XCTAssertEqual(codes(p), ["DNS_truncated_question"])
        XCTAssertEqual(DNSSummary.summarize(m)?.wellFormed, false)
        // Many tiny questions: each "00 0001 0001" (root) is legal.
        let big = hex("0000 0100 ffff 0000 0000 0000") + [UInt8](repeating: 0, count: 0) + Array((0..<13000).flatMap { _ in hex("0000010001") })
        let pb = parseOK(big)
        XCTAssertEqual(pb.questions.count, 13000)
        XCTAssertTrue(pb.truncated)
    }
}
