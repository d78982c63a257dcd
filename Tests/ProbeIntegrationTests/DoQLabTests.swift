import Foundation
import IntegrationSupport
import XCTest

/// Root only. DNS over QUIC (RFC 9250) in the probe lab (`ProbeLab`: client — router — services
/// namespaces, no route out): an aioquic DoQ server (Tests/Fixtures/doq/doq_server.py, answering
/// lab.test only, refusing the rest) on UDP 198.18.10.53:8853 beside unbound's Do53/DoT/DoH, and the
/// built `dnsaudit probe` with the lab's own `quic://` reference on that address. Truth comes from
/// the router's nft counters and tshark on the client's wire, never from dnsaudit.
///
/// Needs what `ProbeLabTests` needs, plus tshark and a python3 with aioquic (`DOQ_PYTHON`, else
/// /work/venv-doq/bin/python, else python3; scripts/test.sh installs it): skipped otherwise.
final class DoQLabTests: XCTestCase {
    private var lab: ProbeLab?
    /// The lab's unbound also holds UDP 853 on the resolver's address (its DoT interface), so the
    /// DoQ server listens on UDP 8853 there: a configured `quic://` endpoint on the same address.
    static let doqPort = 8853
    static let doqReference = "quic://\(ProbeLab.resolverAddress):\(doqPort)#\(ProbeLab.resolverTLSName)"

    override func tearDown() {
        if let lab {
            lab.finish(after: testRun, keptMessage: "DoQ lab \(lab.tag): files kept for inspection in \(lab.dir.path)")
        }
        lab = nil
        super.tearDown()
    }

    /// A python3 that can import aioquic, or nil.
    static func aioquicPython() -> String? {
        var candidates: [String] = []
        if let p = ProcessInfo.processInfo.environment["DOQ_PYTHON"], !p.isEmpty { candidates.append(p) }
        candidates.append("/work/venv-doq/bin/python")
        if let p = Requirements.findTool("python3", preferring: ["/usr/bin"]) { candidates.append(p) }
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
            if let r = try? runBounded(c, ["-c", "import aioquic"], timeout: 20), r.status == 0 { return c }
        }
        return nil
    }

    static var fixture: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/doq/doq_server.py")
    }

    private func makeLab(_ tag: String) throws -> (ProbeLab, ProbeLabPKI, tshark: String) {
        let tools = try ProbeLabTools.require()
        guard let tshark = Requirements.findTool("tshark") else { throw ProbeLabTools.skip("needs tshark (apt-get install tshark)") }
        guard let python = Self.aioquicPython() else {
            throw ProbeLabTools.skip("needs a python3 with aioquic (python3 -m venv /work/venv-doq && /work/venv-doq/bin/pip install aioquic)")
        }
        let lab = try ProbeLab(tools: tools, tag: tag)
        self.lab = lab
        try lab.build()
        let pki = try ProbeLabPKI.make(in: lab.dir, openssl: tools.openssl)
        try lab.startServices(pki)
        let doq = try lab.spawn(lab.servicesNS, name: "doq-server",
                                [python, Self.fixture.path, ProbeLab.resolverAddress, "\(Self.doqPort)", pki.resolverCert.path, pki.resolverKey.path,
                                 ProbeLab.zone, ProbeLab.webAddress])
        guard waitUntil(timeout: 20, poll: 0.05, { !doq.isRunning || doq.output.contains("ready") }), doq.output.contains("ready"), doq.isRunning else {
            throw LabError("the DoQ server did not start: \(doq.output)")
        }
        return (lab, pki, tshark)
    }

    /// `dnsaudit probe` (no web target) with the lab's DoQ reference, captured on the client's wire.
    private func probe(_ lab: ProbeLab, _ pki: ProbeLabPKI, tshark: String, alsoReferences: [String] = []) throws -> (ProbeReport, wire: [String]) {
        let pcap = lab.file("client-\(UUID().uuidString.prefix(6)).pcap")
        let cap = try lab.startCapture(pcap)
        let r = try lab.dnsaudit(ProbeLab.probeArguments(targets: [], extraReferences: [Self.doqReference] + alsoReferences, caFile: pki.caCert))
        try lab.stopCapture(cap)
        print("dnsaudit probe --reference \(Self.doqReference): \(r.described)")
        // One line per UDP/853 or ICMP packet: source, destination, protocol fields.
        let out = try runBounded(tshark, ["-r", pcap.path, "-n", "-Y", "udp.port == \(Self.doqPort) || icmp",
                                  "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "udp.dstport", "-e", "quic.long.packet_type",
                                  "-e", "icmp.type", "-e", "icmp.code"], timeout: 60)
        let lines = out.stdout.split(separator: "\n").map(String.init)
        return (r, lines)
    }

    private func doqInput(_ r: ProbeReport) -> [String: Any]? {
        (r.report["inputs"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "DNS over QUIC of \(ProbeLab.resolverAddress)" }
    }

    /// The router's counter for the one rule in chain `forward` of table `dnsaudit_lab`.
    private func routerCounter(_ lab: ProbeLab) throws -> Int {
        let listing = try lab.exec(lab.routerNS, [lab.programs.nft, "list", "chain", "ip", "dnsaudit_lab", "forward"]).stdout
        guard let m = listing.range(of: #"counter packets [0-9]+"#, options: .regularExpression) else { return -1 }
        return Int(listing[m].split(separator: " ").last ?? "") ?? -1
    }

    // MARK: - (a) DoQ served: reachable, no finding

    func testDoQServedIsReachable() throws {
        let (lab, pki, tshark) = try makeLab("w")
        // Also DoQ on UDP 853, where unbound (not a QUIC server) answers: the server's problem, no finding.
        let notQUIC = "quic://\(ProbeLab.resolverAddress)#\(ProbeLab.resolverTLSName)"
        let (r, wire) = try probe(lab, pki, tshark: tshark, alsoReferences: [notQUIC])
        XCTAssertTrue(r.notes.contains { $0.contains("\(ProbeLab.resolverAddress):853: answers, but not with QUIC") }, "\(r.described)")
        // The wire: QUIC from the server's UDP 853 back to the client.
        XCTAssertTrue(wire.contains { $0.hasPrefix("\(ProbeLab.resolverAddress)\t\(ProbeLab.clientAddress)") },
                      "tshark: the DoQ server answers on the wire: \(wire)")
        XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty, "\(r.described)")
        XCTAssertEqual(r.status, 0, "\(r.described)")
        let input = doqInput(r)
        XCTAssertEqual(input?["answers"] as? String, "yes (\(ProbeLab.webName) A → NOERROR)", "\(ProbeReport.json(input ?? [:]))")
        let ref = (r.report["inputs"] as? [[String: Any]] ?? []).first { $0["name"] as? String == Self.doqReference }
        XCTAssertEqual(ref?["reachable"] as? String, "yes", "the DoQ reference is usable: \(ProbeReport.json(ref ?? [:]))")
    }

    // MARK: - (b) UDP 853 dropped on the path while plain DNS works

    func testDroppedDoQIsBlocked() throws {
        let (lab, pki, tshark) = try makeLab("x")
        try lab.routerRules("""
        table ip dnsaudit_lab {
            chain forward {
                type filter hook forward priority filter; policy accept;
                udp dport \(Self.doqPort) counter drop
            }
        }

        """)
        // Plain DNS still works through the router.
        let plain = try NamespaceDNS.query(in: lab.clientNS, server: ProbeLab.resolverAddress, name: ProbeLab.webName)
        XCTAssertEqual(plain.addresses, [ProbeLab.webAddress], "lab: plain DNS must work")
        let (r, wire) = try probe(lab, pki, tshark: tshark)
        XCTAssertGreaterThan(try routerCounter(lab), 0, "nft: the router dropped the client's UDP \(Self.doqPort)")
        XCTAssertTrue(wire.contains { $0.hasPrefix("\(ProbeLab.clientAddress)\t\(ProbeLab.resolverAddress)\t\(Self.doqPort)") },
                      "tshark: Initials to the DoQ port left the client: \(wire)")
        XCTAssertFalse(wire.contains { $0.hasPrefix("\(ProbeLab.resolverAddress)\t") }, "tshark: nothing came back: \(wire)")

        let blocked = r.findings(kind: "encrypted-dns.blocked")
        XCTAssertEqual(blocked.count, 1, "encrypted-dns.blocked for DoQ\n\(r.described)")
        if let f = blocked.first {
            let s = ProbeReport.subject(f)
            XCTAssertEqual(s["server"] as? String, ProbeLab.resolverAddress)
            XCTAssertEqual((s["port"] as? NSNumber)?.intValue, Self.doqPort)
            XCTAssertEqual(s["transport"] as? String, "udp")
            XCTAssertEqual(f["severity"] as? String, "high", "dropped while plain DNS works: high\n\(r.described)")
            let title = f["title"] as? String ?? ""
            XCTAssertTrue(title.contains("DNS over QUIC") && title.contains("QUIC Initial"), title)
        }
        XCTAssertEqual(r.status, 1, "\(r.described)")
    }

    // MARK: - (c) UDP 853 rejected with ICMP port unreachable

    func testRejectedDoQIsRefused() throws {
        let (lab, pki, tshark) = try makeLab("y")
        try lab.routerRules("""
        table ip dnsaudit_lab {
            chain forward {
                type filter hook forward priority filter; policy accept;
                udp dport \(Self.doqPort) counter reject with icmp type port-unreachable
            }
        }

        """)
        let (r, wire) = try probe(lab, pki, tshark: tshark)
        XCTAssertGreaterThan(try routerCounter(lab), 0, "nft: the router rejected the client's UDP \(Self.doqPort)")
        XCTAssertTrue(wire.contains { $0.hasSuffix("\t3\t3") }, "tshark: ICMP port unreachable reached the client: \(wire)")
        let blocked = r.findings(kind: "encrypted-dns.blocked")
        XCTAssertEqual(blocked.count, 1, "encrypted-dns.blocked (refused) for DoQ\n\(r.described)")
        if let f = blocked.first {
            let title = f["title"] as? String ?? ""
            XCTAssertTrue(title.contains("DNS over QUIC") && title.contains("refused (ICMP port unreachable)"), title)
            XCTAssertEqual(f["severity"] as? String, "medium", "refused while plain DNS works, configured: medium\n\(r.described)")
        }
        XCTAssertEqual(doqInput(r)?["quic"] as? String, "refused (ICMP port unreachable)", "\(r.described)")
    }
}
