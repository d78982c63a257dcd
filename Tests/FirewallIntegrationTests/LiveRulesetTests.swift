import Foundation
import IntegrationSupport
import XCTest

/// Each example ruleset installed with the real tool its expected.json names, in a fresh network
/// namespace, then audited live by the built dnsaudit (libnftables + iptables-legacy-save).
final class LiveRulesetTests: XCTestCase {
    static let tools = ["ip", "nft", "iptables-nft", "iptables-legacy", "iptables-nft-restore", "ip6tables-nft-restore",
                        "iptables-legacy-restore", "iptables-legacy-save"]

    /// Every example has a test method below.
    static let covered = ["benign-router", "clean-workstation", "docker-default", "docker-embedded-dns", "dot-block", "ip6tables-nft-dnat",
                          "iptables-nft-dnat", "ipv6-dnat", "jump-dnat", "libvirt-host", "local-stub", "locked-down-server", "output-redirect",
                          "policy-drop-dot", "policy-drop-iptables", "router-dns-dnat", "tls-proxy", "wan-port-forward", "wan-publish-legacy",
                          "wan-router-hijacks", "wan-same-port-forward"]

    override class func setUp() {
        super.setUp()
        if FW.isRoot { NetworkNamespace.removeStale() }
    }

    func testEveryExampleIsCovered() throws {
        XCTAssertEqual(try FW.exampleNames(), Self.covered, "add a test method for each new example in rules/examples")
    }

    func testBenignRouter() throws { try liveExample("benign-router") }
    func testDockerEmbeddedDNS() throws { try liveExample("docker-embedded-dns") }
    func testLocalStub() throws { try liveExample("local-stub") }
    func testWANPortForward() throws { try liveExample("wan-port-forward") }
    func testCleanWorkstation() throws { try liveExample("clean-workstation") }
    func testDockerDefault() throws { try liveExample("docker-default") }
    func testDotBlock() throws { try liveExample("dot-block") }
    func testIp6tablesNftDnat() throws { try liveExample("ip6tables-nft-dnat") }
    func testIptablesNftDnat() throws { try liveExample("iptables-nft-dnat") }
    func testIPv6Dnat() throws { try liveExample("ipv6-dnat") }
    func testJumpDnat() throws { try liveExample("jump-dnat") }
    func testLibvirtHost() throws { try liveExample("libvirt-host") }
    func testOutputRedirect() throws { try liveExample("output-redirect") }
    func testRouterDNSDnat() throws { try liveExample("router-dns-dnat") }
    func testTLSProxy() throws { try liveExample("tls-proxy") }
    func testWANSamePortForward() throws { try liveExample("wan-same-port-forward") }
    func testWANRouterHijacks() throws { try liveExample("wan-router-hijacks") }
    func testWANPublishLegacy() throws { try liveExample("wan-publish-legacy") }
    func testPolicyDropDoT() throws { try liveExample("policy-drop-dot") }
    func testPolicyDropIptables() throws { try liveExample("policy-drop-iptables") }
    func testLockedDownServer() throws { try liveExample("locked-down-server") }

    /// Loads `file` into `ns` with `installer`; fails (or skips when the kernel lacks the feature).
    func install(_ installer: String, _ file: URL, into ns: NetworkNamespace, file src: StaticString = #filePath, line: UInt = #line) throws {
        let r: ProcessResult
        switch installer {
        case "nft": r = try ns.exec(["nft", "-f", file.path])
        case "iptables-nft": r = try ns.exec(["iptables-nft-restore"], stdinFile: file)
        case "ip6tables-nft": r = try ns.exec(["ip6tables-nft-restore"], stdinFile: file)
        case "iptables-legacy": r = try ns.exec(["iptables-legacy-restore"], stdinFile: file)
        default:
            XCTFail("unknown installer \(installer)", file: src, line: line)
            return
        }
        guard r.status == 0, !r.timedOut else {
            let err = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            if ["not supported", "Module", "can't initialize", "Could not fetch rule set generation id", "No such file or directory"]
                .contains(where: err.contains) {
                print("FirewallIntegrationTests: \(installer) cannot load rules here: \(err)")
                throw XCTSkip("\(installer) cannot load rules in this kernel: \(err.prefix(200))")
            }
            XCTFail("\(installer) could not install \(file.lastPathComponent) (exit \(r.status)): \(err)", file: src, line: line)
            throw XCTSkip("install failed")
        }
        // The rules must really be there, or an example that expects nothing proves nothing.
        if installer == "iptables-legacy" {
            let names = try ns.exec(["cat", "/proc/net/ip_tables_names"])
            XCTAssertFalse(names.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                           "\(file.lastPathComponent): no iptables-legacy table in the namespace after install", file: src, line: line)
        } else {
            let listing = try ns.exec(["nft", "list", "ruleset"])
            XCTAssertFalse(listing.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                           "\(file.lastPathComponent): nft lists nothing after install", file: src, line: line)
        }
    }

    func runLive(_ ns: NetworkNamespace, _ extra: [String] = []) throws -> ProcessResult {
        try ns.exec([try FW.requireBinary().path, "rules", "--format", "json"] + extra)
    }

    func liveExample(_ name: String) throws {
        try FW.requireRoot(tools: Self.tools)
        _ = try FW.requireBinary()
        let e = try FW.expected(name)
        let ns = try NetworkNamespace()
        defer { ns.delete() }
        try install(e.install, FW.examples.appendingPathComponent(e.ruleset), into: ns)

        let r = try runLive(ns)
        XCTAssertFalse(r.timedOut, "\(name): timed out")
        XCTAssertEqual(r.status, expectedExit(e.findings), "\(name): exit status; stderr: \(r.stderr)")
        XCTAssertEqual(r.stderr, "", "\(name): live run wrote to stderr")
        guard let report = decodeReport(r, name) else { return }
        XCTAssertEqual(report.schema, "dnsaudit/report-v1")

        // Where the rules were read from.
        let live = report.inputs.first { $0.name == "nftables (live)" }
        XCTAssertNotNil(live, "\(name): no 'nftables (live)' input: \(report.inputs.map(\.name))")
        XCTAssertEqual(live?.reader, "libnftables")
        XCTAssertTrue(report.inputs.allSatisfy { $0.kind == "ruleset" })
        if e.install == "iptables-legacy" {
            let legacy = report.inputs.first { $0.name == "iptables-legacy ip (live)" }
            XCTAssertNotNil(legacy, "\(name): the iptables-legacy tables were not read: \(report.inputs.map(\.name)); notes: \(report.notes ?? [])")
            XCTAssertEqual(legacy?.reader, "iptables-legacy-save")
            XCTAssertGreaterThan(legacy?.rules ?? 0, 0, "\(name): iptables-legacy rules")
            XCTAssertEqual(live?.rules ?? -1, 0, "\(name): iptables-legacy rules must not show up in nftables")
        } else {
            XCTAssertGreaterThan(live?.rules ?? 0, 0, "\(name): libnftables saw no rules")
            XCTAssertFalse(report.inputs.contains { $0.name.hasPrefix("iptables-legacy") }, "\(name): \(report.inputs.map(\.name))")
        }

        // expected.json is authoritative, origin included (live iptables-nft rules say iptables-nft).
        assertFindings(report.findings, match: e.findings, "\(name) (live, installed with \(e.install))")
        for f in report.findings {
            XCTAssertFalse(f.title.isEmpty)
            // A chain's drop policy (reason chain-policy) is no rule: no handle; the fix is an accept rule.
            if f.subject["reason"]?.text == "chain-policy" {
                XCTAssertNil(f.subject["handle"], "\(name): \(f)")
                XCTAssertTrue(f.remediation.contains(" accept") || f.remediation.contains("-j ACCEPT"), "\(name): \(f.remediation)")
                continue
            }
            XCTAssertNotNil(f.subject["handle"], "\(name): a live rule always has a handle: \(f)")
            XCTAssertEqual(f.subject["handle"]?.isNumber, true)
            // The delete command in the remediation names the live handle of an nft rule.
            if f.subject["origin"]?.text == "nft", let h = f.subject["handle"]?.text {
                XCTAssertTrue(f.remediation.contains("handle \(h)"), "\(name): remediation does not name handle \(h): \(f.remediation)")
            }
        }
        let untranslated = (report.notes ?? []).filter { $0.contains("could not be recovered") }
        XCTAssertTrue(untranslated.isEmpty, "\(name): \(untranslated)")
    }

    /// nftables and iptables-legacy rules in one namespace: both are audited in one run.
    func testNftablesAndLegacyTogether() throws {
        try FW.requireRoot(tools: Self.tools)
        let ns = try NetworkNamespace()
        defer { ns.delete() }
        let a = try FW.expected("dot-block"), b = try FW.expected("router-dns-dnat"), c = try FW.expected("ip6tables-nft-dnat")
        try install(a.install, FW.examples.appendingPathComponent(a.ruleset), into: ns)
        try install(b.install, FW.examples.appendingPathComponent(b.ruleset), into: ns)
        try install(c.install, FW.examples.appendingPathComponent(c.ruleset), into: ns)
        let r = try runLive(ns)
        XCTAssertEqual(r.status, 1, r.stderr)
        guard let report = decodeReport(r, "combined") else { return }
        XCTAssertEqual(Set(report.inputs.map(\.name)), ["nftables (live)", "iptables-legacy ip (live)"])
        assertFindings(report.findings, match: a.findings + b.findings + c.findings, "dot-block + router-dns-dnat + ip6tables-nft-dnat (live)")
    }

    /// A fresh namespace has no ruleset: nothing to report, exit 0, and a note that says so.
    func testEmptyNamespace() throws {
        try FW.requireRoot(tools: Self.tools)
        let ns = try NetworkNamespace()
        defer { ns.delete() }
        let r = try runLive(ns)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        guard let report = decodeReport(r, "empty namespace") else { return }
        XCTAssertTrue(report.findings.isEmpty, report.findings.map(\.description).joined(separator: "; "))
        XCTAssertTrue((report.notes ?? []).contains { $0.contains("empty") }, "no note about the empty ruleset: \(report.notes ?? [])")
        // The text format works live too.
        let text = try ns.exec([try FW.requireBinary().path, "rules"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertFalse(text.stdout.isEmpty)
    }

    /// --fail-on moves the exit status; --policy approves a live finding.
    func testFailOnAndPolicyLive() throws {
        try FW.requireRoot(tools: Self.tools)
        let e = try FW.expected("output-redirect")
        let ns = try NetworkNamespace()
        defer { ns.delete() }
        try install(e.install, FW.examples.appendingPathComponent(e.ruleset), into: ns)
        XCTAssertEqual(try runLive(ns, ["--fail-on", "high"]).status, 0, "medium findings with --fail-on high")
        XCTAssertEqual(try runLive(ns, ["--fail-on", "medium"]).status, 1)
        let r = try runLive(ns, ["--policy", FW.root.appendingPathComponent("rules/policy.example.toml").path])
        XCTAssertEqual(r.status, 0, "the example policy approves ':5353': \(r.stderr)")
        guard let report = decodeReport(r, "output-redirect with policy") else { return }
        XCTAssertEqual(report.findings.count, 3)
        for f in report.findings {
            XCTAssertEqual(f.severity, "info", f.description)
            XCTAssertTrue(f.title.hasPrefix("Approved by policy"), f.title)
        }
    }
}
