import Foundation
import IntegrationSupport
import XCTest

/// Issue 19 item 5, a CLI without surprises: each subcommand's help lists only what it accepts,
/// invalid values name the valid ones, destinations are checked before any work, the printed
/// systemd units use absolute paths, and the completion command is documented. Black box: the
/// built binary, as any user.
final class CLISurfaceTests: XCTestCase {
    private func run(_ args: [String]) throws -> ProcessResult {
        try runProcess(TestPaths.dnsaudit, args)
    }

    /// The long options a help text lists (`--name`), from its OPTIONS section.
    private func listedOptions(_ help: String) -> Set<String> {
        var out = Set<String>()
        let pattern = try! NSRegularExpression(pattern: "(?m)^\\s+(?:-[a-zA-Z], )?(--[a-z0-9-]+)")
        let ns = help as NSString
        for m in pattern.matches(in: help, range: NSRange(location: 0, length: ns.length)) {
            out.insert(ns.substring(with: m.range(at: 1)))
        }
        return out
    }

    /// A refused run: exit 2, nothing on standard output, exactly one line on standard error.
    private func assertOneLineFailure(_ r: ProcessResult, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 2, "\(what): \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stdout.isEmpty, "\(what) wrote a report: \(r.stdoutText.prefix(200))", file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(what): one line on stderr, got \(r.stderr)", file: file, line: line)
    }

    func testEachSubcommandHelpListsOnlyWhatItAccepts() throws {
        let common: Set<String> = ["--format", "--output", "--fail-on", "--quiet", "--pretty", "--fail-on-inconclusive"]
        let refs: Set<String> = ["--reference", "--ca-file"]
        let expected: [String: (has: Set<String>, not: Set<String>)] = [
            "analyze": (common.union(refs).union(["--ruleset", "--policy", "--filter"]), []),
            "rules": (common.union(["--file", "--policy"]), refs.union(["--ruleset"])),
            "live": (common.union(refs).union(["--interface", "--user"]), ["--ruleset", "--policy"]),
            "probe": (common.union(refs).union(["--resolver"]), ["--ruleset", "--policy"]),
            "decode": (["--filter", "--output", "--quiet"], refs.union(["--ruleset", "--policy", "--fail-on"])),
        ]
        for (command, want) in expected.sorted(by: { $0.key < $1.key }) {
            let r = try run([command, "--help"])
            XCTAssertEqual(r.status, 0, "\(command) --help: \(r.stderr)")
            let listed = listedOptions(r.stdoutText)
            XCTAssertTrue(want.has.isSubset(of: listed), "\(command) --help lacks \(want.has.subtracting(listed).sorted())")
            XCTAssertEqual(want.not.intersection(listed), [], "\(command) --help lists options it refuses: \(want.not.intersection(listed).sorted())")
        }
        // What 'rules' does not list it refuses, in one line that points at its help.
        for option in ["--reference", "--ca-file", "--ruleset"] {
            let r = try run(["rules", option, "x"])
            assertOneLineFailure(r, "rules \(option)")
            XCTAssertTrue(r.stderr.contains("Unknown option '\(option)'"), r.stderr)
            XCTAssertTrue(r.stderr.contains("dnsaudit rules --help"), "points at the subcommand's help: \(r.stderr)")
        }
    }

    func testInvalidEnumValuesListTheValidOnes() throws {
        let capture = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path
        let f = try run(["analyze", "--format", "HTML", capture])
        assertOneLineFailure(f, "--format HTML")
        for value in ["text", "json", "jsonl", "markdown", "html", "sarif", "prometheus"] {
            XCTAssertTrue(f.stderr.contains(value), "--format HTML should list \(value): \(f.stderr)")
        }
        let s = try run(["analyze", "--fail-on", "severe", capture])
        assertOneLineFailure(s, "--fail-on severe")
        for value in ["info", "low", "medium", "high", "critical"] {
            XCTAssertTrue(s.stderr.contains(value), "--fail-on severe should list \(value): \(s.stderr)")
        }
        let a = try run(["audit", "--print-systemd", "--format", "yaml"])
        assertOneLineFailure(a, "audit --format yaml")
        XCTAssertTrue(a.stderr.contains("prometheus"), a.stderr)
    }

    /// A destination that cannot be written fails the run before it reads anything: the message
    /// names the destination even though the input does not exist either.
    func testOutputDestinationsAreCheckedBeforeTheWork() throws {
        let dir = try TempDirs.make(prefix: "dnsaudit-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("no-such-dir/report.json").path
        let nothing = dir.appendingPathComponent("no-such.pcap").path
        for args in [["analyze", "--output", missing, nothing], ["decode", "--output", missing, nothing],
                     ["rules", "--file", nothing, "--output", missing]] {
            let r = try run(args)
            assertOneLineFailure(r, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains("no-such-dir") && r.stderr.contains("does not exist"), "\(args): \(r.stderr)")
        }
        let isDir = try run(["analyze", "--output", dir.path, nothing])
        assertOneLineFailure(isDir, "--output DIR")
        XCTAssertTrue(isDir.stderr.contains("is a directory"), isDir.stderr)

        // audit: every [audit.outputs] file and --output, before the ruleset, the probes and the
        // capture (and before it asks for root).
        let policy = dir.appendingPathComponent("policy.toml")
        try Data("[audit]\nduration = 0\n\n[audit.outputs]\njson = \"\(missing)\"\n".utf8).write(to: policy)
        let r = try run(["audit", "--policy", policy.path, "--no-probe", "--quiet"])
        assertOneLineFailure(r, "audit with an output in a missing directory")
        XCTAssertTrue(r.stderr.contains("[audit.outputs] json") && r.stderr.contains("no-such-dir"), r.stderr)
        // EVE is an audit output like the others (checked the same way, not refused as unknown).
        try Data("[audit]\nduration = 0\n\n[audit.outputs]\neve = \"\(missing)\"\n".utf8).write(to: policy)
        let eve = try run(["audit", "--policy", policy.path, "--no-probe", "--quiet"])
        assertOneLineFailure(eve, "audit with an EVE output in a missing directory")
        XCTAssertTrue(eve.stderr.contains("[audit.outputs] eve") && eve.stderr.contains("no-such-dir"), eve.stderr)
        let o = try run(["audit", "--policy", policy.path, "--no-probe", "--output", dir.path])
        assertOneLineFailure(o, "audit --output DIR")
        XCTAssertTrue(o.stderr.contains("is a directory"), o.stderr)

        // A good destination still works (the report lands there, nothing on stdout).
        let good = dir.appendingPathComponent("r.json").path
        let capture = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path
        let ok = try run(["analyze", "--format", "json", "--output", good, capture])
        XCTAssertEqual(ok.status, 1, ok.stderr)
        XCTAssertTrue(ok.stdout.isEmpty)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: good))) as? [String: Any]
        XCTAssertEqual(report?["verdict"] as? String, "tampering")
    }

    /// `--print-systemd` with a relative policy: the units name the policy and the binary by
    /// absolute paths (systemd runs them from /).
    func testPrintSystemdWritesAbsolutePaths() throws {
        let dir = try TempDirs.make(prefix: "dnsaudit-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("[audit]\n".utf8).write(to: dir.appendingPathComponent("p.toml"))
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"),
                               ["-C", dir.path, TestPaths.dnsaudit.path, "audit", "--print-systemd", "--policy", "./p.toml"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let exec = try XCTUnwrap(r.stdoutText.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        let words = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        XCTAssertTrue(words[0].hasPrefix("/"), "binary path is absolute: \(exec)")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: words[0]), "the binary exists: \(exec)")
        let policyArg = try XCTUnwrap(words.firstIndex(of: "--policy").map { words[$0 + 1] })
        let realDir = URL(fileURLWithPath: dir.path).resolvingSymlinksInPath().path
        XCTAssertEqual(policyArg, realDir + "/p.toml", exec.description)
        XCTAssertTrue(r.stdoutText.contains("[Timer]") && r.stdoutText.contains("OnCalendar=daily"))
    }

    func testDecodeQuietAndCompletionDocumented() throws {
        let capture = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path
        let d = try run(["decode", "--quiet", capture])
        XCTAssertEqual(d.status, 0, d.stderr)
        XCTAssertEqual(d.stderr, "")
        XCTAssertFalse(d.stdout.isEmpty)
        let q = try run(["decode", "-q", capture])
        XCTAssertEqual(q.stdout, d.stdout)

        let help = try run(["--help"])
        XCTAssertTrue(help.stdoutText.contains("--generate-completion-script"), "the completion command is documented")
        for shell in ["bash", "zsh", "fish"] {
            let c = try run(["--generate-completion-script", shell])
            XCTAssertEqual(c.status, 0, c.stderr)
            XCTAssertTrue(c.stdoutText.contains("analyze") && c.stdoutText.contains("--fail-on"), "\(shell) completion")
        }
    }
}
