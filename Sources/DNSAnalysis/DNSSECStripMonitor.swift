import DNSWire
import FindingPolicy
import Findings
import NetTypes

/// DNSSEC stripping seen in a capture (issue 20 item 5): a response that claims validation (AD)
/// for a query that asked for DNSSEC records (DO echoed in the response's OPT) and carries
/// answers but none of their RRSIGs. A security-aware server must include the RRSIGs when DO is
/// set (RFC 4035 §3.2.1), so AD without them is a validation claim something on the path made up
/// or kept while removing the signatures. Only AD responses are parsed; one finding per
/// (resolver, name), at most 64.
final class DNSSECStripMonitor {
    struct Case {
        var resolver: IPAddress
        var qname: String
        var frames: [UInt64] = []
        var count = 0
        var input = 0
        var answers: String = ""
        /// The first such response's time (the evidence's `time`).
        var firstTS: Timestamp = .zero

        /// One more such response (frames kept up to 8).
        mutating func note(frame: UInt64) {
            count += 1
            if frames.count < 8 { frames.append(frame) }
        }
    }
    private var cases: [String: Case] = [:]
    private var order: [String] = []
    /// Cases kept (64). A flow-sharded worker keeps more (`DNSTransactionTracker.keepsMoreForMerging`),
    /// so that the 64 a single monitor keeps are whole after `merge`.
    var maxCases = 64
    /// (resolver, question name) hashes of the cases kept (`quickCheck`), so that once the table
    /// is full a response for another name is passed over without parsing; off when a case's
    /// name could not be hashed from the bytes (then every candidate is parsed, as before).
    private var caseHashes: Set<UInt64> = []
    private var unindexed = false

    /// A response (any): cheap checks on the summary first, then on the bytes, then the parse.
    func noteResponse(_ obs: DNSObservation, summary s: DNSSummary, bytes: UnsafeRawBufferPointer) {
        guard s.flags & 0x0020 != 0, s.rcode == 0, s.counts.an > 0 else { return }
        var nameHash: UInt64?
        if s.fullyWellFormed {
            // Every record walks cleanly, so the parse would see the same records: the byte walk's
            // "no case" is the parse's too.
            let q = DNSSECStripMonitor.quickCheck(bytes, qtype: s.qtype)
            if q.noCase { return }
            nameHash = q.nameHash.map { $0 ^ obs.src.tableHash }
            if cases.count >= maxCases, !unindexed, let h = nameHash, !caseHashes.contains(h) { return }
        }
        guard case .success(let m) = DNSMessage.parse(bytes), m.edns?.dnssecOK == true else { return }
        let data = m.answers.filter { $0.type != 46 }
        guard !data.isEmpty, !m.answers.contains(where: { $0.type == 46 }), let q = m.questions.first else { return }
        // Answers of the asked type only (a CNAME to an unsigned zone may have no RRSIG of its own there).
        guard data.contains(where: { $0.type == q.type }) else { return }
        let key = "\(obs.src)|\(q.name.lowercased())"
        if let i = cases.index(forKey: key) {
            cases.values[i].note(frame: obs.frame)
        } else {
            guard cases.count < maxCases else { return }
            var c = Case(resolver: obs.src, qname: q.name, input: obs.input,
                         answers: data.prefix(4).map { "\(DNSType.mnemonic($0.type)) \($0.rdata.presentation)" }.joined(separator: ", "))
            c.firstTS = obs.ts
            c.note(frame: obs.frame)
            cases[key] = c
            order.append(key)
            if let h = nameHash { caseHashes.insert(h) } else { unindexed = true }
        }
    }

    /// A byte walk of a fully well-formed response: `noCase` when it cannot be a case (an RRSIG
    /// among the answers, no answer of the asked type, no question, or no OPT record with DO);
    /// `nameHash`: the first question's name, ASCII case folded (nil when it has a compression
    /// pointer). Conservative: anything unexpected says "maybe" and leaves it to the parse.
    static func quickCheck(_ b: UnsafeRawBufferPointer, qtype: UInt16) -> (noCase: Bool, nameHash: UInt64?) {
        let n = b.count
        guard n >= 12 else { return (false, nil) }
        @inline(__always) func be16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
        let qd = be16(4), an = be16(6), ns = be16(8), ar = be16(10)
        guard qd > 0 else { return (true, nil) }
        // The first question's name, hashed (FNV-1a over length bytes and folded label bytes).
        var nameHash: UInt64? = 0xcbf2_9ce4_8422_2325
        var i = 12
        while true {
            guard i < n else { return (false, nil) }
            let len = Int(b[i])
            if len & 0xC0 != 0 { nameHash = nil; break }
            guard i + 1 + len <= n else { return (false, nil) }
            var h = nameHash! ^ UInt64(len)
            h = h &* 0x100_0000_01b3
            for j in (i + 1)..<(i + 1 + len) {
                var c = b[j]
                if c >= 0x41 && c <= 0x5A { c |= 0x20 }
                h = (h ^ UInt64(c)) &* 0x100_0000_01b3
            }
            nameHash = h
            i += 1 + len
            if len == 0 { break }
        }
        /// Just past the name at `p`, or nil.
        func skipName(_ p: Int) -> Int? {
            var p = p
            var steps = 0
            while p < n, steps < 128 {
                steps += 1
                let len = Int(b[p])
                if len & 0xC0 == 0xC0 { return p + 2 <= n ? p + 2 : nil }
                if len & 0xC0 != 0 { return nil }
                p += 1 + len
                if len == 0 { return p <= n ? p : nil }
            }
            return nil
        }
        var pos = 12
        for _ in 0..<qd {
            guard let e = skipName(pos), e + 4 <= n else { return (false, nameHash) }
            pos = e + 4
        }
        var asked = false
        for _ in 0..<an {
            guard let e = skipName(pos), e + 10 <= n else { return (false, nameHash) }
            let type = be16(e)
            if type == 46 { return (true, nameHash) }
            if type == Int(qtype) { asked = true }
            pos = e + 10 + be16(e + 8)
        }
        if !asked { return (true, nameHash) }
        for _ in 0..<ns {
            guard let e = skipName(pos), e + 10 <= n else { return (false, nameHash) }
            pos = e + 10 + be16(e + 8)
        }
        for _ in 0..<ar {
            guard let e = skipName(pos), e + 10 <= n else { return (false, nameHash) }
            if be16(e) == 41 && b[e + 6] & 0x80 != 0 { return (false, nameHash) }
            pos = e + 10 + be16(e + 8)
        }
        guard pos <= n else { return (false, nameHash) }
        return (true, nameHash)  // no OPT with DO
    }

    func findings(inputName: (Int) -> String?) -> [Finding] {
        order.compactMap { cases[$0] }.map { c in
            let name = c.qname.hasSuffix(".") ? String(c.qname.dropLast()) : c.qname
            return FindingPolicy.dnssecStripped(
                DNSSECStrippingEvidence(resolver: c.resolver.description, qname: name, reason: .adWithoutSignatures, fromCapture: true),
                evidence: [Evidence(source: .capture, input: inputName(c.input), frames: c.frames,
                                    detail: "\(c.count) response(s) from \(c.resolver) for \(name) with DO echoed and AD set carry \(c.answers) and no RRSIG "
                                        + "(a security-aware server must include them when DO is set, RFC 4035 §3.2.1)",
                                    facts: [("time", .string(c.firstTS.description)), ("responses", .int(c.count)), ("rrsigs", .int(0)), ("ad", .int(1)), ("do", .int(1))])])
        }
    }
}

extension DNSSECStripMonitor {
    /// Flow-sharded analysis: the cases of monitors that each saw part of the capture's flows,
    /// merged into the first as one monitor would have kept them (a (resolver, name) case counts
    /// every worker's responses, frames kept in frame order up to 8; the first 64 cases by first
    /// appearance); the others are emptied.
    static func merge(_ monitors: [DNSSECStripMonitor]) {
        guard let first = monitors.first, monitors.count > 1 else { return }
        var merged: [String: Case] = [:]
        for m in monitors {
            for (key, c) in m.cases {
                guard var e = merged[key] else {
                    merged[key] = c
                    continue
                }
                let cFirst = (c.input, c.frames.first ?? 0) < (e.input, e.frames.first ?? 0)
                if cFirst {
                    let frames = e.frames
                    let count = e.count
                    e = c
                    e.frames = Array((c.frames + frames).sorted().prefix(8))
                    e.count = c.count + count
                } else {
                    e.frames = Array((e.frames + c.frames).sorted().prefix(8))
                    e.count += c.count
                }
                merged[key] = e
            }
            m.cases = [:]
            m.order = []
        }
        let order = merged.sorted { ($0.value.input, $0.value.frames.first ?? 0) < ($1.value.input, $1.value.frames.first ?? 0) }
            .prefix(64).map(\.key)
        first.order = order
        first.cases = merged.filter { order.contains($0.key) }
        for m in monitors { m.unindexed = true }
    }
}
