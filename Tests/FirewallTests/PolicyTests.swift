import Findings
import FirewallAudit
import FirewallModel
import FirewallSource
import Foundation
import XCTest

/// `--policy`: approved resolvers, approved NAT targets and deliberate encrypted-DNS blocks turn
/// findings into info with "Approved by policy" wording; everything else is left alone.
final class PolicyTests: XCTestCase {
    func ruleset(_ example: String) throws -> Ruleset {
        let e = try FirewallFixtures.expected(example)
        let file = e.ruleset.hasSuffix(".nft") ? example + ".json" : e.ruleset
        return try SavedRulesetReader.read(path: FirewallFixtures.path(file), lister: nil).rulesets[0].ruleset
    }

    func audit(_ example: String, _ toml: String) throws -> [Finding] {
        let policy = try FirewallPolicy.parse(toml: toml, source: "test-policy.toml")
        return FirewallAuditor(policy: policy).audit([RulesetInput(ruleset: try ruleset(example), name: example)]).findings
    }

    func baseline(_ example: String) throws -> [Finding] {
        FirewallAuditor().audit([RulesetInput(ruleset: try ruleset(example), name: example)]).findings
    }

    func assertApproved(_ f: Finding, because why: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(f.severity, .info, describe(f), file: file, line: line)
        XCTAssertTrue(f.title.hasPrefix("Approved by policy"), f.title, file: file, line: line)
        XCTAssertTrue(f.title.lowercased().contains("approved by policy"), f.title, file: file, line: line)
        if let why { XCTAssertTrue(f.title.contains(why), "\(f.title) does not say \(why)", file: file, line: line) }
        XCTAssertTrue(f.remediation.contains("Approved by the policy"), f.remediation, file: file, line: line)
        XCTAssertTrue(f.remediation.contains("test-policy.toml"), "the remediation should name the policy file: \(f.remediation)", file: file, line: line)
    }

    /// Same findings (kind and subject, hence id) as without a policy; only severity and wording change.
    func assertSameSubjects(_ a: [Finding], _ b: [Finding], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map(\.id).sorted(), b.map(\.id).sorted(), "the policy changed which findings exist", file: file, line: line)
    }

    func testExamplePolicyParses() throws {
        let text = try String(contentsOf: FirewallFixtures.policyExample, encoding: .utf8)
        let p = try FirewallPolicy.parse(toml: text, source: "policy.example.toml")
        XCTAssertEqual(p.approvedResolvers.count, 3)
        XCTAssertEqual(p.approvedTargets.map(\.text), ["10.20.0.8:3129", ":5353"])
        XCTAssertFalse(p.approveEncryptedDNSBlocks)
        XCTAssertTrue(p.extraDoHResolvers.isEmpty)
        XCTAssertEqual(p.source, "policy.example.toml")
    }

    /// The example policy approves `:5353`: output-redirect's three redirects become info.
    func testExamplePolicyApprovesLocalDNSCache() throws {
        let text = try String(contentsOf: FirewallFixtures.policyExample, encoding: .utf8)
        let policy = try FirewallPolicy.parse(toml: text, source: "test-policy.toml")
        let rs = try ruleset("output-redirect")
        let found = FirewallAuditor(policy: policy).audit([RulesetInput(ruleset: rs, name: "output-redirect")]).findings
        XCTAssertEqual(found.count, 3)
        for f in found { assertApproved(f, because: "approved target :5353") }
        assertSameSubjects(found, try baseline("output-redirect"))
        // …and leaves the others alone.
        for example in ["router-dns-dnat", "dot-block", "ipv6-dnat", "jump-dnat"] {
            let with = FirewallAuditor(policy: policy).audit([RulesetInput(ruleset: try ruleset(example), name: example)]).findings
            let without = try baseline(example)
            XCTAssertEqual(with.map { "\($0.id) \($0.severity)" }.sorted(), without.map { "\($0.id) \($0.severity)" }.sorted(), example)
        }
    }

    func testApprovedResolver() throws {
        let found = try audit("router-dns-dnat", #"approved_resolvers = ["192.168.10.5"]"#)
        XCTAssertEqual(found.count, 2)
        for f in found { assertApproved(f, because: "approved resolver") }
        assertSameSubjects(found, try baseline("router-dns-dnat"))
        // A prefix, under [firewall].
        let viaPrefix = try audit("router-dns-dnat", "[firewall]\napproved_resolvers = [\"192.168.10.0/24\"]\n")
        for f in viaPrefix { assertApproved(f) }
        // IPv6.
        let v6 = try audit("ipv6-dnat", #"approved_resolvers = ["fd00:bad::/64"]"#)
        XCTAssertEqual(v6.count, 2)
        for f in v6 { assertApproved(f, because: "approved resolver") }
        // iptables-nft and ip6tables-nft rules too.
        for f in try audit("iptables-nft-dnat", #"approved_resolvers = ["10.200.0.5"]"#) { assertApproved(f) }
        for f in try audit("ip6tables-nft-dnat", #"approved_resolvers = ["fd00:bad::53"]"#) { assertApproved(f) }
    }

    func testUnrelatedResolverApprovesNothing() throws {
        let found = try audit("router-dns-dnat", #"approved_resolvers = ["10.20.0.53", "192.168.10.6", "fd00::53"]"#)
        XCTAssertEqual(found.count, 2)
        XCTAssertTrue(found.allSatisfy { $0.severity == .high && !$0.title.contains("Approved") }, found.map(describe).joined(separator: "; "))
    }

    /// An approved resolver does not approve a TLS redirect, nor a port-only target another port.
    func testApprovedTargetsAreSpecific() throws {
        let found = try audit("tls-proxy", "[firewall]\napproved_targets = [\":3129\"]\n")
        XCTAssertEqual(found.count, 2)
        let nat = found.first { $0.subjectValue("table") == .string("nat") }
        let mangle = found.first { $0.subjectValue("table") == .string("mangle") }
        XCTAssertNotNil(nat)
        XCTAssertNotNil(mangle)
        if let nat { assertApproved(nat, because: "approved target :3129") }
        XCTAssertEqual(mangle?.severity, .high, "the TPROXY to :3130 is not approved by :3129")
        XCTAssertFalse(mangle?.title.contains("Approved") ?? true)

        let both = try audit("tls-proxy", "[firewall]\napproved_targets = [\":3129\", \":3130\"]\n")
        for f in both { assertApproved(f) }

        // approved_resolvers is about DNS: it does not approve the TLS proxy.
        let dnsOnly = try audit("tls-proxy", #"approved_resolvers = ["127.0.0.1"]"#)
        XCTAssertTrue(dnsOnly.allSatisfy { $0.severity == .high }, dnsOnly.map(describe).joined(separator: "; "))
    }

    /// jump-dnat: `dnat to 203.0.113.53` (any port) and `dnat to 203.0.113.53:853`.
    func testApprovedTargetWithPort() throws {
        let found = try audit("jump-dnat", "[firewall]\napproved_targets = [\"203.0.113.53:853\"]\n")
        XCTAssertEqual(found.count, 2)
        for f in found {
            if f.subjectValue("target") == .string("203.0.113.53:853") {
                assertApproved(f, because: "approved target 203.0.113.53:853")
            } else {
                XCTAssertEqual(f.severity, .high, describe(f))
            }
        }
        let anyPort = try audit("jump-dnat", "[firewall]\napproved_targets = [\"203.0.113.0/24\"]\n")
        for f in anyPort { assertApproved(f) }
    }

    func testApprovedEncryptedDNSBlocks() throws {
        let found = try audit("dot-block", "[firewall]\napprove_encrypted_dns_blocks = true\n")
        XCTAssertEqual(found.count, 4)
        for f in found { assertApproved(f, because: "encrypted-DNS blocks allowed") }
        assertSameSubjects(found, try baseline("dot-block"))
        // false is the default.
        let off = try audit("dot-block", "[firewall]\napprove_encrypted_dns_blocks = false\n")
        XCTAssertTrue(off.allSatisfy { $0.severity == .medium }, off.map(describe).joined(separator: "; "))
        // It does not approve redirects.
        let redirects = try audit("router-dns-dnat", "[firewall]\napprove_encrypted_dns_blocks = true\n")
        XCTAssertTrue(redirects.allSatisfy { $0.severity == .high }, redirects.map(describe).joined(separator: "; "))
    }

    /// doh_resolvers adds addresses: a drop of 443 to one of them becomes an encrypted-DNS block.
    func testExtraDoHResolvers() throws {
        let json = #"""
        {"nftables":[
          {"table":{"family":"inet","name":"filter","handle":1}},
          {"chain":{"family":"inet","table":"filter","name":"forward","handle":1,"type":"filter","hook":"forward","prio":0,"policy":"accept"}},
          {"rule":{"family":"inet","table":"filter","chain":"forward","handle":2,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"203.0.113.10"}},
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":443}},
            {"drop":null}]}}
        ]}
        """#
        let rs = try NftJSONParser.parse(Data(json.utf8))
        XCTAssertTrue(FirewallAuditor().audit([RulesetInput(ruleset: rs, name: "x")]).findings.isEmpty,
                      "203.0.113.10 is not a known DoH resolver")
        let policy = try FirewallPolicy.parse(toml: "[firewall]\ndoh_resolvers = [\"203.0.113.10\"]\n")
        let found = FirewallAuditor(policy: policy).audit([RulesetInput(ruleset: rs, name: "x")]).findings
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.kind, FindingKind.firewallEncryptedDNSBlock)
        XCTAssertEqual(found.first?.severity, .medium)
        XCTAssertEqual(found.first?.subjectValue("target"), .string("203.0.113.10:443"))
    }

    func testBadPolicies() throws {
        let cases: [(String, String)] = [
            ("approved_resolvers = [", "line"),
            ("approved_resolvers = \"10.0.0.1\"", "approved_resolvers"),
            ("approved_resolvers = [\"not-an-address\"]", "not-an-address"),
            ("[firewall]\nfrobnicate = 1\n", "frobnicate"),
            ("[firewall]\napproved_targets = [\"10.0.0.1:99999\"]\n", "approved_targets"),
            ("[firewall]\napproved_targets = \":53\"\n", "approved_targets"),
            ("[firewall]\napprove_encrypted_dns_blocks = \"yes\"\n", "approve_encrypted_dns_blocks"),
            ("firewall = 3\n", "firewall"),
        ]
        for (toml, word) in cases {
            do {
                _ = try FirewallPolicy.parse(toml: toml, source: "bad.toml")
                XCTFail("accepted: \(toml)")
            } catch let e as PolicyError {
                XCTAssertTrue(e.message.contains("bad.toml"), "\(toml): \(e.message)")
                XCTAssertTrue(e.message.contains(word), "\(toml): '\(e.message)' does not mention \(word)")
                XCTAssertFalse(e.message.contains("\n"), "\(toml): multi-line error: \(e.message)")
            } catch {
                XCTFail("\(toml): not a PolicyError: \(error)")
            }
        }
        // Other commands' tables are left alone.
        XCTAssertNoThrow(try FirewallPolicy.parse(toml: "[probe]\nanything = 1\n[capture]\nx = \"y\"\n"))
        XCTAssertNoThrow(try FirewallPolicy.parse(toml: ""))
    }

    func testApprovedTargetParsing() {
        XCTAssertEqual(FirewallPolicy.ApprovedTarget.parse(":5353")?.port, 5353)
        XCTAssertNil(FirewallPolicy.ApprovedTarget.parse(":5353")?.addresses)
        XCTAssertEqual(FirewallPolicy.ApprovedTarget.parse("10.20.0.8:3129")?.port, 3129)
        XCTAssertEqual(FirewallPolicy.ApprovedTarget.parse("[fd00::8]:3129")?.port, 3129)
        XCTAssertNotNil(FirewallPolicy.ApprovedTarget.parse("[fd00::8]"))
        XCTAssertNil(FirewallPolicy.ApprovedTarget.parse("fd00::8")?.port)
        XCTAssertNotNil(FirewallPolicy.ApprovedTarget.parse("10.0.0.0/8"))
        for bad in [":", ":70000", "10.0.0.1:", "[fd00::8]:x", "host.example:53", "", "[fd00::8"] {
            XCTAssertNil(FirewallPolicy.ApprovedTarget.parse(bad), bad)
        }
    }
}
