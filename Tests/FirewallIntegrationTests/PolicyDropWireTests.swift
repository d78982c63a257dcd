import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The two verdict gaps after issue 15's first pass, with the truth from the wire:
///
/// 1. A router whose forward chain drops by policy and accepts plain DNS (udp/tcp 53) and HTTPS only
///    to a web server: `dig` through it is answered, `dig +tls` (DoT, tcp 853) and `dig +https`
///    (DoH on the resolver's 443) get nothing — and dnsaudit reports `firewall.encrypted-dns-block`
///    (reason chain-policy). With accept rules for 853 and the resolver's 443 added (the finding's
///    own advice), both answer and the finding is gone.
/// 2. A router with masquerade out of wan0 that publishes an internal DNS server on its WAN address,
///    port 53 (`iifname "wan0" udp dport 53 dnat`): a WAN client asking the router gets the internal
///    server's answer, a LAN client's query to another server is answered by that server (nothing
///    diverted) — info, "published service"; the same DNAT on lan0 diverts the LAN client's query to
///    the internal server — high.
///
/// Lab (namespaces `fw2-<pid>-*`, addresses in 10.78.0.0/16, no default route, no link to the host):
/// client 10.78.1.1 — (lan0 10.78.1.254) router (wan0 10.78.2.1) — servers 10.78.2.53 (unbound:
/// plain DNS, DoT, DoH; this router's resolv.conf nameserver), 10.78.2.80 (web, openssl s_server)
/// and 10.78.2.10 (dnsmasq, the internal DNS server being published / hijacked to).
final class PolicyDropWireTests: XCTestCase {
    var lab: NamespaceLab?
    var etcNetns: URL?
    var hadEtcNetns = true

    override func tearDown() {
        lab?.finish(after: testRun, keptMessage: "fw2 wire lab kept for inspection: \(lab?.dir.path ?? "")")
        if let etcNetns {
            try? FileManager.default.removeItem(at: etcNetns)
            if !hadEtcNetns { _ = rmdir("/etc/netns") }
        }
        super.tearDown()
    }

    static let zone = "fw2.test"
    static let resolverAnswer = "10.78.9.53"
    static let internalAnswer = "10.78.9.10"

    struct Lab {
        var lab: NamespaceLab
        var client: String, router: String, servers: String
        var nft: String, dig: String, binary: String
    }

    func buildLab() throws -> Lab {
        try FW.requireRoot(tools: ["ip", "nft", "unbound", "dnsmasq", "openssl", "dig", "ss"])
        let binary = try FW.requireBinary().path
        let ip = try XCTUnwrap(FW.tool("ip")).path, nft = try XCTUnwrap(FW.tool("nft")).path
        let unbound = try XCTUnwrap(FW.tool("unbound")).path, dnsmasq = try XCTUnwrap(FW.tool("dnsmasq")).path
        let openssl = try XCTUnwrap(FW.tool("openssl")).path, dig = try XCTUnwrap(FW.tool("dig")).path, ss = try XCTUnwrap(FW.tool("ss")).path
        let lab = try NamespaceLab(ip: ip, label: "fw2 wire lab", dirPrefix: "fw2-wire")
        self.lab = lab
        let client = "fw2-\(getpid())-cl", router = "fw2-\(getpid())-rt", servers = "fw2-\(getpid())-sv"
        for ns in [client, router, servers] { try lab.addNamespace(ns, skipSuite: FW.suite) }
        try lab.addLink("c0", in: client, address: "10.78.1.1/24", peer: "lan0", in: router, peerAddress: "10.78.1.254/24")
        try lab.addLink("wan0", in: router, address: "10.78.2.1/24", peer: "s0", in: servers, peerAddress: "10.78.2.53/24")
        for a in ["10.78.2.80/24", "10.78.2.10/24"] { try lab.addAddress(a, dev: "s0", in: servers) }
        try lab.addRoute("10.78.2.0/24", via: "10.78.1.254", in: client)
        try lab.addRoute("10.78.1.0/24", via: "10.78.2.1", in: servers)
        try lab.sysctl(router, "net.ipv4.ip_forward", "1")

        // This router's own resolver (what `dnsaudit rules` learns from its resolv.conf).
        let etc = URL(fileURLWithPath: "/etc/netns/\(router)")
        hadEtcNetns = FileManager.default.fileExists(atPath: "/etc/netns")
        try FileManager.default.createDirectory(at: etc, withIntermediateDirectories: true)
        etcNetns = etc
        try Data("nameserver 10.78.2.53\n".utf8).write(to: etc.appendingPathComponent("resolv.conf"))

        let pki = OpenSSLTestPKI(dir: lab.dir, openssl: openssl)
        try pki.makeCA("ca", subject: "/O=dnsaudit fw2 lab/CN=fw2 lab CA")
        try pki.makeServerCertificate("resolver", ca: "ca", commonName: "dns.\(Self.zone)", dnsNames: ["dns.\(Self.zone)"])
        try pki.makeServerCertificate("web", ca: "ca", commonName: "www.\(Self.zone)", dnsNames: ["www.\(Self.zone)"])
        let conf = try UnboundConfig(allow: "10.78.0.0/16", server: [
            "interface: 10.78.2.53@53", "interface: 10.78.2.53@853", "interface: 10.78.2.53@443",
            "tls-port: 853", "https-port: 443", "http-endpoint: \"/dns-query\"",
            "tls-service-key: \"\(pki.url("resolver.key").path)\"", "tls-service-pem: \"\(pki.url("resolver.pem").path)\"",
            "module-config: \"iterator\"",
            "local-zone: \".\" refuse", "local-zone: \"\(Self.zone).\" static", "local-data: \"www.\(Self.zone). 300 IN A \(Self.resolverAnswer)\"",
        ]).write("unbound.conf", in: lab)
        let u = try lab.spawn(servers, name: "unbound", [unbound, "-d", "-c", conf.path])
        try lab.waitListening(servers, u, ["10.78.2.53:53", "10.78.2.53:853", "10.78.2.53:443"], ss: ss)
        let d = try lab.spawn(servers, name: "dnsmasq-internal", [
            dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=10.78.2.10", "--port=53", "--pid-file", "--user=root", "--log-facility=-",
            "--address=/\(Self.zone)/\(Self.internalAnswer)",
        ])
        try lab.waitListening(servers, d, ["10.78.2.10:53"], ss: ss)
        let w = try lab.spawn(servers, name: "web", [openssl, "s_server", "-4", "-accept", "10.78.2.80:443", "-cert", pki.url("web.pem").path,
                                                     "-key", pki.url("web.key").path, "-www", "-quiet"])
        try lab.waitListening(servers, w, ["10.78.2.80:443"], ss: ss)
        return Lab(lab: lab, client: client, router: router, servers: servers, nft: nft, dig: dig, binary: binary)
    }

    /// The answer `ns` gets for www.fw2.test (dig +short, one try), or "" when none.
    func ask(_ l: Lab, from ns: String, _ server: String, _ transport: [String] = []) throws -> String {
        let r = try l.lab.exec(ns, [l.dig, "@\(server)"] + transport + ["+short", "+tries=1", "+time=2", "www.\(Self.zone)", "A"], timeout: 15)
        let lines = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        return lines.first { !$0.isEmpty && !$0.hasPrefix(";") } ?? ""
    }

    func load(_ l: Lab, _ rules: String) throws {
        try l.lab.mustExec(l.router, [l.nft, "flush", "ruleset"])
        let f = l.lab.file("router-\(UUID().uuidString.prefix(6)).nft")
        try rules.write(to: f, atomically: true, encoding: .utf8)
        try l.lab.mustExec(l.router, [l.nft, "-f", f.path])
    }

    func audit(_ l: Lab) throws -> (Int32, JSONReport?) {
        let r = try l.lab.exec(l.router, [l.binary, "rules", "--format", "json"], timeout: 60)
        let rep = try? JSONDecoder().decode(JSONReport.self, from: Data(r.stdout.utf8))
        XCTAssertNotNil(rep, "not a JSON report: \(r.output.prefix(400))")
        return (r.status, rep)
    }

    func testDropPolicyThatSwallowsEncryptedDNS() throws {
        let l = try buildLab()
        XCTAssertTrue(try l.lab.exec(l.router, ["cat", "/etc/resolv.conf"]).stdout.contains("10.78.2.53"), "the router's resolv.conf is not the lab's")

        let blocking = """
        table inet filter {
        \tchain forward {
        \t\ttype filter hook forward priority filter; policy drop;
        \t\tct state established,related accept
        \t\tiifname "lan0" udp dport 53 accept
        \t\tiifname "lan0" tcp dport 53 accept
        \t\tiifname "lan0" ip daddr 10.78.2.80 tcp dport { 80, 443 } accept
        \t}
        }
        """
        try load(l, blocking)
        // The wire: plain DNS passes, DoT and DoH to the resolver die, HTTPS to the web server passes.
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53"), Self.resolverAnswer, "plain DNS over UDP passes the policy")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+tcp"]), Self.resolverAnswer, "plain DNS over TCP passes the policy")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+tls"]), "", "DoT (tcp 853) falls to the drop policy")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+https"]), "", "DoH (tcp 443) to the resolver falls to the drop policy")
        let web = try l.lab.exec(l.client, ["/bin/sh", "-c", "echo | timeout 5 openssl s_client -connect 10.78.2.80:443 -brief"], timeout: 10)
        XCTAssertTrue(web.output.contains("CONNECTION ESTABLISHED") || web.output.contains("Protocol version"), "HTTPS to the web server passes: \(web.output.prefix(300))")

        let (status, rep) = try audit(l)
        XCTAssertEqual(status, 1, "a medium finding fails the default --fail-on medium")
        if let rep {
            let block = rep.findings.filter { $0.kind == "firewall.encrypted-dns-block" }
            XCTAssertEqual(block.count, 1, rep.findings.map(\.description).joined(separator: "; "))
            if let f = block.first {
                XCTAssertEqual(f.severity, "medium", f.description)
                XCTAssertEqual(f.subject["reason"]?.text, "chain-policy")
                XCTAssertEqual(f.subject["chain"]?.text, "forward")
                XCTAssertEqual(f.subject["target"]?.text, ":853")
                XCTAssertTrue(f.title.contains("policy drop"), f.title)
                XCTAssertTrue(f.title.contains("10.78.2.53"), "the router's own resolver is named: \(f.title)")
                XCTAssertTrue(f.remediation.contains("tcp dport 853 accept"), f.remediation)
            }
            XCTAssertEqual(rep.findings.count, 1, rep.findings.map(\.description).joined(separator: "; "))
        }

        // The advice applied: accept DoT and the resolver's HTTPS. Both answer; nothing to report.
        try load(l, blocking.replacingOccurrences(of: "\t\tct state established,related accept\n", with: """
        \t\tct state established,related accept
        \t\ttcp dport 853 accept
        \t\tip daddr 10.78.2.53 tcp dport 443 accept

        """))
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+tls"]), Self.resolverAnswer, "DoT passes once accepted")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+https"]), Self.resolverAnswer, "DoH passes once accepted")
        let (status2, rep2) = try audit(l)
        XCTAssertEqual(status2, 0)
        XCTAssertEqual(rep2?.findings.count, 0, rep2?.findings.map(\.description).joined(separator: "; ") ?? "")

        // A locked-down chain that lets no DNS through at all is not this pattern.
        try load(l, """
        table inet filter {
        \tchain forward {
        \t\ttype filter hook forward priority filter; policy drop;
        \t\tct state established,related accept
        \t\tiifname "lan0" ip daddr 10.78.2.80 tcp dport 443 accept
        \t}
        }
        """)
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53"), "", "no DNS passes")
        let (status3, rep3) = try audit(l)
        XCTAssertEqual(status3, 0)
        XCTAssertEqual(rep3?.findings.count, 0, rep3?.findings.map(\.description).joined(separator: "; ") ?? "")
    }

    /// The same pattern with iptables-legacy and a RHEL-style catch-all `-j REJECT` instead of a
    /// drop policy; then the finding's own `add_command`, run as printed, opens DoT and DoH.
    func testCatchAllRejectWithIptablesLegacyAndTheAdvisedFix() throws {
        try FW.requireRoot(tools: ["iptables-legacy-restore", "iptables-legacy"])
        let l = try buildLab()
        let rules = l.lab.file("router.rules")
        try """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A FORWARD -i lan0 -p udp -m udp --dport 53 -j ACCEPT
        -A FORWARD -i lan0 -p tcp -m tcp --dport 53 -j ACCEPT
        -A FORWARD -i lan0 -d 10.78.2.80/32 -p tcp -m tcp --dport 443 -j ACCEPT
        -A FORWARD -j REJECT --reject-with icmp-host-prohibited
        COMMIT

        """.write(to: rules, atomically: true, encoding: .utf8)
        let restore = try l.lab.exec(l.router, ["/bin/sh", "-c", "iptables-legacy-restore < '\(rules.path)'"])
        guard restore.status == 0 else {
            print("\(FW.suite): iptables-legacy cannot load rules here: \(restore.output)")
            throw XCTSkip("iptables-legacy cannot load rules in this kernel: \(restore.output.prefix(200))")
        }
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53"), Self.resolverAnswer, "plain DNS passes")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+tls"]), "", "DoT is rejected by the catch-all")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+https"]), "", "DoH to the resolver is rejected by the catch-all")

        let r = try l.lab.exec(l.router, [l.binary, "rules", "--format", "json"], timeout: 60)
        XCTAssertEqual(r.status, 1, r.output.prefix(400).description)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let findings = try XCTUnwrap(json["findings"] as? [[String: Any]])
        XCTAssertEqual(findings.count, 1, "\(findings.map { $0["title"] ?? "" })")
        let f = try XCTUnwrap(findings.first)
        XCTAssertEqual(f["kind"] as? String, "firewall.encrypted-dns-block")
        XCTAssertEqual(f["severity"] as? String, "medium")
        let subject = try XCTUnwrap(f["subject"] as? [String: Any])
        XCTAssertEqual(subject["reason"] as? String, "chain-policy")
        XCTAssertEqual(subject["origin"] as? String, "iptables-legacy")
        XCTAssertEqual(subject["chain"] as? String, "FORWARD")
        let data = try XCTUnwrap(((f["evidence"] as? [[String: Any]])?.first)?["data"] as? [String: Any])
        XCTAssertEqual(data["statement"] as? String, "catch-all reject")
        let add = try XCTUnwrap(data["add_command"] as? String)
        let commands = add.components(separatedBy: "; ")
        XCTAssertEqual(commands.count, 2, add)
        XCTAssertTrue(commands.allSatisfy { $0.hasPrefix("iptables-legacy -t filter -I FORWARD 5 ") }, add)

        // The advice, run as printed (each command is plain words, no shell syntax).
        for c in commands {
            let words = c.split(separator: " ").map(String.init)
            try l.lab.mustExec(l.router, words)
        }
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+tls"]), Self.resolverAnswer, "DoT passes after the advised accept")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53", ["+https"]), Self.resolverAnswer, "DoH passes after the advised accept")
        let again = try l.lab.exec(l.router, [l.binary, "rules", "--format", "json"], timeout: 60)
        XCTAssertEqual(again.status, 0, again.output.prefix(600).description)
    }

    func testSamePortWANPublicationDivertsNobody() throws {
        let l = try buildLab()
        // The router's WAN address is 10.78.2.1; the "internet" side is the servers' namespace,
        // which also plays the WAN client. The LAN client is 10.78.1.1.
        let postrouting = "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname \"wan0\" masquerade\n\t}\n"
        try load(l, """
        table ip nat {
        \tchain prerouting {
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \t\tiifname "wan0" udp dport 53 dnat to 10.78.1.1
        \t}
        \(postrouting)}
        """)
        // The LAN client runs the published DNS server (dnsmasq in the client namespace).
        let dnsmasq = try XCTUnwrap(FW.tool("dnsmasq")).path, ss = try XCTUnwrap(FW.tool("ss")).path
        let p = try l.lab.spawn(l.client, name: "dnsmasq-published", [
            dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=10.78.1.1", "--port=53", "--pid-file", "--user=root", "--log-facility=-",
            "--address=/\(Self.zone)/10.78.9.1",
        ])
        try l.lab.waitListening(l.client, p, ["10.78.1.1:53"], ss: ss)
        XCTAssertEqual(try ask(l, from: l.servers, "10.78.2.1"), "10.78.9.1", "the WAN side reaches the published server through the router's address")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53"), Self.resolverAnswer, "the LAN client's DNS reaches the resolver it asked")
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.10"), Self.internalAnswer, "… and the other server it asked: nothing diverted")
        let (status, rep) = try audit(l)
        XCTAssertEqual(status, 0, "a WAN publication is no finding at medium or above")
        if let rep {
            XCTAssertEqual(rep.findings.count, 1, rep.findings.map(\.description).joined(separator: "; "))
            XCTAssertEqual(rep.findings.first?.severity, "info")
            XCTAssertTrue(rep.findings.first?.title.contains("published service") ?? false, rep.findings.first?.title ?? "")
        }

        // The same DNAT on the LAN side: the client's query to the resolver is answered by the DNAT target.
        try load(l, """
        table ip nat {
        \tchain prerouting {
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \t\tiifname "lan0" udp dport 53 dnat to 10.78.2.10
        \t}
        \(postrouting)}
        """)
        XCTAssertEqual(try ask(l, from: l.client, "10.78.2.53"), Self.internalAnswer, "the query sent to the resolver is answered by the DNAT target")
        let (status2, rep2) = try audit(l)
        XCTAssertEqual(status2, 1)
        if let rep2 {
            let high = rep2.findings.filter { $0.kind == "firewall.dns-redirect" && $0.severity == "high" }
            XCTAssertEqual(high.count, 1, rep2.findings.map(\.description).joined(separator: "; "))
            XCTAssertEqual(high.first?.subject["target"]?.text, "10.78.2.10")
        }
    }
}
