import ArgumentParser
import AuditRun
import Findings
import ReportRender
import TLSCertificates

typealias OutputFormat = ReportFormat
extension ReportFormat: ExpressibleByArgument {}

extension Severity: ExpressibleByArgument {}

/// Options every report-producing command shares (CONTRACT.md "Common options"): how the report
/// is written and when the run fails. Options only some commands take live in their own groups
/// below, so that each command's help lists only what it accepts.
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: "Report format: \(ReportFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: OutputFormat = .text
    @Option(name: .long, help: "Write the report to this file instead of standard output (atomically: a temporary file in the same directory, then renamed). Its directory is checked before the run starts.")
    var output: String?
    @Option(name: .customLong("fail-on"), help: "Exit 1 when a finding is at or above this severity: \(Severity.allCases.map(\.rawValue).joined(separator: ", ")).")
    var failOn: Severity = .medium
    @Flag(name: [.short, .long], help: "No progress display on standard error.")
    var quiet = false
    @Flag(name: .long, help: "Pretty-print JSON and SARIF.")
    var pretty = false
    @Flag(name: .customLong("fail-on-inconclusive"), help: "Exit 3 when nothing at or above --fail-on was found but the run could not examine what it was asked to (no packets, an unsupported link type, no usable reference, every audit part disabled).")
    var failOnInconclusive = false

    /// Fails now, before any work, when --output cannot be written.
    func validateFormat() throws {
        if let output { try requireWritableDestination(output, what: "--output") }
    }
}

/// Trusted references and extra trust roots (analyze, live, probe).
struct ReferenceArguments: ParsableArguments {
    @Option(name: .long, help: "Reference resolver, repeatable: https://HOST[:PORT]/PATH[#NAME] = DoH, tls://HOST[:PORT][#NAME] = DoT, quic://HOST[:PORT][#NAME] = DoQ, h3://HOST[:PORT]/PATH[#NAME] = DoH over HTTP/3 (#NAME: the name its certificate must carry).")
    var reference: [String] = []
    @Option(name: .customLong("ca-file"), help: "Extra trust roots (PEM): for server certificates in captures (an approved inspection CA, a lab CA) and references with a private CA.")
    var caFile: String?

    /// The system trust store plus --ca-file.
    func trustSettings() throws -> TrustSettings {
        guard let caFile else { return TrustSettings() }
        do {
            return TrustSettings(additionalRoots: try TrustRoots.load(pemFile: caFile))
        } catch let e as TrustRoots.LoadError {
            throw RunFailure("--ca-file: \(e.description)")
        }
    }
}

/// Renders the report in the chosen format to --output or standard output.
func emit(_ rep: Report, _ options: ReportOptions) throws {
    try options.format.write(rep, pretty: options.pretty, to: options.output)
}
