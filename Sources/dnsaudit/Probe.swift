import ArgumentParser
import AuditRun
import Findings
import Foundation
import Probes
import ResolverClients
import TLSCertificates

/// `dnsaudit probe`: active checks. Who answers this machine's DNS (identity over plain DNS and
/// over DoT on the same address), whether non-existent names are rewritten, whether DNSSEC is
/// validated, whether encrypted DNS is reachable — and per target a ladder DNS → TCP → TLS → HTTP
/// that names the first broken layer.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Active checks: resolver identity, NXDOMAIN canary, DNSSEC, encrypted-DNS reachability, and a DNS → TCP → TLS → HTTP ladder per target.",
        discussion: """
        TARGET is a host name, host:port, or an https:// or http:// URL; a TARGET that is a resolver's \
        address (a --resolver, this machine's, the local stub, a well-known public one) gets the \
        resolver checks (plain DNS over UDP and TCP, DoT and DoH where offered) instead of the web ladder. \
        The ladder's lookup holds on after the first UDP answer to hear an injector racing the resolver. \
        The resolvers under test are \
        the system's (/etc/resolv.conf, and systemd-resolved's upstreams) unless --resolver is given. \
        References default to public DoH/DoT services at IP-literal addresses (so a hijacked resolver \
        cannot poison the bootstrap); --reference replaces them.
        """)

    @Argument(help: "Hosts or URLs to check layer by layer.")
    var targets: [String] = []
    @Option(name: .long, help: "A resolver under test (IP, IP:PORT or udp://…); repeatable. Default: the system's.")
    var resolver: [String] = []
    @Flag(name: .long, help: "Also check every proxy in GOPROXY (environment, else 'go env GOPROXY') with a real module path.")
    var goproxy = false
    @Option(name: .customLong("check-name"), help: "A name every resolver can answer (reachability and NSID checks).")
    var checkName = "example.com"
    @Option(name: .customLong("canary-zone"), help: "Random labels under this zone must be NXDOMAIN.")
    var canaryZone = "com"
    @Flag(name: .customLong("no-canary"), help: "Skip the NXDOMAIN canary.")
    var noCanary = false
    @Option(name: .customLong("dnssec-name"), help: "A DNSSEC-signed name a validating path marks AD.")
    var dnssecName = "isc.org"
    @Option(name: .customLong("dnssec-broken-name"), help: "A name with a broken signature a validating path must SERVFAIL.")
    var dnssecBrokenName = "dnssec-failed.org"
    @Flag(name: .customLong("no-dnssec"), help: "Skip the DNSSEC checks.")
    var noDNSSEC = false
    @Flag(name: .customLong("no-identity"), help: "Skip the resolver identity checks.")
    var noIdentity = false
    @Option(name: .customLong("expect-identity"), help: "ADDR=TEXT: an identity answer of ADDR must contain TEXT; repeatable.")
    var expectIdentity: [String] = []
    @Option(name: .long, help: "Seconds to wait for each answer or connection.")
    var timeout = 3.0
    @OptionGroup var report: ReportOptions

    func run() throws {
        try report.validateFormat()
        if !report.ruleset.isEmpty { throw RunFailure("--ruleset is for 'analyze'; 'probe' checks the network actively") }
        var config = ProbeConfiguration()
        let refOptions = ReferenceOptions(urls: report.reference, caFile: report.caFile, timeoutSeconds: timeout)
        config.references = try refOptions.endpoints()
        config.settings = try refOptions.settings()
        config.checkName = checkName
        config.canaryZone = noCanary ? nil : canaryZone
        config.dnssecSigned = noDNSSEC ? nil : dnssecName
        config.dnssecBroken = noDNSSEC ? nil : dnssecBrokenName
        config.identity = !noIdentity
        for e in expectIdentity {
            guard let eq = e.firstIndex(of: "="), eq != e.startIndex else { throw RunFailure("--expect-identity wants ADDR=TEXT, got '\(e)'") }
            config.expectedIdentities[String(e[..<eq])] = String(e[e.index(after: eq)...])
        }
        let outcome = try runProbes(config, resolvers: resolver, targets: targets, goproxy: goproxy,
                                    trust: try report.trustSettings())
        config = outcome.config
        var summary = ReportSummary()
        summary.resolvers = config.resolvers.map(\.host)
        summary.counters = [("references", config.references.count), ("resolvers_checked", config.resolvers.count),
                            ("targets", config.targets.count)]
        var rep = Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(), inputs: outcome.inputs, summary: summary,
                         findings: outcome.findings, notes: outcome.notes)
        rep.inconclusive = outcome.inconclusive
        try emit(rep, report)
        throw ExitCode(rep.exitStatus(failOn: report.failOn, failOnInconclusive: report.failOnInconclusive))
    }
}

/// What a probe run adds to a report: `probe` and `audit` share it.
struct ProbeOutcome {
    /// The configuration as run (resolvers and targets filled in).
    var config: ProbeConfiguration
    var findings: [Finding] = []
    var notes: [String] = []
    var inputs: [ReportInput] = []
    /// Why the probes could not examine what they were asked to (no usable reference…): goes to
    /// the report's `inconclusive`.
    var inconclusive: [String] = []
}

/// Completes `config` — the resolvers under test (the system's when none are given), the targets,
/// GOPROXY's proxies — runs the probes, and judges the ladders (certificates, first broken layer).
/// A GOPROXY that does not parse fails the run, unless `ignoreBadGoproxy` (the scheduled audit).
func runProbes(_ base: ProbeConfiguration, resolvers: [String], targets: [String], goproxy: Bool,
               ignoreBadGoproxy: Bool = false, trust: TrustSettings) throws -> ProbeOutcome {
    var out = ProbeOutcome(config: base)
    var resolverTexts = resolvers
    // This machine's resolvers, so that a target that is one of them gets the resolver checks.
    out.config.systemResolvers = SystemResolvers.read().addresses
    if resolverTexts.isEmpty {
        let found = SystemResolvers.read()
        out.notes += found.notes
        resolverTexts = found.addresses
        out.inputs.append(ReportInput(kind: "probe", name: "system resolvers", facts: [("resolv_conf", .string(found.addresses.joined(separator: " ")))]))
    }
    for r in resolverTexts { out.config.resolvers.append(try plainResolverEndpoint(r)) }
    for t in targets {
        do { out.config.targets.append(try ProbeTarget.parse(t)) } catch let e as ProbeTarget.ParseError { throw RunFailure(e.description) }
    }
    if goproxy {
        let value = goproxySetting()
        do {
            out.config.targets += try ProbeTarget.goproxyTargets(value)
            out.notes.append("GOPROXY=\(value)")
        } catch let e as ProbeTarget.ParseError {
            if !ignoreBadGoproxy { throw RunFailure("GOPROXY: \(e.description)") }
        }
    }
    let runner = ProbeRunner(out.config)
    let results = try runBlocking { await runner.run() }
    let verdict = LadderVerdict.assess(results.ladders, judge: CertificateJudge(settings: trust))
    out.findings = LadderVerdict.rescue(results.findings, verified: verdict.verified) + verdict.findings
    out.notes += results.notes + verdict.notes
    out.inconclusive += results.inconclusive
    out.inputs += results.inputs
    for l in results.ladders {
        out.inputs.append(ReportInput(kind: "probe", name: "ladder \(l.target)",
                                      facts: l.steps.enumerated().map { i, step in
                                          ("step\(i + 1)", .string("\(step.layer) \(step.ok ? "ok" : "BROKEN"): \(step.detail)"))
                                      }))
    }
    return out
}

/// IP, IP:PORT, [V6]:PORT, udp://…, tcp://… → a plaintext endpoint.
func plainResolverEndpoint(_ text: String) throws -> ResolverEndpoint {
    if text.contains("://") {
        do {
            let e = try ResolverEndpoint.parse(text)
            guard e.transport == .udp || e.transport == .tcp else {
                throw RunFailure("--resolver is a plaintext resolver (IP, IP:PORT, udp:// or tcp://); encrypted ones go in --reference")
            }
            return e
        } catch let e as ResolverEndpoint.ParseError {
            throw RunFailure("--resolver: \(e.description)")
        }
    }
    if IPText.isIPv4(text) || IPText.isIPv6(text) { return ResolverEndpoint(transport: .udp, host: text, port: 53) }
    do {
        return try ResolverEndpoint.parse("udp://" + text)
    } catch {
        throw RunFailure("--resolver '\(text)': not an address (use IP, IP:PORT or [V6]:PORT)")
    }
}

/// GOPROXY from the environment, else `go env GOPROXY`, else Go's default.
func goproxySetting() -> String {
    if let v = ProcessInfo.processInfo.environment["GOPROXY"], !v.isEmpty { return v }
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let go = "\(dir)/go"
        guard FileManager.default.isExecutableFile(atPath: go) else { continue }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: go)
        p.arguments = ["env", "GOPROXY"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let v = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !v.isEmpty { return v }
        }
        break
    }
    return "https://proxy.golang.org,direct"
}
