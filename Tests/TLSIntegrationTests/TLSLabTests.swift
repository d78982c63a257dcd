import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Root only. Each test builds its own client — middlebox — server namespaces (see `Lab`), runs real
/// TLS through them with openssl, captures on the client's interface with tcpdump, and runs the
/// built `dnsaudit analyze --format json` on the capture.
///
/// Needs: root, `ip` and `ss` (iproute2), `iptables` with the string match, `openssl`, `tcpdump`.
/// Without them every test is skipped, with the reason printed.
final class TLSLabTests: XCTestCase {
    private let session = LabSession<Lab>("TLS lab", kept: "captures, server logs, certificates")

    static let okName = "ok.lab.test"
    static let blockedName = "blocked.lab.test"

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    /// Tools (or skip), a built topology and the PKI. `tag` is one letter, unique per test.
    private func makeLab(_ tag: String) throws -> (Lab, LabPKI) {
        let lab = try session.begin { try Lab(tools: try LabTools.require(), tag: tag) }
        try lab.build()
        return (lab, try LabPKI.make(in: lab.dir, openssl: lab.tools.openssl))
    }

    // MARK: - Test 1: the middlebox resets TLS by SNI

    /// Runs the SNI-reset scenario: ok.lab.test, then blocked.lab.test from the client, with the
    /// middlebox rejecting (tcp-reset) forwarded segments that carry "blocked.lab.test".
    /// `serverTTL` sets the server's initial IP TTL (nil: the default 64).
    /// The blocked connection comes last: REJECT resets only the client's side, so the
    /// single-threaded s_server is left waiting for a ClientHello that never arrives and would
    /// not answer a later connection.
    private func resetScenario(tag: String, serverTTL: Int?) throws -> AnalyzeReport {
        let (lab, pki) = try makeLab(tag)
        if let serverTTL { try lab.sysctl(lab.serverNS, "net.ipv4.ip_default_ttl", String(serverTTL)) }
        _ = try lab.startTLSServer(lab.serverNS, name: "server", port: 443, cert: pki.serverCert, key: pki.serverKey)

        let rule = ["-A", "FORWARD", "-p", "tcp", "--dport", "443", "-m", "string", "--string", Self.blockedName,
                    "--algo", "bm", "-j", "REJECT", "--reject-with", "tcp-reset"]
        let added = try lab.exec(lab.middleboxNS, [lab.tools.iptables] + rule)
        if added.status != 0 {
            let msg = added.output
            if msg.contains("string") && (msg.contains("match") || msg.contains("xtables") || msg.contains("Extension")) {
                print("TLSIntegrationTests skipped: the kernel has no iptables string match: \(msg)")
                throw XCTSkip("the kernel has no iptables string match: \(msg)")
            }
            throw LabError("iptables \(rule.joined(separator: " ")) failed: \(msg)")
        }

        let capture = lab.dir.appendingPathComponent("reset-by-sni.pcap")
        let tcpdump = try lab.startCapture(capture)
        let ok = try lab.tlsConnect(sni: Self.okName, caFile: pki.caCert)
        let blocked = try lab.tlsConnect(sni: Self.blockedName, caFile: pki.caCert)
        try lab.stopCapture(tcpdump)

        // The lab itself did what it should (otherwise the product is not what failed).
        XCTAssertFalse(ok.timedOut, "ok.lab.test: s_client timed out")
        XCTAssertTrue(ok.output.contains("Verify return code: 0 (ok)"), "lab: the ok.lab.test handshake should succeed and verify:\n\(ok.output.suffix(1500))")
        XCTAssertFalse(blocked.timedOut, "blocked.lab.test: s_client timed out (the reset never came)")
        XCTAssertFalse(blocked.output.contains("BEGIN CERTIFICATE"), "lab: blocked.lab.test should never see the certificate:\n\(blocked.output.suffix(1500))")
        let counters = try lab.mustExec(lab.middleboxNS, [lab.tools.iptables, "-L", "FORWARD", "-v", "-n", "-x"]).stdout
        print("TLS lab \(tag): middlebox FORWARD chain:\n\(counters)")

        let report = try AnalyzeReport.run(capture)
        print("TLS lab \(tag): dnsaudit analyze \(capture.lastPathComponent): \(report.described)")
        XCTAssertGreaterThanOrEqual(report.summary["tls_client_hellos"] as? Int ?? 0, 2, "two ClientHellos were sent: \(report.described)")

        let resets = report.findings(kind: "tls.reset-after-clienthello")
        XCTAssertEqual(Set(resets.map { ($0["subject"] as? [String: Any])?["sni"] as? String ?? "(none)" }), [Self.blockedName],
                       "exactly the blocked SNI has tls.reset-after-clienthello:\n\(report.described)")
        for f in resets {
            let subject = f["subject"] as? [String: Any] ?? [:]
            XCTAssertEqual(subject["server"] as? String, Lab.serverAddress, report.described)
            XCTAssertEqual(subject["port"] as? Int, 443, report.described)
        }
        for f in report.findings {
            let text = AnalyzeReport.json(f).replacingOccurrences(of: Self.blockedName, with: "")
            XCTAssertFalse(text.contains(Self.okName), "no finding names ok.lab.test: \(AnalyzeReport.json(f))")
        }
        assertExitStatusMatchesSeverities(report)
        return report
    }

    /// The server sits (in IP TTL terms) four hops beyond the middlebox, as a real server behind a
    /// censoring box would: the RST the middlebox forges arrives with TTL 64 where the server's
    /// SYN-ACK had 59, so the reset is recognisably injected and the finding is high.
    func testResetAfterClientHelloNamesOnlyTheBlockedSNI() throws {
        let report = try resetScenario(tag: "r", serverTTL: 60)
        for f in report.findings(kind: "tls.reset-after-clienthello") {
            XCTAssertEqual(f["severity"] as? String, "high", "an injected reset is high:\n\(report.described)")
            let evidence = (f["evidence"] as? [[String: Any]] ?? []).map { AnalyzeReport.json($0) }
            XCTAssertTrue(evidence.contains { $0.contains("IP TTL") && $0.contains("inject") },
                          "evidence compares the RST's IP TTL and calls it injected:\n\(report.described)")
        }
    }

    /// The same with the server right behind the middlebox (both TTL 64 at the source; the SYN-ACK
    /// arrives with 63, the forged RST with 64). A one-hop difference is within the tolerance for
    /// path changes, so only the finding and its subject are required here, not its severity.
    func testResetAfterClientHelloWithAdjacentServer() throws {
        _ = try resetScenario(tag: "a", serverTTL: nil)
    }

    // MARK: - Test 2: a TLS-intercepting middlebox (TLS 1.2, certificate in the clear)

    func testInterceptionCertificateIsReported() throws {
        let (lab, pki) = try makeLab("i")
        _ = try lab.startTLSServer(lab.serverNS, name: "server", port: 443, cert: pki.serverCert, key: pki.serverKey)
        _ = try lab.startTLSServer(lab.middleboxNS, name: "interceptor", port: 8443, cert: pki.interceptionCert, key: pki.interceptionKey)
        try lab.mustExec(lab.middleboxNS, [lab.tools.iptables, "-t", "nat", "-A", "PREROUTING", "-i", lab.middleboxClientIf,
                                           "-p", "tcp", "--dport", "443", "-j", "REDIRECT", "--to-ports", "8443"])

        let capture = lab.dir.appendingPathComponent("intercepted.pcap")
        let tcpdump = try lab.startCapture(capture)
        let r = try lab.tlsConnect(sni: Self.okName, caFile: pki.caCert, extra: ["-tls1_2"])
        try lab.stopCapture(tcpdump)

        XCTAssertFalse(r.timedOut, "s_client timed out")
        XCTAssertTrue(r.output.contains("TLSv1.2"), "lab: the handshake should be TLS 1.2:\n\(r.output.suffix(1500))")
        XCTAssertTrue(r.output.contains(LabPKI.interceptionCAName), "lab: the client should get the interceptor's certificate:\n\(r.output.suffix(1500))")
        XCTAssertFalse(r.output.contains("Verify return code: 0 (ok)"), "lab: the interceptor's certificate must not verify against ca.pem")

        let report = try AnalyzeReport.run(capture, extra: ["--ca-file", pki.caCert.path])
        print("TLS lab i: dnsaudit analyze --ca-file ca.pem \(capture.lastPathComponent): \(report.described)")
        XCTAssertGreaterThanOrEqual(report.summary["tls_client_hellos"] as? Int ?? 0, 1, report.described)
        let untrusted = report.findings(kind: "tls.untrusted-certificate")
        XCTAssertFalse(untrusted.isEmpty, "the interception certificate gives tls.untrusted-certificate:\n\(report.described)")
        let forOK = untrusted.filter { ($0["subject"] as? [String: Any])?["sni"] as? String == Self.okName }
        XCTAssertFalse(forOK.isEmpty, "tls.untrusted-certificate with subject.sni ok.lab.test:\n\(report.described)")
        for f in forOK {
            let text = (f["title"] as? String ?? "") + AnalyzeReport.json(f["evidence"] ?? [])
            XCTAssertTrue(text.contains(LabPKI.interceptionCAName), "the finding names the issuer (\(LabPKI.interceptionCAName)) in its title or evidence:\n\(AnalyzeReport.json(f))")
        }
        assertExitStatusMatchesSeverities(report)
    }

    func testGenuineCertificateIsNotReported() throws {
        let (lab, pki) = try makeLab("g")
        _ = try lab.startTLSServer(lab.serverNS, name: "server", port: 443, cert: pki.serverCert, key: pki.serverKey)

        let capture = lab.dir.appendingPathComponent("genuine.pcap")
        let tcpdump = try lab.startCapture(capture)
        let r = try lab.tlsConnect(sni: Self.okName, caFile: pki.caCert, extra: ["-tls1_2"])
        try lab.stopCapture(tcpdump)

        XCTAssertFalse(r.timedOut, "s_client timed out")
        XCTAssertTrue(r.output.contains("TLSv1.2"), "lab: the handshake should be TLS 1.2:\n\(r.output.suffix(1500))")
        XCTAssertTrue(r.output.contains("Verify return code: 0 (ok)"), "lab: the genuine certificate verifies against ca.pem:\n\(r.output.suffix(1500))")

        let report = try AnalyzeReport.run(capture, extra: ["--ca-file", pki.caCert.path])
        print("TLS lab g: dnsaudit analyze --ca-file ca.pem \(capture.lastPathComponent): \(report.described)")
        XCTAssertGreaterThanOrEqual(report.summary["tls_client_hellos"] as? Int ?? 0, 1, report.described)
        XCTAssertTrue(report.findings(kind: "tls.untrusted-certificate").isEmpty,
                      "a certificate chaining to --ca-file and covering the SNI is not untrusted:\n\(report.described)")
        assertExitStatusMatchesSeverities(report)
    }

    // MARK: - helpers

    /// CONTRACT.md: exit 1 iff a finding is at or above `--fail-on` (default medium), else 0.
    private func assertExitStatusMatchesSeverities(_ report: AnalyzeReport, file: StaticString = #filePath, line: UInt = #line) {
        let failing: Set<String> = ["critical", "high", "medium"]
        let expected: Int32 = report.findings.contains { failing.contains($0["severity"] as? String ?? "") } ? 1 : 0
        XCTAssertEqual(report.status, expected, "exit status vs findings:\n\(report.described)", file: file, line: line)
    }
}
