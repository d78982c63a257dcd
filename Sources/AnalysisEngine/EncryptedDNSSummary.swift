import DNSAnalysis
import Findings
import NetTypes
import TLSAnalysis

/// The report's encrypted-DNS-on-the-wire summary (issue 20 item 11) from an analysis outcome:
/// the packet path's `EncryptedDNSOnWire` tallies (merged across flow-sharded workers) joined
/// with the plain DNS each client sent (`dnsPaths`, port 53 and 5353 excluded), so that each row
/// says whether the client also used the network's plaintext resolver or bypasses it.
public enum EncryptedDNSSummary {
    public static func tally(of outcome: AnalysisOutcome) -> EncryptedDNSOnWire {
        if let m = outcome as? MergedAnalysis { return EncryptedDNSOnWire.merged(m.cores.map(\.encryptedDNS)) }
        if let c = outcome as? CaptureAnalyzer { return c.encryptedDNS }
        return EncryptedDNSOnWire()
    }

    public static func rows(of outcome: AnalysisOutcome) -> [EncryptedDNSOnWire.Row] {
        let t = tally(of: outcome)
        guard !t.paths.isEmpty else { return [] }
        var plain: [IPAddress: [IPAddress: Int]] = [:]
        for (p, c) in outcome.dnsPaths.paths where p.port == 53 {
            plain[p.client, default: [:]][p.resolver, default: 0] += c.queries
        }
        return designations(of: outcome).annotate(t.rows(plainQueries: plain.mapValues { $0.map { ($0.key, $0.value) } }))
    }

    /// The DDR designations the capture's `_dns.resolver.arpa` answers made (merged across workers).
    static func designations(of outcome: AnalysisOutcome) -> EncryptedDNSDesignations {
        if let m = outcome as? MergedAnalysis { return EncryptedDNSDesignations.merged(m.cores.map(\.encryptedDNSDesignations)) }
        if let c = outcome as? CaptureAnalyzer { return c.encryptedDNSDesignations }
        return EncryptedDNSDesignations()
    }

    /// Report inputs of kind `encrypted-dns` (empty when the capture has none).
    /// A DoH row whose ClientHello named a known ODoH target or relay says protocol `ODoH` and
    /// `odoh_role` (target, relay); so does cleartext ODoH (`application/oblivious-dns-message`),
    /// whose role is not known.
    public static func reportInputs(of outcome: AnalysisOutcome) -> [ReportInput] {
        let rows = rows(of: outcome)
        let designations = designations(of: outcome)
        var inputs = EncryptedDNSOnWire.reportInputs(rows)
        for (i, r) in zip(inputs.indices, rows) where r.proto == .doh {
            let role = EncryptedDNSDesignations.odohRole(r.why)
            guard role != nil || designations.isOblivious(r) else { continue }
            if let k = inputs[i].facts.firstIndex(where: { $0.0 == "protocol" }) { inputs[i].facts[k].1 = .string("ODoH") }
            if let role { inputs[i].facts.append(("odoh_role", .string(role))) }
            inputs[i].name = "\(r.client) → \(r.resolver) ODoH"
        }
        return inputs
    }
}
