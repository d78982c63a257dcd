import Foundation
import IntegrationSupport
import XCTest

/// Root only. Issue 20 item 10 on the wire: 30 client queries through a fixed-port forwarder
/// (dnsmasq `query-port=`) and through a randomising one (unbound), both sides captured with
/// tcpdump (the client side on the veth, the upstream side on the services loopback), then
/// `dnsaudit analyze` on the two captures. Truth from the wire: tshark counts the forwarders'
/// upstream source ports. A python raw-socket sender sprays guessed-id responses at the fixed-port
/// forwarder's outstanding query: one `dns.poisoning-attempt`, no unsolicited responses.
final class PoisoningExposureLabTests: XCTestCase {
    private let session = LabSession<HXLab>("hx lab")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    /// Distinct UDP source ports of queries from `src` to port 53 in `file`, by tshark (nil without it).
    private func tsharkSourcePorts(_ file: URL, from src: String) throws -> Set<Int>? {
        guard let tshark = Requirements.findTool("tshark", preferring: ["/usr/bin"]) else { return nil }
        let r = try runBounded(tshark, ["-r", file.path, "-n", "-Y", "ip.src == \(src) && udp.dstport == 53 && dns.flags.response == 0",
                                        "-T", "fields", "-e", "udp.srcport"], timeout: 60)
        return Set(r.stdout.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
    }

    func testFixedPortForwarderIsExposedAndTheRandomisingOneIsNot() throws {
        let lab = try session.begin { try HXLab(tools: try ProbeLabTools.require(), tag: "p") }
        let tools = lab.tools
        try lab.build()
        try lab.startForwarders()
        let down = lab.file("client-side.pcap"), up = lab.file("upstream-side.pcap")
        let t1 = try lab.startCapture(down, in: lab.servicesNS, interface: lab.servicesIf, tcpdump: tools.tcpdump)
        let t2 = try lab.startCapture(up, in: lab.servicesNS, interface: "lo", tcpdump: tools.tcpdump)
        var answered = [HXLab.fixedPortForwarder: 0, HXLab.randomForwarder: 0]
        for i in 0..<30 {
            for fwd in [HXLab.fixedPortForwarder, HXLab.randomForwarder] {
                // Names that do not exist (a fresh upstream query each), NXDOMAIN from the lab's unbound.
                if let a = try? lab.query(fwd, "q\(i)-\(fwd.split(separator: ".").last!).\(HXLab.zone)"), a.message.rcode == 3 { answered[fwd]! += 1 }
            }
        }
        // A spray at the fixed-port forwarder's upstream query for bank.hx.test: 20 responses with
        // guessed ids, claiming to come from the upstream (raw socket, IP TTL 250).
        _ = try? lab.query(HXLab.fixedPortForwarder, "bank.\(HXLab.zone)")
        try lab.spray(from: HXLab.references[0], to: HXLab.fixedPortForwarder, port: HXLab.fixedPort, name: "bank.\(HXLab.zone)", count: 20)
        try lab.stopCapture(t1)
        try lab.stopCapture(t2)
        XCTAssertGreaterThanOrEqual(answered[HXLab.fixedPortForwarder]!, 25, "lab: the dnsmasq forwarder relays")
        XCTAssertGreaterThanOrEqual(answered[HXLab.randomForwarder]!, 25, "lab: the unbound forwarder relays")
        if let ports = try tsharkSourcePorts(up, from: HXLab.fixedPortForwarder) {
            XCTAssertEqual(ports, [HXLab.fixedPort], "truth: dnsmasq's upstream queries all leave from port \(HXLab.fixedPort)")
        }
        if let ports = try tsharkSourcePorts(up, from: HXLab.randomForwarder) {
            XCTAssertGreaterThanOrEqual(ports.count, 20, "truth: unbound's upstream ports vary")
        }

        // Truth: the sprayed responses the capture holds (tcpdump on lo does not always keep all 20).
        var sprayedIDs: Set<String>?
        if let tshark = Requirements.findTool("tshark", preferring: ["/usr/bin"]) {
            let sprayed = try runBounded(tshark, ["-r", up.path, "-n", "-Y", "ip.ttl == 250 && udp.dstport == \(HXLab.fixedPort) && dns.flags.response == 1",
                                                  "-T", "fields", "-e", "dns.id"], timeout: 60)
            sprayedIDs = Set(sprayed.stdout.split(separator: "\n").map(String.init))
            XCTAssertGreaterThanOrEqual(sprayedIDs?.count ?? 0, 3, "truth: the spray is on the wire")
        }
        let r = try lab.analyze([down, up])
        print("poisoning lab: \(r.described)")
        let exposure = r.findings(kind: "dns.poisoning-exposure")
        XCTAssertEqual(exposure.compactMap { ProbeReport.subject($0)["resolver"] as? String }, [HXLab.fixedPortForwarder],
                       "exactly the fixed-port forwarder\n\(r.described)")
        if let f = exposure.first {
            XCTAssertTrue(["medium", "high"].contains(f["severity"] as? String ?? ""), r.described)
            XCTAssertTrue(ProbeReport.text(f).contains("\"distinct_source_ports\":1"), ProbeReport.text(f))
        }
        let attempts = r.findings(kind: "dns.poisoning-attempt")
        XCTAssertEqual(attempts.count, 1, "one spray, one attempt\n\(r.described)")
        if let f = attempts.first {
            XCTAssertEqual(ProbeReport.subject(f)["client"] as? String, "\(HXLab.fixedPortForwarder):\(HXLab.fixedPort)", r.described)
            XCTAssertEqual(ProbeReport.subject(f)["qname"] as? String, "bank.\(HXLab.zone).", r.described)
            if let ids = sprayedIDs {
                XCTAssertTrue((f["title"] as? String ?? "").hasPrefix("\(ids.count) responses"), "as many guessed ids as tshark sees: \(ids.count)\n\(r.described)")
            }
        }
        // The sprayed responses are the attempt, not unsolicited responses; the clean traffic has none.
        XCTAssertTrue(r.findings(kind: "dns.unsolicited-response").filter { $0["severity"] as? String != "info" }.isEmpty, r.described)
    }
}
