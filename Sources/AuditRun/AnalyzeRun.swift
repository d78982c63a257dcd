import AnalysisEngine
import CaptureDrivers
import CaptureSource
import Findings
import FindingCorrelation
import FirewallAudit
import FirewallSource
import NetTypes
import Probes
import ResolverClients
import TLSCertificates

#if canImport(Glibc)
import Glibc
#endif

/// What `analyze` is asked to do.
public struct AnalyzeRequest: Sendable {
    public var files: [String]
    public var filter: String?
    /// Decode-as hints: DNS, or TLS / QUIC, on these ports too.
    public var dnsPorts: Set<UInt16> = []
    public var tlsPorts: Set<UInt16> = []
    /// DNS and TLS recognised by content off known ports (off only to measure its cost).
    public var contentDetection = true
    /// Saved rulesets to audit and tie to the capture (the client's, the router's…).
    public var rulesets: [String] = []
    public var policyPath: String?
    /// Reference URLs (DoH / DoT) to compare the capture's answers with.
    public var references: [String] = []
    public var caFile: String?
    public var referenceTimeout = 3.0
    public var maxLookups = 2000
    /// Trust for server certificates seen in the capture (nil: not judged).
    public var trust: TrustSettings? = TrustSettings()
    /// Progress on standard error.
    public var showProgress = false
    /// Worker threads for the flow-sharded analysis (`--threads`); 1: the single-threaded path.
    /// A run that compares answers with references (`references`) uses one.
    public var threads = 1

    public init(files: [String]) { self.files = files }
}

/// `analyze`: captures in, one report out — the capture's findings, the references' comparison,
/// the policy's unapproved resolvers, and the rulesets tied to the capture's DNS.
public enum AnalyzeRun {
    public static func run(_ request: AnalyzeRequest) throws -> Report {
        let readers: [PcapFileReader]
        do {
            readers = try CaptureAnalyzer.open(paths: request.files, filter: request.filter)
        } catch let e as CaptureError {
            throw RunFailure(e.message)
        }
        // The rulesets: one that cannot be read becomes a note and an inconclusive part; the
        // capture is still analysed.
        var rulesetNotes: [String] = []
        var rulesetsUnread: [String] = []
        var rulesets: [SourcedRuleset] = []
        for path in request.rulesets {
            do {
                let read = try readSavedRuleset(path)
                rulesets += read.rulesets
                rulesetNotes += read.notes
            } catch let e as RunFailure {
                rulesetNotes.append("ruleset \(path) could not be read, so it was not audited: \(e.message)")
                rulesetsUnread.append("the ruleset \(path) could not be read (\(e.message))")
            }
        }
        // The policy file is read once: it judges the rulesets and the capture's resolvers.
        let loadedPolicy = try loadPolicy(request.policyPath)
        let firewallPolicy = request.rulesets.isEmpty ? nil : loadedPolicy
        let policy = request.policyPath == nil ? nil : loadedPolicy
        let references = try request.references.isEmpty ? nil
            : ReferenceOptions(urls: request.references, caFile: request.caFile, timeoutSeconds: request.referenceTimeout).referenceSet()
        // HTTP clients must be shut down before they go away, on every path out (a second close is a no-op).
        defer { if let references { try? runBlocking { await references.close() } } }
        var options = AnalysisOptions()
        options.trust = request.trust
        options.collectAnswers = references != nil
        options.filter = request.filter
        options.dnsPorts = request.dnsPorts
        options.tlsPorts = request.tlsPorts
        options.detectDNSByContent = request.contentDetection
        options.followOddPorts = request.contentDetection
        let progress = ProgressDisplay(enabled: request.showProgress)
        let onProgress: ((ProgressSnapshot) -> Void)? = request.showProgress ? { progress.update($0) } : nil
        let analyzer: AnalysisOutcome
        if request.threads > 1 && !options.collectAnswers {
            let o = options
            do {
                analyzer = try ShardedDriver.run(readers, threads: request.threads, makeCore: { CaptureAnalyzer(options: o) },
                                                 progress: onProgress)
            } catch let e as ShardingError {
                throw RunFailure(e.description)
            }
        } else {
            let single = CaptureAnalyzer(options: options)
            single.run(readers, progress: onProgress)
            analyzer = single
        }
        progress.finish()
        var findings = analyzer.finish()
        var inputs = analyzer.inputs.map(reportInput)
        inputs += EncryptedDNSSummary.reportInputs(of: analyzer)
        var notes = analyzer.notes()
        var referencesUnusable: String?
        if let references {
            let answers = analyzer.capturedAnswers
            let names = analyzer.inputs.map(\.name)
            let progress: (@Sendable (Int, Int) -> Void)? = request.showProgress ? referenceProgress : nil
            let comparison = ReferenceComparison(maxLookups: max(0, request.maxLookups))
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
            findings += UnapprovedResolvers.findings(paths: analyzer.dnsPaths, policy: policy, inputName: analyzer.inputName)
            notes.append("policy \(request.policyPath ?? ""): \(policy.approvedResolvers.count) approved resolver(s)"
                + (policy.approvedResolvers.isEmpty ? " — plaintext resolvers are not judged" : ""))
        }
        if let firewallPolicy, !rulesets.isEmpty {
            // Resolvers this capture shows answering DNS count as resolvers for the encrypted-DNS block checks.
            let answering = analyzer.answeringResolvers.compactMap { ResolverAddress($0.description, source: "answering DNS in the capture") }
            let audit = FirewallAuditor(policy: firewallPolicy, extraResolvers: answering)
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
                         inputs: inputs, summary: analyzer.summary(), findings: findings, notes: notes)
        rep.inconclusive = inconclusive
        return rep
    }
}

public func reportInput(_ i: InputResult) -> ReportInput {
    var facts: [(String, SubjectValue)] = [("link_type", .string(i.linkType.name)), ("packets", .int(i.packets)), ("bytes", .int(i.bytes))]
    if let f = i.first { facts.append(("first_packet", .string(f.rfc3339))) }
    if let l = i.last { facts.append(("last_packet", .string(l.rfc3339))) }
    if case .readError(let e) = i.end {
        facts.append(("complete", .string("false")))
        facts.append(("read_error", .string(e)))
    }
    return ReportInput(kind: "capture", name: i.name, facts: facts)
}

/// Progress on standard error while reading long files: bytes, packets, rate, time left.
public final class ProgressDisplay {
    let enabled: Bool
    private var shown = false
    private var lastDraw = 0.0
    public init(enabled: Bool) { self.enabled = enabled }

    public func update(_ p: ProgressSnapshot) {
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

    public func finish() {
        if shown { writeStderr("\r\u{1B}[K") }
    }
}

public func formatBytes(_ n: Int64) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(Int(d / 1e8) / 10) + "." + String(Int(d / 1e8) % 10) + " GB" }
    if d >= 1e6 { return String(Int(d / 1e5) / 10) + "." + String(Int(d / 1e5) % 10) + " MB" }
    if d >= 1e3 { return String(Int(d / 1e3)) + " kB" }
    return "\(n) B"
}

public func formatRate(_ r: Double) -> String {
    if r >= 1e6 { return String(Int(r / 1e5) / 10) + "." + String(Int(r / 1e5) % 10) + " M" }
    if r >= 1e3 { return String(Int(r / 1e3)) + " k" }
    return String(Int(r))
}

/// "references: 120/800 names" on standard error while the references are asked.
@Sendable public func referenceProgress(_ done: Int, _ total: Int) {
    if done % 50 == 0 || done == total { writeStderr("\rreferences: \(done)/\(total) names") }
    if done == total { writeStderr("\n") }
}
