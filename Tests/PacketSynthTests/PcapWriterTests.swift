import Foundation
import NetTypes
import PacketSynth
import PcapWriter
import XCTest

final class PcapWriterTests: XCTestCase {
    func testHeaderAndRecords() throws {
        let path = temporaryPath("basic.pcap")
        let w = try PcapFileWriter(path: path, linkType: .rawIP, snaplen: 64)
        try w.write(seconds: UInt32(1_768_467_600), nanoseconds: 123_456_789, frame: [1, 2, 3])
        try w.write(seconds: Int64(1_768_467_601), nanoseconds: 1_500_000_000, frame: Array(repeating: 9, count: 100))
        try w.write(nanosecondsSinceEpoch: 1_768_467_605_000_000_007, frame: [])
        XCTAssertEqual(w.packetsWritten, 3)
        try w.close()
        XCTAssertThrowsError(try w.close())
        XCTAssertThrowsError(try w.write(seconds: UInt32(0), nanoseconds: 0, frame: [1]))

        let bytes = try readFile(path)
        XCTAssertEqual(Array(bytes[0..<4]), [0x4d, 0x3c, 0xb2, 0xa1], "nanosecond magic, little-endian")
        XCTAssertEqual(bytes.count, w.bytesWritten)
        let c = try readPcap(bytes)
        XCTAssertEqual(c.magic, 0xa1b2_3c4d)
        XCTAssertEqual(c.versionMajor, 2)
        XCTAssertEqual(c.versionMinor, 4)
        XCTAssertEqual(c.snaplen, 64)
        XCTAssertEqual(c.linkType, 101)
        XCTAssertEqual(c.records.count, 3)
        XCTAssertEqual(c.records[0], PcapRecord(seconds: 1_768_467_600, nanoseconds: 123_456_789, capturedLength: 3,
                                                originalLength: 3, data: [1, 2, 3]))
        XCTAssertEqual(c.records[1].seconds, 1_768_467_602, "nanoseconds ≥ 1e9 carry")
        XCTAssertEqual(c.records[1].nanoseconds, 500_000_000)
        XCTAssertEqual(c.records[1].capturedLength, 64, "truncated to snaplen")
        XCTAssertEqual(c.records[1].originalLength, 100)
        XCTAssertEqual(c.records[2].seconds, 1_768_467_605)
        XCTAssertEqual(c.records[2].nanoseconds, 7)
    }

    func testTimestampRange() throws {
        let w = try PcapFileWriter(path: temporaryPath("range.pcap"))
        // Integer literals and Int values resolve without ambiguity.
        try w.write(seconds: 1_700_000_000, nanoseconds: 0, frame: [1])
        let s = 1_700_000_001
        try w.write(seconds: s, nanoseconds: 0, frame: [1])
        XCTAssertThrowsError(try w.write(seconds: -5, nanoseconds: 0, frame: [1]))
        XCTAssertThrowsError(try w.write(seconds: Int64(-1), nanoseconds: 0, frame: [1]))
        XCTAssertThrowsError(try w.write(seconds: Int64(UInt32.max) + 1, nanoseconds: 0, frame: [1]))
        XCTAssertThrowsError(try w.write(seconds: Int64(UInt32.max), nanoseconds: 1_000_000_000, frame: [1]))
        try w.close()
    }

    func testOpenFailure() {
        XCTAssertThrowsError(try PcapFileWriter(path: "/nonexistent-dir/x.pcap")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-dir/x.pcap"))
        }
    }

    func testSmallBufferManyPacketsAndHugeFrame() throws {
        let path = temporaryPath("many.pcap")
        let w = try PcapFileWriter(path: path, linkType: .ethernet, bufferSize: 4096)
        var expected: [[UInt8]] = []
        for i in 0..<2_000 {
            let frame = [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 14 + i % 300)
            expected.append(frame)
            try w.write(seconds: UInt32(i), nanoseconds: UInt32(i), frame: frame)
        }
        let huge = [UInt8](repeating: 0xee, count: 70_000)   // bigger than the buffer: written through
        expected.append(huge)
        try w.write(seconds: UInt32(5_000), nanoseconds: 0, frame: huge)
        try w.close()
        let c = try readPcap(try readFile(path))
        XCTAssertEqual(c.records.map(\.data), expected)
        XCTAssertEqual(c.records.last?.capturedLength, 70_000)
    }

    func testFileDescriptorInit() throws {
        let path = temporaryPath("fd.pcap")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let w = try PcapFileWriter(fileDescriptor: fd, closeWhenDone: true, linkType: .linuxSLL)
        try w.write(seconds: UInt32(1), nanoseconds: 2, frame: [3])
        try w.close()
        let c = try readPcap(try readFile(path))
        XCTAssertEqual(c.linkType, 113)
        XCTAssertEqual(c.records.count, 1)
    }

    /// Frames of every kind written to a pcap; tshark must decode them all with valid checksums.
    func testTsharkSeesValidChecksums() throws {
        guard tsharkPath() != nil else { throw XCTSkip("tshark not installed: skipping the tshark cross-check") }
        let path = temporaryPath("checksums.pcap")
        let w = try PcapFileWriter(path: path)
        let mc = MACAddress(0x02, 0, 0, 0, 0, 0x10)
        let mr = MACAddress(0x02, 0, 0, 0, 0, 0x01)
        let eth = FrameBuilder.ethernet(source: mc, destination: mr)
        let vlan = FrameBuilder.ethernet(source: mc, destination: mr, vlan: 42)
        let c4 = IPAddress.v4(IPv4Address(192, 0, 2, 10)), s4 = IPAddress.v4(IPv4Address(198, 51, 100, 53))
        let c6 = IPAddress.v6(IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]))
        let s6 = IPAddress.v6(IPv6Address(groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53]))
        var frames: [[UInt8]] = []
        var vlanFrames = 0
        var rng = SplitMix64(seed: 7)
        for (k, (b, c, s)) in [(eth, c4, s4), (vlan, c4, s4), (eth, c6, s6), (vlan, c6, s6)].enumerated() {
            let before = frames.count
            for n in [0, 1, 2, 3, 17, 200] {
                frames.append(b.udp(from: c, 40_000 &+ UInt16(n), to: s, 9, payload: rng.bytes(n),
                                    ip: IPFields(ttl: 64, identification: UInt16(n))))
                frames.append(b.tcp(from: c, 30_000 + UInt16(k * 100 + n), to: s, 9, seq: rng.uint32(),
                                    ack: rng.uint32(), flags: n == 3 ? .syn : [.psh, .ack],
                                    options: n == 3 ? [.mss(1400), .sackPermitted, .nop, .windowScale(8)] : [],
                                    payload: n == 3 ? [] : rng.bytes(n)))
            }
            frames.append(b.icmpEcho(from: c, to: s, reply: false, identifier: 1, sequence: 1, payload: rng.bytes(8)))
            var conv = TCPConversation(client: c, clientPort: 50_000 + UInt16(k), server: s, serverPort: 80, link: b)
            frames += conv.handshake()
            frames += conv.send(rng.bytes(3_000), from: .server)
            frames += conv.close()
            if b == vlan { vlanFrames += frames.count - before }
        }
        for (i, f) in frames.enumerated() { try w.write(seconds: UInt32(1_000 + i), nanoseconds: 0, frame: f) }
        try w.close()
        let lines = try tshark(path, ["-T", "fields", "-E", "separator=,", "-e", "frame.number",
                                      "-e", "ip.checksum.status", "-e", "udp.checksum.status",
                                      "-e", "tcp.checksum.status", "-e", "icmpv6.checksum.status"])
        XCTAssertEqual(lines.count, frames.count)
        for line in lines {
            // 1 = good; 0 = bad; 2 = unverified (must not happen with the checks on).
            let statuses = line.split(separator: ",", omittingEmptySubsequences: false).dropFirst().filter { !$0.isEmpty }
            XCTAssertFalse(statuses.isEmpty, "no checksum verified: \(line)")
            XCTAssertTrue(statuses.allSatisfy { $0 == "1" }, "checksum not good: \(line)")
        }
        let bad = try tshark(path, ["-Y", "_ws.malformed || _ws.expert.severity >= 6291456"])
        XCTAssertEqual(bad, [], "tshark objects to: \(bad)")
        // The conversations are clean TCP as far as tshark's analysis goes.
        let analysis = try tshark(path, ["-Y", "tcp.port >= 50000 && tcp.analysis.flags && !tcp.analysis.window_update"])
        XCTAssertEqual(analysis, [], "tshark TCP analysis flags: \(analysis)")
        let vlans = try tshark(path, ["-Y", "vlan.id == 42", "-T", "fields", "-e", "frame.number"])
        XCTAssertEqual(vlans.count, vlanFrames)
    }
}
