import Foundation
import IntegrationSupport
import NetTypes
import PacketSynth
import PcapWriter
import XCTest

/// Issue 17 item 2: DNS recognised on another port (by content, or `--dns-port`) is paired into
/// transactions like port 53, so the injection and unanswered-query logic sees it.
final class OtherPortDNSTests: XCTestCase {
    func analyze(_ path: String, _ extra: [String] = []) throws -> [String: Any] {
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json"] + extra + [path])
        XCTAssertTrue(r.status == 0 || r.status == 1, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
    }

    /// tcpdump's DNS over TCP 8053: the truth TSV (tshark decoding 8053 as DNS) has one query and
    /// its response (same id); here they are one answered transaction with the server as resolver.
    func testTCP8053QueryAndResponseArePaired() throws {
        let base = try TestPaths.requireRealCaptures()
        let tsv = try String(contentsOf: base.appendingPathComponent("tcpdump/dns_tcp_8053.pcap.dns.tsv"), encoding: .utf8)
        let rows = tsv.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        let queries = rows.filter { $0[7] == "0" }, responses = rows.filter { $0[7] == "1" }
        XCTAssertEqual(queries.count, 1)
        XCTAssertEqual(responses.count, 1)
        XCTAssertEqual(queries[0][6], responses[0][6], "the truth pairs them by id")
        let r = try analyze(base.appendingPathComponent("tcpdump/dns_tcp_8053.pcap").path)
        let s = try XCTUnwrap(r["summary"] as? [String: Any])
        let c = try XCTUnwrap(s["counters"] as? [String: Int])
        XCTAssertEqual(s["dns_messages"] as? Int, 2)
        XCTAssertEqual(c["dns_queries"], 1)
        XCTAssertEqual(c["dns_responses"], 1)
        XCTAssertEqual(s["dns_transactions"] as? Int, 1)
        XCTAssertEqual(s["unanswered_queries"] as? Int, 0)
        XCTAssertEqual(s["resolvers"] as? [String], [responses[0][1]])
        XCTAssertEqual((r["findings"] as? [[String: Any]])?.count, 0)
    }

    /// An injection race on UDP 5300 (found by content, and with --dns-port 5300): dns.injection,
    /// as on port 53; one answer only: no finding.
    func testInjectionOnAnotherPortIsFound() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-op-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let client = IPAddress("192.0.2.10")!, server = IPAddress("198.51.100.53")!
        let q: [UInt8] = [0x51, 0x52, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3] + Array("www".utf8) + [7] + Array("example".utf8) + [3] + Array("org".utf8) + [0, 0, 1, 0, 1]
        func answer(_ a: [UInt8]) -> [UInt8] {
            var m = q
            m[2] = 0x81; m[3] = 0x80; m[7] = 1
            return m + [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4] + a
        }
        func write(_ name: String, race: Bool) throws -> String {
            let url = dir.appendingPathComponent(name)
            let w = try PcapFileWriter(path: url.path, linkType: .rawIP)
            try w.write(seconds: 1_800_000_000, nanoseconds: 0, frame: IPPacket.udp(from: client, 41000, to: server, 5300, payload: q))
            if race {
                try w.write(seconds: 1_800_000_000, nanoseconds: 2_000_000,
                            frame: IPPacket.udp(from: server, 5300, to: client, 41000, payload: answer([203, 0, 113, 66]), ip: IPFields(ttl: 250)))
            }
            try w.write(seconds: 1_800_000_000, nanoseconds: 30_000_000,
                        frame: IPPacket.udp(from: server, 5300, to: client, 41000, payload: answer([93, 184, 215, 14]), ip: IPFields(ttl: 57)))
            try w.close()
            return url.path
        }
        let racy = try write("race.pcap", race: true), clean = try write("clean.pcap", race: false)
        for extra in [[], ["--dns-port", "5300"]] {
            let kinds = (try analyze(racy, extra)["findings"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            XCTAssertTrue(kinds.contains("dns.injection"), "\(extra): \(kinds)")
            let r = try analyze(clean, extra)
            XCTAssertEqual((r["findings"] as? [[String: Any]])?.count, 0, "\(extra)")
            XCTAssertEqual((r["summary"] as? [String: Any])?["dns_transactions"] as? Int, 1, "\(extra)")
        }
    }
}
