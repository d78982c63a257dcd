import FlowReassembly
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

let clientV4 = IPAddress("192.0.2.10")!
let serverV4 = IPAddress("198.51.100.53")!
let clientV6 = IPAddress("2001:db8::10")!
let serverV6 = IPAddress("2001:db8::53")!

func decode(_ frame: [UInt8], _ link: LinkType) -> DecodeResult {
    frame.withUnsafeBytes { PacketDecoder.decodeThroughTunnels($0, linkType: link) }
}

/// Decodes and copies out the parts a test checks (the payload is borrowed otherwise).
struct Seg {
    var src: String, dst: String, sport: UInt16, dport: UInt16, proto: TransportProtocol, ttl: UInt8, ipID: UInt32
    var payload: [UInt8]
    var tunnelLayers: Int = 0
}

func segment(_ frame: [UInt8], _ link: LinkType) -> Seg? {
    frame.withUnsafeBytes { raw -> Seg? in
        guard case .segment(let s) = PacketDecoder.decodeThroughTunnels(raw, linkType: link) else { return nil }
        return Seg(src: s.ip.src.description, dst: s.ip.dst.description, sport: s.sport, dport: s.dport, proto: s.proto,
                   ttl: s.ip.ttl, ipID: s.ip.ipID, payload: Array(s.payload), tunnelLayers: s.tunnelLayers)
    }
}

final class PacketDecoderTests: XCTestCase {
    let eth = FrameBuilder.ethernet(source: MACAddress(2, 0, 0, 0, 0, 1), destination: MACAddress(2, 0, 0, 0, 0, 2))

    /// IP addresses in reports: RFC 5952 text, the same cases as DNS AAAA presentation.
    func testIPv6Text() {
        let cases: [([UInt16], String)] = [
            ([0, 0, 0, 0, 0, 0, 0, 0], "::"), ([0, 0, 0, 0, 0, 0, 0, 1], "::1"), ([1, 0, 0, 0, 0, 0, 0, 0], "1::"),
            ([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"), ([0x2001, 0, 0, 1, 0, 0, 0, 1], "2001:0:0:1::1"),
            ([0xfe80, 0, 0, 0, 0x200, 0x5efe, 0xc0a8, 0x101], "fe80::200:5efe:c0a8:101"),
            ([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201], "::ffff:192.0.2.1"),
            ([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"), ([0, 0, 1, 0, 0, 0, 0, 0], "0:0:1::"),
            ([0xABCD, 0x0F0, 0, 0xffff, 0, 0, 0, 0], "abcd:f0:0:ffff::"),
        ]
        for (groups, want) in cases {
            let bytes = groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
            XCTAssertEqual(IPAddress.formatV6(bytes), want)
            XCTAssertEqual(bytes.withUnsafeBytes { IPAddress(bytes: $0) }?.description, want)
        }
        XCTAssertEqual(IPAddress.formatV6([1, 2, 3]), "", "not 16 bytes")
    }

    func testEthernetIPv4UDP() throws {
        let f = eth.udp(from: clientV4, 40000, to: serverV4, 53, payload: [1, 2, 3, 4], ip: IPFields(ttl: 57, identification: 4242))
        let s = try XCTUnwrap(segment(f, .ethernet))
        XCTAssertEqual(s.src, "192.0.2.10")
        XCTAssertEqual(s.dst, "198.51.100.53")
        XCTAssertEqual(s.sport, 40000)
        XCTAssertEqual(s.dport, 53)
        XCTAssertEqual(s.proto, .udp)
        XCTAssertEqual(s.ttl, 57)
        XCTAssertEqual(s.ipID, 4242)
        XCTAssertEqual(s.payload, [1, 2, 3, 4])
    }

    func testEthernetPaddingIsTrimmed() throws {
        var f = eth.udp(from: clientV4, 1, to: serverV4, 53, payload: [9])
        f += [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  // Ethernet minimum-size padding
        let s = try XCTUnwrap(segment(f, .ethernet))
        XCTAssertEqual(s.payload, [9])
    }

    func testVLANAndQinQ() throws {
        let tagged = FrameBuilder.ethernet(source: .zero, destination: .broadcast, vlan: 100)
        let f = tagged.udp(from: clientV4, 1000, to: serverV4, 53, payload: [7])
        XCTAssertEqual(try XCTUnwrap(segment(f, .ethernet)).payload, [7])
        // QinQ: insert an 802.1ad outer tag in front of the 802.1Q tag.
        var q = f
        q.replaceSubrange(12..<12, with: [0x88, 0xa8, 0x00, 0x0a])
        XCTAssertEqual(try XCTUnwrap(segment(q, .ethernet)).payload, [7])
    }

    func testIPv6WithExtensionHeaders() throws {
        let raw = FrameBuilder.rawIP.udp(from: clientV6, 5353, to: serverV6, 53, payload: [1, 2])
        // Insert a hop-by-hop header (8 bytes) and a destination-options header (8 bytes).
        var p = raw
        let udpNext = p[6]
        p[6] = 0  // hop-by-hop
        let hbh: [UInt8] = [60, 0, 1, 4, 0, 0, 0, 0]          // next: dest opts; PadN
        let dst: [UInt8] = [udpNext, 0, 1, 4, 0, 0, 0, 0]     // next: UDP
        p.insert(contentsOf: hbh + dst, at: 40)
        let plen = Int(UInt16(p[4]) << 8 | UInt16(p[5])) + 16
        p[4] = UInt8(plen >> 8); p[5] = UInt8(plen & 0xff)
        let s = try XCTUnwrap(segment(p, .raw))
        XCTAssertEqual(s.src, "2001:db8::10")
        XCTAssertEqual(s.payload, [1, 2])
    }

    func testLinuxSLLAndSLL2AndNull() throws {
        let ip = FrameBuilder.rawIP.udp(from: clientV4, 1, to: serverV4, 53, payload: [5])
        let sll: [UInt8] = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00] + ip
        XCTAssertEqual(try XCTUnwrap(segment(sll, .linuxSLL)).payload, [5])
        let sll2: [UInt8] = [0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + ip
        XCTAssertEqual(try XCTUnwrap(segment(sll2, .linuxSLL2)).payload, [5])
        let null: [UInt8] = [2, 0, 0, 0] + ip
        XCTAssertEqual(try XCTUnwrap(segment(null, .null)).payload, [5])
        let loop: [UInt8] = [0, 0, 0, 2] + ip
        XCTAssertEqual(try XCTUnwrap(segment(loop, .loop)).payload, [5])
    }

    func testNFLOG() throws {
        let ip = FrameBuilder.rawIP.udp(from: clientV4, 1, to: serverV4, 53, payload: [6, 6])
        var tlvs: [UInt8] = []
        // NFULA_PACKET_HDR (type 1, 8 bytes), then NFULA_PAYLOAD (type 9), padded to 4.
        tlvs += [8, 0, 1, 0, 0x08, 0x00, 0, 0]
        let len = 4 + ip.count
        tlvs += [UInt8(len & 0xff), UInt8(len >> 8), 9, 0] + ip
        while tlvs.count % 4 != 0 { tlvs.append(0) }
        let frame: [UInt8] = [2, 0, 0, 0] + tlvs
        XCTAssertEqual(try XCTUnwrap(segment(frame, .nflog)).payload, [6, 6])
    }

    func testUnsupportedAndNonIPAreReported() {
        if case .skipped(.unsupportedLinkType) = decode([1, 2, 3], .unsupported(147)) {} else { XCTFail() }
        let arp = eth.frame(etherType: EtherType.arp, payload: [UInt8](repeating: 0, count: 28))
        if case .skipped(.nonIP) = decode(arp, .ethernet) {} else { XCTFail() }
    }

    func testTruncatedHeadersAreMalformedNeverCrash() {
        let f = eth.tcp(from: clientV4, 40000, to: serverV4, 443, seq: 1, ack: 0, flags: [.syn])
        for n in 0..<f.count {
            let r = decode(Array(f.prefix(n)), .ethernet)
            switch r {
            case .malformed, .skipped, .segment: break
            case .fragment: XCTFail("a prefix is not a fragment")
            case .encapsulated: XCTFail("decodeThroughTunnels resolves tunnels")
            }
        }
        for n in 0..<60 { _ = decode([UInt8](repeating: 0x45, count: n), .raw) }
        for n in 0..<80 { _ = decode([UInt8](repeating: 0x60, count: n), .raw) }
    }

    func testRandomFramesNeverCrash() {
        var rng = SplitMix64(seed: 7)
        let links: [LinkType] = [.ethernet, .raw, .null, .loop, .linuxSLL, .linuxSLL2, .nflog]
        for i in 0..<20_000 {
            let n = Int(rng.next() % 200)
            var b = [UInt8](repeating: 0, count: n)
            for j in 0..<n { b[j] = UInt8(truncatingIfNeeded: rng.next()) }
            if n > 0 && i % 2 == 0 { b[0] = 0x45 }
            _ = decode(b, links[i % links.count])
        }
    }
}

final class FragmentReassemblyTests: XCTestCase {
    func reassemble(_ frames: [[UInt8]]) -> [UInt8]? {
        let r = IPFragmentReassembler()
        var out: [UInt8]?
        for f in frames {
            f.withUnsafeBytes { raw in
                if case .fragment(let frag) = PacketDecoder.decode(raw, linkType: .raw),
                   let d = r.add(frag, at: Timestamp(seconds: 1, nanoseconds: 0)) {
                    out = d.data
                }
            }
        }
        return out
    }

    func testIPv4FragmentsInAnyOrder() throws {
        let payload = (0..<3000).map { UInt8(truncatingIfNeeded: $0) }
        let whole = FrameBuilder.rawIP.udp(from: clientV4, 53, to: serverV4, 4000, payload: payload, ip: IPFields(identification: 77, dontFragment: false))
        let frags = try IPv4Fragmenter.fragment(whole, into: 3)
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let data = try XCTUnwrap(reassemble(order.map { frags[$0] }))
            XCTAssertEqual(Array(data[8...]), payload)  // after the UDP header
        }
    }

    func testIPv6Fragments() throws {
        let payload = (0..<2000).map { UInt8(truncatingIfNeeded: $0 * 3) }
        let whole = FrameBuilder.rawIP.udp(from: serverV6, 53, to: clientV6, 4000, payload: payload)
        let frags = try IPv6Fragmenter.fragment(whole, into: 2, identification: 0xabcdef)
        let data = try XCTUnwrap(reassemble(frags.reversed()))
        XCTAssertEqual(Array(data[8...]), payload)
    }

    func testIncompleteDatagramTimesOutAndIsCounted() throws {
        let whole = FrameBuilder.rawIP.udp(from: clientV4, 53, to: serverV4, 4000, payload: [UInt8](repeating: 1, count: 2000), ip: IPFields(dontFragment: false))
        let frags = try IPv4Fragmenter.fragment(whole, into: 2)
        let r = IPFragmentReassembler()
        frags[0].withUnsafeBytes { raw in
            if case .fragment(let f) = PacketDecoder.decode(raw, linkType: .raw) {
                XCTAssertNil(r.add(f, at: Timestamp(seconds: 1, nanoseconds: 0)))
            }
        }
        XCTAssertEqual(r.pendingCount, 1)
        r.expire(now: Timestamp(seconds: 100, nanoseconds: 0))
        XCTAssertEqual(r.pendingCount, 0)
        XCTAssertEqual(r.stats.timedOut, 1)
    }
}

/// Records what a reassembler delivers.
final class Recorder: TCPStreamConsumer {
    var toServer: [UInt8] = []
    var toClient: [UInt8] = []
    var gaps = 0
    var closedReason: TCPCloseReason?
    var frames: [UInt64] = []
    func segment(_ seg: TransportSegment, fromClient: Bool, frame: UInt64, at ts: Timestamp) {}
    func data(_ bytes: UnsafeRawBufferPointer, fromClient: Bool, frame: UInt64, at ts: Timestamp) -> Bool {
        if fromClient { toServer += bytes } else { toClient += bytes }
        frames.append(frame)
        return true
    }
    func gap(fromClient: Bool, bytes: Int) { gaps += 1 }
    func closed(_ reason: TCPCloseReason, at ts: Timestamp) {
        closedReason = reason
        closeCount += 1
    }
    var closeCount = 0
    /// Set to declare the consumer finished (the reassembler then forgets the connection).
    var finishedAfterData = false
    var isFinished: Bool { finishedAfterData && !(toServer.isEmpty && toClient.isEmpty) }
}

final class TCPReassemblyTests: XCTestCase {
    func run(_ frames: [[UInt8]], limits: TCPReassembler.Limits = .init()) -> (Recorder, TCPReassembler) {
        let rec = Recorder()
        let r = TCPReassembler(limits: limits) { seg, _ in TCPFlowDecision(consumer: rec, sourceIsClient: seg.dport == 53) }
        for (i, f) in frames.enumerated() {
            f.withUnsafeBytes { raw in
                if case .segment(let s) = PacketDecoder.decode(raw, linkType: .raw) {
                    r.process(s, frame: UInt64(i + 1), at: Timestamp(seconds: Int64(i), nanoseconds: 0))
                }
            }
        }
        return (rec, r)
    }

    func conversation() -> TCPConversation {
        TCPConversation(client: clientV4, clientPort: 40000, server: serverV4, serverPort: 53)
    }

    func testInOrderSplitRetransmittedAndOutOfOrder() {
        var c = conversation()
        var frames = c.handshake()
        let msg = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
        let segs = c.send(msg, from: .client, segmentSize: 300)  // 4 segments
        XCTAssertEqual(segs.count, 4)
        // Order on the wire: 0, 2, 1 (out of order), 1 again (retransmission), 3.
        frames += [segs[0], segs[2], segs[1], segs[1], segs[3]]
        let reply = (0..<500).map { UInt8(truncatingIfNeeded: $0 * 7) }
        frames += c.send(reply, from: .server)
        frames += c.close()
        let (rec, r) = run(frames)
        XCTAssertEqual(rec.toServer, msg)
        XCTAssertEqual(rec.toClient, reply)
        XCTAssertEqual(rec.gaps, 0)
        XCTAssertEqual(rec.closedReason, .fin)
        XCTAssertEqual(r.stats.outOfOrderSegments, 1)
        XCTAssertEqual(r.stats.retransmittedSegments, 1)
        XCTAssertEqual(r.connectionCount, 0)
    }

    /// A segment that both completes the FIN exchange and finds its consumer finished closes the
    /// connection once; the connection is released afterwards (nothing left in the table).
    func testClosedOnceWhenFINAndFinishedCoincide() {
        var c = conversation()
        var frames = c.handshake()
        frames += c.send([1, 2, 3], from: .client)
        frames += c.close()
        let rec = Recorder()
        let r = TCPReassembler { seg, _ in TCPFlowDecision(consumer: rec, sourceIsClient: seg.dport == 53) }
        for (i, f) in frames.enumerated() {
            if i == frames.count - 2 { rec.finishedAfterData = true }  // the second FIN's segment
            f.withUnsafeBytes { raw in
                if case .segment(let s) = PacketDecoder.decode(raw, linkType: .raw) {
                    r.process(s, frame: UInt64(i + 1), at: Timestamp(seconds: Int64(i), nanoseconds: 0))
                }
            }
        }
        XCTAssertEqual(rec.closeCount, 1)
        XCTAssertEqual(r.connectionCount, 0)
    }

    /// Connections left open are released with the reassembler (no leak of their consumers).
    func testOpenConnectionsReleasedWithTheReassembler() {
        weak var weakRecorder: Recorder?
        do {
            var c = conversation()
            var frames = c.handshake()
            frames += c.send([1, 2, 3], from: .client)
            let rec = Recorder()
            weakRecorder = rec
            let r = TCPReassembler { seg, _ in TCPFlowDecision(consumer: rec, sourceIsClient: seg.dport == 53) }
            for (i, f) in frames.enumerated() {
                f.withUnsafeBytes { raw in
                    if case .segment(let s) = PacketDecoder.decode(raw, linkType: .raw) {
                        r.process(s, frame: UInt64(i + 1), at: Timestamp(seconds: Int64(i), nanoseconds: 0))
                    }
                }
            }
            XCTAssertEqual(r.connectionCount, 1)
        }
        XCTAssertNil(weakRecorder, "the connection (and its consumer) must be released")
    }

    func testMidStreamStartAndRST() {
        var c = conversation()
        _ = c.handshake()  // not captured
        var frames = c.send([1, 2, 3], from: .client)
        frames.append(c.reset(from: .server))
        let (rec, r) = run(frames)
        XCTAssertEqual(rec.toServer, [1, 2, 3])
        XCTAssertNil(rec.closedReason, "a reset connection lingers (injected resets are followed by more packets)")
        r.expire(now: Timestamp(seconds: 100, nanoseconds: 0))
        XCTAssertEqual(rec.closedReason, .rst)
    }

    func testPerDirectionBufferLimitSkipsTheHole() {
        var c = conversation()
        var frames = c.handshake()
        let segs = c.send([UInt8](repeating: 9, count: 4000), from: .client, segmentSize: 1000)
        // The first segment is never captured; the rest exceed a 1500-byte buffer.
        frames += segs.dropFirst()
        var limits = TCPReassembler.Limits()
        limits.maxBufferedPerDirection = 1500
        let (rec, r) = run(frames, limits: limits)
        XCTAssertEqual(rec.gaps, 1)
        XCTAssertEqual(rec.toServer.count, 3000)
        XCTAssertGreaterThan(r.stats.droppedSegmentsOverLimit, 0)
    }

    func testConnectionLimitEvicts() {
        var limits = TCPReassembler.Limits()
        limits.maxConnections = 10
        var frames: [[UInt8]] = []
        for port in 0..<50 {
            var c = TCPConversation(client: clientV4, clientPort: UInt16(30000 + port), server: serverV4, serverPort: 53)
            frames.append(c.syn())
        }
        let rec = Recorder()
        let r = TCPReassembler(limits: limits) { _, _ in TCPFlowDecision(consumer: rec, sourceIsClient: true) }
        for f in frames {
            f.withUnsafeBytes { raw in
                if case .segment(let s) = PacketDecoder.decode(raw, linkType: .raw) {
                    r.process(s, frame: 1, at: Timestamp(seconds: 1, nanoseconds: 0))
                }
            }
        }
        XCTAssertLessThanOrEqual(r.connectionCount, 10)
        XCTAssertGreaterThan(r.stats.evicted, 0)
    }
}

/// The analyzer counts skipped and malformed frames in arrays indexed by `ordinal`: each reason
/// must have its own slot, in `allCases` order.
final class ReasonOrdinalTests: XCTestCase {
    func testOrdinalsArePositionsInAllCases() {
        XCTAssertEqual(SkipReason.allCases.map(\.ordinal), Array(0..<SkipReason.allCases.count))
        XCTAssertEqual(MalformedReason.allCases.map(\.ordinal), Array(0..<MalformedReason.allCases.count))
    }
}
