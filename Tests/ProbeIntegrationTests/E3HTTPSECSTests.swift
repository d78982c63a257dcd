import Foundation
import IntegrationSupport
import XCTest

/// Root only (skips with the reason otherwise). Issue 20 items 4 and 6 in `E3Lab`: a forwarder
/// that strips `ech=` vs a clean unbound (probe and capture), an unbound that sends EDNS Client
/// Subnet vs one that does not, dnsmasq's rebinding protection vs a resolver without it. Truth
/// from dig against the lab's servers, never from dnsaudit.
final class E3HTTPSECSTests: XCTestCase {
    private let session = LabSession<E3Lab>("e3 lab", kept: "unbound configurations, server logs")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String) throws -> E3Lab {
        let lab = try session.begin { try E3Lab(tools: try ProbeLabTools.require(), tag: tag) }
        try lab.build()
        return lab
    }

    /// Item 4, probe: the stripping forwarder's HTTPS record has no ech= while both references'
    /// has → one `dns.https-record-stripped` (high, likely); the clean path → none.
    func testProbeFindsTheStrippedECHAndNotOnTheCleanPath() throws {
        let lab = try makeLab("h")
        // The lab's truth, from dig: the references publish ech=, the stripping path does not, the clean path does.
        for ref in E3Lab.references { XCTAssertTrue(try lab.dig(ref, E3Lab.echName, "HTTPS").contains("ech=\(E3Lab.ech)"), "lab: reference \(ref)") }
        let stripped = try lab.dig(E3Lab.strippingPath, E3Lab.echName, "HTTPS")
        XCTAssertTrue(stripped.contains("alpn=") && !stripped.contains("ech="), "lab: the stripping path: \(stripped)")
        XCTAssertTrue(try lab.dig(E3Lab.cleanPath, E3Lab.echName, "HTTPS").contains("ech=\(E3Lab.ech)"), "lab: the clean path keeps ech=")

        let r = try lab.probe(resolver: E3Lab.strippingPath, extra: ["--https-name", E3Lab.echName])
        print("stripping: \(r.described)")
        let found = r.findings(kind: "dns.https-record-stripped")
        XCTAssertEqual(found.count, 1, r.described)
        if let f = found.first {
            XCTAssertEqual(f["severity"] as? String, "high", r.described)
            XCTAssertEqual(f["confidence"] as? String, "likely")
            XCTAssertEqual(ProbeReport.subject(f)["reason"] as? String, "ech-stripped")
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, E3Lab.strippingPath)
            XCTAssertEqual(ProbeReport.subject(f)["qname"] as? String, E3Lab.echName)
        }

        let c = try lab.probe(resolver: E3Lab.cleanPath, extra: ["--https-name", E3Lab.echName])
        print("clean: \(c.described)")
        XCTAssertTrue(c.findings(kind: "dns.https-record-stripped").isEmpty, c.described)
        XCTAssertTrue(c.findings(kind: "dns.answer-mismatch").isEmpty, c.described)
        XCTAssertTrue(c.raw.contains("HTTPS record \(E3Lab.echName) via \(E3Lab.cleanPath)"), "the comparison is recorded")
        XCTAssertEqual(c.status, 0, c.described)
    }

    /// Item 4, capture: the client's HTTPS lookups through both paths, captured with tcpdump, then
    /// `analyze --reference` → the stripped answer is found (evidence: its frame), the clean one is not.
    /// Item 6b, capture: dnsmasq's filtered private answer is a note, not tampering.
    func testAnalyzeComparesCapturedHTTPSAnswersAndToleratesRebindingProtection() throws {
        let lab = try makeLab("a")
        let pcap = lab.file("client.pcap")
        let tcpdump = try lab.startCapture(pcap, in: lab.clientNS, interface: lab.clientIf, tcpdump: lab.tools.tcpdump)
        let stripped = try lab.dig(E3Lab.strippingPath, E3Lab.echName, "HTTPS")
        let clean = try lab.dig(E3Lab.cleanPath, E3Lab.echName, "HTTPS")
        let filtered = try lab.digStatus(E3Lab.rebindingPath, E3Lab.rebindName, "A")
        let filteredAnswer = try lab.dig(E3Lab.rebindingPath, E3Lab.rebindName, "A")
        try lab.stopCapture(tcpdump)
        XCTAssertFalse(stripped.contains("ech="), "lab: \(stripped)")
        XCTAssertTrue(clean.contains("ech="), "lab: \(clean)")
        XCTAssertTrue(filteredAnswer.isEmpty, "lab: dnsmasq --stop-dns-rebind answers \(filtered) with no address: \(filteredAnswer)")
        XCTAssertEqual(try lab.dig(E3Lab.references[0], E3Lab.rebindName, "A"), E3Lab.rebindAddress, "lab: the references answer the private address")

        let r = try lab.analyze(pcap)
        print("analyze: \(r.described)")
        let found = r.findings(kind: "dns.https-record-stripped")
        XCTAssertEqual(found.count, 1, r.described)
        if let f = found.first {
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, E3Lab.strippingPath, r.described)
            XCTAssertEqual(ProbeReport.subject(f)["reason"] as? String, "ech-stripped")
            XCTAssertEqual(f["severity"] as? String, "high")
        }
        XCTAssertTrue(r.findings(kind: "dns.answer-mismatch").isEmpty, "neither the clean path nor rebinding protection is tampering\n\(r.described)")
        XCTAssertTrue(r.notes.contains { $0.contains("resolver filters private answers (rebinding protection)") && $0.contains(E3Lab.rebindName) },
                      "rebinding protection is a note\n\(r.notes)")
    }

    /// Item 6a: the ECS-sending unbound → `dns.ecs-forwarded` naming the client's /24 (info, the
    /// default truncation); the clean unbound → none, recorded as not forwarded.
    /// Item 6b, probe: dnsmasq --stop-dns-rebind is noted as rebinding protection, never a finding;
    /// a resolver that passes the private answer is noted as such.
    func testECSForwardingAndRebindingProtection() throws {
        let lab = try makeLab("e")
        // Truth: the echo server, asked through each path by dig, says what it received.
        XCTAssertEqual(try lab.dig(E3Lab.ecsPath, E3Lab.ecsName, "TXT"), "\"edns0-client-subnet 198.18.201.0/24\"", "lab: the ECS path")
        XCTAssertEqual(try lab.dig(E3Lab.cleanPath, E3Lab.ecsName, "TXT"), "\"no-ecs\"", "lab: the clean path")

        let r = try lab.probe(resolver: E3Lab.ecsPath, extra: ["--ecs-name", E3Lab.ecsName])
        print("ecs: \(r.described)")
        let ecs = r.findings(kind: "dns.ecs-forwarded")
        XCTAssertEqual(ecs.count, 1, r.described)
        if let f = ecs.first {
            XCTAssertEqual(f["severity"] as? String, "info", r.described)
            XCTAssertTrue((f["title"] as? String ?? "").contains("198.18.201.0/24"), r.described)
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, E3Lab.ecsPath)
        }
        let c = try lab.probe(resolver: E3Lab.cleanPath, extra: ["--ecs-name", E3Lab.ecsName, "--rebinding-name", E3Lab.rebindName])
        print("clean: \(c.described)")
        XCTAssertTrue(c.findings(kind: "dns.ecs-forwarded").isEmpty, c.described)
        XCTAssertTrue(c.raw.contains("not forwarded"), c.described)
        XCTAssertTrue(c.notes.contains { $0.contains("no rebinding protection") }, c.described)
        XCTAssertEqual(c.status, 0, c.described)

        let p = try lab.probe(resolver: E3Lab.rebindingPath, extra: ["--rebinding-name", E3Lab.rebindName])
        print("rebinding: \(p.described)")
        XCTAssertTrue(p.notes.contains { $0.contains("resolver filters private answers (rebinding protection)") }, p.described)
        XCTAssertTrue(p.findings(kind: "dns.answer-mismatch").isEmpty, p.described)
        XCTAssertTrue(p.mediumOrAboveFindings.isEmpty, p.described)
    }
}
