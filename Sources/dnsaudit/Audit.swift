import ArgumentParser
import AuditRun
import Findings

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
            Swift.print(SystemdUnits.text(policy: policy ?? "/etc/dnsaudit/policy.toml"), terminator: "")
            return
        }
        guard let policyPath = policy else {
            throw RunFailure("audit needs --policy FILE (an annotated example: rules/policy.example.toml)")
        }
        let plan = try AuditRunner.loadPlan(policyPath)
        let rep = try AuditRunner.withOutputsChecked(plan, output: output) {
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
            try format.write(rep, to: output)
            return rep
        }
        throw ExitCode(rep.exitStatus(failOn: failOn ?? plan.failOn, failOnInconclusive: failOnInconclusive))
    }
}
