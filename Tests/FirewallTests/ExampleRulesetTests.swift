import Findings
import FirewallAudit
import FirewallModel
import FirewallSource
import Foundation
import XCTest

/// Every example in rules/examples, parsed in-process and audited, against its expected.json.
final class ExampleRulesetTests: XCTestCase {
    static let installers: Set<String> = ["nft", "iptables-nft", "ip6tables-nft", "iptables-legacy"]
    /// Benign look-alikes: nothing at medium or above (issue 15).
    static let quiet = ["clean-workstation", "docker-default", "libvirt-host", "wan-port-forward", "benign-router", "local-stub",
                        "docker-embedded-dns", "wan-same-port-forward", "locked-down-server"]

    func audit(_ rs: Ruleset, name: String, policy: FirewallPolicy = FirewallPolicy()) -> FirewallAuditResult {
        FirewallAuditor(policy: policy).audit([RulesetInput(ruleset: rs, name: name)])
    }

    /// The file the unit tests parse directly: the `.rules` file itself, or the `.json` sibling of a `.nft` file.
    func directFile(_ e: ExpectedExample) -> String {
        e.ruleset.hasSuffix(".nft") ? String(e.ruleset.dropLast(4)) + ".json" : e.ruleset
    }

    func testExamplesAreComplete() throws {
        let names = try FirewallFixtures.exampleNames()
        XCTAssertGreaterThanOrEqual(names.count, 11, "rules/examples lost examples: \(names)")
        for n in ["clean-workstation", "docker-default", "libvirt-host", "router-dns-dnat", "output-redirect", "iptables-nft-dnat",
                  "ip6tables-nft-dnat", "ipv6-dnat", "dot-block", "tls-proxy", "jump-dnat", "wan-router-hijacks", "wan-publish-legacy",
                  "policy-drop-dot", "policy-drop-iptables"] + Self.quiet {
            XCTAssertTrue(names.contains(n), "example \(n) is missing")
        }
        for n in names {
            let e = try FirewallFixtures.expected(n)
            XCTAssertTrue(Self.installers.contains(e.install), "\(n): install '\(e.install)' is not one of \(Self.installers.sorted())")
            XCTAssertTrue(e.ruleset.hasPrefix(n + "."), "\(n): ruleset \(e.ruleset) is not named after the example")
            XCTAssertTrue(FileManager.default.fileExists(atPath: FirewallFixtures.path(e.ruleset)), "\(n): \(e.ruleset) is missing")
            if e.ruleset.hasSuffix(".nft") {
                XCTAssertEqual(e.install, "nft", "\(n): an .nft file is installed with nft")
                XCTAssertTrue(FileManager.default.fileExists(atPath: FirewallFixtures.path(n + ".json")), "\(n): the .json sibling of \(e.ruleset) is missing")
            } else {
                XCTAssertTrue(e.ruleset.hasSuffix(".rules"), "\(n): \(e.ruleset) is neither .nft nor .rules")
                XCTAssertNotEqual(e.install, "nft", "\(n): an iptables-save file is installed with an iptables tool")
            }
            for f in e.findings {
                XCTAssertTrue(f.kind.hasPrefix("firewall."), "\(n): \(f.kind)")
                XCTAssertNotNil(Severity(rawValue: f.severity), "\(n): severity \(f.severity)")
                let known: Set<String> = ["family", "table", "chain", "hook", "handle", "target", "origin", "reason"]
                XCTAssertTrue(Set(f.subject.keys).isSubset(of: known), "\(n): subject keys \(f.subject.keys.sorted())")
            }
        }
    }

    /// Through `SavedRulesetReader` (what `dnsaudit rules --file` uses), without a namespace helper.
    func testEveryExampleThroughSavedRulesetReader() throws {
        for n in try FirewallFixtures.exampleNames() {
            let e = try FirewallFixtures.expected(n)
            let file = directFile(e)
            let read = try SavedRulesetReader.read(path: FirewallFixtures.path(file), lister: nil)
            XCTAssertEqual(read.rulesets.count, 1, "\(file)")
            guard let s = read.rulesets.first else { continue }
            XCTAssertEqual(s.format, file.hasSuffix(".json") ? "nft-json" : "iptables-save", "\(file)")
            XCTAssertFalse(s.ruleset.rules.isEmpty, "\(file): no rules read")
            let result = audit(s.ruleset, name: file)
            assertFindings(result.findings, match: e.findings, "\(file) (SavedRulesetReader)")
            XCTAssertGreaterThan(result.totalRules, 0, file)
            XCTAssertLessThanOrEqual(result.reachableRules, result.totalRules, file)
        }
    }

    /// Straight through the parsers.
    func testEveryExampleThroughParsers() throws {
        for n in try FirewallFixtures.exampleNames() {
            let e = try FirewallFixtures.expected(n)
            let file = directFile(e)
            let data = try Data(contentsOf: FirewallFixtures.examples.appendingPathComponent(file))
            let rs = file.hasSuffix(".json")
                ? try NftJSONParser.parse(data)
                : try IptablesSaveParser.parse(String(decoding: data, as: UTF8.self))
            assertFindings(audit(rs, name: file).findings, match: e.findings, "\(file) (parser)")
        }
    }

    /// The .nft files through dnsaudit's own text parser (the fallback when nft cannot run in a
    /// private namespace). The files carry no handles, so handles are not compared.
    func testNftTextFallbackParser() throws {
        for n in try FirewallFixtures.exampleNames() {
            let e = try FirewallFixtures.expected(n)
            guard e.ruleset.hasSuffix(".nft") else { continue }
            let read = try SavedRulesetReader.read(path: FirewallFixtures.path(e.ruleset), lister: nil)
            XCTAssertEqual(read.rulesets.first?.reader, "dnsaudit text parser", e.ruleset)
            XCTAssertEqual(read.rulesets.first?.format, "nft-text", e.ruleset)
            XCTAssertTrue(read.notes.contains { $0.contains("unshare") }, "\(e.ruleset): the fallback should say why nft was not used: \(read.notes)")
            guard let rs = read.rulesets.first?.ruleset else { continue }
            // Without handles, the rule's position in its chain (subject key `rule`) keeps two
            // rules with the same target apart: one finding per expected finding.
            let found = audit(rs, name: e.ruleset).findings
            assertFindings(found, match: e.findings, ignoring: ["handle", "rule"], "\(e.ruleset) (text parser)")
            // A chain-policy finding names a chain, not a rule.
            for f in found where f.subjectValue("reason")?.description != "chain-policy" {
                XCTAssertNotNil(f.subjectValue("rule"), "\(e.ruleset) (text parser): \(describe(f)) names no rule position")
            }

            // The same tables and chains as nft's own JSON listing of the file.
            let json = try NftJSONParser.parse(Data(contentsOf: FirewallFixtures.examples.appendingPathComponent(n + ".json")))
            XCTAssertEqual(Set(rs.tables.map { "\($0.family) \($0.name)" }), Set(json.tables.map { "\($0.family) \($0.name)" }), e.ruleset)
            XCTAssertEqual(Set(rs.chains.map { "\($0.family) \($0.table) \($0.name) \($0.hook ?? "-")" }),
                           Set(json.chains.map { "\($0.family) \($0.table) \($0.name) \($0.hook ?? "-")" }), e.ruleset)
            XCTAssertEqual(rs.rules.count, json.rules.count, "\(e.ruleset): rule count differs from nft's listing")
        }
    }

    func testQuietExamplesHaveNothingAtMediumOrAbove() throws {
        for n in Self.quiet {
            let e = try FirewallFixtures.expected(n)
            let read = try SavedRulesetReader.read(path: FirewallFixtures.path(directFile(e)), lister: nil)
            let findings = audit(read.rulesets[0].ruleset, name: n).findings
            let loud = findings.filter { $0.severity >= .medium }
            XCTAssertTrue(loud.isEmpty, "\(n): \(loud.map(describe))")
        }
        // Docker's port publication is reported, but only as info.
        let docker = try SavedRulesetReader.read(path: FirewallFixtures.path("docker-default.rules"), lister: nil)
        let findings = audit(docker.rulesets[0].ruleset, name: "docker").findings
        XCTAssertFalse(findings.isEmpty)
        XCTAssertTrue(findings.allSatisfy { $0.severity == .info }, findings.map(describe).joined(separator: "; "))
        XCTAssertTrue(findings.allSatisfy { $0.title.contains("published service") }, findings.map(\.title).joined(separator: "; "))
    }

    /// Report-contract shape of every finding: stable unique ids, titles, evidence, subject order.
    func testFindingShape() throws {
        for n in try FirewallFixtures.exampleNames() {
            let e = try FirewallFixtures.expected(n)
            let file = directFile(e)
            let rs = try SavedRulesetReader.read(path: FirewallFixtures.path(file), lister: nil).rulesets[0].ruleset
            let first = audit(rs, name: file).findings
            let again = audit(rs, name: file).findings
            XCTAssertEqual(first, again, "\(file): the audit is not deterministic")
            XCTAssertEqual(Set(first.map(\.id)).count, first.count, "\(file): duplicate finding ids")
            for f in first {
                XCTAssertEqual(f.id.count, 16, "\(file): id \(f.id)")
                XCTAssertTrue(f.id.allSatisfy { $0.isHexDigit }, "\(file): id \(f.id)")
                XCTAssertFalse(f.title.isEmpty, file)
                XCTAssertFalse(f.title.contains("\n"), "\(file): multi-line title")
                XCTAssertFalse(f.remediation.isEmpty, file)
                XCTAssertFalse(f.evidence.isEmpty, "\(file): \(describe(f)) has no evidence")
                XCTAssertTrue(f.evidence.allSatisfy { $0.source == .ruleset }, file)
                XCTAssertEqual(f.evidence.first?.input, file)
                let keys = f.subject.map(\.0)
                if f.subjectValue("reason")?.description == "chain-policy" {
                    // A chain's policy: no rule, so no handle or rule position.
                    XCTAssertEqual(keys, ["family", "table", "chain", "hook", "target", "origin", "reason"], "\(file): subject keys \(keys)")
                } else {
                    XCTAssertEqual(keys.filter { $0 != "handle" }, ["family", "table", "chain", "hook", "target", "origin"], "\(file): subject keys \(keys)")
                }
                if case .string(let origin)? = f.subjectValue("origin") {
                    XCTAssertTrue(["nft", "iptables-nft", "iptables-legacy"].contains(origin), "\(file): origin \(origin)")
                } else {
                    XCTFail("\(file): origin is not a string")
                }
                if let h = f.subjectValue("handle"), case .string = h { XCTFail("\(file): handle must be a number") }
            }
        }
    }

    /// The same ruleset read from the .json listing and through the text parser gives the same
    /// finding kinds, severities and targets (the ids differ only where the handle does).
    func testJSONAndTextAgree() throws {
        for n in try FirewallFixtures.exampleNames() {
            let e = try FirewallFixtures.expected(n)
            guard e.ruleset.hasSuffix(".nft") else { continue }
            let json = try SavedRulesetReader.read(path: FirewallFixtures.path(n + ".json"), lister: nil).rulesets[0].ruleset
            let text = try SavedRulesetReader.read(path: FirewallFixtures.path(e.ruleset), lister: nil).rulesets[0].ruleset
            func key(_ f: Finding) -> String {
                "\(f.kind) \(f.severity) " + f.subject.filter { $0.0 != "handle" && $0.0 != "rule" }.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            }
            XCTAssertEqual(audit(json, name: n).findings.map(key).sorted(), audit(text, name: n).findings.map(key).sorted(), n)
        }
    }

    /// Several rulesets in one audit (live nftables plus iptables-legacy): findings add up.
    func testSeveralInputsInOneAudit() throws {
        let a = try SavedRulesetReader.read(path: FirewallFixtures.path("router-dns-dnat.rules"), lister: nil).rulesets[0]
        let b = try SavedRulesetReader.read(path: FirewallFixtures.path("dot-block.json"), lister: nil).rulesets[0]
        let c = try SavedRulesetReader.read(path: FirewallFixtures.path("libvirt-host.rules"), lister: nil).rulesets[0]
        let result = FirewallAuditor().audit([RulesetInput(ruleset: a.ruleset, name: "a"), RulesetInput(ruleset: b.ruleset, name: "b"),
                                              RulesetInput(ruleset: c.ruleset, name: "c")])
        let expected = try FirewallFixtures.expected("router-dns-dnat").findings + FirewallFixtures.expected("dot-block").findings
        assertFindings(result.findings, match: expected, "router-dns-dnat + dot-block + libvirt-host")
        XCTAssertEqual(result.totalRules, a.ruleset.rules.count + b.ruleset.rules.count + c.ruleset.rules.count)
    }
}
