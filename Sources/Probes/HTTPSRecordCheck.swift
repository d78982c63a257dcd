import AnswerComparison
import DNSWire
import FindingPolicy
import Findings
import DNSObservations
import ResolverClients

/// Findings from the HTTPS/SVCB comparison (shared by `probe` and `analyze --reference`).
public enum HTTPSRecordFindings {
    /// The questions compared as HTTPS/SVCB records rather than addresses.
    public static func isServiceType(_ qtype: UInt16) -> Bool { qtype == DNSType.https || qtype == DNSType.svcb }

    /// A finding for an inconsistent comparison; nil for anything else.
    public static func finding(qname: String, qtype: UInt16, path: AnswerSet, result: ServiceComparisonResult, resolver: String?,
                               transport: String? = nil, references: [String], source: EvidenceSource, input: String? = nil,
                               frames: [UInt64] = [], capturedNote: Bool = false) -> Finding? {
        guard result.isInconsistent else { return nil }
        let pathText = describe(path)
        let e = HTTPSRecordEvidence(qname: qname, qtype: DNSType.mnemonic(qtype), resolver: resolver, transport: transport, reason: result.reason,
                                    differences: result.differences, pathAnswer: pathText, referenceRecords: result.referenceRecords,
                                    referencesWithRecord: result.referencesWithRecord, referencesHaveECH: result.referencesHaveECH,
                                    likely: result.certainty == .likely)
        let evidence = [
            Evidence(source: source, input: input, frames: frames,
                     detail: "the path answered \(pathText)" + (capturedNote ? " (at capture time)" : ""),
                     facts: [("rcode", .string(DNSRCode.name(path.rcode))), ("records", .string(path.services.map(\.summary).joined(separator: " | "))),
                             ("differences", .string(result.differences.joined(separator: "; ")))]),
            Evidence(source: .reference,
                     detail: "\(result.referencesWithRecord) of \(result.referencesAnswered) reference(s) (\(references.joined(separator: ", "))) answer "
                        + (result.referenceRecords.isEmpty ? "no record" : result.referenceRecords.prefix(4).joined(separator: " | "))
                        + (capturedNote ? " — asked now, not at capture time" : ""),
                     facts: [("reference_records", .string(result.referenceRecords.joined(separator: " | ")))]),
        ]
        return FindingPolicy.httpsRecord(e, evidence: evidence)
    }

    static func describe(_ a: AnswerSet) -> String {
        if a.rcode != 0 { return DNSRCode.name(a.rcode) }
        if a.services.isEmpty { return "NOERROR, no HTTPS/SVCB record" }
        return a.services.prefix(3).map(\.summary).joined(separator: " | ") + (a.services.count > 3 ? " (+\(a.services.count - 3))" : "")
    }
}

/// What a whoami-style echo name's TXT answer says about EDNS Client Subnet.
public enum ECSEcho {
    public struct Seen: Sendable, Equatable {
        public var subnet: String
        public var prefixLength: Int
        public var isIPv6: Bool

        public init(subnet: String, prefixLength: Int, isIPv6: Bool) {
            self.subnet = subnet
            self.prefixLength = prefixLength
            self.isIPv6 = isIPv6
        }
    }

    /// The subnet an echo answer reports, from TXT records such as Google's
    /// `"edns0-client-subnet 198.18.1.0/24"` or Akamai's `"ecs" "198.18.1.0/24/24"`; nil when no
    /// TXT string names a client subnet (the authoritative saw none).
    public static func parse(_ m: DNSMessage) -> Seen? {
        for rr in m.answers {
            guard case .txt(let strings) = rr.rdata else { continue }
            let texts = strings.map { String(decoding: $0, as: UTF8.self) }
            let joined = texts.joined(separator: " ").lowercased()
            guard joined.contains("client-subnet") || joined.contains("client subnet") || texts.first?.lowercased() == "ecs" else { continue }
            for token in joined.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," || $0 == "=" }) {
                let parts = token.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count >= 2, let len = Int(parts[1]) else { continue }
                let addr = String(parts[0])
                if DNSIPv4Address(addr) != nil, (0...32).contains(len) { return Seen(subnet: "\(addr)/\(len)", prefixLength: len, isIPv6: false) }
                if DNSIPv6Address(addr) != nil, (0...128).contains(len) { return Seen(subnet: "\(addr)/\(len)", prefixLength: len, isIPv6: true) }
            }
        }
        return nil
    }

    /// Whether the answer has any TXT record (an echo name that answered at all).
    public static func hasTXT(_ m: DNSMessage) -> Bool {
        m.answers.contains { if case .txt = $0.rdata { return true } else { return false } }
    }
}

/// Issue 20 items 4 and 6: HTTPS records and ECH, EDNS Client Subnet, rebinding protection.
extension ProbeRunner {
    /// Public names that publish an HTTPS record with `ech=` (documentation only: nothing is asked
    /// unless configured).
    public static let exampleECHNames = ["crypto.cloudflare.com", "defo.ie"]

    /// Each configured name's HTTPS record asked through each resolver under test and the
    /// references, compared by `ServiceRecordComparator`: ECH or the record removed →
    /// `dns.https-record-stripped`; other rewrites → `dns.answer-mismatch` (`reason: https-…`).
    func httpsRecordChecks(_ resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet?, into out: inout ProbeResults) async {
        guard let (references, refNames) = comparisonReferences("HTTPS records", config.httpsNames, resolvers, references, into: &out) else { return }
        for name in config.httpsNames.prefix(16) {
            let (refs, paths) = await ask(name, type: DNSType.https, what: "HTTPS record of", resolvers, references, into: &out)
            let refText = refs.compactMap { $0 }.map(HTTPSRecordFindings.describe).joined(separator: " | ")
            for (endpoint, path) in paths {
                let result = ServiceRecordComparator.compare(path: path, references: refs)
                out.inputs.append(ReportInput(kind: "probe", name: "HTTPS record \(name) via \(endpoint.host)",
                                              facts: [("qname", .string(name)), ("answer", .string(HTTPSRecordFindings.describe(path))),
                                                      ("references", .string(refText.isEmpty ? "no reference answered" : refText)),
                                                      ("verdict", .string("\(result.verdict.rawValue): \(result.reason)"))]))
                switch result.verdict {
                case .inconsistent:
                    if let f = HTTPSRecordFindings.finding(qname: name, qtype: DNSType.https, path: path, result: result, resolver: endpoint.host,
                                                           references: refNames, source: .probe) {
                        out.findings.append(f)
                    }
                case .referencesDisagree:
                    out.notes.append("HTTPS record of \(name): the references disagree with each other (\(refText)); \(endpoint.host) not judged")
                case .noReference:
                    out.notes.append("HTTPS record of \(name): no reference answered; \(endpoint.host) not judged")
                case .consistent: continue
                }
            }
        }
    }

    /// The preamble the reference comparisons share: nothing to do without names or resolvers;
    /// without a usable reference, a note naming what was not checked. The references and their names.
    func comparisonReferences(_ what: String, _ names: [String], _ resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet?,
                              into out: inout ProbeResults) -> (ReferenceSet, [String])? {
        guard !names.isEmpty, !resolvers.isEmpty else { return nil }
        guard let references else {
            out.notes.append("\(what) (\(names.joined(separator: ", "))) not checked: no usable reference to compare with")
            return nil
        }
        return (references, references.endpoints.map(\.description))
    }

    /// `name` asked through the references and through every resolver under test; a resolver that
    /// does not answer is a note ("WHAT NAME via HOST: reason") and has no entry.
    func ask(_ name: String, type: UInt16, what: String, _ resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet,
             into out: inout ProbeResults) async -> (refs: [AnswerSet?], paths: [(endpoint: ResolverEndpoint, path: AnswerSet)]) {
        let refs = await references.lookup(name, type: type).map { $0.message.map(AnswerSet.init(message:)) }
        var paths: [(endpoint: ResolverEndpoint, path: AnswerSet)] = []
        for (endpoint, client) in resolvers {
            do {
                paths.append((endpoint, AnswerSet(message: try await client.query(name, type: type))))
            } catch {
                out.notes.append("\(what) \(name) via \(endpoint.host): \(ResolverError.classify(error))")
            }
        }
        return (refs, paths)
    }

    /// Each configured echo name (TXT) asked through each resolver under test: an answer naming a
    /// client subnet means the path forwards EDNS Client Subnet → `dns.ecs-forwarded`; an answer
    /// without one is recorded (not forwarded). The probe itself sends no ECS option.
    func ecsChecks(_ resolvers: [(ResolverEndpoint, ResolverClient)], into out: inout ProbeResults) async {
        guard !config.ecsEchoNames.isEmpty else { return }
        for name in config.ecsEchoNames.prefix(8) {
            for (endpoint, client) in resolvers {
                let m: DNSMessage
                do {
                    m = try await client.query(name, type: DNSType.txt)
                } catch {
                    out.notes.append("ECS echo \(name) via \(endpoint.host): \(ResolverError.classify(error))")
                    continue
                }
                let seen = ECSEcho.parse(m)
                let said: String
                if let seen { said = "forwarded: \(seen.subnet)" }
                else if ECSEcho.hasTXT(m) { said = "not forwarded" }
                else { said = "no echo (\(DNSRCode.name(m.rcode)), no TXT record)" }
                out.inputs.append(ReportInput(kind: "probe", name: "ECS echo \(name) via \(endpoint.host)",
                                              facts: [("qname", .string(name)), ("ecs", .string(said))]))
                guard let seen else {
                    if !ECSEcho.hasTXT(m) { out.notes.append("ECS echo \(name) via \(endpoint.host): \(said): whether ECS is forwarded is unknown") }
                    continue
                }
                let txt = m.answers.compactMap { rr -> String? in
                    guard case .txt(let s) = rr.rdata else { return nil }
                    return s.map { "\"" + String(decoding: $0, as: UTF8.self) + "\"" }.joined(separator: " ")
                }.joined(separator: "; ")
                out.findings.append(FindingPolicy.ecsForwarded(
                    ECSForwardedEvidence(echoName: name, resolver: endpoint.host, subnet: seen.subnet, prefixLength: seen.prefixLength, isIPv6: seen.isIPv6),
                    evidence: [Evidence(source: .probe, detail: "\(name) TXT via \(endpoint.host): \(txt)",
                                        facts: [("subnet", .string(seen.subnet)), ("prefix_length", .int(seen.prefixLength))])]))
            }
        }
    }

    /// Each configured rebinding test name (one whose public answer is a private or loopback
    /// address) asked (A) through each resolver and the references: a resolver that answers
    /// nothing for it filters private answers — rebinding protection, a note and a fact, never a
    /// finding — unless the same resolver answered another name of this run with a private,
    /// loopback or link-local address (`ProbeResults.privateAnswersFrom`): a filter cannot explain
    /// that, and the empty answer is judged like every comparison. Every name is asked through
    /// every resolver before any is judged, so the order of the names does not matter.
    func rebindingChecks(_ resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet?, into out: inout ProbeResults) async {
        guard let (references, refNames) = comparisonReferences("rebinding protection", config.rebindingNames, resolvers, references, into: &out) else { return }
        var asked: [(name: String, refs: [AnswerSet?], paths: [(endpoint: ResolverEndpoint, path: AnswerSet)])] = []
        var privateExamples: [String: [String]] = [:]  // resolver host → "name → address"
        for name in config.rebindingNames.prefix(8) {
            let (refs, paths) = await ask(name, type: DNSType.a, what: "rebinding check", resolvers, references, into: &out)
            for (endpoint, path) in paths {
                guard let p = path.addresses.first(where: Bogon.isRebindingTarget) else { continue }
                out.privateAnswersFrom.insert(endpoint.host)
                privateExamples[endpoint.host, default: []].append("\(name) → \(p)")
            }
            asked.append((name, refs, paths))
        }
        for (name, refs, paths) in asked {
            for (endpoint, path) in paths {
                let passesPrivate = out.privateAnswersFrom.contains(endpoint.host)
                let result = AnswerComparator.compare(path: path, references: refs, pathPassesPrivate: passesPrivate)
                let protected = result.reason == "rebinding-protection"
                let passes = result.verdict == .consistent && !path.addresses.isEmpty && result.referenceAddresses.allSatisfy(Bogon.isRebindingTarget)
                // What the answer would have been called without the other private answers.
                let unexcused = !protected && passesPrivate && path.addresses.isEmpty
                    && AnswerComparator.compare(path: path, references: refs).reason == "rebinding-protection"
                let elsewhere = (privateExamples[endpoint.host] ?? []).filter { !$0.hasPrefix("\(name) → ") }
                out.inputs.append(ReportInput(kind: "probe", name: "rebinding check \(name) via \(endpoint.host)",
                                              facts: [("qname", .string(name)), ("answer", .string(AnswerFindings.describe(path))),
                                                      ("references", .string(result.referenceAddresses.joined(separator: ","))),
                                                      ("rebinding_protection", .string(protected ? "yes" : (passes ? "no" : (unexcused ? "contradicted" : "unknown")))),
                                                      ("private_answers_elsewhere", .string(elsewhere.prefix(3).joined(separator: "; ")))]))
                if protected {
                    out.notes.append("\(endpoint.host): resolver filters private answers (rebinding protection): \(name) "
                        + "(the references answer \(result.referenceAddresses.prefix(3).joined(separator: ", "))) answered \(AnswerFindings.describe(path)); not tampering")
                } else if passes {
                    out.notes.append("\(endpoint.host) passes private answers through (no rebinding protection): \(name) → \(path.addresses.prefix(3).joined(separator: ", "))")
                } else if var f = AnswerFindings.finding(qname: name, qtype: DNSType.a, path: path, result: result, resolver: endpoint.host,
                                                        references: refNames, source: .probe) {
                    if unexcused {
                        f.evidence.append(Evidence(source: .probe,
                                                   detail: "\(endpoint.host) answered other names of this run with private or loopback addresses ("
                                                       + elsewhere.prefix(3).joined(separator: "; ")
                                                       + "): rebinding protection cannot explain the empty answer",
                                                   facts: [("private_answers_elsewhere", .string(elsewhere.prefix(3).joined(separator: "; ")))]))
                    }
                    out.findings.append(f)
                }
            }
        }
    }
}

extension ReferenceComparison {
    /// `analyze --reference` for one captured HTTPS/SVCB answer: judged by `ServiceRecordComparator`
    /// and counted like every other comparison.
    func compareServiceRecords(_ a: CapturedAnswer, _ sets: [AnswerSet?], refNames: [String], input: String?,
                               into out: inout Outcome, byID: inout [String: Int]) {
        let result = ServiceRecordComparator.compare(path: a.answer, references: sets)
        out.compared += 1
        switch result.verdict {
        case .consistent: out.consistent += 1
        case .referencesDisagree: out.referencesDisagreed += 1
        case .noReference: out.unanswered += 1
        case .inconsistent:
            guard let f = HTTPSRecordFindings.finding(qname: a.qname, qtype: a.qtype, path: a.answer, result: result, resolver: a.resolver.description,
                                                      transport: a.transport, references: refNames, source: .capture, input: input,
                                                      frames: [a.frame], capturedNote: true) else { return }
            if let k = byID[f.id] {
                out.findings[k].evidence += f.evidence.filter { $0.source != .reference }
            } else {
                byID[f.id] = out.findings.count
                out.findings.append(f)
            }
        }
    }
}
