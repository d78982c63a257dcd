import Foundation
import IntegrationSupport
import XCTest

/// Root only (skips with the reason otherwise). Issue 20 items 3 and 7 in `HXLab`: the opt-out
/// canaries and Chrome's random single-label check, against a tampering dnsmasq and a clean
/// unbound, with the lab's own references. Truth comes from the lab's servers, asked directly.
final class EncryptedDNSSignalTests: XCTestCase {
    private let session = LabSession<HXLab>("hx lab")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String) throws -> HXLab {
        let lab = try session.begin { try HXLab(tools: try ProbeLabTools.require(), tag: tag) }
        try lab.build()
        return lab
    }

    /// Opt-out canaries: the tampering resolver answers every canary NXDOMAIN or "no data" while
    /// both references answer with addresses → one `encrypted-dns.opt-out-canary` per canary, low.
    /// Chrome's check: it answers random single labels with one address → `dns.nxdomain-rewrite`.
    func testTamperingResolverSwitchesEncryptedDNSOffAndHijacksNXDOMAIN() throws {
        let lab = try makeLab("t")
        // The lab's truth, from the wire: the references answer the canaries, the tamperer does not.
        for (name, addr) in HXLab.canaries {
            for ref in HXLab.references { XCTAssertEqual(try lab.query(ref, name).addresses, [addr], "lab: reference \(ref) for \(name)") }
            let t = try lab.query(HXLab.tamperingResolver, name)
            XCTAssertTrue(t.addresses.isEmpty && (t.message.rcode == 3 || t.message.rcode == 0), "lab: the tamperer must answer \(name) NXDOMAIN or no data: \(t.message)")
        }
        XCTAssertEqual(try lab.query(HXLab.tamperingResolver, "qwertyuiopasd").addresses, [HXLab.wildcardAnswer], "lab: the tamperer answers single labels")

        let r = try lab.probe(resolver: HXLab.tamperingResolver)
        print("tampering: \(r.described)")
        let canary = r.findings(kind: "encrypted-dns.opt-out-canary")
        XCTAssertEqual(Set(canary.compactMap { ProbeReport.subject($0)["qname"] as? String }), Set(HXLab.canaries.keys), "one finding per canary\n\(r.described)")
        XCTAssertEqual(canary.count, 3, r.described)
        for f in canary {
            XCTAssertEqual(f["severity"] as? String, "low", "two references answer: low / likely\n\(r.described)")
            XCTAssertEqual(f["confidence"] as? String, "likely")
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, HXLab.tamperingResolver)
        }
        let firefox = canary.first { ProbeReport.subject($0)["qname"] as? String == "use-application-dns.net" }
        XCTAssertEqual(firefox.map { ProbeReport.subject($0)["reason"] as? String }, "firefox-doh")
        let hijack = r.findings(kind: "dns.nxdomain-rewrite").filter { ProbeReport.subject($0)["check"] as? String == "random-single-label" }
        XCTAssertEqual(hijack.count, 1, "Chrome's check fires once\n\(r.described)")
        if let f = hijack.first {
            XCTAssertEqual(f["severity"] as? String, "high", r.described)
            XCTAssertTrue(ProbeReport.text(f).contains(HXLab.wildcardAnswer), r.described)
        }
    }

    /// The clean control: the honest resolver answers the canaries like the references and refuses
    /// single labels → none of these findings, nothing at medium or above.
    func testCleanResolverHasNoSignalFinding() throws {
        let lab = try makeLab("u")
        for (name, addr) in HXLab.canaries { XCTAssertEqual(try lab.query(HXLab.cleanResolver, name).addresses, [addr], "lab: clean resolver \(name)") }
        let r = try lab.probe(resolver: HXLab.cleanResolver)
        print("clean: \(r.described)")
        XCTAssertTrue(r.findings(kind: "encrypted-dns.opt-out-canary").isEmpty, r.described)
        XCTAssertTrue(r.findings(kind: "dns.nxdomain-rewrite").isEmpty, r.described)
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, r.described)
        XCTAssertEqual(r.status, 0, r.described)
        XCTAssertTrue(r.raw.contains("opt-out canary use-application-dns.net via \(HXLab.cleanResolver)"), "the canary's answer is recorded")
    }
}
