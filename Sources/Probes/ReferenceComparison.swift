import AnswerComparison
import DNSObservations
import DNSWire
import Findings
import ResolverClients

/// `analyze --reference`: each distinct (qname, qtype) the capture answered is asked of the
/// references, and the comparison engine judges the path's answer. References answer *now*; the
/// report says so. A reference that fails is a note ("reference unavailable"), never a finding.
public struct ReferenceComparison: Sendable {
    public struct Outcome: Sendable {
        public var findings: [Finding] = []
        public var notes: [String] = []
        public var compared = 0
        public var consistent = 0
        public var referencesDisagreed = 0
        public var unanswered = 0
        public var skipped = 0
        /// Consistent answers that differ from the references' but were tolerated (split-horizon…).
        public var tolerated = 0
    }

    public var maxLookups: Int
    public init(maxLookups: Int = 2000) { self.maxLookups = maxLookups }

    public func run(_ answers: [CapturedAnswer], references: ReferenceSet, inputName: @escaping @Sendable (Int) -> String?,
                    progress: (@Sendable (Int, Int) -> Void)? = nil) async -> Outcome {
        var out = Outcome()
        let todo = Array(answers.prefix(maxLookups))
        out.skipped = answers.count - todo.count
        let refNames = references.endpoints.map(\.description)
        var failures: [String: [String]] = [:]  // reference → reasons
        var tolerated: [String] = []  // examples of tolerated differences, with the reason
        // One lookup per distinct (qname, qtype): the captured answers of several resolvers,
        // transports and clients for one name share it. Bounded concurrency comes from the
        // ReferenceSet's limiter; a task group keeps it busy.
        var questionIndex: [String: Int] = [:]
        var questions: [(String, UInt16)] = []
        var questionOf: [Int] = []
        for a in todo {
            let k = "\(a.qname)|\(a.qtype)"
            if let q = questionIndex[k] { questionOf.append(q); continue }
            questionIndex[k] = questions.count
            questionOf.append(questions.count)
            questions.append((a.qname, a.qtype))
        }
        let asked = await withTaskGroup(of: (Int, [ReferenceOutcome]).self) { group in
            var next = 0
            var collected: [(Int, [ReferenceOutcome])] = []
            let window = 16
            while next < questions.count && next < window {
                let i = next, q = questions[i]
                group.addTask { (i, await references.lookup(q.0, type: q.1)) }
                next += 1
            }
            for await r in group {
                collected.append(r)
                progress?(collected.count, questions.count)
                if next < questions.count {
                    let i = next, q = questions[i]
                    group.addTask { (i, await references.lookup(q.0, type: q.1)) }
                    next += 1
                }
            }
            return Dictionary(collected, uniquingKeysWith: { a, _ in a })
        }
        let results = todo.indices.map { i in (i, asked[questionOf[i]] ?? []) }
        // Resolvers that answered some name with a private or loopback address: rebinding protection
        // (a filter of such answers) cannot explain their empty answers.
        let passesPrivate = Set(todo.filter { $0.answer.addresses.contains(where: Bogon.isRebindingTarget) }.map(\.resolver))
        var byID: [String: Int] = [:]
        for (i, outcomes) in results {
            let a = todo[i]
            var sets: [AnswerSet?] = []
            for (k, o) in outcomes.enumerated() {
                switch o {
                case .answer(let m): sets.append(AnswerSet(message: m))
                case .unavailable(let e):
                    sets.append(nil)
                    let name = k < refNames.count ? refNames[k] : "reference \(k + 1)"
                    if failures[name, default: []].count < 3 { failures[name, default: []].append("\(a.qname): \(e)") }
                }
            }
            if HTTPSRecordFindings.isServiceType(a.qtype) {
                // HTTPS / SVCB answers: their parameters (ech, alpn, port, hints), not addresses.
                compareServiceRecords(a, sets, refNames: refNames, input: inputName(a.input), into: &out, byID: &byID)
                continue
            }
            let result = AnswerComparator.compare(path: a.answer, references: sets, pathPassesPrivate: passesPrivate.contains(a.resolver))
            out.compared += 1
            switch result.verdict {
            case .consistent:
                out.consistent += 1
                if let why = result.tolerance {
                    out.tolerated += 1
                    if tolerated.count < 5 { tolerated.append("\(a.qname) \(DNSType.mnemonic(a.qtype)): \(why)") }
                }
            case .referencesDisagree: out.referencesDisagreed += 1
            case .noReference: out.unanswered += 1
            case .inconsistent:
                if let f = AnswerFindings.finding(qname: a.qname, qtype: a.qtype, path: a.answer, result: result,
                                                  resolver: a.resolver.description, transport: a.transport, references: refNames,
                                                  source: .capture, input: inputName(a.input), frames: [a.frame], capturedNote: true)
                    .map({ f in
                        // The captured answer's evidence says when it arrived (ECS @timestamp, EVE timestamp).
                        var f = f
                        for i in f.evidence.indices where f.evidence[i].source == .capture && f.evidence[i].frames == [a.frame] {
                            f.evidence[i].facts.insert(("time", .string(a.ts.description)), at: 0)
                        }
                        return f
                    }) {
                    // Several answers for one subject (different answers to different clients): one finding.
                    if let k = byID[f.id] {
                        out.findings[k].evidence += f.evidence.filter { $0.source != .reference }
                    } else {
                        byID[f.id] = out.findings.count
                        out.findings.append(f)
                    }
                }
            }
        }
        for name in refNames {
            if let f = failures[name] {
                out.notes.append("reference \(name) unavailable for some names (\(f.joined(separator: "; "))); those comparisons used the other references")
            }
        }
        if out.tolerated > 0 {
            out.notes.append("\(out.tolerated) answer(s) differ from the references but were judged consistent: " + tolerated.joined(separator: "; ")
                + (out.tolerated > tolerated.count ? "; …" : ""))
        }
        out.notes.append("References were asked now, not at capture time: \(out.compared) name(s) compared, \(out.consistent) consistent, "
            + "\(out.findings.count) inconsistent, \(out.referencesDisagreed) where the references disagree with each other (not judged), "
            + "\(out.unanswered) no reference could answer"
            + (out.skipped > 0 ? "; \(out.skipped) more name(s) not asked (--max-lookups)" : ""))
        return out
    }
}
