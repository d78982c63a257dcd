import Foundation
import IntegrationSupport
import XCTest

/// `dnsaudit decode` writes its lines through one reused byte buffer in large batches
/// (issue 18 item 4): every line whole and in order across batch boundaries, the same bytes to a
/// pipe and to a file, and a failed write reported on standard error with a non-zero exit.
final class DecodeWriterTests: XCTestCase {
    /// A classic pcap of `count` Ethernet/IPv4/UDP DNS queries, query i for "q<i>.<label>.example."
    /// with id i, from 10.9.0.<i % 250 + 1> port 40000+i to 10.9.255.53 port 53.
    func queries(_ count: Int, label: [UInt8], in dir: URL) throws -> URL {
        var b = [UInt8]()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        u32(0xa1b2_c3d4); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(1)
        for i in 0..<count {
            let first = Array("q\(i)".utf8)
            var dns: [UInt8] = [UInt8(i >> 8 & 0xff), UInt8(i & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
            for l in [first, label, Array("example".utf8)] { dns += [UInt8(l.count)] + l }
            dns += [0, 0, 1, 0, 1]
            let udpLen = 8 + dns.count
            let sport = UInt16(40000 + i % 20000)
            var udp: [UInt8] = [UInt8(sport >> 8), UInt8(sport & 0xff), 0, 53, UInt8(udpLen >> 8), UInt8(udpLen & 0xff), 0, 0]
            udp += dns
            let ipLen = 20 + udp.count
            var ip: [UInt8] = [0x45, 0, UInt8(ipLen >> 8), UInt8(ipLen & 0xff), 0, 0, 0x40, 0, 64, 17, 0, 0,
                               10, 9, 0, UInt8(i % 250 + 1), 10, 9, 255, 53]
            var sum: UInt32 = 0
            for k in stride(from: 0, to: 20, by: 2) { sum += UInt32(ip[k]) << 8 | UInt32(ip[k + 1]) }
            while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
            ip[10] = UInt8(~sum >> 8 & 0xff); ip[11] = UInt8(~sum & 0xff)
            let frame: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00] + ip + udp
            u32(1_700_000_000 + UInt32(i / 1000)); u32(UInt32(i % 1000) * 1000)
            u32(UInt32(frame.count)); u32(UInt32(frame.count))
            b += frame
        }
        let url = dir.appendingPathComponent("queries-\(count).pcap")
        try Data(b).write(to: url)
        return url
    }

    func testLinesAcrossBatchesArePipedAndFiledWhole() throws {
        let dir = try TempDirs.make(prefix: "dnsaudit-decode-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        // About 400 bytes a line: 4000 lines are several 256 KB batches.
        let n = 4000
        let pcap = try queries(n, label: Array("plain-label".utf8), in: dir)
        let piped = try runProcess(TestPaths.dnsaudit, ["decode", pcap.path])
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertGreaterThan(piped.stdout.count, 4 * (1 << 18))
        let file = dir.appendingPathComponent("lines.jsonl")
        let filed = try runProcess(TestPaths.dnsaudit, ["decode", "--output", file.path, pcap.path])
        XCTAssertEqual(filed.status, 0, filed.stderr)
        XCTAssertEqual(try Data(contentsOf: file), piped.stdout)

        XCTAssertEqual(piped.stdout.last, UInt8(ascii: "\n"))
        let lines = piped.stdout.split(separator: UInt8(ascii: "\n"))
        XCTAssertEqual(lines.count, n)
        for (i, line) in lines.enumerated() {
            let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], "line \(i + 1)")
            XCTAssertEqual(o["frame"] as? Int, i + 1)
            XCTAssertEqual(o["src"] as? String, "10.9.0.\(i % 250 + 1)")
            XCTAssertEqual(o["ts"] as? String, "\(1_700_000_000 + i / 1000).\(String(format: "%09d", (i % 1000) * 1_000_000))")
            let dns = try XCTUnwrap(o["dns"] as? [String: Any])
            XCTAssertEqual(dns["id"] as? Int, i & 0xffff)
            let q = try XCTUnwrap((dns["questions"] as? [[String: Any]])?.first)
            XCTAssertEqual(q["name"] as? String, "q\(i).plain-label.example.")
        }
    }

    func testHostileBytesInNamesStayValidJSON() throws {
        let dir = try TempDirs.make(prefix: "dnsaudit-decode-hostile")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Quote, backslash, controls, DEL, invalid UTF-8 and a valid UTF-8 sequence in one label.
        let label: [UInt8] = [0x22, 0x5c, 0x00, 0x01, 0x0a, 0x1f, 0x7f, 0xff, 0xc3, 0x28, 0xc3, 0xa9, 0x41]
        let pcap = try queries(3, label: label, in: dir)
        let r = try runProcess(TestPaths.dnsaudit, ["decode", pcap.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: UInt8(ascii: "\n"))
        XCTAssertEqual(lines.count, 3)
        for line in lines {
            // Strict UTF-8 and strict JSON, control bytes never raw.
            XCTAssertNotNil(String(data: Data(line), encoding: .utf8))
            XCTAssertFalse(line.contains { $0 < 0x20 })
            let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            let q = try XCTUnwrap(((o["dns"] as? [String: Any])?["questions"] as? [[String: Any]])?.first)
            XCTAssertNotNil(q["name"] as? String)
        }
    }

    func testFailedWriteToStandardOutputIsOneLineAndExit2() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full on this system") }
        let dir = try TempDirs.make(prefix: "dnsaudit-decode-full")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Small (one final write) and large (batches written during the run).
        for n in [2, 3000] {
            let pcap = try queries(n, label: Array("x".utf8), in: dir)
            for args in [["decode", pcap.path], ["decode", "--output", "/dev/full", pcap.path]] {
                let r = try runProcess(URL(fileURLWithPath: "/bin/sh"),
                                       ["-c", "exec \"$0\" \"$@\" > /dev/full", TestPaths.dnsaudit.path] + args)
                XCTAssertEqual(r.status, 2, "\(n) \(args): \(r.stderr)")
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(n) \(args): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("No space left on device"), "\(n) \(args): \(r.stderr)")
            }
        }
    }
}
