import Foundation
import IntegrationSupport
import XCTest

/// Root only (skips with the reason otherwise). Issue 20 item 3: the audit policy's
/// `[probe] opt_out_canary_severity` raises `encrypted-dns.opt-out-canary`. `dnsaudit audit
/// --no-rules --no-capture` runs inside HXLab's client namespace against its tampering dnsmasq
/// (every canary NXDOMAIN), with the lab's two references only. Truth from the lab's servers.
final class E4CanaryPolicyTests: XCTestCase {
    private let session = LabSession<HXLab>("hx lab")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func policy(_ lab: HXLab, _ name: String, canarySeverity: String) throws -> URL {
        let text = """
        [references]
        urls = [\(HXLab.references.map { "\"udp://\($0)\"" }.joined(separator: ", "))]
        timeout = 2

        [probe]
        resolvers = ["\(HXLab.tamperingResolver)"]
        targets = []
        check_name = "\(HXLab.checkName)"
        canary_zone = "\(HXLab.zone)"
        dnssec = false
        identity = false
        opt_out_canary_severity = \(canarySeverity)

        """
        let url = lab.file(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func audit(_ lab: HXLab, _ policy: URL) throws -> RunOutcome {
        try lab.exec(lab.clientNS, [PackagePaths.dnsaudit.path, "audit", "--policy", policy.path, "--no-rules", "--no-capture",
                                    "--format", "json", "--quiet"], timeout: 120)
    }

    func testPolicyRaisesTheCanarySeverityPerProductAndForAll() throws {
        let lab = try session.begin { try HXLab(tools: try ProbeLabTools.require(), tag: "k") }
        try lab.build()
        for (name, addr) in HXLab.canaries {
            for ref in HXLab.references { XCTAssertEqual(try lab.query(ref, name).addresses, [addr], "lab: reference \(ref) for \(name)") }
            XCTAssertTrue(try lab.query(HXLab.tamperingResolver, name).addresses.isEmpty, "lab: the tamperer switches \(name) off")
        }

        // Per product: Firefox's canary raised to high, Apple's left at the default (low with two references).
        let perProduct = try audit(lab, try policy(lab, "per-product.toml", canarySeverity: "{ firefox-doh = \"high\" }"))
        let r = try report(perProduct)
        print("per product: \(r.described)")
        let canary = r.findings(kind: "encrypted-dns.opt-out-canary")
        XCTAssertEqual(canary.count, 3, r.described)
        for f in canary {
            let product = ProbeReport.subject(f)["reason"] as? String
            XCTAssertEqual(f["severity"] as? String, product == "firefox-doh" ? "high" : "low", r.described)
            XCTAssertEqual((f["remediation"] as? String ?? "").contains("opt_out_canary_severity"), product == "firefox-doh", r.described)
        }
        XCTAssertEqual(perProduct.status, 1, "a high finding fails the default fail_on medium\n\(r.described)")

        // One severity for every canary.
        let all = try report(try audit(lab, try policy(lab, "all.toml", canarySeverity: "\"medium\"")))
        print("all: \(all.described)")
        let raised = all.findings(kind: "encrypted-dns.opt-out-canary")
        XCTAssertEqual(raised.count, 3, all.described)
        XCTAssertEqual(Set(raised.compactMap { $0["severity"] as? String }), ["medium"], all.described)

        // "info" never lowers the default.
        let lower = try report(try audit(lab, try policy(lab, "lower.toml", canarySeverity: "\"info\"")))
        XCTAssertEqual(Set(lower.findings(kind: "encrypted-dns.opt-out-canary").compactMap { $0["severity"] as? String }), ["low"], lower.described)

        // Bad values: one line on stderr, exit 2, nothing probed.
        for (file, value, says) in [("bad-sev.toml", "\"urgent\"", "must be info, low, medium, high or critical"),
                                    ("bad-key.toml", "{ chrome = \"high\" }", "unknown canary 'chrome'")] {
            let bad = try audit(lab, try policy(lab, file, canarySeverity: value))
            XCTAssertEqual(bad.status, 2, "\(file): \(bad.stderr)")
            XCTAssertTrue(bad.stderr.contains(says), "\(file): \(bad.stderr)")
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, "\(file): \(bad.stderr)")
            XCTAssertTrue(bad.stdout.isEmpty, "\(file): \(bad.stdout.prefix(300))")
        }
    }

    private func report(_ r: RunOutcome) throws -> ProbeReport {
        guard r.status == 0 || r.status == 1 else { throw LabError("audit exited \(r.status): \(r.stderr.prefix(1000))") }
        guard let o = (try? JSONSerialization.jsonObject(with: r.stdoutData)) as? [String: Any] else {
            throw LabError("audit: no JSON report: \(r.stdout.prefix(800)) \(r.stderr.prefix(500))")
        }
        return ProbeReport(status: r.status, stderr: r.stderr, raw: r.stdout, report: o)
    }
}
