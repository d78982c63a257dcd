import Findings
import FirewallAudit
import FirewallModel
import Foundation
import XCTest

/// The two verdict gaps after issue 15's first pass:
/// 1. a same-port DNAT that takes only traffic arriving on the WAN side (the interface source NAT
///    sends traffic out of) publishes a service (info), while real hijacks stay high;
/// 2. a forward/output chain whose drop policy swallows DoT / DoH to resolvers while plain DNS is
///    accepted is `firewall.encrypted-dns-block` (reason `chain-policy`).
final class WanAndPolicyDropTests: XCTestCase {
    func audit(nft text: String, policy: FirewallPolicy = FirewallPolicy(), extra: [ResolverAddress] = []) throws -> [Finding] {
        let rs = try NftTextParser.parse(text)
        return FirewallAuditor(policy: policy, extraResolvers: extra).audit([RulesetInput(ruleset: rs, name: "test")]).findings
    }

    func audit(iptables text: String) throws -> [Finding] {
        FirewallAuditor().audit([RulesetInput(ruleset: try IptablesSaveParser.parse(text), name: "test")]).findings
    }

    func fact(_ f: Finding, _ key: String) -> String? {
        for e in f.evidence { for (k, v) in e.facts where k == key { return v.description } }
        return nil
    }

    static func router(prerouting: String, postrouting: String = "\t\toifname \"wan0\" masquerade") -> String {
        """
        table ip nat {
        \tchain prerouting {
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \(prerouting)
        \t}
        \tchain postrouting {
        \t\ttype nat hook postrouting priority srcnat; policy accept;
        \(postrouting)
        \t}
        }
        """
    }

    // MARK: 1 — WAN-side publications

    func testSamePortWANForwardsArePublishedServices() throws {
        let found = try audit(nft: Self.router(prerouting: """
        \t\tiifname "wan0" tcp dport 443 dnat to 192.168.1.20
        \t\tiifname "wan0" udp dport 53 dnat to 192.168.1.10
        """))
        XCTAssertEqual(found.count, 2, found.map(describe).joined(separator: "; "))
        for f in found {
            XCTAssertEqual(f.severity, .info, describe(f))
            XCTAssertTrue(f.title.contains("published service"), f.title)
            XCTAssertTrue(f.title.contains("wan0"), f.title)
            XCTAssertEqual(fact(f, "wan_interfaces"), "wan0")
            let why = try XCTUnwrap(fact(f, "wan_evidence"), describe(f))
            XCTAssertTrue(why.contains("oifname \"wan0\" masquerade") && why.contains("postrouting"), why)
        }
        XCTAssertEqual(Set(found.map(\.kind)), [FindingKind.firewallDNSRedirect, FindingKind.firewallTLSRedirect])
    }

    /// Without source NAT naming the interface there is no evidence that it is the WAN: today's verdict.
    func testNoSourceNATNoWANInference() throws {
        for post in ["", "\t\tmasquerade", "\t\toifname != \"lan0\" masquerade", "\t\tip saddr 192.168.1.0/24 masquerade"] {
            let found = try audit(nft: Self.router(prerouting: "\t\tiifname \"wan0\" udp dport 53 dnat to 192.168.1.10", postrouting: post))
            XCTAssertEqual(found.map(\.severity), [.high], "postrouting '\(post)': \(found.map(describe))")
        }
        // snat names the WAN as well as masquerade does.
        let snat = try audit(nft: Self.router(prerouting: "\t\tiifname \"wan0\" udp dport 53 dnat to 192.168.1.10",
                                              postrouting: "\t\toifname \"wan0\" snat to 203.0.113.7"))
        XCTAssertEqual(snat.map(\.severity), [.info], snat.map(describe).joined(separator: "; "))
    }

    func testRealHijacksStayHighOnARouterWithAWAN() throws {
        let found = try audit(nft: Self.router(prerouting: """
        \t\tiifname "lan0" udp dport 53 dnat to 192.168.1.66
        \t\tip saddr 192.168.1.0/24 udp dport 53 dnat to 192.168.1.66
        \t\tudp dport 53 dnat to 192.168.1.66
        \t\tiifname { "wan0", "lan0" } tcp dport 53 dnat to 192.168.1.66
        \t\tiifname "wan0" ip daddr 9.9.9.9 tcp dport 853 dnat to 192.168.1.66
        """) + """

        table ip out {
        \tchain output {
        \t\ttype nat hook output priority -100; policy accept;
        \t\toifname "wan0" udp dport 53 redirect to :5353
        \t}
        }
        """)
        XCTAssertEqual(found.count, 6, found.map(describe).joined(separator: "; "))
        XCTAssertEqual(found.filter { $0.severity == .high }.count, 5, found.map(describe).joined(separator: "; "))
        XCTAssertEqual(found.filter { $0.severity == .medium }.count, 1, "the output redirect")
        XCTAssertTrue(found.allSatisfy { !$0.title.contains("published service") })
    }

    /// NAT reflection (hairpin masquerade back into the LAN) does not make the LAN the WAN; an
    /// interface that source NAT takes traffic *from* is a LAN one.
    func testHairpinAndSourceSideAreNotWAN() throws {
        let hairpin = try audit(nft: Self.router(prerouting: "\t\tiifname \"lan0\" udp dport 53 dnat to 192.168.1.66", postrouting: """
        \t\toifname "lan0" ip daddr 192.168.1.0/24 masquerade
        \t\tiifname "lan0" oifname "lan0" masquerade
        \t\toifname "wan0" masquerade
        """))
        XCTAssertEqual(hairpin.map(\.severity), [.high], hairpin.map(describe).joined(separator: "; "))
        // lan0 is the source side of a masquerade, so it is no WAN even if another rule sends out of it.
        let both = try audit(nft: Self.router(prerouting: "\t\tiifname \"lan0\" udp dport 53 dnat to 192.168.1.66", postrouting: """
        \t\tiifname "lan0" oifname "wan0" masquerade
        \t\toifname "lan0" masquerade
        """))
        XCTAssertEqual(both.map(\.severity), [.high], both.map(describe).joined(separator: "; "))
    }

    /// The WAN match may come through a jump or a verdict map, and interfaces may be wildcards.
    func testWANThroughJumpsAndWildcards() throws {
        let found = try audit(nft: """
        table inet nat {
        \tchain prerouting {
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \t\tiifname vmap { "ppp0" : jump from_wan, "lan0" : jump from_lan }
        \t}
        \tchain from_wan {
        \t\tudp dport 53 dnat ip to 192.168.1.10
        \t}
        \tchain from_lan {
        \t\tudp dport 53 dnat ip to 192.168.1.66
        \t}
        \tchain postrouting {
        \t\ttype nat hook postrouting priority srcnat; policy accept;
        \t\toifname "ppp*" masquerade
        \t}
        }
        """)
        XCTAssertEqual(found.count, 2, found.map(describe).joined(separator: "; "))
        XCTAssertEqual(found.first { $0.subjectValue("chain")?.description == "from_wan" }?.severity, .info)
        XCTAssertEqual(found.first { $0.subjectValue("chain")?.description == "from_lan" }?.severity, .high)
    }

    func testIptablesWAN() throws {
        let found = try audit(iptables: """
        *nat
        :PREROUTING ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -i eth1 -p tcp -m tcp --dport 443 -j DNAT --to-destination 192.168.1.20
        -A PREROUTING -i eth0 -p udp -m udp --dport 53 -j DNAT --to-destination 192.168.1.66
        -A POSTROUTING -s 192.168.1.0/24 -o eth1 -j MASQUERADE
        COMMIT
        """)
        XCTAssertEqual(found.count, 2, found.map(describe).joined(separator: "; "))
        let tls = try XCTUnwrap(found.first { $0.kind == FindingKind.firewallTLSRedirect })
        XCTAssertEqual(tls.severity, .info)
        XCTAssertTrue(fact(tls, "wan_evidence")?.contains("-o eth1 -j MASQUERADE") ?? false, fact(tls, "wan_evidence") ?? "no wan_evidence")
        XCTAssertEqual(found.first { $0.kind == FindingKind.firewallDNSRedirect }?.severity, .high)
    }

    // MARK: 2 — drop policies that swallow encrypted DNS

    static func chain(_ hook: String, _ rules: String, policy: String = "drop", family: String = "inet") -> String {
        "table \(family) filter {\n\tchain \(hook) {\n\t\ttype filter hook \(hook) priority filter; policy \(policy);\n\(rules)\n\t}\n}\n"
    }

    func policyFindings(_ fs: [Finding]) -> [Finding] {
        fs.filter { $0.kind == FindingKind.firewallEncryptedDNSBlock && $0.subjectValue("reason")?.description == "chain-policy" }
    }

    func testPlainDNSOnlyWithHTTPSExceptResolvers() throws {
        let found = try audit(nft: Self.chain("forward", """
        \t\tct state established,related accept
        \t\tudp dport 53 accept
        \t\ttcp dport 53 accept
        \t\tip daddr 192.168.50.8 tcp dport { 80, 443 } accept
        """))
        XCTAssertEqual(found.count, 1, found.map(describe).joined(separator: "; "))
        let f = try XCTUnwrap(policyFindings(found).first)
        XCTAssertEqual(f.severity, .medium)
        XCTAssertEqual(f.confidence, .likely)
        XCTAssertEqual(f.subjectValue("chain")?.description, "forward")
        XCTAssertEqual(f.subjectValue("target")?.description, ":853")
        XCTAssertEqual(fact(f, "policy"), "drop")
        XCTAssertEqual(fact(f, "chain"), "inet filter forward")
        XCTAssertTrue(fact(f, "plain_dns_accepted_by")?.contains("udp dport 53 accept") ?? false)
        XCTAssertTrue(fact(f, "resolvers")?.contains("1.1.1.1") ?? false)
        XCTAssertTrue(f.title.contains("policy drop") && f.title.contains("853"), f.title)
        XCTAssertTrue(f.remediation.contains("nft add rule inet filter forward tcp dport 853 accept"), f.remediation)
        XCTAssertTrue(f.remediation.contains("tcp dport 443 accept"), f.remediation)
    }

    func testOnlyDoTBlockedIsLow() throws {
        let found = policyFindings(try audit(nft: Self.chain("output", """
        \t\toifname "lo" accept
        \t\tudp dport 53 accept
        \t\ttcp dport { 80, 443 } accept
        """)))
        XCTAssertEqual(found.map(\.severity), [.low])
        XCTAssertEqual(found.first?.confidence, .possible)
        XCTAssertNil(found.first.flatMap { fact($0, "resolvers") })
    }

    /// An accept of 443 that leaves out the resolvers in a named set, while DoT is accepted: DoH only (low).
    func testOnlyDoHBlocked() throws {
        let found = policyFindings(try audit(nft: """
        table ip filter {
        \tset doh { type ipv4_addr; elements = { 1.1.1.1, 8.8.8.8 } }
        \tchain forward {
        \t\ttype filter hook forward priority filter; policy drop;
        \t\tmeta l4proto { tcp, udp } th dport 53 accept
        \t\ttcp dport 853 accept
        \t\tip daddr != @doh tcp dport 443 accept
        \t}
        }
        """))
        XCTAssertEqual(found.map(\.severity), [.low])
        XCTAssertEqual(found.first?.subjectValue("target")?.description, "1.1.1.1:443")
        XCTAssertEqual(found.first.flatMap { fact($0, "resolvers") }, "1.1.1.1,8.8.8.8")
    }

    func testResolversOfThisMachineCount() throws {
        let rules = Self.chain("forward", """
        \t\tudp dport 53 accept
        \t\ttcp dport 853 accept
        \t\tip daddr != 10.78.9.53 tcp dport 443 accept
        """, family: "ip")
        XCTAssertTrue(policyFindings(try audit(nft: rules)).isEmpty, "no known resolver is left out")
        let found = policyFindings(try audit(nft: rules, extra: [try XCTUnwrap(ResolverAddress("10.78.9.53", source: "/etc/resolv.conf"))]))
        XCTAssertEqual(found.map(\.severity), [.low])
        XCTAssertEqual(found.first.flatMap { fact($0, "resolver_source") }, "/etc/resolv.conf")
    }

    /// Conservative: nothing when the chain lets no plain DNS through, lets everything through,
    /// accepts DoT, has policy accept, or is the input hook.
    func testNotThisPattern() throws {
        let cases: [(String, String)] = [
            ("locked-down server", Self.chain("output", """
            \t\tct state established,related accept
            \t\toifname "lo" accept
            \t\ttcp dport { 22, 443 } accept
            \t\tip daddr 127.0.0.53 udp dport 53 accept
            """)),
            ("everything out", Self.chain("forward", "\t\tiifname \"lan0\" oifname \"wan0\" accept\n\t\tudp dport 53 accept")),
            ("DoT accepted, HTTPS only to a proxy (all web traffic restricted, DoH not singled out)",
             Self.chain("forward", "\t\tudp dport 53 accept\n\t\ttcp dport 853 accept\n\t\tip daddr 192.168.50.8 tcp dport 443 accept")),
            ("DoT and HTTPS accepted", Self.chain("forward", "\t\tudp dport 53 accept\n\t\ttcp dport { 443, 853 } accept")),
            ("policy accept", Self.chain("forward", "\t\tudp dport 53 accept", policy: "accept")),
            ("input hook", Self.chain("input", "\t\tudp dport 53 accept")),
            ("DNS only to loopback", Self.chain("output", "\t\tip daddr 127.0.0.1 udp dport 53 accept\n\t\toifname \"lo\" udp dport 53 accept")),
            ("DNS accepted only for established", Self.chain("forward", "\t\tct state established udp dport 53 accept")),
            ("DoT through a jump", Self.chain("forward", "\t\tudp dport 53 accept\n\t\tjump allowed") .replacingOccurrences(of: "\n}\n", with: "\n\tchain allowed {\n\t\ttcp dport 853 accept\n\t\ttcp dport 443 accept\n\t}\n}\n")),
            ("DoT through a verdict map", Self.chain("forward", "\t\ttcp dport vmap { 53 : accept, 443 : accept, 853 : accept }\n\t\tudp dport 53 accept")),
        ]
        for (name, text) in cases {
            let found = try audit(nft: text)
            XCTAssertTrue(policyFindings(found).isEmpty, "\(name): \(found.map(describe))")
        }
    }

    /// Verdict-map entries are accept paths of their own; a key this audit cannot read (a
    /// concatenation) counts as "may let anything through" — no finding rather than a guess.
    func testVerdictMapAcceptsCount() throws {
        let found = policyFindings(try audit(nft: Self.chain("forward", "\t\ttcp dport vmap { 80 : accept, 443 : accept }\n\t\tudp dport 53 accept")))
        XCTAssertEqual(found.map(\.severity), [.low], "DoT falls to the policy, DoH passes through the map's 443 entry")
        let concat = policyFindings(try audit(nft: Self.chain("forward", "\t\tmeta l4proto . th dport vmap { udp . 53 : accept, tcp . 80 : accept }\n\t\tudp dport 53 accept")))
        XCTAssertTrue(concat.isEmpty, concat.map(describe).joined(separator: "; "))
    }

    func testIptablesForwardPolicy() throws {
        let found = policyFindings(try audit(iptables: """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A FORWARD -i lan0 -p udp -m udp --dport 53 -j ACCEPT
        -A FORWARD -i lan0 -p tcp -m tcp --dport 80 -j ACCEPT
        COMMIT
        """))
        XCTAssertEqual(found.map(\.severity), [.medium])
        XCTAssertEqual(found.first?.subjectValue("origin")?.description, "iptables-legacy")
        XCTAssertTrue(found.first?.remediation.contains("iptables-legacy -t filter -A FORWARD -p tcp --dport 853 -j ACCEPT") ?? false,
                      found.first?.remediation ?? "")
    }

    /// A final unconditional drop/reject in the base chain (`-A FORWARD -j REJECT`, RHEL-style) is
    /// the effective policy; the advice inserts the accept before it.
    func testCatchAllRuleActsAsPolicy() throws {
        let ipt = policyFindings(try audit(iptables: """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A FORWARD -i lan0 -p udp -m udp --dport 53 -j ACCEPT
        -A FORWARD -i lan0 -p tcp -m tcp --dport 443 -j ACCEPT
        -A FORWARD -j REJECT --reject-with icmp-host-prohibited
        COMMIT
        """))
        XCTAssertEqual(ipt.map(\.severity), [.low], "DoT falls to the catch-all, DoH passes")
        if let f = ipt.first {
            XCTAssertEqual(fact(f, "statement"), "catch-all reject")
            XCTAssertTrue(fact(f, "catch_all_rule")?.contains("-j REJECT") ?? false)
            XCTAssertTrue(f.remediation.contains("iptables-legacy -t filter -I FORWARD 4 -p tcp --dport 853 -j ACCEPT"), f.remediation)
        }
        let nft = policyFindings(try audit(nft: Self.chain("forward", """
        \t\tudp dport 53 accept # handle 4
        \t\tip daddr 192.168.50.8 tcp dport 443 accept # handle 5
        \t\treject with icmpx admin-prohibited # handle 9
        """, policy: "accept")))
        XCTAssertEqual(nft.map(\.severity), [.medium])
        XCTAssertTrue(nft.first?.remediation.contains("nft insert rule inet filter forward handle 9 tcp dport 853 accept") ?? false,
                      nft.first?.remediation ?? "")
        // A final reject with conditions is no catch-all; a policy-accept chain without one is not judged.
        for last in ["\t\tiifname \"wan0\" reject", ""] {
            let found = policyFindings(try audit(nft: Self.chain("forward", "\t\tudp dport 53 accept\n" + last, policy: "accept")))
            XCTAssertTrue(found.isEmpty, "'\(last)': \(found.map(describe))")
        }
        // Policy drop and a catch-all drop: one finding for the chain.
        let both = policyFindings(try audit(nft: Self.chain("forward", "\t\tudp dport 53 accept\n\t\tdrop")))
        XCTAssertEqual(both.count, 1, both.map(describe).joined(separator: "; "))
    }

    func testApprovedByPolicy() throws {
        var policy = FirewallPolicy()
        policy.approveEncryptedDNSBlocks = true
        let found = policyFindings(try audit(nft: Self.chain("forward", "\t\tudp dport 53 accept"), policy: policy))
        XCTAssertEqual(found.map(\.severity), [.info])
        XCTAssertTrue(found.first?.title.hasPrefix("Approved by policy") ?? false)
    }
}
