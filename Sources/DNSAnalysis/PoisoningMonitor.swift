import DNSWire
import FindingPolicy
import Findings
import FlowTable
import NetTypes

/// Cache-poisoning exposure and attempts (issue 20 item 10), fed by `DNSTransactionTracker`:
///
/// - per querier (source address of UDP queries to port 53): how many source ports and
///   transaction ids it uses, how many ids follow the previous one (sequential), and whether it
///   randomises the case of names (0x20). A resolver or forwarder (it also answers DNS in the
///   capture, or asks without RD: iteratively) with a fixed source port or sequential ids is
///   `dns.poisoning-exposure`; plain clients are not judged (a stub's exposure is its own cache's).
/// - per outstanding query (flow + question, for 10 s after it was asked): responses with the same
///   question and other ids. Three or more different wrong ids are a spray, `dns.poisoning-attempt`,
///   and those responses are not reported again as unsolicited.
///
/// Memory is bounded: 4096 queriers (64 ports and 256 ids remembered each), 65 536 outstanding
/// queries (the table starts over when full), 1024 spray cases.
final class PoisoningMonitor {
    struct Querier {
        var queries = 0
        /// Distinct source ports (up to 64) and transaction ids (up to 256), in one allocation.
        var seen = PortsAndIDs()
        var lastID: UInt16 = 0
        var sequential = 0
        var withLetters = 0
        var mixedCase = 0
        var withoutRD = 0
        var firstFrame: UInt64 = 0
        /// The first query's time (the evidence's `time`).
        var firstTS: Timestamp = .zero
        var lastFrame: UInt64 = 0
        var input = 0
        var portMin: UInt16 = .max
        var portMax: UInt16 = 0
    }

    struct Outstanding {
        var id: UInt16
        var ts: Timestamp
        var frame: UInt64
    }

    struct Spray {
        var resolver: IPAddress
        var client: IPAddress
        var clientPort: UInt16
        var queryID: UInt16
        var queryFrame: UInt64
        /// The sprayed query's time (the evidence's `time`).
        var queryTS: Timestamp
        var wrongIDs: Set<UInt16> = []
        var frames: [UInt64] = []
        var qname = "?"
        var ipTTLs: Set<UInt8> = []
        var input = 0

        /// One more response with a wrong transaction id (frames and TTLs kept up to 8 each).
        mutating func note(wrongID: UInt16, frame: UInt64, ipTTL: UInt8) {
            wrongIDs.insert(wrongID)
            if frames.count < 8 { frames.append(frame) }
            if ipTTLs.count < 8 { ipTTLs.insert(ipTTL) }
        }
    }

    static let sprayThreshold = 3
    static let outstandingNanoseconds: Int64 = 10_000_000_000

    /// Per querier (no hashing of the address beyond the table's own cheap mix; the previous
    /// query's querier is remembered, entries are never removed).
    private let queriers = FlowTable<IPAddress, Querier>(minimumCapacity: 16)
    private var lastQuerierEntry = -1
    private var lastQuerier = IPAddress(v4: 0)
    private let outstanding = OutstandingTable()
    private var sprays: [UInt64: Spray] = [:]
    /// Flows (flow mix) whose outstanding query was sprayed, for leaving their responses out of
    /// the unsolicited ones.
    private(set) var sprayedFlows: Set<UInt64> = []

    @inline(__always)
    static func key(flowMix: UInt64, questionHash: UInt64) -> UInt64 {
        flowMix ^ (questionHash &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A UDP query to port 53.
    func noteQuery(_ obs: DNSObservation, summary s: DNSSummary, flowMix: UInt64, bytes: UnsafeRawBufferPointer) {
        let letters = PoisoningMonitor.nameCase(bytes)
        let rd = s.flags & 0x0100 != 0
        // One cheap lookup per query (none when the previous query had the same querier): an
        // existing querier is updated in place (its sets are not copied).
        let e: Int
        if lastQuerierEntry >= 0 && lastQuerier == obs.src {
            e = lastQuerierEntry
        } else if let found = queriers.find(obs.src) {
            e = found
        } else {
            guard queriers.count < 4096 else { return }
            e = queriers.insertNew(obs.src, Querier(firstFrame: obs.frame, firstTS: obs.ts, input: obs.input))
        }
        lastQuerierEntry = e
        lastQuerier = obs.src
        queriers[entry: e].note(port: obs.sport, id: s.id, rd: rd, letters: letters, frame: obs.frame)
        if outstanding.count >= OutstandingTable.maxEntries { outstanding.removeAll() }
        outstanding.set(PoisoningMonitor.key(flowMix: flowMix, questionHash: s.questionHash), Outstanding(id: s.id, ts: obs.ts, frame: obs.frame))
    }

    /// A response that matched no open transaction. True when it belongs to a spray already past
    /// the threshold (the caller then does not count it as unsolicited).
    func noteStrayResponse(_ obs: DNSObservation, summary s: DNSSummary, flowMix: UInt64, bytes: UnsafeRawBufferPointer) -> Bool {
        let k = PoisoningMonitor.key(flowMix: flowMix, questionHash: s.questionHash)
        guard let q = outstanding.find(k), q.id != s.id, obs.ts.nanoseconds(since: q.ts) <= PoisoningMonitor.outstandingNanoseconds,
              obs.ts.nanoseconds(since: q.ts) >= 0 else { return false }
        let wrongIDs: Int
        if let i = sprays.index(forKey: k) {
            sprays.values[i].note(wrongID: s.id, frame: obs.frame, ipTTL: obs.ipTTL)
            wrongIDs = sprays.values[i].wrongIDs.count
        } else {
            guard sprays.count < 1024 else { return false }
            var sp = Spray(resolver: obs.src, client: obs.dst, clientPort: obs.dport, queryID: q.id, queryFrame: q.frame, queryTS: q.ts, input: obs.input)
            if case .success(let m) = DNSMessage.parse(bytes), let question = m.questions.first { sp.qname = question.name }
            sp.note(wrongID: s.id, frame: obs.frame, ipTTL: obs.ipTTL)
            wrongIDs = sp.wrongIDs.count
            sprays[k] = sp
        }
        guard wrongIDs >= PoisoningMonitor.sprayThreshold else { return false }
        sprayedFlows.insert(flowMix)
        return true
    }

    /// Flow-sharded analysis (ShardMerge.swift): the queriers as one monitor would hold them.
    func replaceQueriers(_ list: [(IPAddress, Querier)]) {
        queriers.removeAll()
        lastQuerierEntry = -1
        for (a, q) in list { queriers.insertNew(a, q) }
    }

    /// Whether a response went to a flow whose query was sprayed.
    func isSprayed(flowMix: UInt64) -> Bool { sprayedFlows.contains(flowMix) }

    /// The findings, with the addresses seen answering DNS (to tell resolvers from clients).
    func findings(answering: Set<IPAddress>, inputName: (Int) -> String?) -> [Finding] {
        var out: [Finding] = []
        for (addr, q) in queriers.pairs.sorted(by: { $0.key < $1.key }) {
            let isResolver = answering.contains(addr) || q.withoutRD * 2 >= q.queries
            guard isResolver else { continue }
            let e = PoisoningExposureEvidence(resolver: addr.description, queries: q.queries, distinctPorts: q.seen.portCount, distinctIDs: q.seen.idCount,
                                              sequentialIDs: q.sequential, queriesWithLetters: q.withLetters, mixedCaseQueries: q.mixedCase)
            let ports = q.seen.portCount >= 64 ? "64 or more" : "\(q.seen.portCount)"
            let detail = "\(q.queries) upstream queries from \(addr): \(ports) distinct source port(s) (\(q.portMin)–\(q.portMax)), "
                + "\(q.seen.idCount >= 256 ? "256 or more" : "\(q.seen.idCount)") distinct transaction ids, \(q.sequential) sequential, "
                + "0x20 case randomisation \(e.uses0x20 ? "in use" : "not in use") (\(q.mixedCase) of \(q.withLetters) names mixed case)"
            let facts: [(String, SubjectValue)] = [
                ("time", .string(q.firstTS.description)), ("queries", .int(q.queries)), ("distinct_source_ports", .int(q.seen.portCount)), ("source_port_min", .int(Int(q.portMin))),
                ("source_port_max", .int(Int(q.portMax))), ("distinct_txids", .int(q.seen.idCount)), ("sequential_txids", .int(q.sequential)),
                ("mixed_case_names", .int(q.mixedCase)), ("names_with_letters", .int(q.withLetters)),
                ("acts_as", .string(answering.contains(addr) ? "resolver (answers DNS in this capture)" : "iterative resolver (queries without RD)")),
            ]
            if let f = FindingPolicy.poisoningExposure(e, evidence: [Evidence(source: .capture, input: inputName(q.input), frames: [q.firstFrame, q.lastFrame],
                                                                               detail: detail, facts: facts)]) {
                out.append(f)
            }
        }
        for sp in sprays.values.sorted(by: { ($0.queryFrame, $0.client) < ($1.queryFrame, $1.client) })
        where sp.wrongIDs.count >= PoisoningMonitor.sprayThreshold {
            let target = sp.client.isV6 ? "[\(sp.client)]:\(sp.clientPort)" : "\(sp.client):\(sp.clientPort)"
            let ids = sp.wrongIDs.sorted().prefix(12).map(String.init).joined(separator: ", ")
            out.append(FindingPolicy.poisoningAttempt(
                PoisoningAttemptEvidence(resolver: sp.resolver.description, target: target, qname: sp.qname, wrongIDs: sp.wrongIDs.count, genuineAnswered: false),
                evidence: [Evidence(source: .capture, input: inputName(sp.input), frames: [sp.queryFrame] + sp.frames,
                                    detail: "query txid \(sp.queryID) for \(sp.qname); \(sp.wrongIDs.count) responses with other txids (\(ids)\(sp.wrongIDs.count > 12 ? ", …" : "")) "
                                        + "within 10 s; IP TTLs \(sp.ipTTLs.sorted().map(String.init).joined(separator: ", "))",
                                    facts: [("time", .string(sp.queryTS.description)), ("query_txid", .int(Int(sp.queryID))), ("wrong_txids", .int(sp.wrongIDs.count)), ("qname", .string(sp.qname))])]))
        }
        return out
    }

    /// (has letters, mixes upper and lower case) for the question name of a raw message.
    static func nameCase(_ b: UnsafeRawBufferPointer) -> (letters: Bool, mixed: Bool) {
        var i = 12
        var upper = false, lower = false
        var steps = 0
        while i < b.count, steps < 128 {
            steps += 1
            let len = Int(b[i])
            if len == 0 || len & 0xC0 != 0 { break }
            i += 1
            let end = min(b.count, i + len)
            while i < end {
                let c = b[i]
                if c >= 0x41 && c <= 0x5A { upper = true } else if c >= 0x61 && c <= 0x7A { lower = true }
                i += 1
            }
        }
        return (upper || lower, upper && lower)
    }
}

extension PoisoningMonitor.Querier {
    mutating func note(port: UInt16, id: UInt16, rd: Bool, letters: (letters: Bool, mixed: Bool), frame: UInt64) {
        if queries > 0 {
            let d = id &- lastID
            if d >= 1 && d <= 16 { sequential += 1 }
        }
        queries += 1
        lastID = id
        lastFrame = frame
        seen.note(port: port, id: id)
        portMin = min(portMin, port)
        portMax = max(portMax, port)
        if !rd { withoutRD += 1 }
        if letters.letters { withLetters += 1 }
        if letters.mixed { mixedCase += 1 }
    }
}

/// A querier's distinct source ports (counted up to 64) and transaction ids (up to 256): two
/// open-addressing regions of one array (ports in the first 128 slots, ids in the next 512, both
/// at most half full) with a multiplicative hash, so a query costs a multiply and a probe or two
/// in one allocation, not two SipHashes in two sets. 0 marks an empty slot; the value 0 is a flag.
struct PortsAndIDs {
    private var slots: [UInt16] = []
    private var zeroPort = false
    private var zeroID = false
    private(set) var portCount = 0
    private(set) var idCount = 0

    mutating func note(port: UInt16, id: UInt16) {
        let addPort = portCount < 64, addID = idCount < 256
        guard addPort || addID else { return }
        if slots.isEmpty { slots = [UInt16](repeating: 0, count: 640) }
        var newPorts = 0, newIDs = 0
        slots.withUnsafeMutableBufferPointer { b in
            guard let base = b.baseAddress else { return }
            if addPort {
                if port == 0 {
                    if !zeroPort { zeroPort = true; newPorts = 1 }
                } else if PortsAndIDs.place(port, base, mask: 127) {
                    newPorts = 1
                }
            }
            if addID {
                if id == 0 {
                    if !zeroID { zeroID = true; newIDs = 1 }
                } else if PortsAndIDs.place(id, base + 128, mask: 511) {
                    newIDs = 1
                }
            }
        }
        portCount += newPorts
        idCount += newIDs
    }

    /// Places `v` (not 0) in the region at `base`; false when it was there already.
    @inline(__always)
    private static func place(_ v: UInt16, _ base: UnsafeMutablePointer<UInt16>, mask: Int) -> Bool {
        var i = Int(truncatingIfNeeded: (UInt32(v) &* 0x9E37_79B1) >> 15) & mask
        while true {
            let x = base[i]
            if x == v { return false }
            if x == 0 { base[i] = v; return true }
            i = (i + 1) & mask
        }
    }
}

/// The outstanding queries of `PoisoningMonitor` (key: flow mix and question hash), with the
/// semantics of the dictionary it replaces (a set overwrites, `count` counts distinct keys,
/// `removeAll` empties it; the monitor empties it at 65 536 keys). Built for one small random
/// access per query: entries are appended in order (sequential stores), and the index is
/// 131 072 four-byte slots (512 KiB: 15 bits of the key's hash as a tag, 17 bits entry + 1),
/// probed linearly; a tag match is confirmed against the entry's full key. No SipHash, no
/// reference counting.
final class OutstandingTable {
    struct Entry {
        var key: UInt64
        var value: PoisoningMonitor.Outstanding
    }
    static let maxEntries = 65_536
    private static let indexSize = 131_072
    private let index: UnsafeMutablePointer<UInt32>
    private let entries: UnsafeMutablePointer<Entry>
    private(set) var count = 0

    init() {
        index = .allocate(capacity: OutstandingTable.indexSize)
        index.initialize(repeating: 0, count: OutstandingTable.indexSize)
        entries = .allocate(capacity: OutstandingTable.maxEntries)
    }

    deinit {
        index.deallocate()
        entries.deallocate()  // Entry is trivial: nothing to deinitialize
    }

    @inline(__always)
    private static func mix(_ key: UInt64) -> UInt64 { key &* 0x9E37_79B9_7F4A_7C15 }

    /// The index slot holding `key`, or the empty slot where it would go.
    @inline(__always)
    private func slot(_ key: UInt64) -> (position: Int, entry: Int?) {
        let h = OutstandingTable.mix(key)
        let tag = UInt32(truncatingIfNeeded: h >> 17) & 0x7FFF
        var i = Int(truncatingIfNeeded: h >> 47)  // 17 bits: 0..<131 072
        while true {
            let s = index[i]
            if s == 0 { return (i, nil) }
            if s >> 17 == tag {
                let e = Int(s & 0x1FFFF) - 1
                if entries[e].key == key { return (i, e) }
            }
            i = (i + 1) & (OutstandingTable.indexSize - 1)
        }
    }

    func find(_ key: UInt64) -> PoisoningMonitor.Outstanding? {
        guard let e = slot(key).entry else { return nil }
        return entries[e].value
    }

    /// Sets `key` (the caller keeps `count` below `maxEntries`, as the monitor does).
    func set(_ key: UInt64, _ value: PoisoningMonitor.Outstanding) {
        let s = slot(key)
        if let e = s.entry {
            entries[e].value = value
            return
        }
        precondition(count < OutstandingTable.maxEntries, "OutstandingTable is full")
        (entries + count).initialize(to: Entry(key: key, value: value))
        let tag = UInt32(truncatingIfNeeded: OutstandingTable.mix(key) >> 17) & 0x7FFF
        index[s.position] = tag << 17 | UInt32(count + 1)
        count += 1
    }

    func removeAll() {
        index.update(repeating: 0, count: OutstandingTable.indexSize)
        count = 0
    }
}
