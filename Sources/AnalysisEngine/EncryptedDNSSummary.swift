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
        return t.rows(plainQueries: plain.mapValues { $0.map { ($0.key, $0.value) } })
    }

    /// Report inputs of kind `encrypted-dns` (empty when the capture has none).
    public static func reportInputs(of outcome: AnalysisOutcome) -> [ReportInput] {
        EncryptedDNSOnWire.reportInputs(rows(of: outcome))
    }
}
