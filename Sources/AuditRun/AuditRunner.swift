import AnalysisEngine
import AuditPolicy
import CaptureSource
import DNSAnalysis
import Findings
import FindingCorrelation
import FirewallAudit
import FirewallSource
import Foundation
import NetTypes
import Probes
import ReportRender
import ResolverClients
import TLSCertificates

/// What `audit` is asked to do: the policy, and the command line's overrides.
public struct AuditRequest: Sendable {
    public var plan: AuditPolicy
    public var policyPath: String
    public var interface: String?
    public var duration: Double?
    public var user: String?
    public var noRules = false
    public var noProbe = false
    public var noCapture = false
    /// The --output report (opened before a privilege drop when needed); the CLI writes it.
    public var output: String?
    public var quiet = false

    public init(plan: AuditPolicy, policyPath: String) {
        self.plan = plan
        self.policyPath = policyPath
    }
}

/// The scheduled all-in-one: the live firewall rules, the probes and a bounded live capture
/// window, driven by one policy file, in one report.
public enum AuditRunner {
    /// Runs the audit: rules, probes, a capture window; writes every `[audit.outputs]` file and
    /// returns the report (for standard output or --output).
    public static func run(_ request: AuditRequest) throws -> Report {
        let plan = request.plan, policyPath = request.policyPath
        let noRules = request.noRules, noProbe = request.noProbe, noCapture = request.noCapture
        let duration = request.duration, interface = request.interface, user = request.user, quiet = request.quiet
        let output = request.output
        let seconds = noCapture ? 0 : (duration ?? plan.captureSeconds)
        guard seconds >= 0 else { throw RunFailure("--duration must not be negative") }
        if geteuid() != 0 && (!noRules || seconds > 0) {
            throw RunFailure("audit reads the live ruleset and captures: run it as root (sudo), or with --no-rules --no-capture")
        }
        if let output, output.isEmpty { throw RunFailure("--output needs a file name") }
        for (f, _) in plan.outputs where ReportFormat(rawValue: f) == nil { throw RunFailure("[audit.outputs]: unknown format \(f)") }
        let trust: TrustSettings
        if let ca = plan.caFile {
            do { trust = TrustSettings(additionalRoots: try TrustRoots.load(pemFile: ca)) } catch let e as TrustRoots.LoadError {
                throw RunFailure("ca_file: \(e.description)")
            }
        } else {
            trust = TrustSettings()
        }
        let refOptions = ReferenceOptions(urls: plan.references, caFile: plan.caFile, timeoutSeconds: plan.timeoutSeconds)
        _ = try refOptions.endpoints()  // bad URLs fail before anything runs

        var findings: [Finding] = []
        var inconclusive: [String] = []
        if noRules && noProbe && seconds == 0 {
            inconclusive.append("every part of the audit is disabled (no rules, no probes, no capture window): nothing was examined")
        }
        var notes: [String] = ["policy \(policyPath)"]
        var inputs: [ReportInput] = []
        var summary = ReportSummary()
        func progress(_ s: String) { if !quiet { printError(s) } }

        // 1. The firewall, as it is now (audited in step 4, once the capture window has shown
        // which addresses answer DNS).
        var rulesRead: RulesetReadResult?
        if !noRules {
            progress("audit: reading the live ruleset")
            do {
                let read = try LiveRulesetReader.read()
                rulesRead = read
                inputs += read.rulesets.map(rulesetInput)
                notes += read.notes
            } catch let e as RulesetSourceError {
                throw RunFailure(e.message)
            }
        }

        // 2. The probes.
        if !noProbe {
            progress("audit: probing resolvers, references and \(plan.targets.count) target(s)")
            var config = ProbeConfiguration()
            config.references = try refOptions.endpoints()
            config.settings = try refOptions.settings()
            config.checkName = plan.checkName
            config.canaryZone = plan.canaryZone
            config.dnssecSigned = plan.dnssec ? config.dnssecSigned : nil
            config.dnssecBroken = plan.dnssec ? config.dnssecBroken : nil
            config.identity = plan.identity
            config.expectedIdentities = plan.expectIdentity
            config.httpsNames = plan.httpsNames
            config.ecsEchoNames = plan.ecsNames
            config.rebindingNames = plan.rebindingNames
            config.optOutCanarySeverity = plan.optOutCanarySeverity["*"]
            config.optOutCanarySeverityByProduct = plan.optOutCanarySeverity.filter { $0.key != "*" }
            let outcome = try runProbes(config, resolvers: plan.resolvers, targets: plan.targets, goproxy: plan.goproxy,
                                        ignoreBadGoproxy: true, trust: trust)
            findings += outcome.findings
            notes += outcome.notes
            inputs += outcome.inputs
            inconclusive += outcome.inconclusive
            summary.resolvers = outcome.config.resolvers.map(\.host)
        }

        // 3. A bounded live capture window.
        var paths = DNSPathTally()
        var answering: [ResolverAddress] = []
        var captureFindings: [Finding] = []
        if seconds > 0 {
            let iface = interface ?? plan.interface
            progress("audit: capturing on \(iface) for \(formatSeconds(seconds))")
            var analysis = AnalysisOptions()
            analysis.trust = trust
            let references = plan.references.isEmpty ? nil : BackgroundReferences(references: try refOptions.referenceSet())
            analysis.collectAnswers = references != nil
            defer { if let references { try? runBlocking { await references.close() } } }
            let dropUser = user ?? plan.user
            var dropTo: UnprivilegedUser?
            if dropUser != "root" {
                guard let u = UnprivilegedUser.lookup(dropUser) else { throw RunFailure("no user '\(dropUser)' to drop privileges to") }
                dropTo = u
            }
            // The outputs are written after the capture: opened before the drop when that user could not create them.
            let reportFiles = plan.outputs.map { (path: $0.1, what: "the audit output") } + (output.map { [(path: $0, what: "the --output report")] } ?? [])
            let settings = LiveSettings(capture: LiveCaptureOptions(interface: iface), analysis: analysis, dropTo: dropTo, write: nil,
                                        writeMaxBytes: nil, duration: seconds, stream: nil, outputPath: nil, extraOutputs: reportFiles,
                                        quiet: true, references: references)
            let (live, capturedPaths, answeringResolvers) = try LiveSession.runWithSignals(settings)
            paths = capturedPaths
            answering = answeringResolvers.compactMap { ResolverAddress($0.description, source: "answering DNS in the capture window") }
            if live.summary.packets == 0 {
                inconclusive.append("the \(formatSeconds(seconds)) capture window on \(iface) saw no packets")
            }
            captureFindings = live.findings
            inputs += live.inputs
            notes += live.notes
            let resolvers = summary.resolvers
            summary = live.summary
            summary.resolvers = Array(Set(resolvers + live.summary.resolvers)).sorted()
        }

        // 4. One verdict: the rules, judged knowing this machine's resolvers and those the capture
        // showed answering DNS, tied to what the capture saw; resolvers the policy does not approve.
        let rules = rulesRead.map { read in
            FirewallAuditor(policy: plan.firewall, extraResolvers: machineResolvers() + answering)
                .audit(read.rulesets.map { RulesetInput(ruleset: $0.ruleset, name: $0.name) })
        }
        if let rules {
            notes += rules.notes
            let correlated = RulesetCorrelation.correlate(firewall: rules.findings, redirects: rules.redirects, capture: captureFindings,
                                                          paths: paths, inputName: { _ in interface ?? plan.interface })
            findings = correlated.findings + findings
            notes += seconds > 0 ? correlated.notes : []
        } else {
            findings = captureFindings + findings
        }
        findings += UnapprovedResolvers.findings(paths: paths, policy: plan.firewall, inputName: { _ in interface ?? plan.interface })

        var rep = Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(), inputs: inputs, summary: summary,
                         findings: findings, notes: notes)
        rep.inconclusive = inconclusive
        for (f, path) in plan.outputs {
            try writeOutput((ReportFormat(rawValue: f) ?? .json).render(rep), to: path)
        }
        return rep
    }

}
