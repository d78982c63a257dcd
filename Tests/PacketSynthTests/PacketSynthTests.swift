import NetTypes
import PacketSynth
import XCTest

final class AddressTests: XCTestCase {
    func testIPv4ParseAndFormat() {
        XCTAssertEqual(IPv4Address("192.0.2.10"), IPv4Address(192, 0, 2, 10))
        XCTAssertEqual(IPv4Address(198, 51, 100, 53).description, "198.51.100.53")
        XCTAssertNil(IPv4Address("192.0.2"))
        XCTAssertNil(IPv4Address("192.0.2.256"))
        XCTAssertNil(IPv4Address("192.0.2.-1"))
        XCTAssertNil(IPv4Address("1.2.3.4.5"))
    }

    func testIPv6ParseAndFormat() {
        let a = IPv6Address("2001:db8::53")
        XCTAssertEqual(a, IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53]))
        XCTAssertEqual(a?.description, "2001:db8::53")
        XCTAssertEqual(IPv6Address("::")?.description, "::")
        XCTAssertEqual(IPv6Address("::1")?.description, "::1")
        XCTAssertEqual(IPv6Address("2001:DB8:0:0:1:0:0:1")?.description, "2001:db8::1:0:0:1")
        XCTAssertEqual(IPv6Address("2001:db8:0:1:1:1:1:1")?.description, "2001:db8:0:1:1:1:1:1")
        XCTAssertEqual(IPv6Address("::ffff:192.0.2.1")?.groups, [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201])
        XCTAssertEqual(IPv6Address("::ffff:192.0.2.1")?.description, "::ffff:192.0.2.1")
        XCTAssertNil(IPv6Address("2001:db8::1::2"))
        XCTAssertNil(IPv6Address("2001:db8:1:2:3:4:5:6:7"))
        XCTAssertNil(IPv6Address("2001:db8:::1"))
        XCTAssertNil(IPv6Address("12345::"))
        XCTAssertEqual(IPAddress("2001:db8::1")?.isV6, true)
        XCTAssertEqual(IPAddress("192.0.2.1")?.isV6, false)
        XCTAssertEqual(MACAddress("02:00:5e:10:00:01")?.description, "02:00:5e:10:00:01")
    }
}

final class ChecksumTests: XCTestCase {
    let c4 = IPAddress.v4(IPv4Address(192, 0, 2, 10))
    let s4 = IPAddress.v4(IPv4Address(198, 51, 100, 53))
    let c6 = IPAddress.v6(IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]))
    let s6 = IPAddress.v6(IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53]))

    func testRFC1071Example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded); the checksum is its complement.
        XCTAssertEqual(InternetChecksum.checksum([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), ~UInt16(0xddf2))
        // Odd length: the last byte is padded with zero.
        XCTAssertEqual(InternetChecksum.checksum([0x01]), ~UInt16(0x0100))
    }

    func testKnownIPv4Header() {
        // A classic worked example (Wikipedia "IPv4 header checksum"): checksum b861.
        let header: [UInt8] = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
                               0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]
        XCTAssertEqual(InternetChecksum.checksum(header), 0xb861)
    }

    func testUDPv4() {
        let payload: [UInt8] = Array("hello, world".utf8)
        let p = IPPacket.udp(from: c4, 40_000, to: s4, 53, payload: payload, ip: IPFields(ttl: 57, identification: 0x1234))
        XCTAssertEqual(p.count, 20 + 8 + payload.count)
        XCTAssertEqual(p[0], 0x45)
        XCTAssertEqual(p[8], 57)
        XCTAssertEqual(p[9], 17)
        XCTAssertEqual(Array(p[4...5]), [0x12, 0x34])
        XCTAssertEqual(Array(p[6...7]), [0x40, 0x00], "DF set by default")
        XCTAssertEqual(InternetChecksum.checksum(Array(p[0..<20])), 0, "IPv4 header checksum")
        XCTAssertTrue(InternetChecksum.verifyTransport(Array(p[20...]), source: c4, destination: s4, protocol: 17))
        XCTAssertEqual(Array(p[24...25]), [0, UInt8(8 + payload.count)])
        // Flip a payload bit: the check must fail.
        var bad = Array(p[20...])
        bad[bad.count - 1] ^= 1
        XCTAssertFalse(InternetChecksum.verifyTransport(bad, source: c4, destination: s4, protocol: 17))
    }

    func testUDPv6AndFlowLabel() {
        let payload = [UInt8](repeating: 0xab, count: 33)
        let p = IPPacket.udp(from: c6, 5353, to: s6, 53, payload: payload, ip: IPFields(ttl: 61, flowLabel: 0xabcde))
        XCTAssertEqual(p.count, 40 + 8 + 33)
        XCTAssertEqual(p[0] >> 4, 6)
        XCTAssertEqual(UInt32(p[1] & 0x0f) << 16 | UInt32(p[2]) << 8 | UInt32(p[3]), 0xabcde)
        XCTAssertEqual(Int(p[4]) << 8 | Int(p[5]), 41)
        XCTAssertEqual(p[6], 17)
        XCTAssertEqual(p[7], 61)
        XCTAssertTrue(InternetChecksum.verifyTransport(Array(p[40...]), source: c6, destination: s6, protocol: 17))
        XCTAssertNotEqual(Array(p[46...47]), [0, 0], "IPv6 UDP checksum is mandatory")
    }

    func testTCPv4AndV6WithOptions() {
        for (src, dst) in [(c4, s4), (c6, s6)] {
            let p = IPPacket.tcp(from: src, 51_000, to: dst, 443, seq: 0xdead_beef, ack: 7, flags: [.syn],
                                 window: 64_240, options: [.mss(1460), .sackPermitted, .windowScale(7)])
            let l4 = Array(p[(src.isV6 ? 40 : 20)...])
            XCTAssertEqual(l4.count, 32, "20 + 9 option bytes padded to 12")
            XCTAssertEqual(l4[12] >> 4, 8)
            XCTAssertEqual(l4[13], 0x02)
            XCTAssertEqual(Array(l4[8...11]), [0, 0, 0, 0], "no ACK flag: ack field zero")
            XCTAssertEqual(Array(l4[20...23]), [2, 4, 0x05, 0xb4])
            XCTAssertTrue(InternetChecksum.verifyTransport(l4, source: src, destination: dst, protocol: 6))
            let d = IPPacket.tcp(from: src, 51_000, to: dst, 443, seq: 1, ack: 99, flags: [.psh, .ack],
                                 payload: Array(repeating: 7, count: 101))
            let dl4 = Array(d[(src.isV6 ? 40 : 20)...])
            XCTAssertEqual(dl4[13], 0x18)
            XCTAssertEqual(Array(dl4[8...11]), [0, 0, 0, 99])
            XCTAssertTrue(InternetChecksum.verifyTransport(dl4, source: src, destination: dst, protocol: 6))
        }
    }

    func testICMP() {
        let e4 = IPPacket.udp(from: c4, 1, to: s4, 2, payload: []) // sanity: empty payload
        XCTAssertEqual(e4.count, 28)
        let b = FrameBuilder.rawIP
        let p4 = b.icmpEcho(from: c4, to: s4, reply: false, identifier: 1, sequence: 2, payload: [1, 2, 3])
        XCTAssertEqual(p4[20], 8)
        XCTAssertEqual(InternetChecksum.checksum(Array(p4[20...])), 0)
        let p6 = b.icmpEcho(from: c6, to: s6, reply: true, identifier: 1, sequence: 2, payload: [1, 2, 3])
        XCTAssertEqual(p6[40], 129)
        XCTAssertTrue(InternetChecksum.verifyTransport(Array(p6[40...]), source: c6, destination: s6, protocol: 58))
    }
}

final class LinkLayerTests: XCTestCase {
    let mac1 = MACAddress(0x02, 0, 0, 0, 0, 1)
    let mac2 = MACAddress(0x02, 0, 0, 0, 0, 2)
    let c4 = IPAddress.v4(IPv4Address(192, 0, 2, 10))
    let s4 = IPAddress.v4(IPv4Address(198, 51, 100, 53))

    func testEthernetAndVLAN() {
        let eth = FrameBuilder.ethernet(source: mac1, destination: mac2)
        let f = eth.udp(from: c4, 1000, to: s4, 53, payload: [1, 2, 3, 4])
        XCTAssertEqual(Array(f[0..<6]), mac2.bytes)
        XCTAssertEqual(Array(f[6..<12]), mac1.bytes)
        XCTAssertEqual(Array(f[12..<14]), [0x08, 0x00])
        XCTAssertEqual(f.count, 14 + 20 + 8 + 4)
        XCTAssertEqual(Array(f[14...]), IPPacket.udp(from: c4, 1000, to: s4, 53, payload: [1, 2, 3, 4]))

        let tagged = FrameBuilder.ethernet(source: mac1, destination: mac2, vlan: 100)
        let t = tagged.udp(from: c4, 1000, to: s4, 53, payload: [1, 2, 3, 4])
        XCTAssertEqual(Array(t[12..<18]), [0x81, 0x00, 0x00, 100, 0x08, 0x00])
        XCTAssertEqual(Array(t[18...]), Array(f[14...]))
        XCTAssertEqual(tagged.reversed, FrameBuilder.ethernet(source: mac2, destination: mac1, vlan: 100))

        let v6 = eth.frame(ipPacket: IPPacket.udp(from: .v6(IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])), 1,
                                                  to: .v6(IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 2])), 2,
                                                  payload: []))
        XCTAssertEqual(Array(v6[12..<14]), [0x86, 0xdd])
    }

    func testARP() {
        let f = FrameBuilder.ethernet(source: mac1, destination: .broadcast)
            .arp(reply: false, senderMAC: mac1, senderIP: IPv4Address(192, 0, 2, 10), targetMAC: .zero,
                 targetIP: IPv4Address(192, 0, 2, 1))
        XCTAssertEqual(f.count, 42)
        XCTAssertEqual(Array(f[12..<14]), [0x08, 0x06])
        XCTAssertEqual(Array(f[20..<22]), [0, 1])
        XCTAssertEqual(Array(f[38..<42]), [192, 0, 2, 1])
    }
}

final class FragmentationTests: XCTestCase {
    let c4 = IPAddress.v4(IPv4Address(192, 0, 2, 10))
    let s4 = IPAddress.v4(IPv4Address(198, 51, 100, 53))

    func testIPv4FragmentsReassemble() throws {
        let payload = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let datagram = IPPacket.udp(from: s4, 53, to: c4, 40_000, payload: payload,
                                    ip: IPFields(ttl: 57, identification: 0x4242))
        let frags = try IPv4Fragmenter.fragment(datagram, into: 3)
        XCTAssertEqual(frags.count, 3)
        var reassembled: [UInt8] = []
        var expectedOffset = 0
        for (i, f) in frags.enumerated() {
            XCTAssertEqual(InternetChecksum.checksum(Array(f[0..<20])), 0, "fragment \(i) header checksum")
            XCTAssertEqual(Int(f[2]) << 8 | Int(f[3]), f.count)
            XCTAssertEqual(Array(f[4...5]), [0x42, 0x42])
            let flags = UInt16(f[6]) << 8 | UInt16(f[7])
            XCTAssertEqual(flags & 0x4000, 0, "DF cleared")
            XCTAssertEqual(flags & 0x2000 != 0, i < 2, "MF on all but the last")
            XCTAssertEqual(Int(flags & 0x1fff) * 8, expectedOffset)
            if i < 2 { XCTAssertEqual((f.count - 20) % 8, 0) }
            reassembled += f[20...]
            expectedOffset += f.count - 20
        }
        XCTAssertEqual(reassembled, Array(datagram[20...]))
        XCTAssertTrue(InternetChecksum.verifyTransport(reassembled, source: s4, destination: c4, protocol: 17))

        let two = try IPv4Fragmenter.fragment(datagram, maxPayload: 512)
        XCTAssertEqual(two.map(\.count), [532, 20 + 1_008 - 512])
        XCTAssertThrowsError(try IPv4Fragmenter.fragment(datagram, maxPayload: 100))
        XCTAssertThrowsError(try IPv4Fragmenter.fragment(datagram, into: 0))
        XCTAssertThrowsError(try IPv4Fragmenter.fragment([0x60, 0, 0], into: 2))
    }

    func testIPv6FragmentHeader() throws {
        let c6 = IPAddress.v6(IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]))
        let s6 = IPAddress.v6(IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53]))
        let payload = (0..<1_500).map { UInt8(truncatingIfNeeded: $0) }
        let packet = IPPacket.udp(from: s6, 53, to: c6, 40_001, payload: payload, ip: IPFields(ttl: 55))
        let frags = try IPv6Fragmenter.fragment(packet, into: 2, identification: 0xcafe_f00d)
        XCTAssertEqual(frags.count, 2)
        var reassembled: [UInt8] = []
        for (i, f) in frags.enumerated() {
            XCTAssertEqual(f[6], 44, "next header = Fragment")
            XCTAssertEqual(Int(f[4]) << 8 | Int(f[5]), f.count - 40)
            XCTAssertEqual(f[40], 17, "fragment header's next header = UDP")
            let offFlags = UInt16(f[42]) << 8 | UInt16(f[43])
            XCTAssertEqual(offFlags & 1 == 1, i == 0, "M flag")
            XCTAssertEqual(Int(offFlags >> 3) * 8, reassembled.count)
            XCTAssertEqual(Array(f[44..<48]), [0xca, 0xfe, 0xf0, 0x0d])
            reassembled += f[48...]
        }
        XCTAssertEqual(reassembled, Array(packet[40...]))
        XCTAssertEqual(IPv6Fragmenter.fragmentHeader(nextHeader: 6, offset: 1232, moreFragments: true, identification: 1),
                       [6, 0, 0x04, 0xd1, 0, 0, 0, 1])
    }
}

final class TCPConversationTests: XCTestCase {
    func testSequenceTracking() {
        let c = IPAddress.v4(IPv4Address(192, 0, 2, 10))
        let s = IPAddress.v4(IPv4Address(198, 51, 100, 53))
        var conv = TCPConversation(client: c, clientPort: 41_000, server: s, serverPort: 53,
                                   clientISN: 100, serverISN: 9_000,
                                   clientIP: IPFields(ttl: 64, identification: 10),
                                   serverIP: IPFields(ttl: 57, identification: 500), segmentSize: 10)
        let hs = conv.handshake()
        XCTAssertEqual(hs.count, 3)
        XCTAssertEqual(fields(hs[0]).flags, [.syn])
        XCTAssertEqual(fields(hs[0]).seq, 100)
        XCTAssertEqual(fields(hs[1]).flags, [.syn, .ack])
        XCTAssertEqual(fields(hs[1]).seq, 9_000)
        XCTAssertEqual(fields(hs[1]).ack, 101)
        XCTAssertEqual(fields(hs[2]).ack, 9_001)
        XCTAssertEqual(fields(hs[1]).ttl, 57)
        XCTAssertEqual(fields(hs[0]).ipID, 10)
        XCTAssertEqual(fields(hs[2]).ipID, 11)

        let data = conv.send(Array(repeating: 1, count: 25), from: .server)
        XCTAssertEqual(data.count, 3)
        XCTAssertEqual(data.map { fields($0).seq }, [9_001, 9_011, 9_021])
        XCTAssertEqual(data.map { fields($0).payload }, [10, 10, 5])
        XCTAssertEqual(data.map { fields($0).flags }, [.ack, .ack, [.psh, .ack]])
        XCTAssertEqual(conv.serverNextSeq, 9_026)
        XCTAssertEqual(fields(conv.ack(from: .client)).ack, 9_026)

        let split = conv.send(Array(repeating: 2, count: 7), from: .client, splitAt: [2, 3])
        XCTAssertEqual(split.map { fields($0).payload }, [2, 3, 2])

        let close = conv.close(initiator: .client)
        XCTAssertEqual(close.map { fields($0).flags }, [[.fin, .ack], [.fin, .ack], .ack])
        XCTAssertEqual(fields(close[2]).ack, conv.serverNextSeq)
        XCTAssertEqual(fields(conv.reset(from: .server)).flags, [.rst, .ack])
        for f in hs + data + close {
            let src = fields(f).fromServer ? s : c
            let dst = fields(f).fromServer ? c : s
            XCTAssertTrue(InternetChecksum.verifyTransport(Array(f[20...]), source: src, destination: dst, protocol: 6))
        }
    }

    private struct Fields {
        var seq: UInt32, ack: UInt32, flags: TCPFlags, payload: Int, ttl: UInt8, ipID: UInt16, fromServer: Bool
    }

    private func fields(_ p: [UInt8]) -> Fields {
        func be32(_ i: Int) -> UInt32 { p[i..<(i + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        let t = 20
        let hl = Int(p[t + 12] >> 4) * 4
        return Fields(seq: be32(t + 4), ack: be32(t + 8), flags: TCPFlags(rawValue: p[t + 13]),
                      payload: p.count - t - hl, ttl: p[8], ipID: UInt16(p[4]) << 8 | UInt16(p[5]),
                      fromServer: p[t] == 0 && p[t + 1] == 53)
    }
}

final class SplitMix64Tests: XCTestCase {
    func testReferenceValues() {
        // Reference outputs of splitmix64.c (Vigna) for seed 0.
        var g = SplitMix64(seed: 0)
        XCTAssertEqual(g.next(), 0xe220_a839_7b1d_cdaf)
        XCTAssertEqual(g.next(), 0x6e78_9e6a_a1b9_65f4)
        XCTAssertEqual(g.next(), 0x06c4_5d18_8009_454f)
        var a = SplitMix64(seed: 42)
        var b = SplitMix64(seed: 42)
        XCTAssertEqual(a.bytes(37), b.bytes(37))
        for _ in 0..<1_000 {
            let v = a.int(in: 3...9)
            XCTAssertTrue((3...9).contains(v))
        }
    }
}
