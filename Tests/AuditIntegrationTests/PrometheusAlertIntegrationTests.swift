import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Root only. The whole monitoring path with the real Debian programs, inside namespaces this
/// test creates (named `dnsaudit-gx-<pid>-p-client|router|services`): the audit lab's hijacking
/// router (its DNAT sends the client's plain DNS for the "public" resolver to the rogue one),
/// `dnsaudit audit --format prometheus` in the router writes the textfile,
/// `prometheus-node-exporter`'s textfile collector serves it on the router's loopback
/// (127.0.0.1:9100), `prometheus` (127.0.0.1:9090) scrapes it every second and evaluates the
/// shipped rules (rules/prometheus/dnsaudit.rules.yml), and the test asks Prometheus's HTTP API
/// (`/api/v1/alerts`, `/api/v1/query`, with curl inside the router namespace) until
/// `DNSAuditHijackOrInterception` is firing for `firewall.dns-redirect`.
///
/// Network rule: every packet stays in the three namespaces (no default route, no link to the
/// host); Prometheus and node_exporter listen on the router namespace's own loopback only.
/// Needs, beyond the audit lab's tools: `prometheus`, `prometheus-node-exporter`, `curl`
/// (skipped with the reason printed when missing).
final class PrometheusAlertIntegrationTests: XCTestCase {
    static let suite = "PrometheusAlertIntegrationTests"

    /// The audit lab's topology under this suite's own namespace names (kind "gx").
    final class Lab: ResolverLab {
        let tools: AuditLabTools
        init(tools: AuditLabTools) throws {
            self.tools = tools
            try super.init(ip: tools.ip, programs: Programs(ss: tools.ss, nft: tools.nft, unbound: tools.unbound,
                                                            dnsmasq: tools.dnsmasq, openssl: tools.openssl),
                           kind: "gx", interfacePrefix: "gx", tag: "p", label: "prometheus lab", skipSuite: PrometheusAlertIntegrationTests.suite)
            chmod(dir.path, 0o1777)
        }
    }

    private var lab: Lab?

    override func tearDown() {
        if let lab {
            lab.finish(after: testRun, keptMessage: "prometheus lab: files kept for inspection in \(lab.dir.path)")
        }
        lab = nil
        super.tearDown()
    }

    static var repoRoot: URL { PackagePaths.root }

    func testHijackAlertFiresThroughNodeExporterAndPrometheus() throws {
        let tools = try AuditLabTools.require()
        let found = try Requirements.requireTools(Self.suite, [("prometheus", "prometheus"), ("prometheus-node-exporter", "prometheus-node-exporter"),
                                                               ("curl", "curl")])
        let prometheus = found["prometheus"]!, nodeExporter = found["prometheus-node-exporter"]!, curl = found["curl"]!
        let rules = Self.repoRoot.appendingPathComponent("rules/prometheus/dnsaudit.rules.yml")

        let lab = try Lab(tools: tools)
        self.lab = lab
        try lab.build()
        let pki = try AuditLabPKI.make(in: lab.dir, openssl: tools.openssl)
        try lab.startServices(ResolverLab.ServiceCertificates(resolverCert: pki.resolverCert, resolverKey: pki.resolverKey,
                                                              webCert: pki.webCert, webKey: pki.webKey),
                              rogueWildcardAnswer: "198.18.77.77")
        try lab.routerRules(ResolverLab.hijackRules)
        let a = try AuditNamespaceDNS.query(in: lab.clientNS, server: ResolverLab.resolverAddress, name: ResolverLab.webName)
        XCTAssertEqual(a.addresses, [ResolverLab.rogueWebAnswer], "lab: the client's plain DNS is hijacked")

        // node_exporter: only the textfile collector, on the router's loopback.
        let textfiles = lab.file("textfile")
        try FileManager.default.createDirectory(at: textfiles, withIntermediateDirectories: true)
        chmod(textfiles.path, 0o1777)
        let exporter = try lab.spawn(lab.routerNS, name: "node-exporter", [
            nodeExporter, "--web.listen-address=127.0.0.1:9100", "--collector.disable-defaults",
            "--collector.textfile", "--collector.textfile.directory=\(textfiles.path)",
        ])
        try lab.waitListening(lab.routerNS, exporter, ["127.0.0.1:9100"])

        // Prometheus: scrape every second, evaluate the shipped rules every second.
        let config = lab.file("prometheus.yml")
        try """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        rule_files:
          - \(rules.path)
        scrape_configs:
          - job_name: node
            static_configs:
              - targets: ["127.0.0.1:9100"]

        """.write(to: config, atomically: true, encoding: .utf8)
        let tsdb = lab.file("tsdb")
        let prom = try lab.spawn(lab.routerNS, name: "prometheus", [
            prometheus, "--config.file=\(config.path)", "--storage.tsdb.path=\(tsdb.path)",
            "--web.listen-address=127.0.0.1:9090", "--log.level=warn",
        ])
        try lab.waitListening(lab.routerNS, prom, ["127.0.0.1:9090"], timeout: 30)

        func api(_ path: String) throws -> [String: Any] {
            let r = try lab.exec(lab.routerNS, [curl, "-sS", "--noproxy", "*", "--max-time", "5", "http://127.0.0.1:9090" + path], timeout: 10)
            guard r.status == 0, let o = (try? JSONSerialization.jsonObject(with: r.stdoutData)) as? [String: Any] else {
                throw LabError("Prometheus API \(path): status \(r.status): \(r.output.prefix(500))")
            }
            return o
        }
        func firing() throws -> [[String: Any]] {
            let alerts = ((try api("/api/v1/alerts"))["data"] as? [String: Any])?["alerts"] as? [[String: Any]] ?? []
            return alerts.filter { $0["state"] as? String == "firing" }
        }
        // Nothing fires before the audit (no dnsaudit series at all).
        sleep(3)
        XCTAssertTrue(try firing().isEmpty, "no alert before the audit")

        // The audit, in the router (it audits its own ruleset), writes the textfile.
        let promFile = textfiles.appendingPathComponent("dnsaudit.prom")
        let policy = lab.file("policy.toml")
        try """
        approved_resolvers = ["\(ResolverLab.resolverAddress)"]

        [firewall]
        approved_targets = []
        doh_resolvers = ["\(ResolverLab.resolverAddress)"]

        [audit]
        interface = "\(lab.routerClientIf)"
        duration = 3
        fail_on = "medium"

        [audit.outputs]
        prometheus = "\(promFile.path)"

        [references]
        urls = ["\(ResolverLab.dohReference)", "\(ResolverLab.dotReference)"]
        ca_file = "\(pki.caCert.path)"
        timeout = 2

        [probe]
        resolvers = ["\(ResolverLab.resolverAddress)"]
        targets = ["\(ResolverLab.webName)"]
        check_name = "\(ResolverLab.webName)"
        canary_zone = "\(ResolverLab.zone)"
        dnssec = false
        identity = true

        """.write(to: policy, atomically: true, encoding: .utf8)
        let flag = AuditStopFlag()
        AuditNamespaceDNS.startQueryLoop(in: lab.clientNS, server: ResolverLab.resolverAddress, name: ResolverLab.webName, interval: 0.3, flag: flag)
        defer { flag.stop() }
        let audit = try lab.spawn(lab.routerNS, name: "audit", [PackagePaths.dnsaudit.path, "audit", "--policy", policy.path, "--quiet",
                                                                "--format", "json"], separateOutputs: true)
        guard audit.waitForExit(timeout: 120) else {
            audit.stop(signal: SIGKILL)
            throw LabError("dnsaudit audit did not finish in 120 s: \(audit.stderr.prefix(1500))")
        }
        flag.stop()
        XCTAssertEqual(audit.exitCode, 1, "the hijack is a finding: \(audit.stderr.prefix(1500))")
        let text = (try? String(contentsOf: promFile, encoding: .utf8)) ?? ""
        var redirects = 0
        for line in text.split(separator: "\n") where line.hasPrefix("dnsaudit_findings{kind=\"firewall.dns-redirect\",severity=\"high\"}")
            || line.hasPrefix("dnsaudit_findings{kind=\"firewall.dns-redirect\",severity=\"critical\"}") {
            redirects += Int(line.split(separator: " ").last ?? "") ?? 0
        }
        XCTAssertGreaterThanOrEqual(redirects, 1, "the textfile counts the redirect (its udp and tcp rules):\n\(text.prefix(3000))")
        if let promtool = Requirements.findTool("promtool") {
            let check = try runBounded("/bin/sh", ["-c", "\(promtool) check metrics < '\(promFile.path)'"], timeout: 30)
            XCTAssertEqual(check.status, 0, "promtool check metrics on the audit's textfile: \(check.output)")
        }

        // node_exporter serves it, Prometheus scrapes it, and the rule fires.
        var hijack: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(45)
        while Date() < deadline {
            hijack = try firing().filter { ($0["labels"] as? [String: String])?["alertname"] == "DNSAuditHijackOrInterception" }
            if hijack.contains(where: { ($0["labels"] as? [String: String])?["kind"] == "firewall.dns-redirect" }) { break }
            usleep(500_000)
        }
        let labels = hijack.compactMap { $0["labels"] as? [String: String] }
        print("prometheus lab: firing DNSAuditHijackOrInterception alerts: \(labels)")
        XCTAssertTrue(labels.contains { $0["kind"] == "firewall.dns-redirect" && $0["instance"] == "127.0.0.1:9100" && $0["severity"] == "critical" },
                      "DNSAuditHijackOrInterception is firing for the redirect; alerts: \(labels)\nprometheus log: \(prom.output.suffix(1500))")
        // The other alerts stay quiet: the run succeeded and is fresh.
        let others = try firing().compactMap { ($0["labels"] as? [String: String])?["alertname"] }
        XCTAssertFalse(others.contains("DNSAuditFailing"), "\(others)")
        XCTAssertFalse(others.contains("DNSAuditStale"), "\(others)")
        let success = try api("/api/v1/query?query=dnsaudit_last_run_success")
        let value = (((success["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first?["value"] as? [Any])?.last as? String
        XCTAssertEqual(value, "1", "dnsaudit_last_run_success as Prometheus scraped it: \(success)")
    }
}
