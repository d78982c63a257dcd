import AnswerComparison
import DNSWire
import FindingPolicy
import Findings
import ResolverClients

/// DNSSEC stripping (issue 20 item 5): with DO set, does the path return the RRSIGs the
/// references return for the signed name, and does it claim AD for the broken one?
extension ProbeRunner {
    static let rrsigType: UInt16 = 46

    func dnssecStripping(_ resolvers: [(ResolverEndpoint, ResolverClient)], _ references: ReferenceSet?, into out: inout ProbeResults) async {
        guard let references else { return }
        for (endpoint, client) in resolvers {
            var facts: [(String, SubjectValue)] = []
            if let signed = config.dnssecSigned {
                let refs = await references.lookup(signed, type: DNSType.a, dnssecOK: true).compactMap(\.message)
                let refSigned = refs.filter { $0.rcode == 0 && $0.answers.contains { $0.type == Self.rrsigType } }
                if !refSigned.isEmpty, refSigned.count * 2 > refs.count,
                   let m = try? await client.query(signed, type: DNSType.a, dnssecOK: true), m.rcode == 0, !m.answers.isEmpty {
                    let sigs = m.answers.filter { $0.type == Self.rrsigType }.count
                    facts.append(("signed_name_rrsigs", .string("\(signed): \(sigs) RRSIG(s), AD=\(m.ad ? 1 : 0); references: RRSIGs present")))
                    if sigs == 0 {
                        out.findings.append(FindingPolicy.dnssecStripped(
                            DNSSECStrippingEvidence(resolver: endpoint.host, qname: signed, reason: m.ad ? .adWithoutSignatures : .signaturesRemoved),
                            evidence: [Evidence(source: .probe, detail: "\(signed) A with DO via \(endpoint.host): \(m.answers.count) record(s), no RRSIG, AD=\(m.ad ? 1 : 0)",
                                                facts: [("rrsigs", .int(0)), ("ad", .int(m.ad ? 1 : 0))]),
                                       Evidence(source: .reference, detail: "\(refSigned.count) of \(refs.count) reference(s) return \(signed) A with its RRSIGs")]))
                    }
                }
            }
            if let broken = config.dnssecBroken {
                let refs = await references.lookup(broken, type: DNSType.a, dnssecOK: true).compactMap(\.message)
                if !refs.isEmpty, refs.allSatisfy({ $0.rcode == DNSRCode.servFail }),
                   let m = try? await client.query(broken, type: DNSType.a, dnssecOK: true), m.rcode == 0, m.ad {
                    facts.append(("broken_name_ad", .string("\(broken): AD=1 with \(DNSRCode.name(m.rcode)); references SERVFAIL")))
                    out.findings.append(FindingPolicy.dnssecStripped(
                        DNSSECStrippingEvidence(resolver: endpoint.host, qname: broken, reason: .forgedADOnBrokenName),
                        evidence: [Evidence(source: .probe, detail: "\(broken) A with DO via \(endpoint.host): NOERROR, AD=1, \(AnswerFindings.describe(AnswerSet(message: m)))"),
                                   Evidence(source: .reference, detail: "all \(refs.count) reference(s) SERVFAIL \(broken) (its signature does not validate)")]))
                }
            }
            if !facts.isEmpty { out.inputs.append(ReportInput(kind: "probe", name: "DNSSEC stripping via \(endpoint.host)", facts: facts)) }
        }
    }
}
