import NetTypes
#if canImport(Glibc)
import Glibc
#endif

/// When each DNS query flow (client endpoint → server endpoint) last sent a query, for telling a
/// response with a wrong transaction id (its flow did ask) from one on a flow the capture never
/// saw ask. Every query updates it, so it is built for one cache line per update:
/// a fixed set-associative table of 8-way buckets (64 bytes), each slot a 32-bit tag of the
/// flow's hash and the query's time in milliseconds after `base`. A new flow takes its bucket's
/// empty or oldest slot, so memory is fixed and old flows fade out by themselves; a flow is
/// forgotten early only when more than 8 newer flows share its bucket. Sized at one bucket per
/// 4 expected flows (4 MiB for the tracker's default 200 000): at that many flows within a query
/// timeout, about 0.4 % of buckets overflow; at typical rates, none.
final class RecentFlows {
    private let buckets: Int
    private let mask: UInt64
    private var slots: UnsafeMutablePointer<UInt64>?
    private var base: Timestamp?
    static let ways = 8

    /// `expectedFlows`: flows that may need remembering at once.
    init(expectedFlows: Int) {
        var n = 1024
        while n < expectedFlows / 4 && n < 1 << 20 { n <<= 1 }
        buckets = n
        mask = UInt64(n - 1)
    }

    deinit { free(slots) }

    /// Bytes the table takes once used.
    var byteCount: Int { buckets * Self.ways * 8 }

    private func storage() -> UnsafeMutablePointer<UInt64> {
        if let s = slots { return s }
        // calloc: a table this size comes zeroed from mmap, its pages untouched (not resident)
        // until a flow lands in them — a capture with few flows does not pay for all of it.
        guard let raw = calloc(buckets * Self.ways, MemoryLayout<UInt64>.stride) else {
            fatalError("RecentFlows: out of memory (\(byteCount) bytes)")
        }
        let s = raw.bindMemory(to: UInt64.self, capacity: buckets * Self.ways)
        slots = s
        return s
    }

    @inline(__always)
    private static func tag(_ mix: UInt64) -> UInt64 {
        let t = mix >> 32
        return t == 0 ? 1 : t  // 0 marks an empty slot
    }

    /// Milliseconds after `base` (rebasing — forgetting everything — once 32 bits would overflow,
    /// after about 49 days of capture time).
    private func milliseconds(_ ts: Timestamp) -> UInt64 {
        guard let b = base else {
            base = ts
            return 0
        }
        let ms = ts.nanoseconds(since: b) / 1_000_000
        if ms < 0 { return 0 }
        if ms >= Int64(UInt32.max) {
            removeAll()
            base = ts
            return 0
        }
        return UInt64(ms)
    }

    /// A query on the flow with this hash (`DNSTransactionTracker.flowMix`) went out at `ts`.
    func noteQuery(mix: UInt64, at ts: Timestamp) {
        let ms = milliseconds(ts)  // first: a rebase gives the table back (`removeAll`)
        let s = storage()
        let tag = Self.tag(mix)
        let first = Int(truncatingIfNeeded: mix & mask) &* Self.ways
        var victim = first
        var victimMS = UInt64.max
        for i in first..<(first + Self.ways) {
            let e = s[i]
            if e == 0 {  // slots fill in order and are never emptied: no match further on
                victim = i
                break
            }
            if e >> 32 == tag {
                s[i] = tag << 32 | ms
                return
            }
            let m = e & 0xffff_ffff
            if m < victimMS {
                victimMS = m
                victim = i
            }
        }
        s[victim] = tag << 32 | ms
    }

    /// When the last query on the flow with this hash went out (to the millisecond, rounded
    /// down), if the table still has it.
    func lastQuery(mix: UInt64) -> Timestamp? {
        guard let s = slots, let b = base else { return nil }
        let tag = Self.tag(mix)
        let first = Int(truncatingIfNeeded: mix & mask) &* Self.ways
        for i in first..<(first + Self.ways) {
            let e = s[i]
            if e == 0 { return nil }
            if e >> 32 == tag { return b.adding(nanoseconds: Int64(e & 0xffff_ffff) * 1_000_000) }
        }
        return nil
    }

    /// Forgets every flow. The table is given back rather than zeroed (zeroing would touch, and
    /// so fault in, every page of it, also those no flow ever used); the next query allocates
    /// it again, as the first one did.
    func removeAll() {
        free(slots)
        slots = nil
        base = nil
    }
}
