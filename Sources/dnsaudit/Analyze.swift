import ArgumentParser
import AuditRun
import Findings
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
    @Option(name: .customLong("dns-port"), help: "Decode UDP and TCP on this port as DNS, like tshark's decode-as (repeatable).")
    var dnsPorts: [UInt16] = []
    @Option(name: .customLong("tls-port"), help: "Follow TCP on this port as TLS and UDP as QUIC (repeatable).")
    var tlsPorts: [UInt16] = []
    @OptionGroup var report: ReportOptions
    @OptionGroup var refs: ReferenceArguments
    @Option(name: .long, help: "A saved ruleset (nft text or JSON, iptables-save) to audit and tie to the capture's DNS; repeatable (the client's and the router's).")
    var ruleset: [String] = []
    @Option(name: .long, help: "Policy file (TOML): approved resolvers and NAT targets (see rules/policy.example.toml).")
    var policy: String?
    @Option(name: .customLong("max-lookups"), help: "With --reference: ask the references about at most this many distinct (name, type) pairs.")
    var maxLookups = 2000
    @Option(name: .long, help: "With --reference: seconds to wait for each reference answer.")
    var timeout = 3.0
    @Option(name: .long, help: "Analysis worker threads: frames are shared out by flow (1: one thread; the report is the same for any number). With --reference: 1.")
    var threads = 1
    @Flag(name: .customLong("no-content-detection"), help: .hidden)  // benchmarks only: what DNS/TLS-on-any-port costs
    var noContentDetection = false

    func validate() throws {
        if !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        try report.validateFormat()
        var request = AnalyzeRequest(files: files)
        request.filter = filter
        request.dnsPorts = Set(dnsPorts)
        request.tlsPorts = Set(tlsPorts)
        request.rulesets = ruleset
        request.policyPath = policy
        request.references = refs.reference
        request.caFile = refs.caFile
        request.referenceTimeout = timeout
        request.maxLookups = maxLookups
        request.trust = try refs.trustSettings()
        request.showProgress = !report.quiet && isatty(2) == 1
        request.threads = threads
        request.contentDetection = !noContentDetection
        let rep = try AnalyzeRun.run(request)
        try emit(rep, report)
        throw ExitCode(rep.exitStatus(failOn: report.failOn, failOnInconclusive: report.failOnInconclusive))
    }
}
