@testable import DNSAnalysis
import NetTypes
import XCTest

/// The packet path's small tables (issue 18, nothing regresses at N = 1) keep the semantics of
/// the Swift collections they replace: PortsAndIDs counts what two bounded `Set<UInt16>` would,
/// OutstandingTable behaves as the `[UInt64: Outstanding]` dictionary (overwrite, count of
/// distinct keys, removeAll), and the DNSSEC-strip byte walk rejects only what the parse would.
final class PoisoningTablesTests: XCTestCase {
    func testPortsAndIDsCountLikeBoundedSets() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<200 {
            var t = PortsAndIDs()
            var ports = Set<UInt16>(), ids = Set<UInt16>()
            // Narrow ranges make repeats (and the value 0) likely; wide ones fill the caps.
            let span = [1, 3, 40, 300, 65_536][round % 5]
            for _ in 0..<Int.random(in: 0...900, using: &rng) {
                let p = UInt16(truncatingIfNeeded: Int.random(in: 0..<span, using: &rng))
                let i = UInt16(truncatingIfNeeded: Int.random(in: 0..<span, using: &rng))
                t.note(port: p, id: i)
                if ports.count < 64 { ports.insert(p) }
                if ids.count < 256 { ids.insert(i) }
                XCTAssertEqual(t.portCount, ports.count)
                XCTAssertEqual(t.idCount, ids.count)
            }
        }
    }

    func testOutstandingTableBehavesAsTheDictionary() {
        var rng = SystemRandomNumberGenerator()
        let table = OutstandingTable()
        var dict: [UInt64: PoisoningMonitor.Outstanding] = [:]
        for n in 0..<300_000 {
            // Keys from a small range repeat (overwrites); some rounds clear, as noteQuery does when full.
            let key = UInt64.random(in: 0..<(n % 3 == 0 ? 50 : 90_000), using: &rng) &* 0x9E37_79B9_7F4A_7C15
            let v = PoisoningMonitor.Outstanding(id: UInt16(truncatingIfNeeded: n), ts: Timestamp(seconds: Int64(n), nanoseconds: 0), frame: UInt64(n))
            if dict.count >= 65_536 {
                dict.removeAll(keepingCapacity: true)
                table.removeAll()
            }
            dict[key] = v
            table.set(key, v)
            XCTAssertEqual(table.count, dict.count)
            if n % 97 == 0 {
                let probe = UInt64.random(in: 0..<90_000, using: &rng) &* 0x9E37_79B9_7F4A_7C15
                XCTAssertEqual(table.find(probe)?.frame, dict[probe]?.frame)
                XCTAssertEqual(table.find(key)?.frame, UInt64(n))
            }
        }
    }

    /// A response: header, one question (name, type), answers (name pointer, type), optional OPT.
    private func response(name: [String], qtype: UInt16, answers: [UInt16], opt: (present: Bool, dnssecOK: Bool)) -> [UInt8] {
        var b: [UInt8] = [0x12, 0x34, 0x81, 0xA0, 0, 1, 0, UInt8(answers.count), 0, 0, 0, opt.present ? 1 : 0]
        for l in name {
            b.append(UInt8(l.utf8.count))
            b += Array(l.utf8)
        }
        b += [0, UInt8(qtype >> 8), UInt8(qtype & 0xFF), 0, 1]
        for t in answers {
            b += [0xC0, 12, UInt8(t >> 8), UInt8(t & 0xFF), 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]
        }
        if opt.present { b += [0, 0, 41, 0x04, 0xD0, 0, 0, opt.dnssecOK ? 0x80 : 0, 0, 0, 0] }
        return b
    }

    func testDNSSECStripByteWalkRejectsOnlyWhatCannotBeACase() {
        func check(_ b: [UInt8], qtype: UInt16) -> (noCase: Bool, nameHash: UInt64?) {
            b.withUnsafeBytes { DNSSECStripMonitor.quickCheck($0, qtype: qtype) }
        }
        let name = ["www", "example", "com"]
        XCTAssertFalse(check(response(name: name, qtype: 1, answers: [1], opt: (true, true)), qtype: 1).noCase, "AD, DO, no RRSIG: a candidate")
        XCTAssertFalse(check(response(name: name, qtype: 1, answers: [5, 1], opt: (true, true)), qtype: 1).noCase, "CNAME then A: a candidate")
        XCTAssertTrue(check(response(name: name, qtype: 1, answers: [1, 46], opt: (true, true)), qtype: 1).noCase, "RRSIG present")
        XCTAssertTrue(check(response(name: name, qtype: 1, answers: [1], opt: (true, false)), qtype: 1).noCase, "DO not set")
        XCTAssertTrue(check(response(name: name, qtype: 1, answers: [1], opt: (false, false)), qtype: 1).noCase, "no OPT")
        XCTAssertTrue(check(response(name: name, qtype: 28, answers: [5], opt: (true, true)), qtype: 28).noCase, "no answer of the asked type")
        // The name hash folds ASCII case (the monitor's key is the lowercased name).
        let upper = check(response(name: ["WWW", "Example", "COM"], qtype: 1, answers: [1], opt: (true, true)), qtype: 1).nameHash
        let lower = check(response(name: name, qtype: 1, answers: [1], opt: (true, true)), qtype: 1).nameHash
        XCTAssertNotNil(lower)
        XCTAssertEqual(upper, lower)
        // Truncated input: "maybe" (left to the parse), never a trap.
        let whole = response(name: name, qtype: 1, answers: [1], opt: (true, true))
        for cut in 0..<whole.count {
            let r = check(Array(whole.prefix(cut)), qtype: 1)
            if cut < 12 { XCTAssertFalse(r.noCase) }
        }
    }
}
