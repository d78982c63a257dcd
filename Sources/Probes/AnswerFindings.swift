import AnswerComparison
import DNSWire
import Findings

/// Findings from the comparison engine's verdicts (shared by `analyze --reference` and `probe`).
public enum AnswerFindings {
    /// A finding for an inconsistent comparison; nil for anything else.
    /// `source` is `capture` or `probe`; `where` says where the path's answer came from.
    public static func finding(qname: String, qtype: UInt16, path: AnswerSet, result: AnswerComparisonResult,
                               resolver: String?, transport: String? = nil, references: [String], source: EvidenceSource, input: String? = nil,
                               frames: [UInt64] = [], capturedNote: Bool = false) -> Finding? {
        guard result.isInconsistent else { return nil }
        let typeName = DNSType.mnemonic(qtype)
        let name = qname.hasSuffix(".") ? String(qname.dropLast()) : qname
        let pathText = describe(path)
        let refText = result.referenceAddresses.isEmpty ? "no addresses" : result.referenceAddresses.prefix(8).joined(separator: ", ")
        let isRewrite = result.reason == "nxdomain-rewrite"
        let kind = isRewrite ? FindingKind.dnsNXDomainRewrite : FindingKind.dnsAnswerMismatch
        var severity: Severity
        switch result.reason {
        case "bogon", "nxdomain-rewrite", "no-overlap": severity = .high
        case "blocked-nxdomain", "blocked-servfail", "blocked-refused": severity = .medium
        default: severity = .low
        }
        if result.certainty == .possible && severity > .medium { severity = .medium }
        let confidence: Confidence = result.certainty == .likely ? .likely : .possible
        let by = resolver.map { " (resolver \($0))" } ?? ""
        let title: String
        switch result.reason {
        case "bogon":
            title = "\(name) \(typeName): the path\(by) answered \(result.bogons.prefix(3).joined(separator: ", ")) (not routable) while the references answer \(refText)"
        case "nxdomain-rewrite":
            title = "\(name) does not exist, but the path\(by) answered \(path.addresses.prefix(3).joined(separator: ", ")): NXDOMAIN is being rewritten"
        case "blocked-nxdomain":
            title = "\(name) \(typeName): the path\(by) says the name does not exist; the references answer \(refText)"
        case "blocked-servfail", "blocked-refused":
            title = "\(name) \(typeName): the path\(by) fails the name (\(DNSRCode.name(path.rcode))); the references answer \(refText)"
        case "blocked-nodata":
            title = "\(name) \(typeName): the path\(by) answered with no address; the references answer \(refText)"
        default:
            title = "\(name) \(typeName): the path\(by) answered \(pathText), which shares nothing with the references (\(refText))"
        }
        var subject: [(String, SubjectValue)] = [("qname", .string(name)), ("qtype", .string(typeName))]
        if let resolver { subject.append(("resolver", .string(resolver))) }
        if let transport { subject.append(("transport", .string(transport))) }
        subject.append(("reason", .string(result.reason)))
        var evidence = [Evidence(source: source, input: input, frames: frames,
                                 detail: "the path answered \(pathText)" + (capturedNote ? " (at capture time)" : ""),
                                 facts: [("rcode", .string(DNSRCode.name(path.rcode))), ("addresses", .string(path.addresses.joined(separator: ",")))])]
        evidence.append(Evidence(source: .reference, detail: "\(result.referencesAnswered) reference(s) (\(references.joined(separator: ", "))) answer \(refText)"
                                    + (capturedNote ? " — asked now, not at capture time" : ""),
                                 facts: [("reference_addresses", .string(result.referenceAddresses.joined(separator: ",")))]))
        let remediation: String
        switch result.reason {
        case "nxdomain-rewrite":
            remediation = "The resolver (often an ISP's) rewrites non-existent names to its own servers; use a resolver that does not, or encrypted DNS (DoH/DoT)."
        case "bogon", "blocked-nxdomain", "blocked-servfail", "blocked-refused", "blocked-nodata":
            remediation = "The resolver on this path blocks or sinkholes \(name). If this is not your organisation's filtering, use an encrypted resolver and find out who runs this one."
        default:
            remediation = "The path's resolver returns addresses no reference knows: check who answers (dnsaudit probe), and use encrypted DNS until it is explained."
        }
        return Finding(kind: kind, severity: severity, confidence: confidence, title: title, subject: subject,
                       evidence: evidence, remediation: remediation)
    }

    static func describe(_ a: AnswerSet) -> String {
        if a.rcode != 0 { return DNSRCode.name(a.rcode) }
        if a.addresses.isEmpty { return a.cnames.isEmpty ? "NOERROR, no address" : "CNAME \(a.cnames.last ?? "") and no address" }
        return a.addresses.prefix(6).joined(separator: ", ") + (a.addresses.count > 6 ? " (+\(a.addresses.count - 6))" : "")
    }
}
