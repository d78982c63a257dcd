import DNSWire
import FlowTable
import NetTypes

/// A flow-sharded worker's record of every UDP query it saw, per querier (source address), with
/// what `PoisoningMonitor.Querier.note` takes: a querier's queries to different resolvers land on
/// different workers (workers are chosen by the address pair), and its sequential-id count depends
/// on the order of all of them, so the merge replays them in capture order (input, frame).
/// 16 bytes per query; only flow-sharded workers keep one.
final class QuerierLog {
    struct Entry {
        /// input << 40 | frame: capture order.
        var order: UInt64
        var port: UInt16
        var id: UInt16
        /// bit 0: RD set; bit 1: the name has letters; bit 2: it mixes upper and lower case.
        var flags: UInt8
    }

    struct Querier {
        var entries: [Entry] = []
        var firstTS: Timestamp
        var input: Int
    }

    private let index = FlowTable<IPAddress, Int>(minimumCapacity: 16)
    private(set) var queriers: [(address: IPAddress, log: Querier)] = []
    private var lastEntry = -1
    private var lastAddress = IPAddress(v4: 0)

    func note(_ obs: DNSObservation, summary s: DNSSummary, bytes: UnsafeRawBufferPointer) {
        let letters = PoisoningMonitor.nameCase(bytes)
        let flags = UInt8(s.flags & 0x0100 != 0 ? 1 : 0) | (letters.letters ? 2 : 0) | (letters.mixed ? 4 : 0)
        let i: Int
        if lastEntry >= 0 && lastAddress == obs.src {
            i = lastEntry
        } else if let e = index.find(obs.src) {
            i = index[entry: e]
        } else {
            i = queriers.count
            index.insertNew(obs.src, i)
            queriers.append((obs.src, Querier(firstTS: obs.ts, input: obs.input)))
        }
        lastEntry = i
        lastAddress = obs.src
        queriers[i].log.entries.append(Entry(order: UInt64(truncatingIfNeeded: obs.input) << 40 | (obs.frame & 0xff_ffff_ffff),
                                             port: obs.sport, id: s.id, flags: flags))
    }
}

extension PoisoningMonitor {
    /// Rebuilds the queriers of flow-sharded workers as one monitor would have them: every
    /// worker's queries of a querier replayed in capture order, the first 4096 queriers (by their
    /// first query) kept, as one monitor keeps them. The result goes to the first monitor; the
    /// others' queriers are emptied (their sprays stay: a spray is one flow, on one worker).
    static func replay(_ logs: [QuerierLog], into monitors: [PoisoningMonitor]) {
        guard let first = monitors.first else { return }
        var merged: [IPAddress: (firstTS: Timestamp, input: Int, parts: [[QuerierLog.Entry]])] = [:]
        for log in logs {
            for (addr, q) in log.queriers where !q.entries.isEmpty {
                if var m = merged[addr] {
                    if q.entries[0].order < m.parts.map({ $0[0].order }).min()! {
                        m.firstTS = q.firstTS
                        m.input = q.input
                    }
                    m.parts.append(q.entries)
                    merged[addr] = m
                } else {
                    merged[addr] = (q.firstTS, q.input, [q.entries])
                }
            }
        }
        let byFirst = merged.map { (addr: $0.key, first: $0.value.parts.map { $0[0].order }.min()!, m: $0.value) }
            .sorted { $0.first < $1.first }
            .prefix(4096)
        var list: [(IPAddress, Querier)] = []
        for (addr, _, m) in byFirst {
            let entries = m.parts.count == 1 ? m.parts[0] : m.parts.joined().sorted { $0.order < $1.order }
            var q = Querier(firstFrame: entries[0].order & 0xff_ffff_ffff, firstTS: m.firstTS, input: m.input)
            for e in entries {
                q.note(port: e.port, id: e.id, rd: e.flags & 1 != 0, letters: (e.flags & 2 != 0, e.flags & 4 != 0),
                       frame: e.order & 0xff_ffff_ffff)
            }
            list.append((addr, q))
        }
        for m in monitors { m.replaceQueriers(m === first ? list : []) }
    }
}
