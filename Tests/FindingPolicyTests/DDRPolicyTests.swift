import FindingPolicy
import Findings
import Probes
import XCTest

/// Issue 20 item 1: the DDR verification policy (RFC 9462 §4.2) and the DNR option reader (RFC 9463).
final class DDRPolicyTests: XCTestCase {
    private func evidence(nameCovered: Bool = true, trusted: Bool = true, ipCovered: Bool, privateAddress: Bool = false,
                          plain: String = "198.18.220.53") -> DDRDesignationEvidence {
        DDRDesignationEvidence(plainResolver: plain, designation: "SVCB 1 dot.example. alpn=dot port=default", designatedName: "dot.example",
                               service: .dot, address: plain, port: 853,
                               certificateNames: ["dot.example"] + (ipCovered ? [plain] : []), nameCovered: nameCovered, trusted: trusted,
                               trustProblem: trusted ? nil : "unknown-issuer", plainAddressCovered: ipCovered, plainAddressIsPrivate: privateAddress)
    }

    func testVerifiedDesignationIsNoFinding() {
        let e = evidence(ipCovered: true)
        XCTAssertTrue(e.isVerified)
        XCTAssertNil(FindingPolicy.ddrUnverified(e, evidence: []))
        XCTAssertTrue(FindingPolicy.ddrNote(e).contains("verified (RFC 9462 §4.2"))
    }

    func testMissingIPSANIsMediumNamingWhatTheCertificateCovers() throws {
        let f = try XCTUnwrap(FindingPolicy.ddrUnverified(evidence(ipCovered: false), evidence: []))
        XCTAssertEqual(f.kind, .encryptedDNSDDRUnverified)
        XCTAssertEqual(f.kind.rawValue, "encrypted-dns.ddr-unverified")
        XCTAssertEqual(f.severity, .medium)
        XCTAssertEqual(f.confidence, .likely)
        XCTAssertEqual(f.subjectValue("reason"), .string("address-not-covered"))
        XCTAssertEqual(f.subjectValue("designated"), .string("dot.example"))
        XCTAssertTrue(f.evidence.contains { $0.detail.contains("the certificate covers dot.example") && $0.detail.contains("no IP address SAN for the plain resolver 198.18.220.53") },
                      "\(f.evidence)")
    }

    func testUntrustedAndWrongNameComeFirst() throws {
        let untrusted = try XCTUnwrap(FindingPolicy.ddrUnverified(evidence(trusted: false, ipCovered: true), evidence: []))
        XCTAssertEqual(untrusted.subjectValue("reason"), .string("untrusted-certificate"))
        let wrongName = try XCTUnwrap(FindingPolicy.ddrUnverified(evidence(nameCovered: false, ipCovered: true), evidence: []))
        XCTAssertEqual(wrongName.subjectValue("reason"), .string("name-not-covered"))
    }

    /// RFC 9462 §4.2: verified discovery is not used for private addresses (§4.3 opportunistic
    /// discovery instead): a note, never a finding.
    func testPrivatePlainAddressIsANote() {
        let e = evidence(ipCovered: false, privateAddress: true, plain: "192.168.1.1")
        XCTAssertNil(FindingPolicy.ddrUnverified(e, evidence: []))
        XCTAssertTrue(FindingPolicy.ddrNote(e).contains("opportunistic discovery"))
    }

    func testNothingDesignatedNote() {
        XCTAssertEqual(FindingPolicy.ddrNothingDesignated(resolver: "198.18.230.53", answer: "NXDOMAIN"),
                       "DDR: 198.18.230.53 designates no encrypted resolver (_dns.resolver.arpa SVCB: NXDOMAIN): clients stay on plain DNS unless configured otherwise")
    }

    // MARK: - DNR

    func testDNRLinesParse() {
        let text = """
        # This is private data. Do not parse.
        ADMIN_STATE=configured
        DNS=192.0.2.53
        DNR=dns.example.net 192.0.2.53,2001:db8::53 alpn=dot,h2 port=853;other.example 192.0.2.54
        V4_DNR=third.example. 198.51.100.7 alpn=doq
        NOT_DNR_LIKE=ignored.example 203.0.113.1
        DNR=garbage ===
        """
        let r = DNROptions.parse(text, source: "links/2")
        XCTAssertEqual(r.map(\.adn), ["dns.example.net", "other.example", "third.example"])
        XCTAssertEqual(r.first?.addresses, ["192.0.2.53", "2001:db8::53"])
        XCTAssertEqual(r.first?.alpns, ["dot", "h2"])
        XCTAssertEqual(r.first?.port, 853)
        XCTAssertEqual(r.last?.alpns, ["doq"])
    }

    func testDNRNotesSayNoneOrCompareWithDDR() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("e1-dnr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let none = DNROptions.read(places: [dir.path])
        XCTAssertTrue(none.resolvers.isEmpty)
        XCTAssertEqual(DNROptions.notes(none, ddr: [:]).first?.hasPrefix("DNR (RFC 9463): this host exposes no DNR options (looked in \(dir.path))"), true)
        try "DNR=dot.example 192.0.2.53 alpn=dot\n".write(to: dir.appendingPathComponent("3"), atomically: true, encoding: .utf8)
        let some = DNROptions.read(places: [dir.path])
        XCTAssertEqual(some.resolvers.count, 1)
        XCTAssertTrue(DNROptions.notes(some, ddr: ["192.0.2.53": ["dot.example"]])[0].contains("DDR agrees: 192.0.2.53 designates dot.example too"))
        XCTAssertTrue(DNROptions.notes(some, ddr: ["192.0.2.53": ["elsewhere.example"]])[0].contains("DNR and DDR disagree"))
    }
}
