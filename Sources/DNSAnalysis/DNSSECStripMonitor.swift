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

    /// A response (any): cheap checks on the summary first.
    func noteResponse(_ obs: DNSObservation, summary s: DNSSummary, bytes: UnsafeRawBufferPointer) {
        guard s.flags & 0x0020 != 0, s.rcode == 0, s.counts.an > 0 else { return }
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
        }
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
    }
}
