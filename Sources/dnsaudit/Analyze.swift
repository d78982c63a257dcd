import AnalysisEngine
import ArgumentParser
import CaptureSource
import Findings
import FindingCorrelation
import FirewallAudit
import FirewallSource
import NetTypes
import Probes
import ReportRender
import ResolverClients
import TLSCertificates

#if canImport(Glibc)
import Glibc
#endif

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse pcap/pcapng files offline and report DNS and TLS tampering.",
        discussion: "Use '-' to read a capture from standard input. Several files are analysed together into one report.")

    @Argument(help: "Capture files (pcap or pcapng); '-' for standard input.")
    var files: [String]
    @Option(name: .long, help: "BPF filter applied while reading (libpcap syntax).")
    var filter: String?
    @OptionGroup var report: ReportOptions
    @Option(name: .customLong("max-lookups"), help: "With --reference: ask the references about at most this many distinct (name, type) pairs.")
    var maxLookups = 2000
    @Option(name: .long, help: "With --reference: seconds to wait for each reference answer.")
    var timeout = 3.0

    func run() throws {
        try report.validateFormat()
        let readers: [PcapFileReader]
        do {
            readers = try CaptureAnalyzer.open(paths: files, filter: filter)
        } catch let e as CaptureError {
            throw RunFailure(e.message)
        }
        // The rulesets (the client's, the router's…): one that cannot be read becomes a note and an
        // inconclusive part; the capture is still analysed.
        var rulesetNotes: [String] = []
        var rulesetsUnread: [String] = []
        var rulesets: [SourcedRuleset] = []
        for path in report.ruleset {
            do {
                let read = try readSavedRuleset(path)
                rulesets += read.rulesets
                rulesetNotes += read.notes
            } catch let e as RunFailure {
                rulesetNotes.append("ruleset \(path) could not be read, so it was not audited: \(e.message)")
                rulesetsUnread.append("the ruleset \(path) could not be read (\(e.message))")
            }
        }
        let firewallPolicy = try report.ruleset.isEmpty ? nil : loadPolicy(report.policy)
        let policy = try report.policy.map { _ in try loadPolicy(report.policy) }
        let references = try report.reference.isEmpty ? nil
            : ReferenceOptions(urls: report.reference, caFile: report.caFile, timeoutSeconds: timeout).referenceSet()
        // HTTP clients must be shut down before they go away, on every path out (a second close is a no-op).
        defer { if let references { try? runBlocking { await references.close() } } }
        var options = AnalysisOptions()
        options.trust = try report.trustSettings()
        options.collectAnswers = references != nil
        options.filter = filter
        let analyzer = CaptureAnalyzer(options: options)
        let progress = ProgressDisplay(enabled: !report.quiet && isatty(2) == 1)
        analyzer.onProgress = { progress.update($0) }
        analyzer.run(readers)
        progress.finish()
        var findings = analyzer.finish()
        var inputs = analyzer.inputs.map(reportInput)
        var notes = analyzer.notes()
        var referencesUnusable: String?
        if let references {
            let answers = analyzer.capturedAnswers
            let names = analyzer.inputs.map(\.name)
            let showProgress = !report.quiet && isatty(2) == 1
            let progress: (@Sendable (Int, Int) -> Void)? = showProgress ? referenceProgress : nil
            let comparison = ReferenceComparison(maxLookups: max(0, maxLookups))
            let toCompare = answers.inOrder
            let outcome: ReferenceComparison.Outcome = try runBlocking {
                await comparison.run(toCompare, references: references,
                                     inputName: { i in i >= 0 && i < names.count ? names[i] : nil }, progress: progress)
            }
            findings += outcome.findings
            if outcome.compared > 0 && outcome.unanswered == outcome.compared {
                referencesUnusable = "no reference answered any of the \(outcome.compared) name(s) asked, so the capture's answers could not be compared with trusted resolvers"
            }
            inputs += referenceInputs(references)
            notes += outcome.notes
            if answers.overflow > 0 { notes.append("\(answers.overflow) more distinct names were answered than kept for comparison") }
        }
        if let policy {
            findings += UnapprovedResolvers.findings(paths: analyzer.dnsPaths, policy: policy,
                                                     inputName: analyzer.inputName)
            notes.append("policy \(report.policy ?? ""): \(policy.approvedResolvers.count) approved resolver(s)"
                + (policy.approvedResolvers.isEmpty ? " — plaintext resolvers are not judged" : ""))
        }
        if let firewallPolicy, !rulesets.isEmpty {
            // Resolvers this capture shows answering DNS count as resolvers for the block checks.
            let audit = FirewallAuditor(policy: firewallPolicy)
                .audit(rulesets.map { RulesetInput(ruleset: $0.ruleset, name: $0.name) })
            let correlated = RulesetCorrelation.correlate(
                firewall: audit.findings, redirects: audit.redirects, capture: findings,
                paths: analyzer.dnsPaths, inputName: analyzer.inputName)
            findings = correlated.findings
            inputs += rulesets.map(rulesetInput)
            notes += audit.notes + correlated.notes
        }
        notes += rulesetNotes
        var inconclusive = analyzer.inconclusiveReasons() + rulesetsUnread
        if let referencesUnusable { inconclusive.append(referencesUnusable) }
        for i in analyzer.inputs {
            if case .readError(let e) = i.end {
                printError("warning: \(i.name) ends early (\(e)); reporting the \(i.packets) packets read")
            }
        }
        var rep = Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(),
                         inputs: inputs, summary: analyzer.summary(),
                         findings: findings, notes: notes)
        rep.inconclusive = inconclusive
        try emit(rep, report)
        throw ExitCode(rep.exitStatus(failOn: report.failOn, failOnInconclusive: report.failOnInconclusive))
    }
}

func reportInput(_ i: InputResult) -> ReportInput {
    var facts: [(String, SubjectValue)] = [("link_type", .string(i.linkType.name)), ("packets", .int(i.packets)), ("bytes", .int(i.bytes))]
    if let f = i.first { facts.append(("first_packet", .string(f.rfc3339))) }
    if let l = i.last { facts.append(("last_packet", .string(l.rfc3339))) }
    if case .readError(let e) = i.end {
        facts.append(("complete", .string("false")))
        facts.append(("read_error", .string(e)))
    }
    return ReportInput(kind: "capture", name: i.name, facts: facts)
}

func nowRFC3339() -> String {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    let ts = Timestamp(seconds: Int64(t.tv_sec), nanoseconds: 0)
    let s = ts.rfc3339  // "…T09:00:00.000000000Z"
    if let dot = s.firstIndex(of: ".") { return String(s[..<dot]) + "Z" }
    return s
}

/// Progress on standard error while reading long files: bytes, packets, rate, time left.
final class ProgressDisplay {
    let enabled: Bool
    private var shown = false
    private var lastDraw = 0.0
    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: ProgressSnapshot) {
        guard enabled, p.elapsedSeconds >= 0.5, p.elapsedSeconds - lastDraw >= 0.25 else { return }
        lastDraw = p.elapsedSeconds
        let rate = Double(p.packets) / max(p.elapsedSeconds, 1e-6)
        var line = "\(p.input): \(p.packets) packets, \(formatRate(rate)) pkt/s"
        if let read = p.bytesRead {
            line += ", \(formatBytes(read))"
            if let total = p.bytesTotal, total > 0 {
                let frac = min(1.0, Double(read) / Double(total))
                line += " of \(formatBytes(total)) (\(Int(frac * 100))%)"
                if frac > 0.01 {
                    let left = p.elapsedSeconds * (1 - frac) / frac
                    line += ", ~\(Int(left.rounded()))s left"
                }
            }
        }
        writeStderr("\r\u{1B}[K" + line)
        shown = true
    }

    func finish() {
        if shown { writeStderr("\r\u{1B}[K") }
    }
}

func formatBytes(_ n: Int64) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(Int(d / 1e8) / 10) + "." + String(Int(d / 1e8) % 10) + " GB" }
    if d >= 1e6 { return String(Int(d / 1e5) / 10) + "." + String(Int(d / 1e5) % 10) + " MB" }
    if d >= 1e3 { return String(Int(d / 1e3)) + " kB" }
    return "\(n) B"
}

func formatRate(_ r: Double) -> String {
    if r >= 1e6 { return String(Int(r / 1e5) / 10) + "." + String(Int(r / 1e5) % 10) + " M" }
    if r >= 1e3 { return String(Int(r / 1e3)) + " k" }
    return String(Int(r))
}

/// "references: 120/800 names" on standard error while the references are asked.
@Sendable func referenceProgress(_ done: Int, _ total: Int) {
    if done % 50 == 0 || done == total { writeStderr("\rreferences: \(done)/\(total) names") }
    if done == total { writeStderr("\n") }
}
