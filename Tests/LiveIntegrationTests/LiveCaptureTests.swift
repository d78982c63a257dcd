import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Root only. Each test builds its own client ── server namespaces (see `LiveLab`), runs the built
/// `dnsaudit live` on the client's veth while a Python responder in the server namespace answers
/// DNS (twice, differently, when it plays injector), and checks what is printed while capturing,
/// the final report, the privilege drop and the saved capture.
///
/// Needs: root, `ip` (iproute2), python3. Without them every test is skipped, with the reason printed.
final class LiveCaptureTests: XCTestCase {
    private let session = LabSession<LiveLab>("live lab")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String) throws -> LiveLab {
        let lab = try session.begin { try LiveLab(tag: tag) }
        try lab.build()
        return lab
    }

    /// Waits for a live run to end by itself (--duration), bounded.
    private func waitForExit(_ p: SpawnedProcess, timeout: TimeInterval = 20) throws {
        guard waitUntil(timeout: timeout, { !p.isRunning }) else {
            p.stop(signal: SIGKILL)
            throw LabError("dnsaudit live did not stop after --duration (killed): \(p.stderr)")
        }
    }

    // MARK: - Injection: streamed while running, in the final report, in the saved capture

    func testInjectionIsStreamedWhileRunningAndTheSavedCaptureAgrees() throws {
        let lab = try makeLab("i")
        _ = try lab.startResponder(inject: true)
        let pcap = lab.dir.appendingPathComponent("s.pcap")
        let live = try lab.startLive(["--duration", "4", "--format", "jsonl", "--write", pcap.path])

        // Privileges are gone once it listens: real, effective, saved and fs uid are nobody's.
        let uids = processUids(live.pid)
        XCTAssertEqual(uids, Array(repeating: defaultDropUID(), count: 4), "dnsaudit live should run as nobody after opening the capture")

        let client = try lab.query(count: 3)
        XCTAssertTrue(client.stdout.contains("responses 2"), "lab: the responder should answer each query twice: \(client.stdout)")

        // The finding is printed while the capture still runs, not only in the final report.
        var streamedWhileRunning = false
        _ = waitUntil(timeout: 3) {
            guard live.isRunning else { return true }
            streamedWhileRunning = findingKinds(jsonLines(live.stdout)).contains("dns.injection") && live.isRunning
            return streamedWhileRunning
        }
        XCTAssertTrue(streamedWhileRunning, "a dns.injection line should appear while live runs; stdout so far:\n\(live.stdout.prefix(2000))")

        try waitForExit(live)
        XCTAssertEqual(live.exitCode, 1, "high findings: exit 1; stderr: \(live.stderr)")
        let lines = jsonLines(live.stdout)
        let kinds = findingKinds(lines)
        // Three queries, three names: each injection streamed once, then again in the final report.
        XCTAssertEqual(kinds.filter { $0 == "dns.injection" }.count, 6, "stdout:\n\(live.stdout.prefix(3000))")
        XCTAssertEqual(Set(kinds), ["dns.injection"])
        guard let summaryLine = lines.last, summaryLine["event_type"] as? String == "summary",
              let summary = summaryLine["summary"] as? [String: Any] else {
            return XCTFail("the final report's summary line is missing:\n\(live.stdout.suffix(2000))")
        }
        XCTAssertEqual(summary["dns_messages"] as? Int, 9, "3 queries and 6 responses: \(summary)")
        let counters = summary["counters"] as? [String: Any] ?? [:]
        XCTAssertEqual(counters["capture_dropped_kernel"] as? Int, 0)
        XCTAssertGreaterThanOrEqual(counters["capture_received"] as? Int ?? 0, 9)
        print("live lab: injection run summary: packets \(summary["packets"] ?? "?"), received \(counters["capture_received"] ?? "?"), "
              + "dropped \(counters["capture_dropped_kernel"] ?? "?")")

        // The saved capture tells the same story to `analyze`.
        XCTAssertTrue(FileManager.default.fileExists(atPath: pcap.path), "--write file missing")
        let analyzed = try runBounded(PackagePaths.dnsaudit.path, ["analyze", "--format", "json", pcap.path], timeout: 60)
        XCTAssertEqual(analyzed.status, 1, analyzed.stderr)
        let report = (try? JSONSerialization.jsonObject(with: analyzed.stdoutData)) as? [String: Any] ?? [:]
        let findings = report["findings"] as? [[String: Any]] ?? []
        let injections = findings.filter { $0["kind"] as? String == "dns.injection" }
        XCTAssertEqual(injections.count, 3, "analyze on the --write file: \(analyzed.stdout.prefix(2000))")
        let liveIDs = Set(lines.compactMap { ($0["finding"] as? [String: Any])?["id"] as? String })
        XCTAssertEqual(Set(injections.compactMap { $0["id"] as? String }), liveIDs, "the same findings (ids) live and offline")
        let forged = injections.flatMap { ($0["evidence"] as? [[String: Any]] ?? []) }.compactMap { $0["detail"] as? String }
        XCTAssertTrue(forged.contains { $0.contains("198.18.66.6") }, "the forged answer is in the evidence: \(forged)")
    }

    // MARK: - Outputs wherever root can write (issue 15 bug 9)

    /// `sudo dnsaudit live --output /root/report.json` with the default drop to nobody: the report
    /// and the --write file land in a directory only root can write, while the capture runs as nobody.
    func testReportGoesWhereRootCanWriteWhileTheCaptureRunsUnprivileged() throws {
        let lab = try makeLab("o")
        _ = try lab.startResponder(inject: true)
        let rootOnly = lab.dir.appendingPathComponent("root-only")
        XCTAssertEqual(mkdir(rootOnly.path, 0o700), 0)
        let report = rootOnly.appendingPathComponent("report.json")
        let pcap = rootOnly.appendingPathComponent("s.pcap")
        let live = try lab.startLive(["--duration", "3", "--format", "json", "--output", report.path, "--write", pcap.path])
        XCTAssertEqual(processUids(live.pid), Array(repeating: defaultDropUID(), count: 4), "the capture still drops to nobody")
        _ = try lab.query(count: 2)
        try waitForExit(live)
        XCTAssertEqual(live.exitCode, 1, "the injection is a high finding; stderr: \(live.stderr)")
        let data = try Data(contentsOf: report)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], "the report is complete JSON")
        XCTAssertTrue(((json["findings"] as? [[String: Any]]) ?? []).contains { $0["kind"] as? String == "dns.injection" })
        var st = stat()
        XCTAssertEqual(stat(report.path, &st), 0)
        XCTAssertEqual(st.st_uid, 0, "created by root before the drop")
        XCTAssertTrue(FileManager.default.fileExists(atPath: pcap.path))
    }

    // MARK: - Clean control

    func testCleanResponderGivesNoFindings() throws {
        let lab = try makeLab("c")
        _ = try lab.startResponder(inject: false)
        let live = try lab.startLive(["--duration", "4", "--format", "jsonl"])
        let client = try lab.query(count: 5)
        XCTAssertTrue(client.stdout.contains("responses 1"), "lab: one answer per query: \(client.stdout)")
        try waitForExit(live)
        XCTAssertEqual(live.exitCode, 0, "no medium+ finding: exit 0; stdout:\n\(live.stdout.prefix(2000))\nstderr: \(live.stderr)")
        let lines = jsonLines(live.stdout)
        XCTAssertEqual(findingKinds(lines), [], "a clean exchange has no findings")
        let summary = lines.last?["summary"] as? [String: Any] ?? [:]
        XCTAssertEqual(summary["dns_transactions"] as? Int, 5, "\(summary)")
        XCTAssertEqual(summary["unanswered_queries"] as? Int, 0)
    }

    // MARK: - Load, rotation, drops

    /// A flood of queries with --write-max-mb 1: every file is a valid capture, together they hold
    /// every frame, and the report says how many packets the kernel dropped (measured, printed).
    func testFloodWithRotatingWriteFiles() throws {
        let lab = try makeLab("f")
        _ = try lab.startResponder(inject: false)
        let pcap = lab.dir.appendingPathComponent("flood.pcap")
        let live = try lab.startLive(["--duration", "6", "--format", "json", "--write", pcap.path, "--write-max-mb", "1"])
        let t0 = Date()
        let client = try lab.query(count: 20_000, flood: true)
        let sendTime = Date().timeIntervalSince(t0)
        try waitForExit(live, timeout: 30)
        XCTAssertTrue([0, 1].contains(live.exitCode), live.stderr)
        let report = (try? JSONSerialization.jsonObject(with: Data(live.stdout.utf8))) as? [String: Any] ?? [:]
        let summary = report["summary"] as? [String: Any] ?? [:]
        let counters = summary["counters"] as? [String: Any] ?? [:]
        let packets = summary["packets"] as? Int ?? 0
        let received = counters["capture_received"] as? Int ?? -1
        let dropped = counters["capture_dropped_kernel"] as? Int ?? -1
        print("live lab: flood of 20000 queries in \(String(format: "%.2f", sendTime)) s (\(client.stdout.trimmingCharacters(in: .whitespacesAndNewlines))): "
              + "analysed \(packets) packets, libpcap received \(received), kernel dropped \(dropped)")
        // Measured here (debug build, 2 cores shared with the Python client and responder): none dropped
        // at this load; drops depend on the machine, so they are reported, not required to be zero.
        XCTAssertGreaterThan(packets, 10_000, "queries and responses: \(summary)")
        XCTAssertGreaterThanOrEqual(dropped, 0, "capture_dropped_kernel is in the counters")
        // libpcap counts packets still in the ring when the capture stopped as received.
        XCTAssertLessThanOrEqual(packets + dropped, received, "analysed + dropped ≤ received")
        XCTAssertLessThan(received - packets - dropped, 2_000, "packets neither analysed nor counted as dropped")
        if dropped > 0 {
            let notes = report["notes"] as? [String] ?? []
            XCTAssertTrue(notes.contains { $0.contains("dropped") }, "drops need a note: \(notes)")
        }

        // FILE, FILE.1, …: each at most about 1 MB, each readable by analyze, all frames together.
        let files = [pcap.path] + (1..<100).map { "\(pcap.path).\($0)" }.prefix { FileManager.default.fileExists(atPath: $0) }
        XCTAssertGreaterThanOrEqual(files.count, 2, "20000 queries should fill more than one 1 MB file")
        for f in files {
            let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? NSNumber)?.intValue ?? 0
            XCTAssertLessThanOrEqual(size, 1_000_000, "\(f) is \(size) bytes")
        }
        let analyzed = try runBounded(PackagePaths.dnsaudit.path, ["analyze", "--format", "json"] + files, timeout: 120)
        let offline = (try? JSONSerialization.jsonObject(with: analyzed.stdoutData)) as? [String: Any] ?? [:]
        XCTAssertEqual((offline["summary"] as? [String: Any])?["packets"] as? Int, packets,
                       "the rotated files hold every analysed frame: \(analyzed.stderr)")
    }

    // MARK: - Failures: one line, exit 2

    func testUnknownInterfaceFailsWithOneLine() throws {
        guard FileManager.default.isExecutableFile(atPath: PackagePaths.dnsaudit.path) else { throw XCTSkip("dnsaudit is not built") }
        let r = try runBounded(PackagePaths.dnsaudit.path, ["live", "-i", "doesnotexist0", "--duration", "1"], timeout: 20)
        XCTAssertEqual(r.status, 2, r.output)
        XCTAssertEqual(r.stdout, "")
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line on stderr: \(r.stderr)")
        if geteuid() == 0 {
            XCTAssertTrue(r.stderr.contains("no such interface 'doesnotexist0'"), r.stderr)
        }
    }

    func testWithoutPrivilegeSaysToUseSudo() throws {
        _ = try LiveLab.requirements()
        guard let setpriv = findTool("setpriv") else {
            print("LiveIntegrationTests: setpriv (util-linux) missing; unprivileged run not tested")
            throw XCTSkip("setpriv (util-linux) is not installed")
        }
        let r = try runBounded(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                         PackagePaths.dnsaudit.path, "live", "-i", "lo", "--duration", "1"], timeout: 20)
        XCTAssertEqual(r.status, 2, r.output)
        XCTAssertEqual(r.stderr, "dnsaudit: live capture needs root or CAP_NET_RAW: run with sudo\n")
    }

    /// A user that does not exist: refuse to run rather than capture as root.
    func testUnknownDropUserRefusesToRun() throws {
        let lab = try makeLab("u")
        let r = try lab.exec(lab.clientNS, [PackagePaths.dnsaudit.path, "live", "-i", lab.clientIf, "--duration", "1",
                                            "--user", "no-such-user-dnsaudit"])
        XCTAssertEqual(r.status, 2, r.output)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("no user 'no-such-user-dnsaudit'"), r.stderr)
    }

    /// Ctrl-C (SIGINT) ends the capture and prints the report; --no-drop keeps root.
    func testInterruptPrintsTheReport() throws {
        let lab = try makeLab("s")
        _ = try lab.startResponder(inject: true)
        let live = try lab.startLive(["--format", "text", "--no-drop"])
        XCTAssertEqual(processUids(live.pid)?.first, "0", "--no-drop keeps root")
        _ = try lab.query(count: 1)
        XCTAssertTrue(waitUntil(timeout: 5) { live.stdout.contains("dns.injection") }, "streamed text line: \(live.stdout)")
        kill(live.pid, SIGINT)
        try waitForExit(live, timeout: 10)
        XCTAssertEqual(live.exitCode, 1, live.stderr)
        let out = live.stdout
        XCTAssertTrue(out.contains("HIGH [likely] dns.injection: Two different answers"), out)
        XCTAssertTrue(out.contains("VERDICT: 1 high"), "the final text report follows the streamed lines:\n\(out)")
        XCTAssertTrue(out.contains("live: \(lab.clientIf)"), out)
    }
}
