import ArgumentParser
import AuditRun
import Findings
import ReportRender
import TLSCertificates

#if canImport(Glibc)
import Glibc
#endif

typealias OutputFormat = ReportFormat
extension ReportFormat: ExpressibleByArgument {}

extension Severity: ExpressibleByArgument {}

/// Options every report-producing command shares (CONTRACT.md "Common options").
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: "Report format: text, json, jsonl, markdown, html, sarif, prometheus.")
    var format: OutputFormat = .text
    @Option(name: .long, help: "Write the report to this file instead of standard output (atomically: a temporary file in the same directory, then renamed).")
    var output: String?
    @Option(name: .customLong("fail-on"), help: "Exit 1 when a finding is at or above this severity: info, low, medium, high, critical.")
    var failOn: Severity = .medium
    @Flag(name: [.short, .long], help: "No progress display on standard error.")
    var quiet = false
    @Flag(name: .long, help: "Pretty-print JSON and SARIF.")
    var pretty = false
    @Option(name: .long, help: "Reference resolver, repeatable: https://HOST[:PORT]/PATH[#NAME] = DoH, tls://HOST[:PORT][#NAME] = DoT (#NAME: the name its certificate must carry). Used by analyze, live, probe.")
    var reference: [String] = []
    @Option(name: .customLong("ca-file"), help: "Extra trust roots (PEM): for server certificates in captures (an approved inspection CA, a lab CA) and references with a private CA.")
    var caFile: String?
    @Option(name: .long, help: "A saved ruleset (nft text or JSON, iptables-save) to audit and tie to the capture's DNS (analyze); repeatable (the client's and the router's).")
    var ruleset: [String] = []
    @Flag(name: .customLong("fail-on-inconclusive"), help: "Exit 3 when nothing at or above --fail-on was found but the run could not examine what it was asked to (no packets, an unsupported link type, no usable reference, every audit part disabled).")
    var failOnInconclusive = false
    @Option(name: .long, help: "Policy file (TOML): approved resolvers and NAT targets (see rules/policy.example.toml).")
    var policy: String?

    /// Every format in `OutputFormat` is available; kept as the commands' hook for format checks.
    func validateFormat() throws {
        if let output, output.isEmpty { throw RunFailure("--output needs a file name") }
    }

    /// The system trust store plus --ca-file.
    func trustSettings() throws -> TrustSettings {
        guard let caFile else { return TrustSettings() }
        do {
            return TrustSettings(additionalRoots: try TrustRoots.load(pemFile: caFile))
        } catch let e as TrustRoots.LoadError {
            throw RunFailure("--ca-file: \(e.description)")
        }
    }

    func validateUnsupported() throws {
        if !reference.isEmpty { throw RunFailure("--reference is not available in this version yet (reference resolvers come with 'probe')") }
    }
}

/// Renders the report in the chosen format to --output or standard output.
func emit(_ rep: Report, _ options: ReportOptions) throws {
    try writeOutput(render(rep, options), to: options.output)
}

/// The report as text in the chosen format (colour only on a terminal, without NO_COLOR).
func render(_ rep: Report, _ options: ReportOptions) -> String {
    let color = options.format == .text && options.output == nil && isatty(1) == 1 && getenv("NO_COLOR") == nil
    return options.format.render(rep, pretty: options.pretty, color: color)
}
