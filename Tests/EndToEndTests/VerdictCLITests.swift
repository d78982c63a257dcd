import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Issue 15: what the command line says when it filters, cannot write, or examined nothing.
final class VerdictCLITests: XCTestCase {
    var demo: String { TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path }

    func json(_ r: ProcessResult) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], r.stderr)
    }

    /// Bug 13: frame numbers are the file's whatever the filter, and a race's own first answer
    /// establishes no baseline (there is no other traffic from that resolver once filtered).
    func testFilterKeepsFrameNumbersAndBaselinesComeFromOtherTraffic() throws {
        // The truth: tshark numbers the race 11, 12, 13 (the query and both answers on port 40112).
        if let tshark = Requirements.findTool("tshark") {
            let t = try runProcess(URL(fileURLWithPath: tshark), ["-r", demo, "-Y", "udp.port == 40112", "-T", "fields", "-e", "frame.number"])
            XCTAssertEqual(String(decoding: t.stdout, as: UTF8.self).split(separator: "\n"), ["11", "12", "13"])
        }
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", "--filter", "udp and port 40112", demo])
        let report = try json(r)
        let injection = try XCTUnwrap((report["findings"] as? [[String: Any]])?.first { $0["kind"] as? String == "dns.injection" })
        let evidence = injection["evidence"] as? [[String: Any]] ?? []
        XCTAssertEqual(evidence.map { $0["frames"] as? [Int] ?? [] }, [[11, 12], [11, 13]])
        let details = evidence.compactMap { $0["detail"] as? String }.joined(separator: "\n")
        XCTAssertFalse(details.contains("usual"), "no baseline from the race itself: \(details)")
        // Unfiltered, the resolver's other answers establish its usual TTL (57): the forged one stands out.
        let all = try json(try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", demo]))
        let inj = try XCTUnwrap((all["findings"] as? [[String: Any]])?.first { $0["kind"] as? String == "dns.injection" })
        let d = (inj["evidence"] as? [[String: Any]] ?? []).compactMap { $0["detail"] as? String }
        XCTAssertTrue(d[0].contains("IP TTL 243 differs from the resolver's usual 57"), d[0])
        XCTAssertFalse(d[1].contains("differs"), d[1])
        // decode numbers frames the same way.
        let dec = try runProcess(TestPaths.dnsaudit, ["decode", "--filter", "udp and port 40112", demo])
        let frames = String(decoding: dec.stdout, as: UTF8.self).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["frame"] as? Int
        }
        XCTAssertEqual(frames, [11, 12, 13])
    }

    /// Bug 14: a failed write is one line on stderr and exit 2, never a short report with exit 0.
    func testFailedWritesAreReported() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full on this system") }
        let full = URL(fileURLWithPath: "/dev/full")
        for args in [["decode", "--output", "/dev/full", demo], ["analyze", "--output", "/dev/full", demo],
                     ["analyze", "--format", "json", demo]] {
            // The last one writes to standard output, redirected to /dev/full by the shell.
            let r = args.contains("--output") ? try runProcess(TestPaths.dnsaudit, args)
                : try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec \"$0\" \"$@\" > \(full.path)", TestPaths.dnsaudit.path] + args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("No space left on device"), "\(args): \(r.stderr)")
        }
    }

    /// Bug 15: nothing examined is inconclusive, not clean; --fail-on-inconclusive exits 3.
    func testNothingExaminedIsInconclusive() throws {
        let dir = try TempDirs.make(prefix: "dnsaudit-inconclusive")
        defer { try? FileManager.default.removeItem(at: dir) }
        func pcap(_ name: String, linkType: UInt32, frames: [[UInt8]]) throws -> String {
            var b = [UInt8]()
            func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
            func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
            u32(0xa1b2_c3d4); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(linkType)
            for f in frames { u32(1_700_000_000); u32(0); u32(UInt32(f.count)); u32(UInt32(f.count)); b += f }
            let url = dir.appendingPathComponent(name)
            try Data(b).write(to: url)
            return url.path
        }
        let empty = try pcap("empty.pcap", linkType: 1, frames: [])
        let odd = try pcap("odd.pcap", linkType: 147, frames: [[1, 2, 3, 4]])  // DLT_USER0: not decoded
        for (file, why) in [(empty, "holds no packets"), (odd, "not decoded")] {
            let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", file])
            XCTAssertEqual(r.status, 0, r.stderr)
            let report = try json(r)
            XCTAssertEqual(report["verdict"] as? String, "inconclusive")
            XCTAssertTrue((report["inconclusive"] as? [String] ?? []).contains { $0.contains(why) }, "\(report)")
            let text = try runProcess(TestPaths.dnsaudit, ["analyze", "--fail-on-inconclusive", file])
            XCTAssertEqual(text.status, 3)
            let out = String(decoding: text.stdout, as: UTF8.self)
            XCTAssertTrue(out.contains("VERDICT: inconclusive"), out)
            XCTAssertFalse(out.contains("nothing in this input shows"), out)
        }
        // A filter that leaves nothing is inconclusive too; a clean capture is clean.
        let filtered = try json(try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", "--filter", "tcp port 1", demo]))
        XCTAssertEqual(filtered["verdict"] as? String, "inconclusive")
        let clean = try json(try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json",
                                                                 TestPaths.root.appendingPathComponent("captures/dns-clean.pcap").path]))
        XCTAssertEqual(clean["verdict"] as? String, "clean")
        XCTAssertNil(clean["inconclusive"])
    }

    /// Bug 15: an audit with every part disabled examined nothing: inconclusive, exit 3 on request.
    func testAuditWithEveryPartDisabledIsInconclusive() throws {
        let dir = try TempDirs.make(prefix: "dnsaudit-audit-off")
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = dir.appendingPathComponent("p.toml")
        try Data("[audit]\n".utf8).write(to: policy)
        let r = try runProcess(TestPaths.dnsaudit, ["audit", "--policy", policy.path, "--no-rules", "--no-probe", "--no-capture",
                                                    "--format", "json", "--fail-on-inconclusive"])
        XCTAssertEqual(r.status, 3, r.stderr)
        let report = try json(r)
        XCTAssertEqual(report["verdict"] as? String, "inconclusive")
        XCTAssertTrue((report["inconclusive"] as? [String] ?? []).contains { $0.contains("every part of the audit is disabled") })
        let plain = try runProcess(TestPaths.dnsaudit, ["audit", "--policy", policy.path, "--no-rules", "--no-probe", "--no-capture"])
        XCTAssertEqual(plain.status, 0, "without --fail-on-inconclusive the exit code is unchanged")
    }
}
