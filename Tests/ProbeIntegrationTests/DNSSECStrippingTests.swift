import DNSWire
import Foundation
import IntegrationSupport
import XCTest

/// Root only. Issue 20 item 5 for real: a signed zone, unbound validating it, and a forwarder
/// that strips RRSIGs and sets AD without validating (tampering) vs the honest validator (clean).
/// Truth from the servers, asked directly with DO set.
final class DNSSECStrippingTests: XCTestCase {
    private let session = LabSession<HXLab>("hx lab")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String) throws -> HXLab {
        let lab = try session.begin { try HXLab(tools: try ProbeLabTools.require(), tag: tag) }
        try lab.build()
        try lab.startDNSSEC()
        return lab
    }

    private func truth(_ lab: HXLab, _ server: String, _ name: String) throws -> (rcode: UInt16, ad: Bool, rrsigs: Int) {
        let q = try DNSQuery.make(id: UInt16.random(in: 1...0xFFFF), name: name, type: 1, edns: (udpSize: 1232, dnssecOK: true, requestNSID: false))
        let bytes = try NamespaceThread.run(in: lab.clientNS, timeout: 10) { try LabDNSExchange.exchange(server: server, query: q, timeout: 3) }
        guard case .success(let m) = DNSMessage.parse(bytes) else { throw LabError("unparseable answer from \(server)") }
        return (m.rcode, m.ad, m.answers.filter { $0.type == 46 }.count)
    }

    func testStrippingForwarderIsFound() throws {
        let lab = try makeLab("s")
        let v = try truth(lab, HXLab.validator, HXLab.signedName)
        XCTAssertTrue(v.rcode == 0 && v.ad && v.rrsigs > 0, "lab: the validator validates \(HXLab.signedName): \(v)")
        XCTAssertEqual(try truth(lab, HXLab.validator, HXLab.brokenName).rcode, 2, "lab: the validator SERVFAILs the broken name")
        let s = try truth(lab, HXLab.stripper, HXLab.signedName)
        XCTAssertTrue(s.rcode == 0 && s.ad && s.rrsigs == 0, "lab: the stripper drops RRSIGs and sets AD: \(s)")
        let b = try truth(lab, HXLab.stripper, HXLab.brokenName)
        XCTAssertTrue(b.rcode == 0 && b.ad, "lab: the stripper passes the broken name with AD: \(b)")

        let pcap = lab.file("stripper.pcap")
        let t = try lab.startCapture(pcap, in: lab.clientNS, interface: lab.clientIf, tcpdump: lab.tools.tcpdump)
        let r = try lab.probeDNSSEC(resolver: HXLab.stripper)
        try lab.stopCapture(t)
        print("stripper: \(r.described)")
        let stripped = r.findings(kind: "dns.dnssec-stripped")
        XCTAssertEqual(Set(stripped.compactMap { ProbeReport.subject($0)["reason"] as? String }), ["ad-without-rrsig", "forged-ad"], r.described)
        XCTAssertTrue(stripped.allSatisfy { $0["severity"] as? String == "high" }, r.described)
        XCTAssertEqual(r.status, 1, r.described)

        // The same in the capture of that probe: AD with DO echoed and no RRSIG.
        let a = try lab.analyze([pcap])
        print("stripper capture: \(a.described)")
        let captured = a.findings(kind: "dns.dnssec-stripped")
        XCTAssertTrue(captured.contains { ProbeReport.subject($0)["qname"] as? String == HXLab.signedName
            && ProbeReport.subject($0)["resolver"] as? String == HXLab.stripper }, a.described)
    }

    func testHonestValidatorIsClean() throws {
        let lab = try makeLab("v")
        let pcap = lab.file("validator.pcap")
        let t = try lab.startCapture(pcap, in: lab.clientNS, interface: lab.clientIf, tcpdump: lab.tools.tcpdump)
        let r = try lab.probeDNSSEC(resolver: HXLab.validator)
        try lab.stopCapture(t)
        print("validator: \(r.described)")
        let a = try lab.analyze([pcap])
        print("validator capture: \(a.described)")
        XCTAssertTrue(a.findings(kind: "dns.dnssec-stripped").isEmpty, a.described)
        XCTAssertTrue(r.findings(kind: "dns.dnssec-stripped").isEmpty, r.described)
        XCTAssertTrue(r.findings.filter { ProbeReport.subject($0)["reason"] as? String == "dnssec-not-validated" }.isEmpty, r.described)
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, r.described)
        XCTAssertTrue(r.raw.contains("DNSSEC stripping via \(HXLab.validator)"), "the check ran: \(r.raw.prefix(1500))")
    }
}
