import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Issue 15 bug 2: findings carry the handles of the user's ruleset, and the removal command a
/// finding gives, run against that ruleset, deletes exactly the flagged rule and nothing else.
/// Rulesets are built with the real tools in a fresh namespace, with gaps in their handles; the
/// truth after the removal comes from `nft -a list ruleset` / `iptables-*-save`, not dnsaudit.
final class HandleRemovalTests: XCTestCase {
    static let tools = ["ip", "nft", "iptables-nft", "iptables-nft-save", "iptables-legacy", "iptables-legacy-save"]

    /// The parts of a finding this test reads, evidence data included.
    struct Report: Decodable {
        struct Evidence: Decodable {
            var data: [String: Scalar]?
        }
        struct Finding: Decodable {
            var kind: String
            var severity: String
            var subject: [String: Scalar]
            var evidence: [Evidence]
            var remediation: String
            func fact(_ k: String) -> String? { evidence.lazy.compactMap { $0.data?[k]?.text }.first }
        }
        var findings: [Finding]
        var notes: [String]?
    }

    override class func setUp() {
        super.setUp()
        if FW.isRoot { NetworkNamespace.removeStale() }
    }

    // MARK: helpers

    @discardableResult
    func run(_ ns: NetworkNamespace, _ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try ns.exec(args)
        guard r.status == 0, !r.timedOut else {
            let err = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            if ["not supported", "can't initialize", "Could not fetch rule set generation id", "Module"].contains(where: err.contains) {
                throw XCTSkip("\(args[0]) cannot load rules in this kernel: \(err.prefix(200))")
            }
            XCTFail("\(args.joined(separator: " ")) failed (exit \(r.status)): \(err)", file: file, line: line)
            throw LabError("command failed")
        }
        return r.stdoutText
    }

    /// `# handle N` of the listed rules whose text contains `match`, from `nft -a list ruleset`
    /// (table and chain lines carry handles too; they are left out).
    static func handles(in listing: String, matching match: String = "") -> [Int] {
        listing.split(separator: "\n").compactMap { line -> Int? in
            let t = line.trimmingCharacters(in: .whitespaces)
            guard match.isEmpty || t.contains(match), !t.hasPrefix("table "), !t.hasPrefix("chain "), let r = t.range(of: "# handle ") else { return nil }
            return Int(t[r.upperBound...].prefix(while: \.isNumber))
        }
    }

    /// Rule lines (`-A …`) of an iptables-save listing.
    static func ruleLines(_ save: String) -> [String] {
        save.split(separator: "\n").map(String.init).filter { $0.hasPrefix("-A ") }
    }

    func audit(_ args: [String], in ns: NetworkNamespace? = nil, _ context: String) throws -> Report? {
        let exe = try FW.requireBinary().path
        let r = try ns.map { try $0.exec([exe, "rules", "--format", "json"] + args) } ?? runProcess(URL(fileURLWithPath: exe), ["rules", "--format", "json"] + args)
        XCTAssertFalse(r.timedOut, context)
        XCTAssertEqual(r.status, 1, "\(context): a high finding exits 1; stderr: \(r.stderr)")
        do {
            return try JSONDecoder().decode(Report.self, from: r.stdout)
        } catch {
            XCTFail("\(context): not a JSON report (\(error)): \(r.stdoutText.prefix(300)) \(r.stderr.prefix(300))")
            return nil
        }
    }

    /// The flagged DNS hijack of `udp dport 53` (the rule every scenario plants).
    func hijack(_ rep: Report, _ context: String, file: StaticString = #filePath, line: UInt = #line) -> Report.Finding? {
        let f = rep.findings.filter { $0.kind == "firewall.dns-redirect" && $0.severity == "high" && ($0.fact("transport") == "udp") }
        XCTAssertEqual(f.count, 1, "\(context): \(rep.findings.map { "\($0.kind) \($0.severity) \($0.subject)" })", file: file, line: line)
        return f.first
    }

    func words(_ cmd: String) -> [String] { cmd.split(separator: " ").map(String.init) }

    // MARK: nft

    /// Builds an nft ruleset whose handles have gaps (rules added, some deleted); returns the
    /// handle of the planted `udp dport 53` DNAT.
    func buildNft(_ ns: NetworkNamespace) throws -> Int {
        try run(ns, ["nft", "add", "table", "ip", "nat"])
        try run(ns, ["nft", "add", "chain", "ip", "nat", "prerouting", "{ type nat hook prerouting priority dstnat; policy accept; }"])
        for r in ["tcp dport 80 accept", "tcp dport 22 accept", "tcp dport 25 accept", "iifname \"lan0\" udp dport 53 dnat to 10.77.9.9:53",
                  "tcp dport 110 accept", "iifname \"lan0\" tcp dport 53 dnat to 10.77.9.9:53", "tcp dport 143 accept"] {
            try run(ns, ["nft", "add rule ip nat prerouting \(r)"])
        }
        try run(ns, ["nft", "add", "table", "inet", "filter"])
        try run(ns, ["nft", "add", "chain", "inet", "filter", "forward", "{ type filter hook forward priority filter; policy accept; }"])
        try run(ns, ["nft", "add rule inet filter forward tcp dport 8080 accept"])
        // Gaps: delete the first, the third and the fifth rule of prerouting.
        let listing = try run(ns, ["nft", "-a", "list", "ruleset"])
        for port in ["dport 80 ", "dport 25 ", "dport 110 "] {
            guard let h = Self.handles(in: listing, matching: port).first else { XCTFail("no rule with \(port)"); continue }
            try run(ns, ["nft", "delete", "rule", "ip", "nat", "prerouting", "handle", String(h)])
        }
        let after = try run(ns, ["nft", "-a", "list", "ruleset"])
        let all = Self.handles(in: after)
        XCTAssertEqual(all.count, 5, after)
        let h = try XCTUnwrap(Self.handles(in: after, matching: "udp dport 53").first, after)
        // The handles are not 1..n in the chain: the test would prove nothing otherwise.
        XCTAssertNotEqual(h, 2, "the planted rule is the second of its chain: its handle must not be its position")
        return h
    }

    /// Runs the finding's removal command in the namespace; then exactly `handle` is gone.
    func removeAndCheck(_ f: Report.Finding, handle: Int, in ns: NetworkNamespace, _ context: String) throws {
        let before = try run(ns, ["nft", "-a", "list", "ruleset"])
        let cmd = try XCTUnwrap(f.fact("remove_command"), "\(context): no remove_command fact")
        XCTAssertEqual(cmd, "nft delete rule ip nat prerouting handle \(handle)", context)
        XCTAssertTrue(f.remediation.contains(cmd), "\(context): \(f.remediation)")
        try run(ns, words(cmd))
        let after = try run(ns, ["nft", "-a", "list", "ruleset"])
        XCTAssertEqual(Set(Self.handles(in: after)), Set(Self.handles(in: before)).subtracting([handle]), "\(context): before\n\(before)\nafter\n\(after)")
        XCTAssertFalse(after.contains("udp dport 53"), context)
        XCTAssertTrue(after.contains("tcp dport 53"), context)
    }

    func testNftSavedTextWithHandles() throws { try nftCase(.text) }
    func testNftSavedJSON() throws { try nftCase(.json) }
    func testNftLive() throws { try nftCase(.live) }

    enum Mode { case text, json, live }

    func nftCase(_ mode: Mode) throws {
        try FW.requireRoot(tools: Self.tools)
        let ns = try NetworkNamespace()
        defer { ns.delete() }
        let h = try buildNft(ns)
        let dir = try FW.publicTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rep: Report?
        switch mode {
        case .text:
            let f = dir.appendingPathComponent("saved.nft")
            try Data(try run(ns, ["nft", "-a", "list", "ruleset"]).utf8).write(to: f)
            rep = try audit(["--file", f.path], "nft -a text")
        case .json:
            let f = dir.appendingPathComponent("saved.json")
            try Data(try run(ns, ["nft", "-j", "list", "ruleset"]).utf8).write(to: f)
            rep = try audit(["--file", f.path], "nft -j json")
        case .live:
            rep = try audit([], in: ns, "live")
        }
        guard let rep, let f = hijack(rep, "\(mode)") else { return }
        XCTAssertEqual(f.subject["handle"]?.text, String(h), "\(mode): the handle of the user's ruleset")
        try removeAndCheck(f, handle: h, in: ns, "\(mode)")
    }

    /// A plain `nft list ruleset` (no handles): no handle anywhere, no handle-based command, a
    /// note that says to save with -a, and the command that finds the handle.
    func testNftSavedTextWithoutHandles() throws {
        try FW.requireRoot(tools: Self.tools)
        let ns = try NetworkNamespace()
        defer { ns.delete() }
        _ = try buildNft(ns)
        let dir = try FW.publicTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("plain.nft")
        try Data(try run(ns, ["nft", "list", "ruleset"]).utf8).write(to: file)
        guard let rep = try audit(["--file", file.path], "plain text") else { return }
        XCTAssertTrue((rep.notes ?? []).contains { $0.contains("nft -a list ruleset") }, "\(rep.notes ?? [])")
        XCTAssertEqual(rep.findings.count, 2)
        for f in rep.findings {
            XCTAssertNil(f.subject["handle"], "\(f.subject)")
            XCTAssertNil(f.fact("remove_command"))
            XCTAssertEqual(f.fact("find_handle_command"), "nft -a list chain ip nat prerouting")
            XCTAssertNil(f.remediation.range(of: #"handle [0-9]"#, options: .regularExpression), f.remediation)
            XCTAssertTrue(f.remediation.contains("nft -a list chain ip nat prerouting"), f.remediation)
        }
    }

    // MARK: iptables

    func testIptablesNftSaved() throws { try iptablesCase(tool: "iptables-nft", live: false) }
    func testIptablesNftLive() throws { try iptablesCase(tool: "iptables-nft", live: true) }
    func testIptablesLegacySaved() throws { try iptablesCase(tool: "iptables-legacy", live: false) }
    func testIptablesLegacyLive() throws { try iptablesCase(tool: "iptables-legacy", live: true) }

    func iptablesCase(tool: String, live: Bool) throws {
        try FW.requireRoot(tools: Self.tools)
        let ns = try NetworkNamespace()
        defer { ns.delete() }
        let save = tool + "-save"
        for spec in ["-p tcp --dport 80 -j ACCEPT", "-p tcp --dport 22 -j ACCEPT", "-p tcp --dport 25 -j ACCEPT",
                     "-i lan0 -p udp --dport 53 -j DNAT --to-destination 10.77.9.9:53", "-p tcp --dport 110 -j ACCEPT",
                     "-i lan0 -p tcp --dport 53 -j DNAT --to-destination 10.77.9.9:53"] {
            try run(ns, [tool, "-t", "nat", "-A", "PREROUTING"] + words(spec))
        }
        // Gaps (in nft handles for iptables-nft): delete the first and third rule.
        try run(ns, [tool, "-t", "nat", "-D", "PREROUTING", "-p", "tcp", "--dport", "80", "-j", "ACCEPT"])
        try run(ns, [tool, "-t", "nat", "-D", "PREROUTING", "-p", "tcp", "--dport", "25", "-j", "ACCEPT"])
        let before = Self.ruleLines(try run(ns, [save, "-t", "nat"]))
        XCTAssertEqual(before.count, 4, "\(before)")
        let planted = try XCTUnwrap(before.firstIndex { $0.contains("-p udp") && $0.contains("DNAT") })
        let rep: Report?
        if live {
            rep = try audit([], in: ns, "\(tool) live")
        } else {
            let dir = try FW.publicTempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let f = dir.appendingPathComponent("saved.rules")
            try Data(try run(ns, [save]).utf8).write(to: f)
            rep = try audit(["--file", f.path], "\(tool) saved")
        }
        guard let rep, let f = hijack(rep, "\(tool) \(live ? "live" : "saved")") else { return }
        let cmd = try XCTUnwrap(f.fact("remove_command"))
        XCTAssertEqual(cmd, "\(tool) -t nat -D PREROUTING \(planted + 1)")
        XCTAssertTrue(f.remediation.contains(cmd), f.remediation)
        try run(ns, words(cmd))
        var expected = before
        expected.remove(at: planted)
        XCTAssertEqual(Self.ruleLines(try run(ns, [save, "-t", "nat"])), expected, "exactly the flagged rule is gone")
        if tool == "iptables-nft" {
            let listing = try run(ns, ["nft", "-a", "list", "ruleset"])
            XCTAssertFalse(listing.contains("udp dport 53"), listing)
        }
    }
}

/// Issue 15 bug 10: live `dnsaudit rules` counts this machine's own resolvers (its resolv.conf
/// nameservers) as resolvers whose encrypted ports must stay open. `ip netns exec` gives the
/// namespace its own /etc/netns/NAME/resolv.conf; the ruleset is installed with real nft.
final class MachineResolverBlockTests: XCTestCase {
    func testBlockedEncryptedDNSToThisMachinesResolver() throws {
        try FW.requireRoot(tools: ["ip", "nft"])
        let ns = try NetworkNamespace()
        defer { ns.delete() }
        let etc = URL(fileURLWithPath: "/etc/netns/\(ns.name)")
        let hadNetns = FileManager.default.fileExists(atPath: "/etc/netns")
        try FileManager.default.createDirectory(at: etc, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(at: etc)
            if !hadNetns { _ = rmdir("/etc/netns") }
        }
        try Data("# the lab's resolver\nnameserver 10.77.0.53\n".utf8).write(to: etc.appendingPathComponent("resolv.conf"))
        XCTAssertTrue(try ns.exec(["cat", "/etc/resolv.conf"]).stdoutText.contains("10.77.0.53"), "ip netns exec did not bind the namespace's resolv.conf")

        let rules = """
        table inet filter {
        \tchain output {
        \t\ttype filter hook output priority filter; policy accept;
        \t\tudp dport 53 limit rate over 100/second drop
        \t\tip daddr 203.0.113.80 tcp dport 443 drop
        \t\tip daddr 10.77.0.53 tcp dport 443 drop
        \t\tip daddr 10.77.0.53 udp dport 443 reject
        \t\tip daddr 10.77.0.53 udp dport 53 accept
        \t}
        }
        """
        let dir = try FW.publicTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("blocks.nft")
        try Data(rules.utf8).write(to: file)
        let load = try ns.exec(["nft", "-f", file.path])
        XCTAssertEqual(load.status, 0, load.stderr)
        // Truth from the ruleset: nft lists both blocks to the resolver.
        let listing = try ns.exec(["nft", "-a", "list", "ruleset"]).stdoutText
        let blockHandles = listing.split(separator: "\n").filter { $0.contains("10.77.0.53") && $0.contains("dport 443") }
            .compactMap { l in l.range(of: "# handle ").flatMap { Int(l[$0.upperBound...].prefix(while: \.isNumber)) } }
        XCTAssertEqual(blockHandles.count, 2, listing)

        let r = try ns.exec([try FW.requireBinary().path, "rules", "--format", "json"])
        XCTAssertEqual(r.status, 1, r.stderr)
        guard let report = decodeReport(r, "machine resolver blocks") else { return }
        let loud = report.findings.filter { ["medium", "high", "critical"].contains($0.severity) }
        XCTAssertEqual(loud.count, 2, report.findings.map(\.description).joined(separator: "; "))
        for f in loud {
            XCTAssertEqual(f.kind, "firewall.encrypted-dns-block", f.description)
            XCTAssertTrue(f.title.contains("/etc/resolv.conf"), f.title)
            XCTAssertTrue(blockHandles.map(String.init).contains(f.subject["handle"]?.text ?? ""), f.description)
        }
        // The same ruleset saved to a file knows nothing of this machine's resolvers.
        let saved = dir.appendingPathComponent("saved.json")
        try Data(try ns.exec(["nft", "-j", "list", "ruleset"]).stdoutText.utf8).write(to: saved)
        let off = try runProcess(try FW.requireBinary(), ["rules", "--file", saved.path, "--format", "json"])
        XCTAssertEqual(off.status, 0, off.stderr)
        XCTAssertEqual(decodeReport(off, "saved")?.findings.count, 0)
    }
}
