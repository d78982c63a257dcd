import Foundation
import IntegrationSupport
import XCTest

/// Root only. Issue 20 item 8 for real: the route rung names the hop that tampers. A chain
/// client — r1 — r2 — r3 — server with the tamperer on r2 (a forged DNS answer, a reset after the
/// ClientHello, a silent drop of the ClientHello), and the same chain without it (clean control).
/// Truth: the topology (r2's address is 198.19.220.6, r1's 198.19.220.2), tcpdump/tshark on the
/// links either side of r2 (what r2 forged shows on r1–r2 and never on r2–r3) and r2's ruleset
/// counter.
final class HopLocatorLabTests: XCTestCase {
    private let session = LabSession<HopLab>("hop lab", kept: "pcaps, injector and server logs")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String, _ tamperer: HopLab.Tamperer) throws -> HopLab {
        let lab = try session.begin { try HopLab(tools: try ProbeLabTools.require(), tag: tag) }
        try lab.build()
        try lab.startServer()
        try lab.startTamperer(tamperer)
        return lab
    }

    /// The evidence facts (`data`) carrying `tamper_hop`, over all findings of `kind`.
    private func hopFacts(_ r: ProbeReport, kind: String) -> [[String: Any]] {
        r.findings(kind: kind).flatMap { f in
            (f["evidence"] as? [[String: Any]] ?? []).compactMap { $0["data"] as? [String: Any] }.filter { $0["tamper_hop"] != nil }
        }
    }

    /// The ladder's steps, in order, from the report's `ladder …` input.
    private func ladderSteps(_ r: ProbeReport) -> [String] {
        let inputs = r.report["inputs"] as? [[String: Any]] ?? []
        guard let l = inputs.first(where: { ($0["name"] as? String ?? "").hasPrefix("ladder ") }) else { return [] }
        let facts = l["facts"] as? [String: Any] ?? l
        return (1...20).compactMap { facts["step\($0)"] as? String }
    }

    private func assertLocated(_ r: ProbeReport, kind: String, probe: String, tampering: String, file: StaticString = #filePath, line: UInt = #line) {
        let facts = hopFacts(r, kind: kind)
        XCTAssertFalse(facts.isEmpty, "\(kind) carries hop facts: \(r.described)", file: file, line: line)
        for f in facts {
            XCTAssertEqual(f["tamper_hop"] as? String, HopLab.r2, "tamper_hop is r2: \(f)", file: file, line: line)
            XCTAssertEqual(f["last_clean_hop"] as? String, HopLab.r1, "last_clean_hop is r1: \(f)", file: file, line: line)
            XCTAssertEqual(f["ttl"] as? Int, 2, "the tampering first shows at TTL 2: \(f)", file: file, line: line)
            XCTAssertEqual(f["hop_probe"] as? String, probe, file: file, line: line)
            XCTAssertEqual(f["tampering"] as? String, tampering, file: file, line: line)
        }
        let steps = ladderSteps(r)
        let dns = steps.firstIndex { $0.hasPrefix("dns ") }, route = steps.firstIndex { $0.hasPrefix("route BROKEN") },
            tcp = steps.firstIndex { $0.hasPrefix("tcp ") }
        XCTAssertNotNil(route, "a broken route rung: \(steps)", file: file, line: line)
        if let dns, let route, let tcp { XCTAssertTrue(dns < route && route < tcp, "the route rung sits between DNS and TCP: \(steps)", file: file, line: line) }
    }

    func testForgedDNSAnswerIsLocatedAtR2() throws {
        let lab = try makeLab("d", .forgeDNS)
        let caps = try lab.startCaptures()
        let r = try lab.probe()
        for c in caps { try lab.stopCapture(c) }
        print("forged DNS: \(r.described)\nladder: \(ladderSteps(r))")
        // Truth: the forged answer crosses r1–r2 towards the client and never r2–r3: r2 made it.
        let forged = "dns.flags.response == 1 && dns.a == \(HopLab.forgedAddress)"
        XCTAssertGreaterThan(try lab.count("r1-r2.pcap", forged), 0, "lab: r2 forged answers")
        XCTAssertEqual(try lab.count("r2-r3.pcap", forged), 0, "lab: no forged answer behind r2")
        XCTAssertFalse(r.findings(kind: "dns.injection").isEmpty, r.described)
        assertLocated(r, kind: "dns.injection", probe: "dns-query", tampering: "forged-answer")
    }

    func testResetAfterClientHelloIsLocatedAtR2() throws {
        let lab = try makeLab("r", .resetHello)
        let caps = try lab.startCaptures()
        let r = try lab.probe()
        for c in caps { try lab.stopCapture(c) }
        print("reset: \(r.described)\nladder: \(ladderSteps(r))")
        let resets = "tcp.flags.reset == 1 && ip.src == \(HopLab.server) && ip.dst == \(HopLab.client)"
        XCTAssertGreaterThan(try lab.count("r1-r2.pcap", resets), 0, "lab: r2 sent resets")
        XCTAssertEqual(try lab.count("r2-r3.pcap", resets), 0, "lab: the server sent none")
        XCTAssertFalse(r.findings(kind: "tls.reset-after-clienthello").isEmpty, r.described)
        assertLocated(r, kind: "tls.reset-after-clienthello", probe: "client-hello", tampering: "reset")
    }

    func testResetIsLocatedWithoutPrivilege() throws {
        let lab = try makeLab("u", .resetHello)
        let r = try lab.probe(unprivileged: true)
        print("reset, as nobody: \(r.described)\nladder: \(ladderSteps(r))")
        XCTAssertFalse(ladderSteps(r).contains { $0.contains("skipped") }, "no raw socket, nothing skipped: \(ladderSteps(r))")
        assertLocated(r, kind: "tls.reset-after-clienthello", probe: "client-hello", tampering: "reset")
    }

    func testSilentDropIsLocatedAtR2() throws {
        let lab = try makeLab("s", .dropHello)
        let caps = try lab.startCaptures()
        let r = try lab.probe()
        for c in caps { try lab.stopCapture(c) }
        print("silent drop: \(r.described)\nladder: \(ladderSteps(r))")
        let hello = "tls.handshake.extensions_server_name == \"\(HopLab.blockedName)\""
        XCTAssertGreaterThan(try lab.count("r1-r2.pcap", hello), 0, "lab: ClientHellos reach r2")
        XCTAssertEqual(try lab.count("r2-r3.pcap", hello), 0, "lab: none passes r2")
        XCTAssertGreaterThan(try lab.dropCount(), 0, "lab: r2's drop rule counted them")
        XCTAssertFalse(r.findings(kind: "tls.handshake-timeout").isEmpty, r.described)
        assertLocated(r, kind: "tls.handshake-timeout", probe: "client-hello", tampering: "silence")
    }

    func testDroppedSYNIsLocatedAtR2() throws {
        let lab = try makeLab("y", .dropSYN)
        let caps = try lab.startCaptures()
        let r = try lab.probe()
        for c in caps { try lab.stopCapture(c) }
        print("SYN drop: \(r.described)\nladder: \(ladderSteps(r))")
        let syns = "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.dst == \(HopLab.server) && tcp.dstport == 443"
        XCTAssertGreaterThan(try lab.count("r1-r2.pcap", syns), 0, "lab: SYNs reach r2")
        XCTAssertEqual(try lab.count("r2-r3.pcap", syns), 0, "lab: none passes r2")
        XCTAssertGreaterThan(try lab.dropCount(), 0, "lab: r2's drop rule counted them")
        XCTAssertFalse(r.findings(kind: "probe.unreachable").isEmpty, r.described)
        assertLocated(r, kind: "probe.unreachable", probe: "tcp-syn", tampering: "silence")
    }

    func testDroppedSYNOverIPv6IsLocatedAtR2() throws {
        let lab = try session.begin { try HopLab(tools: try ProbeLabTools.require(), tag: "6") }
        try lab.build(ipv6: true)
        try lab.startServer()
        try lab.startTamperer(.dropSYN6)
        let caps = try lab.startCaptures()
        let r = try lab.probe(target: "https://[\(HopLab.server6)]/")
        for c in caps { try lab.stopCapture(c) }
        print("SYN drop, IPv6: \(r.described)\nladder: \(ladderSteps(r))")
        let syns = "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ipv6.dst == \(HopLab.server6) && tcp.dstport == 443"
        XCTAssertGreaterThan(try lab.count("r1-r2.pcap", syns), 0, "lab: SYNs reach r2")
        XCTAssertEqual(try lab.count("r2-r3.pcap", syns), 0, "lab: none passes r2")
        XCTAssertGreaterThan(try lab.dropCount(ipv6: true), 0, "lab: r2's ip6tables rule counted them")
        let facts = hopFacts(r, kind: "probe.unreachable")
        XCTAssertFalse(facts.isEmpty, r.described)
        for f in facts {
            XCTAssertEqual(f["tamper_hop"] as? String, HopLab.r2v6, "\(f)")
            XCTAssertEqual(f["last_clean_hop"] as? String, HopLab.r1v6, "\(f)")
            XCTAssertEqual(f["ttl"] as? Int, 2, "\(f)")
            XCTAssertEqual(f["hop_probe"] as? String, "tcp-syn", "\(f)")
        }
    }

    func testCleanChainHasNoTamperingHop() throws {
        let lab = try makeLab("c", .none)
        let r = try lab.probe(["--route-always"])
        print("clean: \(r.described)\nladder: \(ladderSteps(r))")
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, r.described)
        XCTAssertTrue(r.findings.allSatisfy { f in !(f["evidence"] as? [[String: Any]] ?? []).contains { ($0["data"] as? [String: Any])?["tamper_hop"] != nil } },
                      r.described)
        let steps = ladderSteps(r)
        let routes = steps.filter { $0.hasPrefix("route ") }
        XCTAssertEqual(routes.count, 2, "the DNS query and the ClientHello were walked: \(steps)")
        XCTAssertTrue(routes.allSatisfy { $0.hasPrefix("route ok") && $0.contains("no tampering hop") && $0.contains("at TTL 4") }, "\(routes)")
        XCTAssertTrue(routes.allSatisfy { $0.contains("\(HopLab.r1) → \(HopLab.r2) → \(HopLab.r3)") }, "the walk names the chain: \(routes)")
        XCTAssertEqual(r.status, 0, r.described)
    }
}
