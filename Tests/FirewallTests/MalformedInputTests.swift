import Findings
import FirewallAudit
import FirewallModel
import FirewallSource
import Foundation
import XCTest

/// Hostile and broken saved rulesets: a clear one-line error or an empty result, never a crash.
final class MalformedInputTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try FirewallFixtures.tempDir()
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func write(_ name: String, _ data: Data) throws -> String {
        let u = dir.appendingPathComponent(name)
        try data.write(to: u)
        return u.path
    }

    /// Reads `path` without a namespace helper; returns the error message, or nil when it read.
    @discardableResult
    func readError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            let r = try SavedRulesetReader.read(path: path, lister: nil)
            // A result must be auditable.
            _ = FirewallAuditor().audit(r.rulesets.map { RulesetInput(ruleset: $0.ruleset, name: $0.name) })
            return nil
        } catch let e as RulesetSourceError {
            XCTAssertFalse(e.message.isEmpty, "empty error message", file: file, line: line)
            XCTAssertFalse(e.message.contains("\n"), "multi-line error: \(e.message)", file: file, line: line)
            XCTAssertLessThan(e.message.count, 600, "overlong error: \(e.message)", file: file, line: line)
            return e.message
        } catch {
            XCTFail("\(path): not a RulesetSourceError: \(type(of: error)) \(error)", file: file, line: line)
            return "\(error)"
        }
    }

    func assertRefused(_ name: String, _ data: Data, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try write(name, data)
        guard let msg = readError(path, file: file, line: line) else {
            XCTFail("\(name): read without an error", file: file, line: line)
            return
        }
        XCTAssertTrue(msg.contains(name), "\(name): the error does not name the file: \(msg)", file: file, line: line)
        for w in words {
            XCTAssertTrue(msg.lowercased().contains(w.lowercased()), "\(name): the error does not say '\(w)': \(msg)", file: file, line: line)
        }
    }

    func testEmptyFiles() throws {
        try assertRefused("empty.nft", Data(), mentioning: ["empty"])
        try assertRefused("blank.json", Data("  \n\t\r\n ".utf8), mentioning: ["empty"])
    }

    func testEmptyRuleset() throws {
        try assertRefused("empty-ruleset.json", Data(#"{"nftables":[]}"#.utf8), mentioning: ["no tables"])
        try assertRefused("metainfo-only.json", Data(#"{"nftables":[{"metainfo":{"version":"1.0.9","release_name":"Old Doc Yak #3","json_schema_version":1}}]}"#.utf8), mentioning: ["no tables"])
        // The parser alone gives an empty model, and auditing it finds nothing.
        let rs = try NftJSONParser.parse(Data(#"{"nftables":[]}"#.utf8))
        XCTAssertTrue(rs.isEmpty)
        let result = FirewallAuditor().audit([RulesetInput(ruleset: rs, name: "empty")])
        XCTAssertTrue(result.findings.isEmpty)
        XCTAssertEqual(result.totalRules, 0)
        XCTAssertTrue(FirewallAuditor().audit([]).findings.isEmpty)
    }

    func testBinaryGarbage() throws {
        var rng = SplitMix(seed: 0x5eed)
        let bytes = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) } + [0]
        try assertRefused("garbage.bin", Data(bytes), mentioning: ["binary"])
        try assertRefused("nul.json", Data(#"{"nftables":[]}"#.utf8 + [0]), mentioning: ["binary"])
    }

    func testTextGarbage() throws {
        // Not JSON, not iptables-save: the nft text path, here with dnsaudit's own parser.
        for (name, text) in [("words.nft", "hello world\nthis is not a ruleset\n"),
                             ("brace.nft", "table inet filter {\n chain input {\n"),
                             ("html.nft", "<html><body>404</body></html>\n"),
                             ("unicode.nft", "täble ïnet 🔥 { chain ✓ { } }\n")] {
            let path = try write(name, Data(text.utf8))
            if let msg = readError(path) {
                XCTAssertTrue(msg.contains(name), "\(name): \(msg)")
            }
        }
    }

    func testTruncatedJSON() throws {
        let full = try Data(contentsOf: FirewallFixtures.examples.appendingPathComponent("dot-block.json"))
        try assertRefused("truncated.json", full.prefix(full.count / 2), mentioning: ["JSON"])
        try assertRefused("open.json", Data("{".utf8), mentioning: ["JSON"])
        try assertRefused("wrong-shape.json", Data(#"{"tables":[]}"#.utf8), mentioning: ["nftables"])
        try assertRefused("array.json", Data("[1,2,3]".utf8), mentioning: ["nftables"])
        try assertRefused("object-not-array.json", Data(#"{"nftables":{"table":{}}}"#.utf8), mentioning: ["nftables"])
        try assertRefused("deep.json", Data((String(repeating: "[", count: 100_000)).utf8), mentioning: [])
        try assertRefused("deep-inside.json", Data((#"{"nftables":"# + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000) + "}").utf8), mentioning: [])
    }

    /// Every prefix of every example (JSON, iptables-save and nft text), parsed and audited.
    func testEveryPrefixOfEveryExample() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: FirewallFixtures.examples.path)
            .filter { !$0.hasSuffix(".expected.json") && ($0.hasSuffix(".json") || $0.hasSuffix(".rules") || $0.hasSuffix(".nft")) }.sorted()
        XCTAssertFalse(files.isEmpty)
        for f in files {
            let data = try Data(contentsOf: FirewallFixtures.examples.appendingPathComponent(f))
            var cut = 0
            while cut < data.count {
                let prefix = data.prefix(cut)
                exercise(prefix, f)
                cut += max(1, data.count / 150)
            }
        }
    }

    /// Random byte flips, deletions and duplications of every example.
    func testMutatedExamples() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: FirewallFixtures.examples.path)
            .filter { !$0.hasSuffix(".expected.json") && ($0.hasSuffix(".json") || $0.hasSuffix(".rules") || $0.hasSuffix(".nft")) }.sorted()
        var rng = SplitMix(seed: 0xf17e_3a11)
        for f in files {
            let original = Array(try Data(contentsOf: FirewallFixtures.examples.appendingPathComponent(f)))
            for _ in 0..<150 {
                var b = original
                for _ in 0..<(1 + Int(rng.next() % 4)) where !b.isEmpty {
                    let at = Int(rng.next() % UInt64(b.count))
                    switch rng.next() % 4 {
                    case 0: b[at] = UInt8(truncatingIfNeeded: rng.next() % 0x7f)
                    case 1: b.remove(at: at)
                    case 2: b.insert(contentsOf: b[at..<min(b.count, at + 16)], at: at)
                    default: b[at] = [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "\""), UInt8(ascii: "\n"), UInt8(ascii: "["), UInt8(ascii: ";")][Int(rng.next() % 6)]
                    }
                }
                exercise(Data(b), f)
            }
        }
    }

    /// Runs every parser that could see these bytes, and audits what they return.
    func exercise(_ data: Data, _ name: String) {
        let text = String(decoding: data, as: UTF8.self)
        var models: [Ruleset] = []
        if let rs = try? NftJSONParser.parse(data) { models.append(rs) }
        if let rs = try? IptablesSaveParser.parse(text) { models.append(rs) }
        if let rs = try? NftTextParser.parse(text) { models.append(rs) }
        _ = IptablesSaveParser.looksLikeIptablesSave(text)
        for rs in models {
            let result = FirewallAuditor().audit([RulesetInput(ruleset: rs, name: name)])
            for f in result.findings {
                XCTAssertFalse(f.title.isEmpty, name)
                XCTAssertFalse(f.evidence.isEmpty, name)
                _ = RuleFormatter.text(rs.rules.first ?? FirewallRule(family: "ip", table: "t", chain: "c", expressions: []))
            }
        }
    }

    func testIptablesSaveBroken() throws {
        // A rule outside a table block, and an unterminated quote.
        try assertRefused("outside.rules", Data("*nat\nCOMMIT\n-A PREROUTING -p udp --dport 53 -j DNAT --to-destination 1.2.3.4\n".utf8), mentioning: [])
        let path = try write("quote.rules", Data("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m comment --comment \"open -j DNAT\nCOMMIT\n".utf8))
        readError(path)
        // Unknown matches and targets are kept, not fatal.
        let odd = try write("odd.rules", Data("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m weird --frob 7 -p udp --dport 53 -j DNAT --to-destination 10.9.9.9\nCOMMIT\n".utf8))
        XCTAssertNil(readError(odd))
    }

    func testNotAFile() throws {
        let missing = dir.appendingPathComponent("missing.nft").path
        let msg = readError(missing)
        XCTAssertNotNil(msg)
        XCTAssertTrue(msg?.contains("missing.nft") ?? false, msg ?? "")
        let sub = dir.appendingPathComponent("sub.json")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let dmsg = readError(sub.path)
        XCTAssertTrue(dmsg?.contains("directory") ?? false, dmsg ?? "read a directory")
    }

    /// A rule with a jump loop and a self-referencing verdict map must not hang the walker.
    func testJumpLoops() throws {
        let json = #"""
        {"nftables":[
          {"table":{"family":"ip","name":"nat","handle":1}},
          {"chain":{"family":"ip","table":"nat","name":"pre","handle":1,"type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}},
          {"chain":{"family":"ip","table":"nat","name":"a","handle":2}},
          {"chain":{"family":"ip","table":"nat","name":"b","handle":3}},
          {"rule":{"family":"ip","table":"nat","chain":"pre","handle":4,"expr":[{"jump":{"target":"a"}}]}},
          {"rule":{"family":"ip","table":"nat","chain":"a","handle":5,"expr":[{"jump":{"target":"b"}}]}},
          {"rule":{"family":"ip","table":"nat","chain":"b","handle":6,"expr":[{"jump":{"target":"a"}}]}},
          {"rule":{"family":"ip","table":"nat","chain":"b","handle":7,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":53}},
            {"dnat":{"addr":"192.0.2.53"}}]}}
        ]}
        """#
        let rs = try NftJSONParser.parse(Data(json.utf8))
        let result = FirewallAuditor().audit([RulesetInput(ruleset: rs, name: "loop")])
        XCTAssertEqual(result.findings.filter { $0.kind == FindingKind.firewallDNSRedirect }.count, 1, result.findings.map(describe).joined(separator: "; "))
    }
}

/// A deterministic generator for the mutation tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
