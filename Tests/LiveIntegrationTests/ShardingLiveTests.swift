import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Issue 18 item 3: `live --threads 2` (the capture loop hands frames to flow-sharded workers)
/// streams findings while it runs and ends with the same findings as the saved capture analysed
/// offline, with one thread or two. Root only (LiveLab namespaces); skipped with the reason printed.
final class ShardingLiveTests: XCTestCase {
    private let session = LabSession<LiveLab>("live lab")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    func testTwoThreadsStreamAndReportWhatTheSavedCaptureShows() throws {
        let lab = try session.begin { try LiveLab(tag: "t") }
        try lab.build()
        _ = try lab.startResponder(inject: true)
        let pcap = lab.dir.appendingPathComponent("t.pcap")
        let live = try lab.startLive(["--threads", "2", "--duration", "5", "--format", "jsonl", "--write", pcap.path])
        let client = try lab.query(count: 3)
        XCTAssertTrue(client.stdout.contains("responses 2"), "lab: the responder should answer each query twice: \(client.stdout)")

        var streamedWhileRunning = false
        _ = waitUntil(timeout: 4) {
            guard live.isRunning else { return true }
            streamedWhileRunning = findingKinds(jsonLines(live.stdout)).contains("dns.injection") && live.isRunning
            return streamedWhileRunning
        }
        XCTAssertTrue(streamedWhileRunning, "a dns.injection line should appear while live --threads 2 runs:\n\(live.stdout.prefix(2000))")
        guard waitUntil(timeout: 20, { !live.isRunning }) else {
            live.stop(signal: SIGKILL)
            return XCTFail("dnsaudit live --threads 2 did not stop after --duration: \(live.stderr)")
        }
        XCTAssertEqual(live.exitCode, 1, "high findings: exit 1; stderr: \(live.stderr)")
        let lines = jsonLines(live.stdout)
        let kinds = findingKinds(lines)
        XCTAssertEqual(kinds.filter { $0 == "dns.injection" }.count, 6, "each injection streamed once and reported once:\n\(live.stdout.prefix(3000))")
        guard let summary = lines.last?["summary"] as? [String: Any] else {
            return XCTFail("the final report's summary line is missing:\n\(live.stdout.suffix(2000))")
        }
        XCTAssertEqual(summary["dns_messages"] as? Int, 9, "3 queries and 6 responses: \(summary)")

        // The saved capture, analysed offline with one thread and with two, has the same findings.
        let liveIDs = Set(lines.compactMap { ($0["finding"] as? [String: Any])?["id"] as? String })
        for n in ["1", "2"] {
            let analyzed = try runBounded(PackagePaths.dnsaudit.path, ["analyze", "--format", "json", "--threads", n, pcap.path], timeout: 60)
            XCTAssertEqual(analyzed.status, 1, analyzed.stderr)
            let report = (try? JSONSerialization.jsonObject(with: analyzed.stdoutData)) as? [String: Any] ?? [:]
            let ids = Set((report["findings"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
            XCTAssertEqual(ids, liveIDs, "analyze --threads \(n) on the --write file vs live --threads 2")
        }
    }
}
