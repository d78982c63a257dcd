import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Root only. Each test builds its own client — router — services namespaces (see `ProbeLab`),
/// with a "public" unbound (Do53 / DoT / DoH, identity ref-1.lab) at 198.18.10.53, a rogue
/// dnsmasq at 198.18.20.53 and a web server for www.lab.test at 198.18.50.10; the router then
/// hijacks, blocks or intercepts, and the built `dnsaudit probe` / `analyze --reference` runs in
/// the client namespace against the lab's own references only.
///
/// Needs: root, `ip` and `ss` (iproute2), `nft`, `unbound`, `dnsmasq`, `openssl`, `tcpdump`
/// (and `python3` for the hostile-reference test). Without them the tests are skipped, with the
/// reason printed.
final class ProbeLabTests: XCTestCase {
    private let session = LabSession<ProbeLab>("probe lab", kept: "configs, server logs, captures, certificates")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    /// Tools (or skip), a built topology, the PKI and the services. `tag` is one letter, unique per test.
    private func makeLab(_ tag: String) throws -> (ProbeLab, ProbeLabPKI) {
        try ProbeLab.make(tag, in: session)
    }

    private func probe(_ lab: ProbeLab, _ pki: ProbeLabPKI, targets: [String] = [ProbeLab.webName],
                       extraReferences: [String] = []) throws -> ProbeReport {
        let r = try lab.dnsaudit(ProbeLab.probeArguments(targets: targets, extraReferences: extraReferences, caFile: pki.caCert))
        print("dnsaudit probe \((targets + extraReferences).joined(separator: " ")): \(r.described)")
        return r
    }

    /// The lab's own sanity: what a plain query to the public resolver's address returns now.
    private func plainAnswer(_ lab: ProbeLab, _ name: String, tcp: Bool = false) throws -> NamespaceDNS.Answer {
        try NamespaceDNS.query(in: lab.clientNS, server: ProbeLab.resolverAddress, name: name, tcp: tcp)
    }

    private func ladderNote(_ r: ProbeReport, _ target: String) -> String? {
        r.notes.first { $0.hasPrefix(target + ": ") }
    }

    // MARK: - 1. A clean path

    func testCleanPathHasNoFinding() throws {
        let (lab, pki) = try makeLab("a")
        let a = try plainAnswer(lab, ProbeLab.webName)
        XCTAssertEqual(a.addresses, [ProbeLab.webAddress], "lab: unbound should answer www.lab.test itself")

        let r = try probe(lab, pki)
        XCTAssertEqual(r.status, 0, "a clean path: exit 0\n\(r.described)")
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, "a clean path: no medium+ finding\n\(r.described)")
        XCTAssertTrue(r.findings.filter { ($0["kind"] as? String ?? "").hasPrefix("dns.") }.isEmpty, "no dns.* finding at all\n\(r.described)")
        XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty, "\(r.described)")
        XCTAssertFalse(r.notes.contains { $0.contains("unavailable") }, "both lab references must be usable\n\(r.described)")
        let note = ladderNote(r, ProbeLab.webName)
        XCTAssertNotNil(note, "a ladder note for www.lab.test\n\(r.described)")
        if let note {
            XCTAssertTrue(note.contains("reachable"), "the ladder reaches the end: \(note)")
            XCTAssertTrue(note.contains("certificate ok") && note.contains("http ok"), "TLS with the lab CA and HTTP work: \(note)")
            XCTAssertFalse(note.contains("BROKEN"), note)
        }
        // Identity over port 53 and over DoT both say ref-1.lab.
        XCTAssertTrue(r.raw.contains("id.server=\\\"\(ProbeLab.resolverIdentity)\\\""), "the identity answers are recorded: \(r.raw.prefix(2000))")
    }

    // MARK: - 2. The router answers plain DNS with a rogue resolver

    func testDNSHijackIsFound() throws {
        let (lab, pki) = try makeLab("b")
        try lab.routerRules(ProbeLab.hijackRules)
        // The lab does what it should: plain DNS (UDP and TCP) to 198.18.10.53 gets the rogue's answers.
        XCTAssertEqual(try plainAnswer(lab, ProbeLab.webName).addresses, [ProbeLab.rogueWebAnswer], "lab: the UDP hijack is not in place")
        XCTAssertEqual(try plainAnswer(lab, ProbeLab.webName, tcp: true).addresses, [ProbeLab.rogueWebAnswer], "lab: the TCP hijack is not in place")

        let r = try probe(lab, pki)
        XCTAssertEqual(r.status, 1, "a hijacked path: exit 1\n\(r.described)")

        let identity = r.findings(kind: "dns.resolver-identity-mismatch")
        XCTAssertEqual(identity.count, 1, "one identity mismatch for 198.18.10.53\n\(r.described)")
        if let f = identity.first {
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, ProbeLab.resolverAddress, "\(r.described)")
            let text = ProbeReport.text(f)
            XCTAssertTrue(text.contains("dnsmasq"), "the evidence names what answers over port 53: \(text)")
            XCTAssertTrue(text.contains(ProbeLab.resolverIdentity), "and what answers over DoT: \(text)")
        }

        let mismatch = r.findings(kind: "dns.answer-mismatch").filter { ProbeReport.subject($0)["qname"] as? String == ProbeLab.webName }
        XCTAssertEqual(mismatch.count, 1, "dns.answer-mismatch for www.lab.test\n\(r.described)")
        if let f = mismatch.first {
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, ProbeLab.resolverAddress)
            XCTAssertTrue(ProbeReport.mediumOrAbove.contains(f["severity"] as? String ?? ""), "\(r.described)")
            let text = ProbeReport.text(f)
            XCTAssertTrue(text.contains(ProbeLab.rogueWebAnswer) && text.contains(ProbeLab.webAddress), "both answers in the finding: \(text)")
        }

        let rewrite = r.findings(kind: "dns.nxdomain-rewrite")
        XCTAssertEqual(rewrite.count, 1, "dns.nxdomain-rewrite for the canary\n\(r.described)")
        if let f = rewrite.first {
            let qname = ProbeReport.subject(f)["qname"] as? String ?? ""
            XCTAssertTrue(qname.hasSuffix("." + ProbeLab.zone) && qname != ProbeLab.webName, "the canary is a random name under lab.test: \(qname)")
            XCTAssertTrue(ProbeReport.text(f).contains(ProbeLab.rogueWildcardAnswer), "\(r.described)")
            // The canary's input record keeps its own name and says which name was asked (a fact
            // called "name" would be a second "name" key in the same JSON object).
            let inputs = r.report["inputs"] as? [[String: Any]] ?? []
            let canary = inputs.first { $0["name"] as? String == "NXDOMAIN canary via \(ProbeLab.resolverAddress)" }
            XCTAssertNotNil(canary, "an input record for the canary: \(ProbeReport.json(inputs))")
            XCTAssertEqual(canary?["qname"] as? String, qname, "the canary input names the canary: \(ProbeReport.json(inputs))")
        }

        // The ladder names DNS as the first broken layer.
        let note = ladderNote(r, ProbeLab.webName)
        XCTAssertNotNil(note, "a ladder note for www.lab.test\n\(r.described)")
        if let note {
            XCTAssertTrue(note.hasPrefix("\(ProbeLab.webName): dns BROKEN"), "DNS is the first rung, and broken: \(note)")
            XCTAssertTrue(note.contains("DNS is the broken layer"), note)
        }
        // No false findings from the rest of the lab.
        XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty, "DoT and DoH are not blocked\n\(r.described)")
        XCTAssertTrue(r.findings(kind: "tls.untrusted-certificate").isEmpty, "\(r.described)")
    }

    // MARK: - 3. The router drops DoT

    func testBlockedDoTIsFound() throws {
        let (lab, pki) = try makeLab("c")
        try lab.routerRules("""
        table ip dnsaudit_lab {
            chain forward {
                type filter hook forward priority filter; policy accept;
                tcp dport 853 drop
            }
        }

        """)
        let r = try probe(lab, pki)
        XCTAssertEqual(r.status, 1, "blocked DoT is a medium finding: exit 1\n\(r.described)")
        let blocked = r.findings(kind: "encrypted-dns.blocked")
        XCTAssertEqual(blocked.count, 1, "encrypted-dns.blocked for the tls:// reference\n\(r.described)")
        if let f = blocked.first {
            let s = ProbeReport.subject(f)
            XCTAssertEqual(s["server"] as? String, ProbeLab.resolverAddress, "\(r.described)")
            XCTAssertEqual((s["port"] as? NSNumber)?.intValue, 853, "\(r.described)")
        }
        let others = r.mediumOrAboveFindings.filter { $0["kind"] as? String != "encrypted-dns.blocked" }
        XCTAssertTrue(others.isEmpty, "no other medium+ finding\n\(r.described)")
        XCTAssertTrue(r.findings.filter { ($0["kind"] as? String ?? "").hasPrefix("dns.") }.isEmpty, "no dns.* finding\n\(r.described)")
        if let note = ladderNote(r, ProbeLab.webName) {
            XCTAssertTrue(note.contains("reachable"), "the web ladder is unaffected: \(note)")
        } else {
            XCTFail("a ladder note for www.lab.test\n\(r.described)")
        }
    }

    // MARK: - 4. The router intercepts TLS to the web server

    func testTLSInterceptionIsFound() throws {
        let (lab, pki) = try makeLab("d")
        try lab.startInterception(pki)
        let r = try probe(lab, pki)
        XCTAssertEqual(r.status, 1, "interception: exit 1\n\(r.described)")
        let untrusted = r.findings(kind: "tls.untrusted-certificate")
        XCTAssertEqual(untrusted.count, 1, "tls.untrusted-certificate for www.lab.test\n\(r.described)")
        if let f = untrusted.first {
            let s = ProbeReport.subject(f)
            XCTAssertEqual(s["sni"] as? String, ProbeLab.webName, "\(r.described)")
            XCTAssertEqual(s["server"] as? String, ProbeLab.webAddress, "\(r.described)")
            XCTAssertTrue((f["title"] as? String ?? "").contains(ProbeLabPKI.interceptionCAName), "the title names the interception CA\n\(r.described)")
            XCTAssertTrue(ProbeReport.mediumOrAbove.contains(f["severity"] as? String ?? ""), "\(r.described)")
        }
        XCTAssertTrue(r.findings.filter { ($0["kind"] as? String ?? "").hasPrefix("dns.") }.isEmpty, "DNS is clean\n\(r.described)")
        XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty, "\(r.described)")
        if let note = ladderNote(r, ProbeLab.webName) {
            XCTAssertTrue(note.contains("certificate BROKEN") && note.contains(ProbeLabPKI.interceptionCAName), note)
        } else {
            XCTFail("a ladder note for www.lab.test\n\(r.described)")
        }
    }

    // MARK: - 5. analyze --reference on captures with and without the hijack

    /// Captures plain DNS (UDP and TCP, an existing and a non-existent name) on the client's
    /// interface; returns the capture.
    private func captureQueries(_ lab: ProbeLab, _ name: String, nxName: String, expectWeb: String) throws -> URL {
        let capture = lab.file("\(name).pcap")
        let tcpdump = try lab.startCapture(capture)
        let udp = try plainAnswer(lab, ProbeLab.webName)
        let nx = try plainAnswer(lab, nxName)
        let tcp = try plainAnswer(lab, ProbeLab.webName, tcp: true)
        try lab.stopCapture(tcpdump)
        XCTAssertEqual(udp.addresses, [expectWeb], "lab (\(name)): UDP answer for www.lab.test")
        XCTAssertEqual(tcp.addresses, [expectWeb], "lab (\(name)): TCP answer for www.lab.test")
        if expectWeb == ProbeLab.webAddress {
            XCTAssertEqual(nx.message.rcode, 3, "lab (\(name)): unbound says NXDOMAIN for \(nxName)")
        } else {
            XCTAssertEqual(nx.addresses, [ProbeLab.rogueWildcardAnswer], "lab (\(name)): the rogue answers \(nxName)")
        }
        return capture
    }

    func testAnalyzeWithReferences() throws {
        let (lab, pki) = try makeLab("e")
        let nxName = "nx-\(UInt32.random(in: 100_000...999_999)).\(ProbeLab.zone)"
        let clean = try captureQueries(lab, "clean", nxName: nxName, expectWeb: ProbeLab.webAddress)
        try lab.routerRules(ProbeLab.hijackRules)
        let hijacked = try captureQueries(lab, "hijacked", nxName: nxName, expectWeb: ProbeLab.rogueWebAnswer)

        let refs = ["--reference", ProbeLab.dohReference, "--reference", ProbeLab.dotReference, "--ca-file", pki.caCert.path]
        let c = try lab.dnsaudit(["analyze", "--format", "json"] + refs + [clean.path])
        print("dnsaudit analyze --reference (clean capture): \(c.described)")
        XCTAssertEqual(c.status, 0, "clean capture: exit 0\n\(c.described)")
        XCTAssertTrue(c.mediumOrAboveFindings.isEmpty, "clean capture: no medium+ finding\n\(c.described)")
        XCTAssertFalse(c.notes.contains { $0.contains("unavailable") }, "the references answered\n\(c.described)")

        let h = try lab.dnsaudit(["analyze", "--format", "json"] + refs + [hijacked.path])
        print("dnsaudit analyze --reference (hijacked capture): \(h.described)")
        XCTAssertEqual(h.status, 1, "hijacked capture: exit 1\n\(h.described)")
        let mismatch = h.findings(kind: "dns.answer-mismatch").filter { ProbeReport.subject($0)["qname"] as? String == ProbeLab.webName }
        XCTAssertFalse(mismatch.isEmpty, "dns.answer-mismatch for www.lab.test\n\(h.described)")
        if let f = mismatch.first {
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, ProbeLab.resolverAddress, "\(h.described)")
            XCTAssertTrue(ProbeReport.text(f).contains(ProbeLab.rogueWebAnswer), "\(h.described)")
        }
        let rewrite = h.findings(kind: "dns.nxdomain-rewrite").filter { ProbeReport.subject($0)["qname"] as? String == nxName }
        XCTAssertEqual(rewrite.count, 1, "dns.nxdomain-rewrite for \(nxName)\n\(h.described)")
    }

    // MARK: - 6. Hostile references are notes, never findings

    func testHostileReferencesAreNotesNotFindings() throws {
        guard let python3 = try ProbeLabTools.require().python3 else {
            throw ProbeLabTools.skip("python3 is not installed: the hostile reference servers cannot run")
        }
        let (lab, pki) = try makeLab("f")
        let script = lab.file("hostile.py")
        try HostileReferenceScript.source.write(to: script, atomically: true, encoding: .utf8)
        let a = ProbeLab.hostileAddress
        let cases: [(mode: String, port: Int, cert: URL?, key: URL?)] = [
            ("silent", 8531, nil, nil),
            ("garbage", 8532, nil, nil),
            ("truncated", 8533, pki.resolverCert, pki.resolverKey),
            ("wrongcert", 8534, pki.wrongNameCert, pki.wrongNameKey),
        ]
        for c in cases {
            var argv = [python3, script.path, c.mode, a, String(c.port)]
            if let cert = c.cert, let key = c.key { argv += [cert.path, key.path] }
            let p = try lab.spawn(lab.servicesNS, name: "hostile-\(c.mode)", argv)
            try lab.waitListening(lab.servicesNS, p, ["\(a):\(c.port)"])
        }
        for c in cases {
            let ref = "tls://\(a):\(c.port)#\(ProbeLab.resolverTLSName)"
            let r = try probe(lab, pki, extraReferences: [ref])
            XCTAssertTrue(r.notes.contains { $0.contains("reference \(ref) unavailable") },
                          "\(c.mode): a note says the reference is unavailable\n\(r.described)")
            XCTAssertTrue(r.findings.filter { ($0["kind"] as? String ?? "").hasPrefix("dns.") }.isEmpty,
                          "\(c.mode): no dns.* finding\n\(r.described)")
            XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty,
                          "\(c.mode): the server accepts connections: not blocked\n\(r.described)")
            XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, "\(c.mode): no medium+ finding\n\(r.described)")
            XCTAssertEqual(r.status, 0, "\(c.mode): exit 0\n\(r.described)")
            XCTAssertFalse(r.notes.contains { $0.contains("reference \(ProbeLab.dotReference) unavailable") || $0.contains("reference \(ProbeLab.dohReference) unavailable") },
                           "\(c.mode): the good references stay usable\n\(r.described)")
        }
    }
}
