import Findings
import Foundation
import XCTest

/// `Finding`, `Evidence` and `FindingKind` are plain values: synthesized equality and hashing,
/// Codable round trips, one kind list with unique contract names.
final class FindingValueTests: XCTestCase {
    private func sample(title: String = "t", facts: [(String, SubjectValue)] = [("ip_ttl", .int(243))]) -> Finding {
        Finding(kind: .dnsInjection, severity: .high, confidence: .likely, title: title,
                subject: [("qname", .string("www.example.org.")), ("qtype", .string("A"))],
                evidence: [Evidence(source: .capture, input: "a.pcap", frames: [3, 4], detail: "two answers", facts: facts)],
                remediation: "r")
    }

    func testEqualityAndHashingAreOverEveryStoredValue() {
        XCTAssertEqual(sample(), sample())
        XCTAssertEqual(Set([sample(), sample()]).count, 1)
        XCTAssertNotEqual(sample(), sample(title: "other"))
        XCTAssertNotEqual(sample(), sample(facts: [("ip_ttl", .string("243"))]), "an int fact is not its text")
        XCTAssertNotEqual(sample(facts: [("a", .int(1)), ("b", .int(2))]), sample(facts: [("b", .int(2)), ("a", .int(1))]),
                          "facts are ordered")
    }

    func testTupleViewsWriteThrough() {
        var f = sample()
        f.subject.append(("resolver", .string("192.0.2.53")))
        XCTAssertEqual(f.subjectFacts.last, Fact("resolver", .string("192.0.2.53")))
        XCTAssertEqual(f.subjectValue("resolver"), .string("192.0.2.53"))
        f.evidence[0].facts = [("answers", .string("203.0.113.66"))]
        XCTAssertEqual(f.evidence[0].factList, [Fact("answers", .string("203.0.113.66"))])
    }

    func testCodableRoundTrip() throws {
        var f = sample()
        f.relate(to: "00000000000000aa")
        let back = try JSONDecoder().decode(Finding.self, from: JSONEncoder().encode(f))
        XCTAssertEqual(back, f)
        XCTAssertEqual(back.id, f.id)
        let kind = try JSONDecoder().decode(FindingKind.self, from: Data(#""probe.unreachable""#.utf8))
        XCTAssertEqual(kind, .probeUnreachable)
        XCTAssertThrowsError(try JSONDecoder().decode(FindingKind.self, from: Data(#""no.such-kind""#.utf8)))
    }

    /// The id is the contract's: FNV-1a over the kind's name and the sorted subject (unchanged by typing the kind).
    func testIDIsStable() {
        XCTAssertEqual(sample().id, sample(title: "other").id, "the id does not depend on the wording")
        XCTAssertEqual(sample().id.count, 16)
    }

    func testKindsAreOneListWithUniqueContractNames() {
        let names = FindingKind.allCases.map(\.rawValue)
        XCTAssertEqual(Set(names).count, names.count)
        for n in names {
            XCTAssertNotNil(n.firstIndex(of: "."), n)
            XCTAssertEqual(FindingKind(rawValue: n)?.description, n)
        }
        XCTAssertTrue(names.contains("probe.unreachable"))
    }
}
