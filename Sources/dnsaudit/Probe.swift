import ArgumentParser
import AuditRun
import Findings
import FoundationEssentials
import Probes
import ResolverClients
import TLSCertificates

#if canImport(Glibc)
import Glibc
#endif

/// `dnsaudit probe`: active checks. Who answers this machine's DNS (identity over plain DNS and
/// over DoT on the same address), whether non-existent names are rewritten, whether DNSSEC is
/// validated, whether encrypted DNS is reachable — and per target a ladder DNS → TCP → TLS → HTTP
/// that names the first broken layer.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Active checks: resolver identity, NXDOMAIN canary, DNSSEC, encrypted-DNS reachability, and a DNS -> TCP -> TLS -> HTTP ladder per target.",
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
    @Option(name: .long, help: "A resolver under test (IP, IP:PORT or udp://...); repeatable. Default: the system's.")
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
    @Option(name: .customLong("https-name"), help: "A name whose HTTPS record (ech=, alpn, port, hints) is compared with the references'; repeatable. Default: none (e.g. crypto.cloudflare.com, defo.ie publish ech=).")
    var httpsName: [String] = []
    @Option(name: .customLong("ecs-name"), help: "A whoami-style name whose TXT answer echoes the EDNS Client Subnet its authoritative saw; repeatable. Default: none.")
    var ecsName: [String] = []
    @Option(name: .customLong("rebinding-name"), help: "A name whose public answer is a private address, to see whether the resolver filters it (rebinding protection); repeatable. Default: none.")
    var rebindingName: [String] = []
    @Option(name: .long, help: "Seconds to wait for each answer or connection.")
    var timeout = 3.0
    @Option(name: .customLong("max-hops"), help: "The route rung: the highest TTL tried when locating the hop that forges an answer, resets or drops (0: off).")
    var maxHops = 16
    @Flag(name: .customLong("route-always"), help: "Walk the route (DNS query, ClientHello or SYN) of every target, not only of tampered ones.")
    var routeAlways = false
    @OptionGroup var report: ReportOptions
    @OptionGroup var refs: ReferenceArguments

    func run() throws {
        try report.validateFormat()
        var config = ProbeConfiguration()
        let refOptions = ReferenceOptions(urls: refs.reference, caFile: refs.caFile, timeoutSeconds: timeout)
        config.references = try refOptions.endpoints()
        config.settings = try refOptions.settings()
        config.checkName = checkName
        config.canaryZone = noCanary ? nil : canaryZone
        config.dnssecSigned = noDNSSEC ? nil : dnssecName
        config.dnssecBroken = noDNSSEC ? nil : dnssecBrokenName
        config.identity = !noIdentity
        config.httpsNames = httpsName
        config.ecsEchoNames = ecsName
        config.rebindingNames = rebindingName
        guard (0...64).contains(maxHops) else { throw RunFailure("--max-hops wants 0...64, got \(maxHops)") }
        config.hopLimit = maxHops
        config.routeAlways = routeAlways
        for e in expectIdentity {
            guard let eq = e.firstIndex(of: "="), eq != e.startIndex else { throw RunFailure("--expect-identity wants ADDR=TEXT, got '\(e)'") }
            config.expectedIdentities[String(e[..<eq])] = String(e[e.index(after: eq)...])
        }
        let rep = try runProbes(config, resolvers: resolver, targets: targets, goproxy: goproxy,
                                trust: try refs.trustSettings()).report()
        try emit(rep, report)
        throw ExitCode(rep.exitStatus(failOn: report.failOn, failOnInconclusive: report.failOnInconclusive))
    }
}

