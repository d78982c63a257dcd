/// One thing the report was made from: a capture file, a live interface, a ruleset, …
public struct ReportInput: Sendable {
    /// `capture`, `live`, `ruleset`, `probe` or `reference`.
    public var kind: String
    public var name: String
    /// Extra ordered facts, e.g. ("link_type", "ethernet"), ("packets", 1234), ("complete", "false").
    public var facts: [(String, SubjectValue)]

    public init(kind: String, name: String, facts: [(String, SubjectValue)] = []) {
        self.kind = kind
        self.name = name
        self.facts = facts
    }
}

/// Counters for the summary block. Names follow the contract.
public struct ReportSummary: Sendable {
    public var packets = 0
    public var dnsMessages = 0
    public var dnsTransactions = 0
    public var unansweredQueries = 0
    public var tlsClientHellos = 0
    public var resolvers: [String] = []
    /// Malformed frames and messages (every one counted, per reason in `anomalies`).
    public var malformed = 0
    /// Packets or state dropped: kernel drops in live mode, evicted flows and fragments.
    public var dropped = 0
    /// Ordered extra counters: skipped frames per reason, malformed per reason, reassembly stats.
    public var counters: [(String, Int)] = []

    public init() {}
}

/// The whole report. Every output format renders this one model.
public struct Report: Sendable {
    public static let schema = "dnsaudit/report-v1"
    public var toolVersion: String
    public var generatedAt: String
    public var inputs: [ReportInput]
    public var summary: ReportSummary
    public var findings: [Finding]
    /// Plain-language notes: a truncated capture, a reference that was unavailable, …
    public var notes: [String]
    /// Why the run could not examine what it was asked to (a capture with no packets, an
    /// unsupported link type, every reference unreachable, every audit part disabled…). Non-empty
    /// makes a run without findings `inconclusive` instead of clean.
    public var inconclusive: [String] = []

    public init(toolVersion: String, generatedAt: String, inputs: [ReportInput] = [], summary: ReportSummary = ReportSummary(),
                findings: [Finding] = [], notes: [String] = []) {
        self.toolVersion = toolVersion
        self.generatedAt = generatedAt
        self.inputs = inputs
        self.summary = summary
        self.findings = findings
        self.notes = notes
    }

    /// Count of findings per severity, all five keys present.
    public var findingsBySeverity: [(Severity, Int)] {
        Severity.allCases.reversed().map { s in (s, findings.filter { $0.severity == s }.count) }
    }

    /// Findings sorted most severe first, then by kind and title, for stable output.
    public var sortedFindings: [Finding] {
        findings.sorted {
            if $0.severity != $1.severity { return $0.severity > $1.severity }
            if $0.kind != $1.kind { return $0.kind.rawValue < $1.kind.rawValue }
            return $0.title < $1.title
        }
    }

    /// The one-word verdict: `tampering` (a finding at medium or above), `inconclusive` (nothing
    /// at medium or above, and something could not be examined), or `clean`.
    public var verdict: String {
        if findings.contains(where: { $0.severity >= .medium }) { return "tampering" }
        return inconclusive.isEmpty ? "clean" : "inconclusive"
    }

    /// Exit status per the contract: 1 when a finding is at or above `failOn`; else 3 when the run
    /// was inconclusive and `failOnInconclusive`; else 0.
    public func exitStatus(failOn: Severity, failOnInconclusive: Bool = false) -> Int32 {
        if findings.contains(where: { $0.severity >= failOn }) { return 1 }
        return failOnInconclusive && !inconclusive.isEmpty ? Report.exitInconclusive : 0
    }

    /// The exit status of an inconclusive run under `--fail-on-inconclusive`.
    public static let exitInconclusive: Int32 = 3
}

/// The tool's version, in one place.
public enum DNSAuditVersion {
    public static let current = "0.1.0"
}
