import Foundation
import IntegrationSupport
import NetTypes
import PacketSynth
import PcapWriter
import XCTest

/// Issue 18 item 2: `analyze --threads N` gives the same report for any N — byte-identical JSON
/// (minus `generated_at`) for N = 1, 2, 4 on every capture in `captures/`, `../shared/captures-real/`
/// (skipped with a printed reason when absent) and a generated benchmark mix. Black box: the built
/// binary, as any user.
final class ShardingIdentityTests: XCTestCase {
    private func report(_ file: String, threads: Int) throws -> String {
        let r = try runProcess(PackagePaths.dnsaudit, ["analyze", "--format", "json", "--quiet", "--threads", String(threads), file])
        XCTAssertTrue(r.status == 0 || r.status == 1, "\(file) --threads \(threads): exit \(r.status) \(r.stderr)")
        return r.stdoutText.replacingOccurrences(of: #""generated_at":"[^"]*""#, with: "", options: .regularExpression)
    }

    /// `decode`'s whole output (the lines, in order).
    private func decoded(_ file: String, threads: Int) throws -> Data {
        let r = try runProcess(PackagePaths.dnsaudit, ["decode", "--threads", String(threads), file])
        XCTAssertEqual(r.status, 0, "decode \(file) --threads \(threads): \(r.stderr)")
        return r.stdout
    }

    private func captures(under dir: URL) -> [String] {
        guard let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else { return [] }
        var out: [String] = []
        for case let u as URL in e where ["pcap", "pcapng", "cap"].contains(u.pathExtension) { out.append(u.path) }
        return out.sorted()
    }

    private func assertIdentical(_ files: [String], root: URL) throws {
        for f in files {
            let rel = f.hasPrefix(root.path + "/") ? String(f.dropFirst(root.path.count + 1)) : f
            let one = try report(f, threads: 1)
            let lines = try decoded(f, threads: 1)
            for n in [2, 4] {
                let other = try report(f, threads: n)
                XCTAssertEqual(one, other, "\(rel): the report with --threads \(n) differs from --threads 1")
                let otherLines = try decoded(f, threads: n)
                XCTAssertTrue(lines == otherLines, "\(rel): decode --threads \(n) differs from --threads 1 (\(otherLines.count) vs \(lines.count) bytes)")
            }
        }
    }

    func testProjectCapturesSameForAnyThreadCount() throws {
        try XCTSkipUnless(PackagePaths.dnsauditIsBuilt, "dnsaudit is not built")
        let dir = PackagePaths.root.appendingPathComponent("captures")
        let files = captures(under: dir)
        XCTAssertFalse(files.isEmpty)
        try assertIdentical(files, root: dir)
    }

    func testRealCapturesSameForAnyThreadCount() throws {
        try XCTSkipUnless(PackagePaths.dnsauditIsBuilt, "dnsaudit is not built")
        let dir = PackagePaths.root.deletingLastPathComponent().appendingPathComponent("shared/captures-real")
        guard FileManager.default.fileExists(atPath: dir.path) else {
            print("ShardingIdentityTests: \(dir.path) is absent; real captures not compared")
            throw XCTSkip("\(dir.path) is absent")
        }
        try assertIdentical(captures(under: dir), root: dir)
    }

    /// Cross-flow judgements that flow sharding splits: a resolver's upstream queries go to
    /// several upstreams (address pairs on different workers), so its exposure figures (queries,
    /// ports, sequential ids) must be merged in capture order; and responses with no query two
    /// seconds after the capture's first frame, on pairs whose own first DNS message they are,
    /// are past the capture-start window for every worker. The truth is the capture as built:
    /// 64 upstream queries from one port with ids 1000, 1001, … (63 sequential), and 6 orphans.
    func testCrossWorkerJudgementsSameForAnyThreadCount() throws {
        try XCTSkipUnless(PackagePaths.dnsauditIsBuilt, "dnsaudit is not built")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sharding-cross-\(getpid()).pcap")
        defer { try? FileManager.default.removeItem(at: url) }
        func query(_ id: UInt16, rd: Bool) -> [UInt8] {
            [UInt8(id >> 8), UInt8(id & 0xff), rd ? 0x01 : 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3] + Array("www".utf8) + [7]
                + Array("example".utf8) + [3] + Array("org".utf8) + [0, 0, 1, 0, 1]
        }
        func answer(_ q: [UInt8]) -> [UInt8] {
            var m = q
            m[2] |= 0x80; m[3] = 0x80; m[7] = 1
            return m + [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 80]
        }
        let w = try PcapFileWriter(path: url.path, linkType: .rawIP)
        let client = IPAddress("10.77.0.10")!, resolver = IPAddress("10.77.0.53")!
        var t: Int64 = 1_800_000_000_000_000_000
        func put(_ frame: [UInt8], after ns: Int64 = 1_000_000) throws {
            t += ns
            try w.write(nanosecondsSinceEpoch: t, frame: frame)
        }
        for k in 0..<64 {
            let cq = query(UInt16(20_000 + k * 7919 % 30_000), rd: true)
            try put(IPPacket.udp(from: client, UInt16(30_000 + k * 37), to: resolver, 53, payload: cq))
            let upstream = IPAddress("192.0.2.\(1 + k % 8)")!
            let uq = query(UInt16(1000 + k), rd: false)
            try put(IPPacket.udp(from: resolver, 40053, to: upstream, 53, payload: uq))
            try put(IPPacket.udp(from: upstream, 53, to: resolver, 40053, payload: answer(uq)))
            try put(IPPacket.udp(from: resolver, 53, to: client, UInt16(30_000 + k * 37), payload: answer(cq)))
            if k == 40 {
                // 2 s after the capture began: responses to hosts that asked nothing.
                for h in 0..<6 {
                    try put(IPPacket.udp(from: IPAddress("198.51.100.\(1 + h)")!, 53, to: IPAddress("10.78.0.\(1 + h)")!, 33_000,
                                         payload: answer(query(UInt16(500 + h), rd: true))), after: 2_000_000_000)
                }
            }
        }
        try w.close()
        try assertIdentical([url.path], root: url.deletingLastPathComponent())
        let one = try report(url.path, threads: 1)
        XCTAssertTrue(one.contains("64 upstream queries from 10.77.0.53"), "no exposure finding for the resolver")
        XCTAssertTrue(one.contains("63 sequential"), "the resolver's sequential ids are not counted whole")
        XCTAssertTrue(one.contains("6 DNS responses on flows where the capture has no query at all"), "orphans not counted")
    }

    /// A thread that cannot be started is one line on standard error and exit status 2, not a
    /// trap: run as an unprivileged user limited to 3 processes (prlimit, setpriv; needs root).
    func testThreadStartFailureIsOneLine() throws {
        try XCTSkipUnless(PackagePaths.dnsauditIsBuilt, "dnsaudit is not built")
        guard getuid() == 0 else {
            print("ShardingIdentityTests: not root; cannot run dnsaudit as another user with a process limit")
            throw XCTSkip("needs root (setpriv)")
        }
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("sharding-nproc-\(getpid()).pcap")
        defer { try? FileManager.default.removeItem(at: capture) }
        try FileManager.default.copyItem(at: PackagePaths.root.appendingPathComponent("captures/dns-injection.pcap"), to: capture)
        chmod(capture.path, 0o644)
        for command in ["analyze", "decode"] {
            let r = try runProcess(URL(fileURLWithPath: "/usr/bin/prlimit"),
                                   ["--nproc=3", "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                                    PackagePaths.dnsaudit.path, command, "--threads", "8", capture.path])
            XCTAssertEqual(r.status, 2, "\(command): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("cannot start an analysis thread"), "\(command): \(r.stderr)")
            XCTAssertTrue(r.stdout.isEmpty, "\(command) wrote output although it could not run")
        }
    }

    /// A benchmark-style mix (DNS over UDP and TCP, TLS, other traffic, IPv6, planted anomalies)
    /// from the shared generator, large enough that every worker holds many flows and resolvers'
    /// baselines pass their 256 RTT samples.
    func testBenchmarkMixSameForAnyThreadCount() throws {
        try XCTSkipUnless(PackagePaths.dnsauditIsBuilt, "dnsaudit is not built")
        let gen = PackagePaths.root.deletingLastPathComponent().appendingPathComponent("shared/tools/gen_capture.py")
        guard FileManager.default.fileExists(atPath: gen.path) else {
            print("ShardingIdentityTests: \(gen.path) is absent; no benchmark mix")
            throw XCTSkip("\(gen.path) is absent")
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sharding-mix-\(getpid()).pcap")
        defer { try? FileManager.default.removeItem(at: out) }
        let g = try runProcess(URL(fileURLWithPath: "/usr/bin/python3"),
                               [gen.path, "--packets", "60000", "--seed", "7", "--anomalies", "0.002", "--out", out.path])
        XCTAssertEqual(g.status, 0, g.stderr)
        try assertIdentical([out.path], root: out.deletingLastPathComponent())
    }
}
