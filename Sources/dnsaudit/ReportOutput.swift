import ArgumentParser
import Findings
import ReportRender
import TLSCertificates

#if canImport(Glibc)
import Glibc
#endif

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, jsonl, markdown, html, sarif, prometheus
}

extension Severity: ExpressibleByArgument {}

/// Options every report-producing command shares (CONTRACT.md "Common options").
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: "Report format: text, json, jsonl (markdown, html, sarif, prometheus: not yet).")
    var format: OutputFormat = .text
    @Option(name: .long, help: "Write the report to this file instead of standard output.")
    var output: String?
    @Option(name: .customLong("fail-on"), help: "Exit 1 when a finding is at or above this severity: info, low, medium, high, critical.")
    var failOn: Severity = .medium
    @Flag(name: [.short, .long], help: "No progress display on standard error.")
    var quiet = false
    @Flag(name: .long, help: "Pretty-print JSON.")
    var pretty = false
    @Option(name: .long, help: "Reference resolver (https://HOST/PATH = DoH, tls://HOST = DoT). Not yet used.")
    var reference: [String] = []
    @Option(name: .customLong("ca-file"), help: "Extra trust roots (PEM): for server certificates in captures (an approved inspection CA, a lab CA) and references with a private CA.")
    var caFile: String?
    @Option(name: .long, help: "A saved ruleset (nft text or JSON, iptables-save) to audit and tie to the capture's DNS (analyze).")
    var ruleset: String?
    @Option(name: .long, help: "Policy file (TOML): approved resolvers and NAT targets (see rules/policy.example.toml).")
    var policy: String?

    func validateFormat() throws {
        switch format {
        case .text, .json, .jsonl: return
        default: throw RunFailure("--format \(format.rawValue) is not available in this version yet; use text, json or jsonl")
        }
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
    let text: String
    switch options.format {
    case .json:
        text = JSONReportRenderer.render(rep, pretty: options.pretty) + "\n"
    case .jsonl:
        text = JSONLinesRenderer.render(rep)
    default:
        let color = options.output == nil && isatty(1) == 1 && getenv("NO_COLOR") == nil
        text = TextReportRenderer.render(rep, color: color)
    }
    try writeOutput(text, to: options.output)
}

func writeOutput(_ text: String, to path: String?) throws {
    let sink = try path.map { try OutputSink(path: $0) } ?? OutputSink.standardOutput()
    sink.write(text)
    sink.close()
}

