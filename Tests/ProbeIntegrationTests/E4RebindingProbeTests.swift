import Foundation
import IntegrationSupport
import XCTest

/// Root only (skips with the reason otherwise). Issue 20 item 6, probe side, in `E4Lab`: an empty
/// answer for a name the references answer only with a private address is rebinding protection
/// only when the same resolver does not answer other names of the run with private addresses.
/// Truth from dig against the lab's servers, never from dnsaudit.
final class E4RebindingProbeTests: XCTestCase {
    private let session = LabSession<E4Lab>("e4 lab", kept: "unbound configuration, server logs")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String) throws -> E4Lab {
        let lab = try session.begin { try E4Lab(tools: try ProbeLabTools.require(), tag: tag) }
        try lab.build()
        return lab
    }

    private static func rebindingInputs(_ r: ProbeReport) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for i in r.report["inputs"] as? [[String: Any]] ?? [] {
            guard let name = i["name"] as? String, name.hasPrefix("rebinding check ") else { continue }
            out[name] = i  // an input's facts are its own keys
        }
        return out
    }

    /// dnsmasq --stop-dns-rebind drops both private answers: rebinding protection for both names
    /// (notes, `rebinding_protection: yes`), no finding; it answers the public check name.
    func testRebindingProtectionIsANoteForEveryPrivateName() throws {
        let lab = try makeLab("p")
        for (name, addr) in E4Lab.privateNames {
            XCTAssertEqual(try lab.dig(E4Lab.references[0], name), addr, "lab: the references answer \(name)")
            let status = try lab.digStatus(E4Lab.rebindProtected, name)
            XCTAssertEqual(try lab.dig(E4Lab.rebindProtected, name), "", "lab: --stop-dns-rebind drops \(name) (\(status))")
        }
        XCTAssertEqual(try lab.dig(E4Lab.rebindProtected, E4Lab.checkName), E4Lab.checkAddress, "lab: public answers pass")

        let r = try lab.probe(resolver: E4Lab.rebindProtected, rebindingNames: E4Lab.privateNames.keys.sorted())
        print("protected: \(r.described)")
        XCTAssertTrue(r.findings(kind: "dns.answer-mismatch").isEmpty, r.described)
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, r.described)
        for name in E4Lab.privateNames.keys {
            XCTAssertTrue(r.notes.contains { $0.contains("rebinding protection") && $0.contains(name) && $0.contains("not tampering") }, "\(name)\n\(r.described)")
            XCTAssertEqual(Self.rebindingInputs(r)["rebinding check \(name) via \(E4Lab.rebindProtected)"]?["rebinding_protection"] as? String, "yes", r.raw)
        }
    }

    /// The selective dnsmasq passes lan.e4.test's 192.168.7.7 and answers nas.e4.test NXDOMAIN:
    /// asked both, the NXDOMAIN is not excused (a `dns.answer-mismatch`, blocked-nxdomain, whose
    /// evidence names the private answer it gave for the other name). Asked only the blocked name,
    /// the probe cannot tell it from rebinding protection (a note), as before.
    func testSelectiveRefusalIsNotExcusedWhenOtherPrivateAnswersPass() throws {
        let lab = try makeLab("s")
        XCTAssertEqual(try lab.dig(E4Lab.selectiveBlocker, E4Lab.passedName), E4Lab.privateNames[E4Lab.passedName], "lab: the private answer passes")
        XCTAssertEqual(try lab.digStatus(E4Lab.selectiveBlocker, E4Lab.blockedName), "NXDOMAIN", "lab: the blocked name")
        XCTAssertEqual(try lab.dig(E4Lab.references[1], E4Lab.blockedName), E4Lab.privateNames[E4Lab.blockedName], "lab: the references answer it")

        let r = try lab.probe(resolver: E4Lab.selectiveBlocker, rebindingNames: [E4Lab.blockedName, E4Lab.passedName])
        print("selective: \(r.described)")
        let found = r.findings(kind: "dns.answer-mismatch")
        XCTAssertEqual(found.count, 1, r.described)
        if let f = found.first {
            XCTAssertEqual(ProbeReport.subject(f)["qname"] as? String, E4Lab.blockedName, r.described)
            XCTAssertEqual(ProbeReport.subject(f)["reason"] as? String, "blocked-nxdomain", r.described)
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, E4Lab.selectiveBlocker, r.described)
            XCTAssertEqual(f["severity"] as? String, "medium", r.described)
            let text = ProbeReport.text(f)
            XCTAssertTrue(text.contains("rebinding protection cannot explain") && text.contains("\(E4Lab.passedName) → \(E4Lab.privateNames[E4Lab.passedName]!)"), text)
        }
        XCTAssertFalse(r.notes.contains { $0.contains("rebinding protection") && $0.contains(E4Lab.blockedName) && $0.contains("not tampering") }, r.described)
        XCTAssertTrue(r.notes.contains { $0.contains("passes private answers through") && $0.contains(E4Lab.passedName) }, r.described)
        let inputs = Self.rebindingInputs(r)
        XCTAssertEqual(inputs["rebinding check \(E4Lab.blockedName) via \(E4Lab.selectiveBlocker)"]?["rebinding_protection"] as? String, "contradicted", r.raw)
        XCTAssertEqual(inputs["rebinding check \(E4Lab.passedName) via \(E4Lab.selectiveBlocker)"]?["rebinding_protection"] as? String, "no", r.raw)

        // Only the blocked name: nothing in the run contradicts a filter.
        let alone = try lab.probe(resolver: E4Lab.selectiveBlocker, rebindingNames: [E4Lab.blockedName])
        print("selective, one name: \(alone.described)")
        XCTAssertTrue(alone.findings(kind: "dns.answer-mismatch").isEmpty, alone.described)
        XCTAssertTrue(alone.notes.contains { $0.contains("rebinding protection") && $0.contains(E4Lab.blockedName) }, alone.described)
    }
}
