import NetTypes
import XCTest
@testable import DNSAnalysis

/// The query-flow memory behind telling wrong-txid responses from responses on silent flows.
final class RecentFlowsTests: XCTestCase {
    func ts(_ ms: Int64) -> Timestamp { Timestamp(seconds: 1_700_000_000 + ms / 1000, nanoseconds: UInt32((ms % 1000) * 1_000_000)) }

    func testRemembersTheLastQueryPerFlow() {
        let f = RecentFlows(expectedFlows: 1000)
        XCTAssertNil(f.lastQuery(mix: 42))
        f.noteQuery(mix: 42, at: ts(0))
        f.noteQuery(mix: 43, at: ts(5))
        f.noteQuery(mix: 42, at: ts(1_234))
        XCTAssertEqual(f.lastQuery(mix: 42), ts(1_234))
        XCTAssertEqual(f.lastQuery(mix: 43), ts(5))
        XCTAssertNil(f.lastQuery(mix: 44))
        // A flow with the same bucket but another tag is another flow.
        XCTAssertNil(f.lastQuery(mix: 42 | 1 << 40))
        f.removeAll()
        XCTAssertNil(f.lastQuery(mix: 42))
        XCTAssertNil(f.lastQuery(mix: 43))
        // Usable again after being emptied, with a new time base.
        f.noteQuery(mix: 43, at: ts(90_000))
        XCTAssertEqual(f.lastQuery(mix: 43), ts(90_000))
        XCTAssertNil(f.lastQuery(mix: 42))
        f.removeAll()
        f.removeAll()
        XCTAssertNil(f.lastQuery(mix: 43))
    }

    /// A full bucket gives up its oldest flow, never a newer one.
    func testFullBucketForgetsItsOldestFlow() {
        let f = RecentFlows(expectedFlows: 1000)
        let bucket: UInt64 = 7
        let flows = (1...9).map { UInt64($0) << 32 | bucket }  // nine flows, one bucket
        for (i, m) in flows.enumerated() { f.noteQuery(mix: m, at: ts(Int64(i) * 100)) }
        XCTAssertNil(f.lastQuery(mix: flows[0]), "the oldest flow makes room")
        for (i, m) in flows.enumerated().dropFirst() { XCTAssertEqual(f.lastQuery(mix: m), ts(Int64(i) * 100)) }
        // Refreshing a flow protects it: the next newcomer takes the then-oldest.
        f.noteQuery(mix: flows[1], at: ts(2_000))
        f.noteQuery(mix: 10 << 32 | bucket, at: ts(2_100))
        XCTAssertEqual(f.lastQuery(mix: flows[1]), ts(2_000))
        XCTAssertNil(f.lastQuery(mix: flows[2]))
    }

    /// Time going backwards (files out of order) clamps; 32-bit milliseconds overflowing forgets.
    func testClockEdges() {
        let f = RecentFlows(expectedFlows: 1000)
        f.noteQuery(mix: 1, at: ts(10_000))
        f.noteQuery(mix: 2, at: ts(0))
        XCTAssertEqual(f.lastQuery(mix: 2), ts(10_000), "before the base: stored as the base")
        let later = Timestamp(seconds: 1_700_000_010 + 50 * 86_400, nanoseconds: 0)
        f.noteQuery(mix: 3, at: later)
        XCTAssertNil(f.lastQuery(mix: 1), "a rebase forgets the older flows")
        XCTAssertEqual(f.lastQuery(mix: 3), later)
    }

    /// Many flows in a table sized for them: every one of the latest is still known.
    func testSizedTableKeepsRecentFlows() {
        let f = RecentFlows(expectedFlows: 20_000)
        var x: UInt64 = 0x1234_5678
        var mixes: [UInt64] = []
        for i in 0..<20_000 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            let m = x ^ (x >> 29)
            mixes.append(m)
            f.noteQuery(mix: m, at: ts(Int64(i)))
        }
        let known = mixes.filter { f.lastQuery(mix: $0) != nil }.count
        XCTAssertGreaterThan(known, 19_800, "at most a handful of overflowing buckets")
    }
}
