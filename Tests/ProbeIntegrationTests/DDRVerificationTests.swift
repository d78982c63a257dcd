import Foundation
import IntegrationSupport
import XCTest

/// Root only (skips with the reason otherwise). Issue 20 item 1 in `DDRLab`: verified discovery
/// (RFC 9462 §4.2) against three real unbound resolvers. Truth: the designation from dig on the
/// wire, what each certificate covers from `openssl x509 -text`.
final class DDRVerificationTests: XCTestCase {
    private let session = LabSession<DDRLab>("e1 ddr lab", kept: "unbound configurations, server logs")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String) throws -> DDRLab {
        let lab = try session.begin { try DDRLab(tools: try ProbeLabTools.require(), tag: tag) }
        try lab.build()
        return lab
    }

    private func ddrFindings(_ r: ProbeReport) -> [[String: Any]] { r.findings(kind: "encrypted-dns.ddr-unverified") }

    /// (a) The designation's certificate covers the name and the plain resolver's IP: verified, no finding.
    /// (b) The certificate covers the name only: one medium finding naming the designation, the
    ///     plain IP and what the certificate covered.
    /// (c) No designation: a note, no finding, exit 0.
    func testVerifiedUnverifiedAndNoDesignation() throws {
        let lab = try makeLab("a")
        // Truth from the wire and the certificates.
        XCTAssertTrue(try lab.digDesignation(DDRLab.goodResolver).contains(DDRLab.goodName), "lab: dig sees the good designation")
        XCTAssertTrue(try lab.digDesignation(DDRLab.badResolver).contains(DDRLab.badName), "lab: dig sees the bad designation")
        XCTAssertEqual(try lab.digDesignation(DDRLab.silentResolver), "", "lab: the silent resolver designates nothing")
        let goodCert = try lab.certificateText("good"), badCert = try lab.certificateText("bad")
        XCTAssertTrue(goodCert.contains("IP Address:\(DDRLab.goodResolver)") && goodCert.contains("DNS:\(DDRLab.goodName)"), goodCert)
        XCTAssertTrue(badCert.contains("DNS:\(DDRLab.badName)") && !badCert.contains("IP Address:"), badCert)

        let good = try lab.probe(resolver: DDRLab.goodResolver)
        print("good: \(good.described)")
        XCTAssertTrue(ddrFindings(good).isEmpty, good.described)
        XCTAssertTrue(good.notes.contains { $0.hasPrefix("DDR: \(DDRLab.goodResolver) designates \(DDRLab.goodName)") && $0.contains("verified (") },
                      good.described)
        XCTAssertTrue(good.mediumOrAboveFindings.isEmpty, good.described)

        let bad = try lab.probe(resolver: DDRLab.badResolver)
        print("bad: \(bad.described)")
        let found = ddrFindings(bad)
        XCTAssertEqual(found.count, 1, bad.described)
        if let f = found.first {
            XCTAssertEqual(f["severity"] as? String, "medium")
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, DDRLab.badResolver)
            XCTAssertEqual(ProbeReport.subject(f)["designated"] as? String, DDRLab.badName)
            XCTAssertEqual(ProbeReport.subject(f)["reason"] as? String, "address-not-covered")
            let text = ProbeReport.text(f)
            XCTAssertTrue(text.contains("certificate covers \(DDRLab.badName)"), "names what the certificate covered: \(text)")
            XCTAssertTrue(text.contains("alpn=dot"), "names the designation: \(text)")
        }
        XCTAssertEqual(bad.status, 1, "a medium finding fails the run at the default --fail-on")

        let silent = try lab.probe(resolver: DDRLab.silentResolver)
        print("silent: \(silent.described)")
        XCTAssertTrue(ddrFindings(silent).isEmpty, silent.described)
        XCTAssertTrue(silent.notes.contains { $0.hasPrefix("DDR: \(DDRLab.silentResolver) designates no encrypted resolver") }, silent.described)
        XCTAssertTrue(silent.mediumOrAboveFindings.isEmpty, silent.described)
        XCTAssertEqual(silent.status, 0, silent.described)
        // DNR: the lab host exposes none (or, if it does, the note names it): always said.
        XCTAssertTrue(silent.notes.contains { $0.hasPrefix("DNR (RFC 9463)") }, silent.described)
    }
}
