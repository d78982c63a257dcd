import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Issue 15 bug 4, with the truth from the wire: a router that publishes an internal DNS server
/// on WAN port 8053 diverts nobody's DNS (a query sent to a resolver's port 53 is answered by that
/// resolver), and dnsaudit reports the rule as a published service (info); the same router with a
/// `udp dport 53` DNAT does divert queries (the rogue answers what was sent to the real server),
/// and dnsaudit reports a high `firewall.dns-redirect`.
///
/// Lab (namespaces `fw-<pid>-*`, addresses in 10.77.0.0/16, no default route, no link to the
/// host): WAN client 10.77.1.1 — router (wan0 10.77.1.2, lan0 10.77.2.1) — inside: the internal
/// DNS server 10.77.2.10 and a rogue 10.77.2.66 (dnsmasq, local answers only).
final class PortForwardWireTests: XCTestCase {
    var lab: NamespaceLab?

    override func tearDown() {
        lab?.finish(after: testRun, keptMessage: "firewall wire lab kept for inspection: \(lab?.dir.path ?? "")")
        super.tearDown()
    }

    static let realAnswer = "10.77.2.99"
    static let rogueAnswer = "10.77.6.66"

    func testPortForwardDivertsNobodyButAHijackDoes() throws {
        try FW.requireRoot(tools: ["ip", "nft", "dnsmasq", "dig", "ss"])
        let ip = try XCTUnwrap(FW.tool("ip")).path, nft = try XCTUnwrap(FW.tool("nft")).path
        let dnsmasq = try XCTUnwrap(FW.tool("dnsmasq")).path, dig = try XCTUnwrap(FW.tool("dig")).path, ss = try XCTUnwrap(FW.tool("ss")).path
        let lab = try NamespaceLab(ip: ip, label: "firewall wire lab", dirPrefix: "fw-wire")
        self.lab = lab
        let wan = "fw-\(getpid())-wan", router = "fw-\(getpid())-rt", inside = "fw-\(getpid())-in"
        for ns in [wan, router, inside] { try lab.addNamespace(ns, skipSuite: FW.suite) }
        try lab.addLink("c0", in: wan, address: "10.77.1.1/30", peer: "wan0", in: router, peerAddress: "10.77.1.2/30")
        try lab.addLink("lan0", in: router, address: "10.77.2.1/24", peer: "s0", in: inside, peerAddress: "10.77.2.10/24")
        try lab.addAddress("10.77.2.66/24", dev: "s0", in: inside)
        try lab.addRoute("10.77.2.0/24", via: "10.77.1.2", in: wan)
        try lab.addRoute("10.77.1.0/30", via: "10.77.2.1", in: inside)
        try lab.sysctl(router, "net.ipv4.ip_forward", "1")
        for (name, addr, answer) in [("dnsmasq-internal", "10.77.2.10", Self.realAnswer), ("dnsmasq-rogue", "10.77.2.66", Self.rogueAnswer)] {
            let p = try lab.spawn(inside, name: name, [
                dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
                "--bind-interfaces", "--listen-address=\(addr)", "--port=53", "--pid-file", "--user=root", "--log-facility=-",
                "--address=/fw.test/\(answer)",
            ])
            try lab.waitListening(inside, p, ["\(addr):53"], ss: ss)
        }

        /// What the WAN client gets for www.fw.test from SERVER:PORT (the wire's answer), or "" when none.
        func ask(_ server: String, _ port: Int) throws -> String {
            let r = try lab.exec(wan, [dig, "@\(server)", "-p", String(port), "+short", "+tries=1", "+time=2", "www.fw.test", "A"], timeout: 10)
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func load(_ rules: String) throws {
            try lab.mustExec(router, [nft, "flush", "ruleset"])
            let f = lab.file("router-\(UUID().uuidString.prefix(6)).nft")
            try rules.write(to: f, atomically: true, encoding: .utf8)
            try lab.mustExec(router, [nft, "-f", f.path])
        }
        func audit() throws -> (Int32, JSONReport?) {
            let r = try lab.exec(router, [try FW.requireBinary().path, "rules", "--format", "json"], timeout: 60)
            let rep = try? JSONDecoder().decode(JSONReport.self, from: Data(r.stdout.utf8))
            XCTAssertNotNil(rep, "not a JSON report: \(r.output.prefix(400))")
            return (r.status, rep)
        }
        let postrouting = "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname \"wan0\" masquerade\n\t}\n"

        // 1. The port-forward publishes the internal server; nobody's DNS is diverted.
        try load("""
        table ip nat {
        \tchain prerouting {
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \t\tiifname "wan0" udp dport 8053 dnat to 10.77.2.10:53 comment "publish internal DNS"
        \t}
        \(postrouting)}
        """)
        XCTAssertEqual(try ask("10.77.1.2", 8053), Self.realAnswer, "the published server answers on the router's port 8053")
        XCTAssertEqual(try ask("10.77.2.10", 53), Self.realAnswer, "DNS sent to the internal server reaches it")
        XCTAssertEqual(try ask("10.77.2.66", 53), Self.rogueAnswer, "DNS sent to the other server reaches that one: nothing is diverted")
        let (status1, rep1) = try audit()
        XCTAssertEqual(status1, 0, "a port-forward is no finding at medium or above")
        if let rep1 {
            XCTAssertEqual(rep1.findings.count, 1, rep1.findings.map(\.description).joined(separator: "; "))
            XCTAssertTrue(rep1.findings.allSatisfy { $0.severity == "info" && $0.title.contains("published service") }, rep1.findings.map(\.title).joined(separator: "; "))
        }

        // 2. A hijack: DNS to any server, from any interface, goes to the rogue. (The same rule
        // limited to `iifname "wan0"`, the interface masquerade sends traffic out of, takes only
        // traffic from the internet, which a NAT router receives addressed to itself: a published
        // service — PolicyDropWireTests.testSamePortWANPublicationDivertsNobody.)
        try load("""
        table ip nat {
        \tchain prerouting {
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \t\tudp dport 53 dnat to 10.77.2.66:53
        \t}
        \(postrouting)}
        """)
        XCTAssertEqual(try ask("10.77.2.10", 53), Self.rogueAnswer, "the query sent to the internal server is answered by the rogue")
        let (status2, rep2) = try audit()
        XCTAssertEqual(status2, 1)
        if let rep2 {
            let high = rep2.findings.filter { $0.kind == "firewall.dns-redirect" && $0.severity == "high" }
            XCTAssertEqual(high.count, 1, rep2.findings.map(\.description).joined(separator: "; "))
            XCTAssertEqual(high.first?.subject["target"]?.text, "10.77.2.66:53")
        }
    }
}
