import ArgumentParser
import AuditPolicy
import AuditRun
import Findings
import FirewallAudit
import FoundationEssentials
import ReportRender

#if canImport(Glibc)
import Glibc
#endif

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
    @Option(name: .long, help: "Report format on standard output (or --output): \(ReportFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
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
            Swift.print(systemdUnits(policy: absolutePath(policy ?? "/etc/dnsaudit/policy.toml")), terminator: "")
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
            // Every destination is checked before the ruleset, the probes and the capture window run.
            if let output { try requireWritableDestination(output, what: "--output") }
            for (f, path) in plan.outputs { try requireWritableDestination(path, what: "the [audit.outputs] \(f) file") }
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
        var request = AuditRequest(plan: plan, policyPath: policyPath)
        request.interface = interface
        request.duration = duration
        request.user = user
        request.noRules = noRules
        request.noProbe = noProbe
        request.noCapture = noCapture
        request.output = output
        request.quiet = quiet
        let rep = try AuditRunner.run(request)
        let color = format == .text && output == nil && isatty(1) == 1 && getenv("NO_COLOR") == nil
        try writeOutput(format.render(rep, color: color), to: output)
        throw ExitCode(rep.exitStatus(failOn: failOn ?? plan.failOn, failOnInconclusive: failOnInconclusive))
    }

    /// A oneshot service and a daily timer (with a random delay, persistent across downtime).
    func systemdUnits(policy: String) -> String {
        let exe = installedExecutable()
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

    /// The binary the units should run: this one when it is installed (not in a build tree);
    /// else an installed copy found on the PATH (the package's /usr/bin/dnsaudit first); else
    /// this one, by its absolute path.
    func installedExecutable() -> String {
        let me = selfExecutable()
        if let me, !me.contains("/.build/") { return me }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let dirs = ["/usr/bin", "/usr/local/bin"] + path.split(separator: ":").map(String.init)
        for dir in dirs where dir.hasPrefix("/") && !dir.contains("/.build/") {
            let candidate = dir + "/dnsaudit"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return me ?? "/usr/bin/dnsaudit"
    }
}

/// `path` made absolute against the working directory (symbolic links resolved when it exists),
/// for unit files that run elsewhere.
func absolutePath(_ path: String) -> String {
    if let resolved = realpath(path, nil) {
        defer { free(resolved) }
        return String(cString: resolved)
    }
    if path.hasPrefix("/") { return path }
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return path }
    let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var rel = Substring(path)
    while rel.hasPrefix("./") { rel = rel.dropFirst(2) }
    return (cwd == "/" ? "" : cwd) + "/" + rel
}
