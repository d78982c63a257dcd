import Findings
import FirewallAudit
import FirewallModel
import FirewallSource
import Foundation
import SystemResolverReader
import XCTest

/// Issue 15 (firewall side): handles of the user's ruleset and exact removal commands (bug 2),
/// port-forwards are not hijacks (bug 4), blocked encrypted DNS to resolvers (bug 10).
final class VerdictTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try FirewallFixtures.tempDir() }
    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func write(_ name: String, _ text: String) throws -> String {
        let u = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: u)
        return u.path
    }

    func audit(nft text: String, extra: [ResolverAddress] = []) throws -> [Finding] {
        let rs = try NftTextParser.parse(text)
        return FirewallAuditor(extraResolvers: extra).audit([RulesetInput(ruleset: rs, name: "test")]).findings
    }

    func audit(iptables text: String) throws -> [Finding] {
        let rs = try IptablesSaveParser.parse(text)
        return FirewallAuditor().audit([RulesetInput(ruleset: rs, name: "test")]).findings
    }

    func fact(_ f: Finding, _ key: String) -> String? {
        for e in f.evidence { for (k, v) in e.facts where k == key { return v.description } }
        return nil
    }

    static func nat(_ rules: String, hook: String = "prerouting") -> String {
        "table ip nat {\n\tchain \(hook) {\n\t\ttype nat hook \(hook) priority dstnat; policy accept;\n\(rules)\n\t}\n}\n"
    }

    static func filter(_ rules: String, hook: String = "forward") -> String {
        "table inet filter {\n\tchain \(hook) {\n\t\ttype filter hook \(hook) priority filter; policy accept;\n\(rules)\n\t}\n}\n"
    }

    // MARK: bug 2 — handles and removal commands

    /// A saved `nft -a list ruleset` whose handles have gaps, loaded through a stand-in for the
    /// namespace helper that lists it renumbered 1..n (as a fresh namespace does): the findings
    /// carry the file's handles, and the removal command names them.
    func testNamespaceListingKeepsTheFileHandles() throws {
        let text = """
        table ip nat { # handle 7
        \tchain prerouting { # handle 2
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \t\tiifname "lan0" tcp dport 80 accept # handle 3
        \t\tiifname "lan0" udp dport 53 dnat to 10.9.9.9:53 # handle 5
        \t\tiifname "lan0" tcp dport 53 dnat to 10.9.9.9:53 # handle 9
        \t}
        }
        """
        let file = try write("gaps.nft", text)
        // What a fresh namespace lists after loading the file: the same rules, handles 1, 2, 3.
        let renumbered = #"""
        {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
        {"table": {"family": "ip", "name": "nat", "handle": 1}},
        {"chain": {"family": "ip", "table": "nat", "name": "prerouting", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "nat", "chain": "prerouting", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lan0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"accept": null}]}},
        {"rule": {"family": "ip", "table": "nat", "chain": "prerouting", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lan0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"dnat": {"addr": "10.9.9.9", "port": 53}}]}},
        {"rule": {"family": "ip", "table": "nat", "chain": "prerouting", "handle": 4, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lan0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 53}}, {"dnat": {"addr": "10.9.9.9", "port": 53}}]}}]}
        """#
        let listing = try write("listing.json", renumbered)
        let lister = SavedRulesetReader.NamespaceLister(argv: ["/bin/sh", "-c", "cat \"$1\"", "sh", listing])
        // The lister appends the file path as one more argument, which the script ignores.
        let read = try SavedRulesetReader.read(path: file, lister: lister)
        XCTAssertEqual(read.rulesets.first?.reader, "nft, in a private namespace")
        let rs = try XCTUnwrap(read.rulesets.first?.ruleset)
        XCTAssertEqual(rs.rules.map(\.handle), [3, 5, 9])
        let findings = FirewallAuditor().audit([RulesetInput(ruleset: rs, name: file)]).findings
        XCTAssertEqual(findings.count, 2, findings.map(describe).joined(separator: "; "))
        for f in findings {
            guard case .int(let h)? = f.subjectValue("handle") else { XCTFail("no handle: \(describe(f))"); continue }
            XCTAssertTrue([5, 9].contains(h), describe(f))
            let cmd = "nft delete rule ip nat prerouting handle \(h)"
            XCTAssertEqual(fact(f, "remove_command"), cmd)
            XCTAssertTrue(f.remediation.contains(cmd), f.remediation)
        }
    }

    /// The same listing from a text saved without `-a`: no handle anywhere, no handle-based
    /// command, a note that says how to save it, and the way to find the handle.
    func testTextWithoutHandlesGivesNoHandleCommand() throws {
        let file = try write("plain.nft", Self.nat("\t\tiifname \"lan0\" udp dport 53 dnat to 10.9.9.9:53"))
        let renumbered = #"""
        {"nftables": [{"table": {"family": "ip", "name": "nat", "handle": 1}},
        {"chain": {"family": "ip", "table": "nat", "name": "prerouting", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "nat", "chain": "prerouting", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lan0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"dnat": {"addr": "10.9.9.9", "port": 53}}]}}]}
        """#
        let listing = try write("listing.json", renumbered)
        let lister = SavedRulesetReader.NamespaceLister(argv: ["/bin/sh", "-c", "cat \"$1\"", "sh", listing])
        for l in [lister, nil] {
            let read = try SavedRulesetReader.read(path: file, lister: l)
            XCTAssertTrue(read.notes.contains { $0.contains("nft -a list ruleset") }, "\(read.notes)")
            let rs = try XCTUnwrap(read.rulesets.first?.ruleset)
            XCTAssertEqual(rs.rules.map(\.handle), [nil])
            let f = try XCTUnwrap(FirewallAuditor().audit([RulesetInput(ruleset: rs, name: file)]).findings.first)
            XCTAssertNil(f.subjectValue("handle"))
            XCTAssertNil(fact(f, "remove_command"))
            XCTAssertEqual(fact(f, "find_handle_command"), "nft -a list chain ip nat prerouting")
            XCTAssertFalse(f.remediation.contains("handle 2"), f.remediation)
            XCTAssertTrue(f.remediation.contains("nft -a list chain ip nat prerouting"), f.remediation)
        }
    }

    /// iptables: `-D CHAIN N` with the rule's position in its chain, and the tool of its origin.
    func testIptablesRemoveCommands() throws {
        let save = { (header: String) in
            """
            # Generated by iptables-save v1.8.9\(header) on Mon Dec  7 13:50:00 2026
            *nat
            :PREROUTING ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            :HIJACK - [0:0]
            -A PREROUTING -p tcp -m tcp --dport 80 -j ACCEPT
            -A PREROUTING -j HIJACK
            -A HIJACK -p tcp -m tcp --dport 22 -j ACCEPT
            -A HIJACK -p tcp -m tcp --dport 25 -j ACCEPT
            -A HIJACK -p udp -m udp --dport 53 -j DNAT --to-destination 10.9.9.9:53
            COMMIT
            """
        }
        for (header, tool) in [("", "iptables-legacy"), (" (nf_tables)", "iptables-nft"), (" (legacy)", "iptables-legacy")] {
            let findings = try audit(iptables: save(header))
            XCTAssertEqual(findings.count, 1, findings.map(describe).joined(separator: "; "))
            guard let f = findings.first else { continue }
            XCTAssertEqual(fact(f, "remove_command"), "\(tool) -t nat -D HIJACK 3")
            XCTAssertTrue(f.remediation.contains("\(tool) -t nat -D HIJACK 3"), f.remediation)
        }
    }

    // MARK: bug 4 — port-forwards are not hijacks

    func testWANPortForwardsArePublishedServices() throws {
        let findings = try audit(nft: Self.nat("""
        \t\tiifname "wan0" udp dport 8053 dnat to 192.168.1.10:53 comment "publish internal DNS"
        \t\tiifname "wan0" tcp dport 8443 dnat to 192.168.1.20:443
        \t\tiifname "wan0" tcp dport { 8080, 8443 } dnat to 192.168.1.20:443
        """))
        XCTAssertEqual(findings.count, 3, findings.map(describe).joined(separator: "; "))
        for f in findings {
            XCTAssertEqual(f.severity, .info, describe(f))
            XCTAssertTrue(f.title.contains("published service"), f.title)
        }
    }

    func testDockerStylePublishedPortWithoutAddrtype() throws {
        let findings = try audit(iptables: """
        *nat
        :PREROUTING ACCEPT [0:0]
        :DOCKER - [0:0]
        -A PREROUTING -j DOCKER
        -A DOCKER -i docker0 -j RETURN
        -A DOCKER ! -i docker0 -p tcp --dport 8443 -j DNAT --to-destination 172.17.0.2:443
        -A DOCKER ! -i docker0 -p udp --dport 5353 -j DNAT --to-destination 172.17.0.3:53
        COMMIT
        """)
        XCTAssertEqual(findings.count, 2)
        XCTAssertTrue(findings.allSatisfy { $0.severity == .info && $0.title.contains("published service") }, findings.map(\.title).joined(separator: "; "))
    }

    /// Real hijacks stay as they were: dport 53 elsewhere, any hook, IPv4/IPv6, no port at all
    /// with a DNS target, via jumps and verdict maps.
    func testRealHijacksStayHigh() throws {
        let cases: [(String, String, Severity)] = [
            ("v4 prerouting", Self.nat("\t\tudp dport 53 dnat to 10.9.9.9"), .high),
            ("v4 prerouting, port kept", Self.nat("\t\ttcp dport 53 dnat to 10.9.9.9:53"), .high),
            ("no port at all, DNS target", Self.nat("\t\tip saddr 192.168.1.0/24 meta l4proto udp dnat to 10.9.9.9:53"), .high),
            ("DoT", Self.nat("\t\ttcp dport 853 dnat to 10.9.9.9:853"), .high),
            ("output to loopback", Self.nat("\t\tudp dport 53 dnat to 127.0.0.1:5353", hook: "output"), .medium),
            ("v6", "table ip6 nat {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tudp dport 53 dnat to [fd77::53]:53\n\t}\n}\n", .high),
            ("jump", "table ip nat {\n\tchain dns {\n\t\tudp dport 53 dnat to 10.9.9.9\n\t}\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tiifname \"lan0\" jump dns\n\t}\n}\n", .high),
            ("tls", Self.nat("\t\ttcp dport 443 dnat to 10.9.9.9:8443"), .high),
        ]
        for (name, text, severity) in cases {
            let findings = try audit(nft: text)
            XCTAssertFalse(findings.isEmpty, name)
            XCTAssertEqual(findings.map(\.severity).max(), severity, "\(name): \(findings.map(describe))")
        }
    }

    /// A catch-all DNAT of one address (every port) is a DNS hijack when that address is a
    /// resolver — this machine's, or one a capture showed answering — not only a public one.
    func testCatchAllDNATOfAKnownResolver() throws {
        let rules = Self.nat("\t\tip daddr 10.77.10.54 dnat to 10.77.20.53")
        let unknown = try audit(nft: rules)
        XCTAssertTrue(unknown.allSatisfy { $0.severity <= .low }, unknown.map(describe).joined(separator: "; "))
        let own = [try XCTUnwrap(ResolverAddress("10.77.10.54", source: "answering DNS in the capture"))]
        let known = try audit(nft: rules, extra: own)
        let dns = known.filter { $0.kind == FindingKind.firewallDNSRedirect }
        XCTAssertEqual(dns.map(\.severity), [.high], known.map(describe).joined(separator: "; "))
    }

    /// Regression (scenario one-address, live): `rules` on a router with no capture. The address the
    /// rule takes every port of is a resolver only when some evidence says so — here the policy
    /// (approved_resolvers, or the probes' configured resolvers) — and then the rule hijacks its
    /// DNS at the severity a port-53 hijack gets; without evidence it stays low, and the evidence
    /// says why.
    func testCatchAllDNATOfAPolicyResolver() throws {
        let rules = Self.nat("\t\tip daddr 10.77.11.53 dnat to 10.77.20.53")
        let rs = try NftTextParser.parse(rules)
        func run(_ policy: FirewallPolicy) -> [Finding] {
            FirewallAuditor(policy: policy).audit([RulesetInput(ruleset: rs, name: "test")]).findings
                .filter { $0.kind == FindingKind.firewallDNSRedirect }
        }
        let none = run(FirewallPolicy())
        XCTAssertEqual(none.map(\.severity), [.low], none.map(describe).joined(separator: "; "))
        let why = try XCTUnwrap(fact(try XCTUnwrap(none.first), "resolver_role"))
        XCTAssertTrue(why.hasPrefix("not established: nothing shows 10.77.11.53 to be a resolver"), why)

        for (name, toml) in [("approved_resolvers", "approved_resolvers = [\"10.77.11.53\"]\n"),
                             ("[probe] resolvers", "[probe]\nresolvers = [\"10.77.10.53\", \"10.77.11.53\"]\n"),
                             ("[probe] resolvers with a port", "[probe]\nresolvers = [\"10.77.11.53:53\"]\n"),
                             ("a prefix", "approved_resolvers = [\"10.77.11.0/24\"]\n")] {
            let policy = try FirewallPolicy.parse(toml: toml, source: "p.toml")
            let found = run(policy)
            XCTAssertEqual(found.map(\.severity), [.high], "\(name): \(found.map(describe))")
            let role = fact(try XCTUnwrap(found.first), "resolver_role") ?? ""
            XCTAssertTrue(role.hasPrefix("established: 10.77.11.53: ") && role.contains("p.toml"), "\(name): \(role)")
        }
        // Another resolver named by the policy does not make this address one.
        let other = run(try FirewallPolicy.parse(toml: "approved_resolvers = [\"10.77.10.53\"]\n"))
        XCTAssertEqual(other.map(\.severity), [.low])
        // A DNAT to the approved resolver itself stays approved (info).
        let toOwn = FirewallAuditor(policy: try FirewallPolicy.parse(toml: "approved_resolvers = [\"10.77.20.53\"]\n"))
            .audit([RulesetInput(ruleset: try NftTextParser.parse(Self.nat("\t\tudp dport 53 dnat to 10.77.20.53")), name: "t")]).findings
        XCTAssertEqual(toOwn.map(\.severity), [.info])
    }

    func testLoopbackStubRemapIsInfo() throws {
        let findings = try audit(nft: Self.nat("\t\tip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:58455", hook: "output"))
        XCTAssertEqual(findings.count, 1)
        XCTAssertEqual(findings.first?.severity, .info, findings.map(describe).joined())
    }

    // MARK: bug 10 — blocked encrypted DNS to resolvers

    func testEncryptedDNSBlocksToResolvers() throws {
        let own = [try XCTUnwrap(ResolverAddress("10.77.0.53", source: "nameserver in /etc/resolv.conf"))]
        let cases: [(String, String, Bool)] = [
            ("DoH to a built-in resolver", "\t\tip daddr 9.9.9.9 tcp dport 443 drop", true),
            ("DoH3 to a built-in resolver", "\t\tip daddr 1.1.1.1 udp dport 443 reject", true),
            ("DoT to any address", "\t\ttcp dport 853 drop", true),
            ("DoQ to any address", "\t\tudp dport 853 drop", true),
            ("DoH to this machine's resolver", "\t\tip daddr 10.77.0.53 tcp dport 443 drop", true),
            ("DoT+DoQ to this machine's resolver", "\t\tip daddr 10.77.0.53 meta l4proto { tcp, udp } th dport 853 drop", true),
            ("everything to this machine's resolver", "\t\tip daddr 10.77.0.53 drop", true),
            ("HTTPS to a web server", "\t\tip daddr 203.0.113.80 tcp dport 443 drop", false),
            ("DNS rate limit", "\t\tudp dport 53 limit rate over 100/second drop", false),
            ("plain DNS to this machine's resolver", "\t\tip daddr 10.77.0.53 udp dport 53 drop", false),
            ("filter accepts", "\t\ttcp dport { 53, 443, 853 } accept\n\t\tudp dport { 53, 443, 853 } accept", false),
        ]
        for (name, rules, flagged) in cases {
            let findings = try audit(nft: Self.filter(rules), extra: own)
            let blocks = findings.filter { $0.kind == FindingKind.firewallEncryptedDNSBlock && $0.severity >= .medium }
            XCTAssertEqual(!blocks.isEmpty, flagged, "\(name): \(findings.map(describe))")
            XCTAssertTrue(findings.allSatisfy { $0.severity < .medium || $0.kind == FindingKind.firewallEncryptedDNSBlock }, name)
        }
        // Without the extra resolver, the DoH drop to 10.77.0.53 is nobody's business.
        XCTAssertTrue(try audit(nft: Self.filter("\t\tip daddr 10.77.0.53 tcp dport 443 drop")).isEmpty)
        // The title says where the resolver came from.
        let f = try XCTUnwrap(try audit(nft: Self.filter("\t\tip daddr 10.77.0.53 tcp dport 443 drop"), extra: own).first)
        XCTAssertTrue(f.title.contains("/etc/resolv.conf"), f.title)
        XCTAssertEqual(fact(f, "resolvers"), "10.77.0.53")
        XCTAssertEqual(fact(f, "resolver_source"), "nameserver in /etc/resolv.conf")
    }

    func testSystemResolversParsing() throws {
        let text = """
        # Generated by NetworkManager
        search lan
        nameserver 10.77.0.53
        nameserver   fe80::1%eth0
        ;nameserver 10.77.0.99
        nameserver 10.77.0.53
        options edns0 trust-ad
        nameserver
        """
        XCTAssertEqual(SystemResolvers.nameservers(in: text), ["10.77.0.53", "fe80::1"])
        let a = try write("a.conf", "nameserver 127.0.0.53\n")
        let b = try write("b.conf", "nameserver 10.77.0.1\nnameserver 127.0.0.53\n")
        let got = SystemResolvers.read(files: [a, dir.appendingPathComponent("missing").path, b])
        XCTAssertEqual(got.map(\.address), ["127.0.0.53", "10.77.0.1"])
        XCTAssertEqual(got.map(\.file), [a, b])
    }

    // MARK: bug 1 — errors that stay errors

    func testOverLargeFileIsRefused() throws {
        let path = dir.appendingPathComponent("huge.nft").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try h.truncate(atOffset: UInt64(SavedRulesetReader.maxBytes + 1))
        try h.close()
        XCTAssertThrowsError(try SavedRulesetReader.read(path: path, lister: nil)) { e in
            XCTAssertTrue("\(e)".contains("larger than"), "\(e)")
        }
    }
}
