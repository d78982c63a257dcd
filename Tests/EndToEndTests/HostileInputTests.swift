import Foundation
import IntegrationSupport
import NetTypes
import PacketSynth
import PcapWriter
import XCTest

/// Bad inputs give a report or a one-line error with exit 2 — never a crash or a stack trace.
final class HostileInputTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = try TempDirs.make(prefix: "dnsaudit-hostile", unique: UUID().uuidString)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    func assertOneLineError(_ r: ProcessResult, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 2, "exit status", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line on stderr, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("dnsaudit: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(contains), "stderr should mention \(contains): \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error"), file: file, line: line)
    }

    func testEmptyFile() throws {
        let f = tmp.appendingPathComponent("empty.pcap")
        _ = FileManager.default.createFile(atPath: f.path, contents: Data())
        for cmd in ["analyze", "decode"] {
            assertOneLineError(try runProcess(TestPaths.dnsaudit, [cmd, f.path]), contains: "empty")
        }
    }

    func testGarbageFile() throws {
        let f = tmp.appendingPathComponent("garbage.pcap")
        var rng = SplitMix64(seed: 99)
        _ = FileManager.default.createFile(atPath: f.path, contents: Data((0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        assertOneLineError(try runProcess(TestPaths.dnsaudit, ["analyze", f.path]), contains: "cannot read")
    }

    func testMissingFileAndDirectory() throws {
        assertOneLineError(try runProcess(TestPaths.dnsaudit, ["analyze", tmp.appendingPathComponent("nope.pcap").path]), contains: "cannot open")
        assertOneLineError(try runProcess(TestPaths.dnsaudit, ["analyze", tmp.path]), contains: "directory")
    }

    func testBadArgumentsAndFilter() throws {
        assertOneLineError(try runProcess(TestPaths.dnsaudit, ["analyze"]), contains: "dnsaudit analyze --help")  // the subcommand named points at its own help
        assertOneLineError(try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "yaml", "x"]), contains: "format")
        let f = try writeDNSCapture(name: "ok.pcap")
        assertOneLineError(try runProcess(TestPaths.dnsaudit, ["analyze", "--filter", "udp port port", f.path]), contains: "invalid filter")
        // `live` works now (and as root would capture until stopped): a bad argument still fails before any capture.
        assertOneLineError(try runProcess(TestPaths.dnsaudit, ["live", "-i", "lo", "--duration", "0"]), contains: "--duration")
    }

    /// A small valid capture: one query and its answer.
    func writeDNSCapture(name: String, linkType: PcapLinkType = .rawIP) throws -> URL {
        let url = tmp.appendingPathComponent(name)
        let w = try PcapFileWriter(path: url.path, linkType: linkType)
        let c = IPAddress("192.0.2.10")!, s = IPAddress("198.51.100.53")!
        // Query and response for example.com A, hand-encoded (id 0x1234).
        let q: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
        var a = q
        a[2] = 0x81; a[3] = 0x80; a[7] = 1
        a += [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 216, 34]
        try w.write(seconds: 1_700_000_000, nanoseconds: 0, frame: FrameBuilder.rawIP.udp(from: c, 40000, to: s, 53, payload: q))
        try w.write(seconds: 1_700_000_000, nanoseconds: 20_000_000, frame: FrameBuilder.rawIP.udp(from: s, 53, to: c, 40000, payload: a))
        try w.close()
        return url
    }

    func testTruncatedCaptureStillReports() throws {
        let whole = try writeDNSCapture(name: "whole.pcap")
        let data = try Data(contentsOf: whole)
        let cut = tmp.appendingPathComponent("cut.pcap")
        // Cut inside the second record.
        try data.prefix(data.count - 10).write(to: cut)
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", cut.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("ends early"), r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let summary = try XCTUnwrap(report["summary"] as? [String: Any])
        XCTAssertEqual(summary["packets"] as? Int, 1)
        let inputs = try XCTUnwrap(report["inputs"] as? [[String: Any]])
        XCTAssertEqual(inputs.first?["complete"] as? String, "false")
        XCTAssertFalse((report["notes"] as? [String] ?? []).isEmpty)
    }

    func testOnlyUnsupportedFramesAreCountedAndReported() throws {
        let url = tmp.appendingPathComponent("usb.pcap")
        let w = try PcapFileWriter(path: url.path, linkType: PcapLinkType(rawValue: 189))  // USB Linux
        for i in 0..<5 { try w.write(seconds: UInt32(1_700_000_000 + i), nanoseconds: 0, frame: [UInt8](repeating: 0xaa, count: 64)) }
        try w.close()
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", url.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let counters = try XCTUnwrap((report["summary"] as? [String: Any])?["counters"] as? [String: Any])
        XCTAssertEqual(counters["skipped_unsupported_link_type"] as? Int, 5)
        XCTAssertTrue((report["notes"] as? [String] ?? []).contains { $0.contains("not supported") })
    }

    func testStandardInput() throws {
        let f = try writeDNSCapture(name: "stdin.pcap")
        let r = try runProcess(TestPaths.dnsaudit, ["decode", "-"], stdin: try Data(contentsOf: f))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: UInt8(ascii: "\n")).count, 2)
    }

    /// Every real capture, including the malformed-DNS ones, analyses without crashing.
    func testEveryRealCaptureAnalyses() throws {
        let base = try TestPaths.requireRealCaptures()
        for file in try TestPaths.manifestCaptures(base) {
            let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", base.appendingPathComponent(file).path])
            XCTAssertTrue(r.status == 0 || r.status == 1, "\(file): exit \(r.status): \(r.stderr)")
            XCTAssertNotNil(try? JSONSerialization.jsonObject(with: r.stdout), "\(file): not JSON")
        }
    }

    /// The malformed-DNS captures count their anomalies in the report. (Forward pointers, as in
    /// sv-dns-forward-pointer, are accepted like Suricata and tshark do; a long but valid pointer chain,
    /// zeek/dns-max-compression-depth, decodes like tshark's truth.)
    func testMalformedDNSIsCounted() throws {
        let base = try TestPaths.requireRealCaptures()
        for file in ["ndpi/ndpi-malformed_dns.pcap", "tcpdump/dns-zlip-1.pcap", "zeek/dns-edns-bad-length.pcap"] {
            let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", base.appendingPathComponent(file).path])
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], file)
            let summary = try XCTUnwrap(report["summary"] as? [String: Any])
            XCTAssertGreaterThan(summary["malformed"] as? Int ?? 0, 0, "\(file) should count malformed DNS")
        }
    }
}
