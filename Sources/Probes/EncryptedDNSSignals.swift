import AnswerComparison
import DNSWire
import FindingPolicy
import Findings
import Foundation
import ResolverClients

/// The opt-out canaries (issue 20 item 3) and Chrome's NXDOMAIN-hijack check (item 7).
extension ProbeRunner {
    /// The canaries browsers and operating systems honour to switch encrypted DNS off.
    public static let defaultOptOutCanaries = ["use-application-dns.net", "mask.icloud.com", "mask-h2.icloud.com"]

    /// Each canary asked (A) through each resolver under test and through the references. The
    /// path answering NXDOMAIN or no data where at least one reference answers with addresses is
    /// `encrypted-dns.opt-out-canary`; without a usable reference nothing is said (the canaries do
    /// resolve in the public DNS, but only the references may say so).
    func optOutCanaries(_ resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet?, into out: inout ProbeResults) async {
        guard !config.optOutCanaries.isEmpty, !resolvers.isEmpty else { return }
        guard let references else {
            out.notes.append("opt-out canaries (\(config.optOutCanaries.joined(separator: ", "))) not checked: no usable reference to compare with")
            return
        }
        for canary in config.optOutCanaries.prefix(8) {
            let refs = await references.lookup(canary, type: DNSType.a)
            let refSets = refs.compactMap { $0.message.map(AnswerSet.init(message:)) }
            let answering = refSets.filter { $0.isNoError && !$0.addresses.isEmpty }
            let refText = refSets.isEmpty ? "no reference answered"
                : refSets.map(AnswerFindings.describe).joined(separator: " | ")
            for (endpoint, client) in resolvers {
                let path: AnswerSet
                do {
                    path = AnswerSet(message: try await client.query(canary, type: DNSType.a))
                } catch {
                    out.notes.append("opt-out canary \(canary) via \(endpoint.host): \(ResolverError.classify(error))")
                    continue
                }
                let pathText = AnswerFindings.describe(path)
                out.inputs.append(ReportInput(kind: "probe", name: "opt-out canary \(canary) via \(endpoint.host)",
                                              facts: [("qname", .string(canary)), ("answer", .string(pathText)), ("references", .string(refText))]))
                let switchedOff = path.isNXDomain || (path.isNoError && path.addresses.isEmpty)
                guard switchedOff else { continue }
                guard !answering.isEmpty else {
                    if !refSets.isEmpty {
                        out.notes.append("opt-out canary \(canary): \(endpoint.host) answers \(pathText), and so do the references (\(refText)): no finding")
                    }
                    continue
                }
                var e = OptOutCanaryEvidence(canary: canary, resolver: endpoint.host, pathAnswer: pathText, referencesAnswering: answering.count)
                e.raisedTo = config.optOutCanarySeverityByProduct[e.product.rawValue] ?? config.optOutCanarySeverity
                out.findings.append(FindingPolicy.optOutCanary(
                    e,
                    evidence: [
                        Evidence(source: .probe, detail: "\(canary) A via \(endpoint.host): \(pathText)",
                                 facts: [("rcode", .string(DNSRCode.name(path.rcode))), ("addresses", .string(""))]),
                        Evidence(source: .reference, detail: "\(answering.count) of \(refSets.count) reference(s) answer \(canary) with addresses: \(refText)",
                                 facts: [("reference_addresses", .string(Array(Set(answering.flatMap(\.addresses))).sorted().joined(separator: ",")))]),
                    ]))
            }
        }
    }

    /// Chrome's interception check: three random single-label names (10–15 letters; no such
    /// top-level domain exists) asked through each resolver. Two or more answered with a shared
    /// address means the resolver makes up answers for names that do not exist:
    /// `dns.nxdomain-rewrite` (reason `nxdomain-rewrite`, `check: random-single-label`), judged by
    /// the same comparison policy as every other rewrite.
    func randomLabelHijack(_ resolvers: [(ResolverEndpoint, ResolverClient)], into out: inout ProbeResults) async {
        guard config.randomLabelCheck else { return }
        var rng = SystemRandomNumberGenerator()
        let names: [String] = (0..<3).map { _ in
            String((0..<Int.random(in: 10...15, using: &rng)).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement(using: &rng)! })
        }
        for (endpoint, client) in resolvers {
            var answers: [(name: String, set: AnswerSet)] = []
            var facts: [(String, SubjectValue)] = []
            for n in names {
                do {
                    let a = AnswerSet(message: try await client.query(n, type: DNSType.a))
                    answers.append((n, a))
                    facts.append((n, .string(AnswerFindings.describe(a))))
                } catch {
                    facts.append((n, .string("no answer: \(ResolverError.classify(error))")))
                }
            }
            out.inputs.append(ReportInput(kind: "probe", name: "random single-label names via \(endpoint.host)", facts: facts))
            // The address (or addresses) most of the answers share.
            var counts: [String: Int] = [:]
            for a in answers { for addr in Set(a.set.addresses) { counts[addr, default: 0] += 1 } }
            guard let (shared, times) = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }), times >= 2 else { continue }
            let hit = answers.filter { $0.set.addresses.contains(shared) }
            let result = AnswerComparisonResult(verdict: .inconsistent, reason: "nxdomain-rewrite", certainty: times >= 3 ? .likely : .possible,
                                                bogons: [], referenceAddresses: [], referencesAnswered: 0)
            guard var f = AnswerFindings.finding(qname: hit[0].name, qtype: DNSType.a, path: hit[0].set, result: result, resolver: endpoint.host,
                                                 references: ["the root zone (no such top-level domain)"], source: .probe) else { continue }
            f.subject.append(("check", .string("random-single-label")))
            f.title = "\(endpoint.host) answers \(shared) for \(times) of 3 random single-label names that cannot exist: NXDOMAIN is being hijacked"
            f.evidence.insert(Evidence(source: .probe,
                                       detail: "random single-label names via \(endpoint.host): "
                                           + facts.map { "\($0.0) → \($0.1)" }.joined(separator: "; "),
                                       facts: [("shared_address", .string(shared)), ("names_answered", .int(times))]), at: 0)
            out.findings.append(f)
        }
    }
}
