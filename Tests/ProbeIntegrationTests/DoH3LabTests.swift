import Foundation
import IntegrationSupport
import XCTest

/// Root only (skips with the reason otherwise). DoH over HTTP/3 and DDR designations by ALPN `h3`
/// and `doq` in `DoH3Lab` (issue 20 items 1–2), with the built `dnsaudit probe`. Truth comes from the
/// wire (tshark on the client's link), the ruleset (nft counters), dig and `openssl x509 -text`,
/// never from dnsaudit. Needs tshark, dig and a python3 with aioquic (`DOQ_PYTHON`, see DoQLabTests).
final class DoH3LabTests: XCTestCase {
    private let session = LabSession<DoH3Lab>("q3 doh3 lab", kept: "unbound configurations, certificates, server logs, captures")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String) throws -> (DoH3Lab, tshark: String) {
        let lab = try session.begin {
            let tools = try ProbeLabTools.require()
            guard let python = DoQLabTests.aioquicPython() else {
                throw ProbeLabTools.skip("needs a python3 with aioquic (python3 -m venv /work/venv-doq && /work/venv-doq/bin/pip install aioquic)")
            }
            return try DoH3Lab(tools: tools, python: python, tag: tag)
        }
        guard let tshark = Requirements.findTool("tshark") else { throw ProbeLabTools.skip("needs tshark (apt-get install tshark)") }
        try lab.build()
        return (lab, tshark)
    }

    private func input(_ r: ProbeReport, _ name: String) -> [String: Any]? {
        (r.report["inputs"] as? [[String: Any]] ?? []).first { $0["name"] as? String == name }
    }

    private var doh3Input: String { "DNS over HTTP/3 of \(DoH3Lab.goodResolver)" }

    // MARK: - Clean control: DoH/3 served, both designations verify

    func testDoH3ReachableAndDesignationsVerified() throws {
        let (lab, tshark) = try makeLab("a")
        let dig = try lab.digDesignation(DoH3Lab.goodResolver)
        XCTAssertTrue(dig.contains("alpn=\"h3\"") || dig.contains("alpn=h3"), "lab: dig sees the h3 designation: \(dig)")
        XCTAssertTrue(dig.contains("alpn=\"doq\"") || dig.contains("alpn=doq"), "lab: dig sees the doq designation: \(dig)")
        let cert = try lab.certificateText("good")
        XCTAssertTrue(cert.contains("IP Address:\(DoH3Lab.goodResolver)"), cert)

        let pcap = lab.file("a.pcap")
        let r = try lab.probe(resolver: DoH3Lab.goodResolver, references: [DoH3Lab.h3Reference, "udp://\(DoH3Lab.goodResolver)"], capture: pcap)
        print("clean: \(r.described)")
        let wire = try lab.udp443(pcap, tshark: tshark)
        XCTAssertTrue(wire.contains { $0.hasPrefix("\(DoH3Lab.goodResolver)\t\(DoH3Lab.clientAddress)") },
                      "tshark: the HTTP/3 server answers on UDP 443: \(wire)")

        let ref = input(r, DoH3Lab.h3Reference)
        XCTAssertEqual(ref?["reachable"] as? String, "yes", "the h3:// reference is usable: \(ProbeReport.json(ref ?? [:]))")
        XCTAssertEqual(ref?["transport"] as? String, "doh3")
        let doh3 = input(r, doh3Input)
        XCTAssertEqual(doh3?["answers"] as? String, "yes (\(DoH3Lab.checkName) A → NOERROR)", "\(ProbeReport.json(doh3 ?? [:]))")
        XCTAssertEqual(input(r, "DNS over QUIC of \(DoH3Lab.goodResolver)")?["answers"] as? String, "yes (\(DoH3Lab.checkName) A → NOERROR)",
                       "the doq designation is checked as DoQ: \(r.described)")
        XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty, r.described)
        XCTAssertTrue(r.findings(kind: "encrypted-dns.ddr-unverified").isEmpty, r.described)
        for (name, service) in [(DoH3Lab.names("good").h3, "DoH3"), (DoH3Lab.names("good").doq, "DoQ")] {
            XCTAssertTrue(r.notes.contains { $0.hasPrefix("DDR: \(DoH3Lab.goodResolver) designates \(name) (\(service) at") && $0.contains("verified (") },
                          "\(service) designation verified over QUIC: \(r.described)")
        }
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, r.described)
        XCTAssertEqual(r.status, 0, r.described)
    }

    // MARK: - UDP 443 dropped on the path while TCP 443 and plain DNS work

    func testDroppedUDP443IsBlocked() throws {
        let (lab, tshark) = try makeLab("b")
        try lab.dropUDP(443)
        let pcap = lab.file("b.pcap")
        let r = try lab.probe(resolver: DoH3Lab.goodResolver, references: [DoH3Lab.h3Reference, "udp://\(DoH3Lab.goodResolver)"], capture: pcap)
        print("dropped: \(r.described)")
        XCTAssertGreaterThan(try lab.dropCounter(), 0, "nft: the services side dropped UDP 443")
        let wire = try lab.udp443(pcap, tshark: tshark)
        XCTAssertTrue(wire.contains { $0.hasPrefix("\(DoH3Lab.clientAddress)\t\(DoH3Lab.goodResolver)\t443") },
                      "tshark: Initials to UDP 443 left the client: \(wire)")
        XCTAssertFalse(wire.contains { $0.hasPrefix("\(DoH3Lab.goodResolver)\t") }, "tshark: nothing came back on UDP 443: \(wire)")

        let blocked = r.findings(kind: "encrypted-dns.blocked")
        XCTAssertEqual(blocked.count, 1, "one encrypted-dns.blocked, for DoH over HTTP/3\n\(r.described)")
        if let f = blocked.first {
            let s = ProbeReport.subject(f)
            XCTAssertEqual(s["server"] as? String, DoH3Lab.goodResolver)
            XCTAssertEqual((s["port"] as? NSNumber)?.intValue, 443)
            XCTAssertEqual(s["transport"] as? String, "udp")
            XCTAssertEqual(f["severity"] as? String, "high", "dropped while plain DNS works, configured: high\n\(r.described)")
            let title = f["title"] as? String ?? ""
            XCTAssertTrue(title.contains("DNS over HTTP/3") && title.contains("QUIC Initial"), title)
            let text = ProbeReport.text(f)
            XCTAssertTrue(text.contains("TCP to \(DoH3Lab.goodResolver):443 connects"), "the evidence says TCP 443 works: \(text)")
        }
        let ref = input(r, DoH3Lab.h3Reference)
        XCTAssertEqual(ref?["reachable"] as? String, "no: timed out", "the h3:// reference is unusable: \(ProbeReport.json(ref ?? [:]))")
        // The DoQ designation on UDP 853 still answers; its DDR verification still passes.
        XCTAssertEqual(input(r, "DNS over QUIC of \(DoH3Lab.goodResolver)")?["answers"] as? String, "yes (\(DoH3Lab.checkName) A → NOERROR)", r.described)
        XCTAssertTrue(r.findings(kind: "encrypted-dns.ddr-unverified").isEmpty, r.described)
        XCTAssertEqual(r.status, 1, r.described)
    }

    // MARK: - DDR designations (h3, doq) whose certificate lacks the plain resolver's address

    func testWrongCertificateDesignationsUnverified() throws {
        let (lab, _) = try makeLab("c")
        let dig = try lab.digDesignation(DoH3Lab.badResolver)
        XCTAssertTrue(dig.contains(DoH3Lab.names("bad").h3) && dig.contains(DoH3Lab.names("bad").doq), "lab: dig sees both designations: \(dig)")
        let cert = try lab.certificateText("bad")
        XCTAssertTrue(cert.contains("DNS:\(DoH3Lab.names("bad").h3)") && !cert.contains("IP Address:"), cert)

        let r = try lab.probe(resolver: DoH3Lab.badResolver, references: ["udp://\(DoH3Lab.badResolver)"], capture: lab.file("c.pcap"))
        print("wrong certificate: \(r.described)")
        let found = r.findings(kind: "encrypted-dns.ddr-unverified")
        XCTAssertEqual(found.count, 2, r.described)
        var services: Set<String> = []
        for f in found {
            let s = ProbeReport.subject(f)
            XCTAssertEqual(f["severity"] as? String, "medium")
            XCTAssertEqual(s["resolver"] as? String, DoH3Lab.badResolver)
            XCTAssertEqual(s["reason"] as? String, "address-not-covered")
            services.insert(s["service"] as? String ?? "")
        }
        XCTAssertEqual(services, ["doh3", "doq"], r.described)
        XCTAssertEqual(r.status, 1, r.described)
    }
}
