import DNSWire
import FindingPolicy
import Findings
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
        var ports: Set<UInt16> = []
        var ids: Set<UInt16> = []
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

    private var queriers: [IPAddress: Querier] = [:]
    private var outstanding: [UInt64: Outstanding] = [:]
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
        // One hash per query: an existing querier is updated in place (its sets are not copied).
        if let i = queriers.index(forKey: obs.src) {
            queriers.values[i].note(port: obs.sport, id: s.id, rd: rd, letters: letters, frame: obs.frame)
        } else {
            guard queriers.count < 4096 else { return }
            var q = Querier(firstFrame: obs.frame, firstTS: obs.ts, input: obs.input)
            q.note(port: obs.sport, id: s.id, rd: rd, letters: letters, frame: obs.frame)
            queriers[obs.src] = q
        }
        if outstanding.count >= 65_536 { outstanding.removeAll(keepingCapacity: true) }
        outstanding[PoisoningMonitor.key(flowMix: flowMix, questionHash: s.questionHash)] = Outstanding(id: s.id, ts: obs.ts, frame: obs.frame)
    }

    /// A response that matched no open transaction. True when it belongs to a spray already past
    /// the threshold (the caller then does not count it as unsolicited).
    func noteStrayResponse(_ obs: DNSObservation, summary s: DNSSummary, flowMix: UInt64, bytes: UnsafeRawBufferPointer) -> Bool {
        let k = PoisoningMonitor.key(flowMix: flowMix, questionHash: s.questionHash)
        guard let q = outstanding[k], q.id != s.id, obs.ts.nanoseconds(since: q.ts) <= PoisoningMonitor.outstandingNanoseconds,
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
        queriers = Dictionary(list, uniquingKeysWith: { a, _ in a })
    }

    /// Whether a response went to a flow whose query was sprayed.
    func isSprayed(flowMix: UInt64) -> Bool { sprayedFlows.contains(flowMix) }

    /// The findings, with the addresses seen answering DNS (to tell resolvers from clients).
    func findings(answering: Set<IPAddress>, inputName: (Int) -> String?) -> [Finding] {
        var out: [Finding] = []
        for (addr, q) in queriers.sorted(by: { $0.key < $1.key }) {
            let isResolver = answering.contains(addr) || q.withoutRD * 2 >= q.queries
            guard isResolver else { continue }
            let e = PoisoningExposureEvidence(resolver: addr.description, queries: q.queries, distinctPorts: q.ports.count, distinctIDs: q.ids.count,
                                              sequentialIDs: q.sequential, queriesWithLetters: q.withLetters, mixedCaseQueries: q.mixedCase)
            let ports = q.ports.count >= 64 ? "64 or more" : "\(q.ports.count)"
            let detail = "\(q.queries) upstream queries from \(addr): \(ports) distinct source port(s) (\(q.portMin)–\(q.portMax)), "
                + "\(q.ids.count >= 256 ? "256 or more" : "\(q.ids.count)") distinct transaction ids, \(q.sequential) sequential, "
                + "0x20 case randomisation \(e.uses0x20 ? "in use" : "not in use") (\(q.mixedCase) of \(q.withLetters) names mixed case)"
            let facts: [(String, SubjectValue)] = [
                ("time", .string(q.firstTS.description)), ("queries", .int(q.queries)), ("distinct_source_ports", .int(q.ports.count)), ("source_port_min", .int(Int(q.portMin))),
                ("source_port_max", .int(Int(q.portMax))), ("distinct_txids", .int(q.ids.count)), ("sequential_txids", .int(q.sequential)),
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
        if ports.count < 64 { ports.insert(port) }
        if ids.count < 256 { ids.insert(id) }
        portMin = min(portMin, port)
        portMax = max(portMax, port)
        if !rd { withoutRD += 1 }
        if letters.letters { withLetters += 1 }
        if letters.mixed { mixedCase += 1 }
    }
}
