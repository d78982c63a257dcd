import FlowTable
import XCTest

/// A key with a deliberately poor hash (few distinct values), to force long probe runs and
/// exercise backward-shift deletion across wrap-around.
struct CollidingKey: FlowTableKey, Hashable {
    var id: Int
    var tableHash: UInt64 { UInt64(id % 7) &* 0x9E37_79B9_7F4A_7C15 }
}

final class FlowTableTests: XCTestCase {
    /// Random inserts, updates, removals and lookups, checked step by step against Dictionary.
    func testMatchesDictionaryUnderRandomOperations() {
        var rng = SystemRandomNumberGenerator()
        for keySpace in [16, 300, 5_000] {
            let table = FlowTable<CollidingKey, Int>(minimumCapacity: 4)
            var model: [CollidingKey: Int] = [:]
            var handles: [CollidingKey: FlowTableHandle] = [:]
            for step in 0..<20_000 {
                let k = CollidingKey(id: Int.random(in: 0..<keySpace, using: &rng))
                switch Int.random(in: 0..<4, using: &rng) {
                case 0, 1:
                    table.set(k, step)
                    model[k] = step
                    if let e = table.find(k) { handles[k] = table.handle(ofEntry: e) }
                case 2:
                    XCTAssertEqual(table.removeValue(forKey: k), model.removeValue(forKey: k))
                    if let h = handles.removeValue(forKey: k) { XCTAssertNil(table.entry(h), "a removed entry's handle must not resolve") }
                default:
                    XCTAssertEqual(table[key: k], model[k])
                }
                XCTAssertEqual(table.count, model.count)
            }
            for (k, v) in model {
                XCTAssertEqual(table[key: k], v)
                if let h = handles[k] { XCTAssertEqual(table.entry(h).map { table[entry: $0] }, v) }
            }
            XCTAssertEqual(Set(table.pairs.map(\.key)), Set(model.keys))
            table.removeAll()
            XCTAssertEqual(table.count, 0)
            for k in model.keys { XCTAssertNil(table.find(k)) }
        }
    }

    /// Generations live beside the entries: growing the entry storage keeps them, so a handle
    /// of a removed entry stays dead and a live one keeps resolving, also once the entry is reused.
    func testHandlesSurviveEntryGrowth() {
        let table = FlowTable<CollidingKey, Int>(minimumCapacity: 4)  // 8 entries, then growth
        for i in 0..<8 { table.insertNew(CollidingKey(id: i), i) }
        let live = (0..<8).filter { $0 % 2 == 0 }.map { (i: $0, h: table.handle(ofEntry: table.find(CollidingKey(id: $0))!)) }
        let dead = (0..<8).filter { $0 % 2 == 1 }.map { table.handle(ofEntry: table.find(CollidingKey(id: $0))!) }
        for i in stride(from: 1, to: 8, by: 2) { table.removeValue(forKey: CollidingKey(id: i)) }
        for i in 100..<1_100 { table.insertNew(CollidingKey(id: i), i) }  // reuses the 4 free entries, then grows
        for (i, h) in live { XCTAssertEqual(table.entry(h).map { table[entry: $0] }, i) }
        for h in dead { XCTAssertNil(table.entry(h)) }
        XCTAssertEqual(table.count, 1_004)
        for i in 100..<1_100 { XCTAssertEqual(table[key: CollidingKey(id: i)], i) }
    }

    /// A key hashed once (`hash`, then `find(_:hash:)` and `insertNew(_:_:hash:)`) lands where the
    /// plain calls look; entries removed after the entry storage grew, and again after their
    /// entries were reused, leave every other key findable (removal starts from the tag kept
    /// beside the entry, which debug builds check against the key's hash on every removal).
    func testHashedOnceAndRemovedAfterGrowth() {
        struct SpreadKey: FlowTableKey { var id: UInt64; var tableHash: UInt64 { id } }
        let table = FlowTable<SpreadKey, Int>(minimumCapacity: 4)
        for i in 0..<2_000 {
            let k = SpreadKey(id: UInt64(i))
            let h = table.hash(k)
            XCTAssertNil(table.find(k, hash: h))
            table.insertNew(k, i, hash: h)
            XCTAssertEqual(table.find(k), table.find(k, hash: h))
        }
        for i in stride(from: 0, to: 2_000, by: 3) { XCTAssertEqual(table.removeValue(forKey: SpreadKey(id: UInt64(i))), i) }
        for i in 0..<2_000 { XCTAssertEqual(table[key: SpreadKey(id: UInt64(i))], i % 3 == 0 ? nil : i) }
        for i in stride(from: 0, to: 2_000, by: 3) { table.insertNew(SpreadKey(id: UInt64(i) + 10_000), i) }  // reuses freed entries
        for i in stride(from: 0, to: 2_000, by: 6) { XCTAssertEqual(table.removeValue(forKey: SpreadKey(id: UInt64(i) + 10_000)), i) }
        for i in stride(from: 3, to: 2_000, by: 6) { XCTAssertEqual(table[key: SpreadKey(id: UInt64(i) + 10_000)], i) }
        for e in table.entries { table.remove(entry: e) }
        XCTAssertEqual(table.count, 0)
        for i in 0..<2_000 { XCTAssertNil(table.find(SpreadKey(id: UInt64(i)))) }
    }

    /// Values with reference counts are released when removed, replaced, cleared or deinitialised.
    func testReleasesValues() {
        final class Counter { var live = 0 }
        final class Tracked {
            let counter: Counter
            init(_ c: Counter) { counter = c; c.live += 1 }
            deinit { counter.live -= 1 }
        }
        let counter = Counter()
        do {
            let table = FlowTable<CollidingKey, Tracked>()
            for i in 0..<1_000 { table.insertNew(CollidingKey(id: i), Tracked(counter)) }
            XCTAssertEqual(counter.live, 1_000)
            for i in 0..<500 { table.removeValue(forKey: CollidingKey(id: i)) }
            XCTAssertEqual(counter.live, 500)
            table.set(CollidingKey(id: 600), Tracked(counter))
            XCTAssertEqual(counter.live, 500)
            table.removeAll()
            XCTAssertEqual(counter.live, 0)
            for i in 0..<100 { table.insertNew(CollidingKey(id: i), Tracked(counter)) }
        }
        XCTAssertEqual(counter.live, 0)
    }
}
