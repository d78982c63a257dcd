import AnalysisEngine
import ArgumentParser
import AuditRun
import AuditPolicy
import CaptureSource
import DNSAnalysis
import Findings
import FindingCorrelation
import FirewallAudit
import FirewallSource
import Foundation
import Probes
import ReportRender
import ResolverClients
import TLSCertificates

/// `dnsaudit audit`: the scheduled all-in-one. The live firewall rules, the probes and a bounded
/// live capture window, driven by one policy file, in one report — written to standard output and
/// to every `[audit.outputs]` file (atomically), with the contract's exit codes.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The scheduled all-in-one audit: firewall rules + probes + a live capture window, driven by a policy file.",
        discussion: """
        Needs root (the ruleset and the capture). The capture runs as root unless --user (or [audit] user) \
        names another account; the outputs go wherever root can write (files that account could not create \
        are opened before the drop and written in place). 'dnsaudit audit --print-systemd' prints a service \
        and a daily timer.
        """)

    @Option(name: .long, help: "The policy file (TOML; see rules/policy.example.toml).")
    var policy: String?
    @Option(name: [.short, .customLong("interface")], help: "Capture interface (default: the policy's, else 'any').")
    var interface: String?
    @Option(name: .long, help: "Seconds of live capture (default: the policy's, else 30; 0 = none).")
    var duration: Double?
    @Option(name: .long, help: "Drop to this user for the capture (default: the policy's [audit] user, else root).")
    var user: String?
    @Flag(name: .customLong("no-rules"), help: "Skip the firewall audit.") var noRules = false
    @Flag(name: .customLong("no-probe"), help: "Skip the active probes.") var noProbe = false
    @Flag(name: .customLong("no-capture"), help: "Skip the live capture window.") var noCapture = false
    @Flag(name: .customLong("print-systemd"), help: "Print a systemd service and timer that run this audit daily, and exit.")
    var printSystemd = false
    @Option(name: .long, help: "Report format on standard output (or --output).")
    var format: OutputFormat = .text
    @Option(name: .long, help: "Write the report to this file instead of standard output.")
    var output: String?
    @Option(name: .customLong("fail-on"), help: "Exit 1 at or above this severity (default: the policy's fail_on, else medium).")
    var failOn: Severity?
    @Flag(name: [.short, .long], help: "No progress lines on standard error.") var quiet = false
    @Flag(name: .customLong("fail-on-inconclusive"), help: "Exit 3 when nothing at or above --fail-on was found but the audit could not examine what it was asked to (every part disabled, a capture window that saw nothing, no usable reference).")
    var failOnInconclusive = false

    func run() throws {
        if printSystemd {
            Swift.print(systemdUnits(policy: policy ?? "/etc/dnsaudit/policy.toml"), terminator: "")
            return
        }
        guard let policyPath = policy else {
            throw RunFailure("audit needs --policy FILE (an annotated example: rules/policy.example.toml)")
        }
        guard let data = FileReader.readSmall(policyPath) else {
            throw RunFailure("cannot read the policy file \(policyPath): \(String(cString: strerror(errno)))")
        }
        let plan: AuditPolicy
        do {
            plan = try AuditPolicy.parse(toml: String(decoding: data, as: UTF8.self), source: policyPath)
        } catch let e as PolicyError {
            throw RunFailure(e.message)
        } catch {
            throw RunFailure("\(policyPath): \(error)")
        }
        do {
            try runAudit(plan, policyPath: policyPath)
        } catch let failure as RunFailure {
            // A run that could not be done still tells the monitoring: last_run_success 0.
            for (f, path) in plan.outputs where f == "prometheus" {
                let empty = Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(),
                                   notes: ["the audit could not run: \(failure.message)"])
                try? writeOutput(PrometheusReportRenderer.render(empty, success: false), to: path)
            }
            throw failure
        }
    }

    func runAudit(_ plan: AuditPolicy, policyPath: String) throws {
        let seconds = noCapture ? 0 : (duration ?? plan.captureSeconds)
        guard seconds >= 0 else { throw RunFailure("--duration must not be negative") }
        if geteuid() != 0 && (!noRules || seconds > 0) {
            throw RunFailure("audit reads the live ruleset and captures: run it as root (sudo), or with --no-rules --no-capture")
        }
        var options = try ReportOptions.parse([])
        options.format = format
        options.output = output
        options.failOn = failOn ?? plan.failOn
        options.quiet = quiet
        options.caFile = plan.caFile
        try options.validateFormat()
        for (f, _) in plan.outputs where OutputFormat(rawValue: f) == nil { throw RunFailure("[audit.outputs]: unknown format \(f)") }
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

        // 1. The firewall, as it is now.
        var rules: FirewallAuditResult?
        var rulesRead: RulesetReadResult?
        if !noRules {
            progress("audit: reading the live ruleset")
            do {
                let read = try LiveRulesetReader.read()
                let result = FirewallAuditor(policy: plan.firewall, extraResolvers: machineResolvers()).audit(read.rulesets.map { RulesetInput(ruleset: $0.ruleset, name: $0.name) })
                rules = result
                rulesRead = read
                inputs += read.rulesets.map(rulesetInput)
                notes += read.notes + result.notes
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
            let outcome = try runProbes(config, resolvers: plan.resolvers, targets: plan.targets, goproxy: plan.goproxy,
                                        ignoreBadGoproxy: true, trust: try options.trustSettings())
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
            analysis.trust = try options.trustSettings()
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

        // 4. One verdict: rules tied to what the capture saw (and audited again knowing which
        // addresses the capture showed answering DNS); resolvers the policy does not approve.
        if let read = rulesRead, !answering.isEmpty {
            rules = FirewallAuditor(policy: plan.firewall, extraResolvers: machineResolvers() + answering)
                .audit(read.rulesets.map { RulesetInput(ruleset: $0.ruleset, name: $0.name) })
        }
        if let rules {
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
            var o = options
            o.format = OutputFormat(rawValue: f) ?? .json
            o.output = path
            try writeOutput(render(rep, o), to: path)
        }
        try emit(rep, options)
        throw ExitCode(rep.exitStatus(failOn: options.failOn, failOnInconclusive: failOnInconclusive))
    }

    /// A oneshot service and a daily timer (with a random delay, persistent across downtime).
    func systemdUnits(policy: String) -> String {
        let exe = selfExecutable() ?? "/usr/local/bin/dnsaudit"
        return """
        # /etc/systemd/system/dnsaudit-audit.service
        [Unit]
        Description=dnsaudit: audit DNS and TLS tampering (firewall rules, probes, capture window)
        Documentation=man:dnsaudit(1)
        Wants=network-online.target
        After=network-online.target

        [Service]
        Type=oneshot
        ExecStart=\(exe) audit --policy \(policy) --quiet --format json --output /var/lib/dnsaudit/last-report.json
        StateDirectory=dnsaudit
        # Exit 1 means "findings at or above fail_on": the run itself succeeded.
        SuccessExitStatus=1
        Nice=10
        ProtectHome=read-only
        PrivateTmp=yes

        # /etc/systemd/system/dnsaudit-audit.timer
        [Unit]
        Description=Run the dnsaudit audit daily

        [Timer]
        OnCalendar=daily
        RandomizedDelaySec=30min
        Persistent=true

        [Install]
        WantedBy=timers.target

        """
    }
}
