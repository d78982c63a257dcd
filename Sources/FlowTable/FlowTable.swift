/// Hash tables for per-flow state on the packet path: no per-operation hashing with a seeded
/// SipHash (keys bring their own 64-bit hash, which the table mixes once more), no reference
/// counting of plain entries, and compact memory.
///
/// Layout (as in CPython's compact dict): a dense entry array holds keys and values; an
/// open-addressing index (linear probing, backward-shift deletion, no tombstones) maps hashes to
/// entry numbers. An entry keeps its number until it is removed, so callers can hold it (with
/// its generation, to notice reuse) across other insertions and removals — the DNS tracker's
/// expiry queue holds 8-byte handles instead of whole keys.

/// A key for `FlowTable`: equality plus a 64-bit hash that depends on every field (the table
/// applies a final mix, so it need not be well spread on its own).
public protocol FlowTableKey: Equatable {
    var tableHash: UInt64 { get }
}

/// An entry of a `FlowTable` as a caller may keep it: its number and the generation it had.
public struct FlowTableHandle: Sendable, Equatable {
    public var entry: Int32
    public var generation: UInt32
    @inlinable public init(entry: Int32, generation: UInt32) {
        self.entry = entry
        self.generation = generation
    }
}

public final class FlowTable<Key: FlowTableKey, Value> {
    /// A key and its value side by side: a lookup that compares the key and then changes the
    /// value touches one place in memory, not two.
    @usableFromInline struct Item {
        @usableFromInline var key: Key
        @usableFromInline var value: Value
        @inlinable init(key: Key, value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// One entry: its item (initialized only while the entry is live), its generation, bumped
    /// on every removal, whose low bit says "live" (set from the entry's first use on), and the
    /// tag of its key's hash (set with the item). Generation and tag sit beside the item rather
    /// than in arrays of their own, so that checking a handle and then reading the entry — and
    /// creating or removing an entry — touch one place in memory, not two (in a large table each
    /// is a likely cache miss).
    @usableFromInline struct Slot {
        @usableFromInline var item: Item
        @usableFromInline var generation: UInt32
        /// The high 32 bits of the entry's mixed hash (its index tag), so that removing the entry
        /// finds its index slot without hashing the key again.
        @usableFromInline var tag: UInt32
    }

    /// Index slot: 0 = empty; else tag | (entry + 1), the tag being the high 32 bits of the
    /// mixed hash (they also give the home slot).
    @usableFromInline var index: UnsafeMutablePointer<UInt64>
    @usableFromInline var indexMask: Int
    @usableFromInline var indexShift: UInt64
    @usableFromInline var slots: UnsafeMutablePointer<Slot>
    /// Where `Slot.item` lies in a slot (found once, not assumed).
    @usableFromInline let itemOffset: Int
    @usableFromInline var entryCapacity: Int
    /// Entries ever used (live or free) are below this number.
    @usableFromInline var entryHigh = 0
    @usableFromInline var freeList: [Int32] = []
    @usableFromInline var _count = 0

    public var count: Int { _count }

    /// `reservedCapacity`: entries to reserve address space for up front (a table with a known
    /// bound). The memory is only touched as entries are first used, and the entry arrays never
    /// have to be copied into larger ones: growing by copying touches every page twice, and on a
    /// virtual machine a first touch (a page fault) costs microseconds.
    public init(minimumCapacity: Int = 16, reservedCapacity: Int = 0) {
        let entries = max(8, minimumCapacity, reservedCapacity)
        var indexSize = 16
        while indexSize < max(8, minimumCapacity) * 2 { indexSize <<= 1 }
        index = .allocate(capacity: indexSize)
        index.initialize(repeating: 0, count: indexSize)
        indexMask = indexSize - 1
        indexShift = UInt64(64 - indexSize.trailingZeroBitCount)
        entryCapacity = entries
        slots = .allocate(capacity: entries)
        itemOffset = MemoryLayout<Slot>.offset(of: \Slot.item) ?? 0
    }

    deinit {
        for e in 0..<entryHigh where slots[e].generation & 1 == 1 {
            item(e).deinitialize(count: 1)
        }
        index.deallocate()
        slots.deallocate()
    }

    /// The item of entry `e`, in place (initialized while the entry is live).
    @inlinable @inline(__always)
    func item(_ e: Int) -> UnsafeMutablePointer<Item> { item(e, in: slots) }

    /// The item of entry `e` in the slot array `base` (the table's own, or the old one while growing).
    @inlinable @inline(__always)
    func item(_ e: Int, in base: UnsafeMutablePointer<Slot>) -> UnsafeMutablePointer<Item> {
        (UnsafeMutableRawPointer(base + e) + itemOffset).assumingMemoryBound(to: Item.self)
    }

    // MARK: Lookup

    /// The home slot comes from the tag alone (the hash's high 32 bits), so that moving index
    /// slots — backward-shift deletion, growth — never has to read the entries themselves
    /// (each such read is a likely cache miss).
    @inlinable @inline(__always)
    func home(_ hash: UInt64) -> Int { homeOfTag(hash & 0xFFFF_FFFF_0000_0000) }

    @inlinable @inline(__always)
    func homeOfTag(_ tag: UInt64) -> Int {
        Int(truncatingIfNeeded: ((tag >> 32) &* 0x9E37_79B9_7F4A_7C15) >> indexShift)
    }

    @inlinable @inline(__always)
    static func tag(_ hash: UInt64) -> UInt64 { (hash >> 32) << 32 }

    /// A final mix (MurmurHash3's fmix64) so that every bit of the key's hash reaches the high
    /// 32 bits the table uses (a key hash that varies only in its low bits still spreads).
    @inlinable @inline(__always)
    static func scramble(_ h: UInt64) -> UInt64 {
        var x = h ^ (h >> 33)
        x = x &* 0xff51_afd7_ed55_8ccd
        x ^= x >> 33
        x = x &* 0xc4ce_b9fe_1a85_ec53
        return x ^ (x >> 33)
    }

    /// The table's hash of `key`. A caller that looks a key up and then inserts it when absent
    /// passes it to `find(_:hash:)` and `insertNew(_:_:hash:)`, so the key is hashed once.
    @inlinable @inline(__always)
    public func hash(_ key: Key) -> UInt64 { FlowTable.scramble(key.tableHash) }

    /// The entry holding `key`, or nil.
    @inlinable
    public func find(_ key: Key) -> Int? { find(key, hash: hash(key)) }

    /// The entry holding `key`, whose `hash(_:)` is `h`, or nil.
    @inlinable
    public func find(_ key: Key, hash h: UInt64) -> Int? {
        let tag = FlowTable.tag(h)
        var i = home(h)
        while true {
            let s = index[i]
            if s == 0 { return nil }
            if s & 0xFFFF_FFFF_0000_0000 == tag {
                let e = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                if slots[e].item.key == key { return e }
            }
            i = (i + 1) & indexMask
        }
    }

    @inlinable
    public func contains(_ key: Key) -> Bool { find(key) != nil }

    /// The value stored for `key`, or nil.
    @inlinable
    public subscript(key key: Key) -> Value? {
        guard let e = find(key) else { return nil }
        return slots[e].item.value
    }

    /// The value of a live entry, read and changed in place.
    @inlinable
    public subscript(entry e: Int) -> Value {
        _read { yield slots[e].item.value }
        _modify { yield &slots[e].item.value }
    }

    @inlinable
    public func key(ofEntry e: Int) -> Key { slots[e].item.key }

    @inlinable
    public func handle(ofEntry e: Int) -> FlowTableHandle {
        FlowTableHandle(entry: Int32(truncatingIfNeeded: e), generation: slots[e].generation)
    }

    /// The entry a handle names, when it is still the same entry (not removed since).
    @inlinable
    public func entry(_ h: FlowTableHandle) -> Int? {
        let e = Int(h.entry)
        return e < entryHigh && slots[e].generation == h.generation ? e : nil
    }

    // MARK: Changes

    /// Adds `key`, which must not be in the table. Returns its entry.
    @inlinable
    @discardableResult
    public func insertNew(_ key: Key, _ value: Value) -> Int { insertNew(key, value, hash: hash(key)) }

    /// Adds `key`, whose `hash(_:)` is `h` and which must not be in the table. Returns its entry.
    @inlinable
    @discardableResult
    public func insertNew(_ key: Key, _ value: Value, hash h: UInt64) -> Int {
        if (_count + 1) * 2 > indexMask + 1 { growIndex() }
        let e: Int
        if let free = freeList.popLast() {
            e = Int(free)
        } else {
            if entryHigh == entryCapacity { growEntries() }
            e = entryHigh
            entryHigh += 1
            slots[e].generation = 0
        }
        item(e).initialize(to: Item(key: key, value: value))
        slots[e].generation &+= 1  // even → odd: live
        slots[e].tag = UInt32(truncatingIfNeeded: h >> 32)
        var i = home(h)
        while index[i] != 0 { i = (i + 1) & indexMask }
        index[i] = FlowTable.tag(h) | UInt64(e + 1)
        _count += 1
        return e
    }

    /// Sets the value for `key`, adding it when absent. Returns its entry.
    @inlinable
    @discardableResult
    public func set(_ key: Key, _ value: Value) -> Int {
        let h = hash(key)
        let tag = FlowTable.tag(h)
        var i = home(h)
        while true {
            let s = index[i]
            if s == 0 { break }
            if s & 0xFFFF_FFFF_0000_0000 == tag {
                let e = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                if slots[e].item.key == key {
                    slots[e].item.value = value
                    return e
                }
            }
            i = (i + 1) & indexMask
        }
        return insertNew(key, value, hash: h)
    }

    /// Removes a live entry and returns its value.
    @inlinable
    @discardableResult
    public func remove(entry e: Int) -> Value {
        let want = UInt64(e + 1)
        // The stored tag must be the one the key hashes to (debug builds check: a wrong one would
        // only make removal search from the wrong slot, slower but unnoticed).
        assert(UInt64(slots[e].tag) << 32 == FlowTable.tag(hash(slots[e].item.key)), "FlowTable: stale tag")
        var i = homeOfTag(UInt64(slots[e].tag) << 32)
        while index[i] & 0xFFFF_FFFF != want { i = (i + 1) & indexMask }
        // Backward-shift deletion: pull later members of the probe run into the hole.
        var hole = i
        var j = i
        while true {
            j = (j + 1) & indexMask
            let s = index[j]
            if s == 0 { break }
            let ideal = homeOfTag(s & 0xFFFF_FFFF_0000_0000)
            // Does `ideal` lie cyclically in (hole, j]? Then the member must stay.
            let stays = hole <= j ? (ideal > hole && ideal <= j) : (ideal > hole || ideal <= j)
            if !stays {
                index[hole] = s
                hole = j
            }
        }
        index[hole] = 0
        let v = item(e).move().value
        slots[e].generation &+= 1  // odd → even: free
        freeList.append(Int32(truncatingIfNeeded: e))
        _count -= 1
        return v
    }

    /// Removes `key` when present; returns its value.
    @inlinable
    @discardableResult
    public func removeValue(forKey key: Key) -> Value? {
        guard let e = find(key) else { return nil }
        return remove(entry: e)
    }

    /// Removes every entry.
    public func removeAll() {
        for e in 0..<entryHigh where slots[e].generation & 1 == 1 {
            item(e).deinitialize(count: 1)
            slots[e].generation &+= 1
        }
        index.update(repeating: 0, count: indexMask + 1)
        freeList.removeAll()
        for e in (0..<entryHigh).reversed() { freeList.append(Int32(e)) }
        _count = 0
    }

    /// Whether some live key satisfies `predicate` (a scan, without building a list of entries).
    public func containsKey(where predicate: (Key) -> Bool) -> Bool {
        for e in 0..<entryHigh where slots[e].generation & 1 == 1 && predicate(slots[e].item.key) { return true }
        return false
    }

    /// Live entries, in entry order (not insertion order once entries are reused).
    public var entries: [Int] {
        var out: [Int] = []
        out.reserveCapacity(_count)
        for e in 0..<entryHigh where slots[e].generation & 1 == 1 { out.append(e) }
        return out
    }

    /// Every live (key, value) pair.
    public var pairs: [(key: Key, value: Value)] {
        entries.map { (slots[$0].item.key, slots[$0].item.value) }
    }

    // MARK: Growth

    @usableFromInline
    func growIndex() {
        let indexSize = (indexMask + 1) * 2
        let old = UnsafeBufferPointer(start: index, count: indexMask + 1)
        defer { old.deallocate() }
        index = .allocate(capacity: indexSize)
        index.initialize(repeating: 0, count: indexSize)
        indexMask = indexSize - 1
        indexShift = UInt64(64 - indexSize.trailingZeroBitCount)
        for j in 0..<(old.count) where old[j] != 0 {
            var i = homeOfTag(old[j] & 0xFFFF_FFFF_0000_0000)
            while index[i] != 0 { i = (i + 1) & indexMask }
            index[i] = old[j]
        }
    }

    @usableFromInline
    func growEntries() {
        let n = entryCapacity * 2
        let old = slots
        slots = .allocate(capacity: n)
        for e in 0..<entryHigh {
            let g = old[e].generation
            slots[e].generation = g
            slots[e].tag = old[e].tag
            if g & 1 == 1 { item(e).moveInitialize(from: item(e, in: old), count: 1) }
        }
        old.deallocate()
        entryCapacity = n
    }
}
