import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Paths, tools and helpers for the black-box firewall tests (no dnsaudit module is imported).
enum FW {
    /// The package root.
    static var root: URL { PackagePaths.root }
    static let examples = PackagePaths.root.appendingPathComponent("rules/examples")

    static func requireBinary() throws -> URL {
        let b = PackagePaths.dnsaudit
        guard FileManager.default.isExecutableFile(atPath: b.path) else {
            throw XCTSkip("the dnsaudit binary is not built at \(b.path): run 'swift build' first")
        }
        return b
    }

    /// An executable on PATH (plus the sbin directories, which a non-login root shell may lack).
    static func tool(_ name: String) -> URL? {
        Requirements.findTool(name).map { URL(fileURLWithPath: $0) }
    }

    static var isRoot: Bool { Requirements.isRoot }

    /// Skips (with a printed reason) unless root with every named tool installed.
    static func requireRoot(tools: [String]) throws {
        try Requirements.requireRoot(suite, "not root: the namespace tests need root (run 'sudo swift test --filter FirewallIntegrationTests')")
        let missing = tools.filter { tool($0) == nil }
        guard missing.isEmpty else {
            throw Requirements.skip(suite, "missing tools: \(missing.joined(separator: ", ")) (apt-get install iproute2 nftables iptables)")
        }
    }

    static let suite = "FirewallIntegrationTests"

    static func exampleNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: examples.path)
            .filter { $0.hasSuffix(".expected.json") }.map { String($0.dropLast(".expected.json".count)) }.sorted()
    }

    static func expected(_ name: String) throws -> ExpectedExample {
        try JSONDecoder().decode(ExpectedExample.self, from: Data(contentsOf: examples.appendingPathComponent("\(name).expected.json")))
    }

    /// A world-readable temporary directory (for the unprivileged runs); the caller removes it.
    static func publicTempDir() throws -> URL {
        try TempDirs.make(prefix: "dnsaudit-fwit-\(getpid())", unique: UUID().uuidString, in: URL(fileURLWithPath: "/tmp"), permissions: 0o755)
    }

    /// Copies an example file into `dir`, readable by everyone.
    static func publicCopy(_ file: String, into dir: URL) throws -> URL {
        let dst = dir.appendingPathComponent(file)
        try? FileManager.default.removeItem(at: dst)
        try FileManager.default.copyItem(at: examples.appendingPathComponent(file), to: dst)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dst.path)
        return dst
    }
}

// MARK: processes

/// Runs as the unprivileged user nobody (65534) with no capabilities, when this process is root;
/// as the current (already unprivileged) user otherwise.
func runUnprivileged(_ exe: URL, _ args: [String]) throws -> ProcessResult {
    guard FW.isRoot else { return try runProcess(exe, args) }
    if let setpriv = FW.tool("setpriv") {
        return try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", exe.path] + args)
    }
    if let runuser = FW.tool("runuser") {
        return try runProcess(runuser, ["-u", "nobody", "--", exe.path] + args)
    }
    throw XCTSkip("neither setpriv nor runuser is installed: cannot drop to an unprivileged user")
}

// MARK: network namespaces

/// Unique names: `fw-<pid>-<n>`.
final class NamespaceCounter: @unchecked Sendable {
    static let shared = NamespaceCounter()
    private let lock = NSLock()
    private var n = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        n += 1
        return n
    }
}

/// A fresh network namespace; call `delete()` (in a `defer`) when done.
final class NetworkNamespace {
    static let prefix = "fw2-"
    let name: String
    let ip: URL
    private var deleted = false

    init() throws {
        guard let ip = FW.tool("ip") else { throw XCTSkip("ip (iproute2) is not installed") }
        self.ip = ip
        name = "\(Self.prefix)\(getpid())-\(NamespaceCounter.shared.next())"
        let r = try runProcess(ip, ["netns", "add", name], timeout: 30)
        guard r.status == 0 else {
            let why = r.stderrLines.first ?? "exit \(r.status)"
            print("FirewallIntegrationTests skipped: 'ip netns add' failed: \(why)")
            throw XCTSkip("cannot create a network namespace here ('ip netns add \(name)': \(why))")
        }
    }

    /// `ip netns exec NAME ARGS…`.
    func exec(_ args: [String], stdinFile: URL? = nil, timeout: TimeInterval = 120) throws -> ProcessResult {
        try runProcess(ip, ["netns", "exec", name] + args, stdinFile: stdinFile, timeout: timeout)
    }

    func delete() {
        guard !deleted else { return }
        deleted = true
        let r = try? runProcess(ip, ["netns", "delete", name], timeout: 30)
        if r?.status != 0 { print("warning: could not delete network namespace \(name): \(r?.stderr ?? "ip failed")") }
    }

    deinit { delete() }

    /// Namespaces this test suite left behind in an earlier run that died (their pid is gone).
    static func removeStale() {
        guard let ip = FW.tool("ip"), let r = try? runProcess(ip, ["netns", "list"], timeout: 30), r.status == 0 else { return }
        for line in r.stdoutText.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix(prefix) else { continue }
            let parts = name.dropFirst(prefix.count).split(separator: "-")
            guard parts.count == 2, let pid = Int32(parts[0]), Int(parts[1]) != nil, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                _ = try? runProcess(ip, ["netns", "delete", name], timeout: 30)
            }
        }
    }
}

// MARK: expected and actual findings

struct ExpectedExample: Decodable {
    var description: String
    var ruleset: String
    var install: String
    var findings: [ExpectedFinding]
}

/// A JSON scalar as text (numbers as integers where they are).
struct Scalar: Decodable, Equatable, CustomStringConvertible {
    var text: String
    var isNumber: Bool
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) {
            text = String(i); isNumber = true
        } else if let d = try? c.decode(Double.self) {
            text = String(d); isNumber = true
        } else if let b = try? c.decode(Bool.self) {
            text = String(b); isNumber = false
        } else if c.decodeNil() {
            text = "null"; isNumber = false
        } else {
            text = try c.decode(String.self); isNumber = false
        }
    }
    var description: String { text }
}

struct ExpectedFinding: Decodable, CustomStringConvertible {
    var kind: String
    var severity: String
    var subject: [String: Scalar]
    var description: String {
        "\(kind) \(severity) {" + subject.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}"
    }
}

/// The parts of a `dnsaudit/report-v1` JSON report these tests read.
struct JSONReport: Decodable {
    struct Input: Decodable {
        var kind: String
        var name: String
        var format: String?
        var reader: String?
        var rules: Int?
        var tables: Int?
    }
    struct Finding: Decodable, CustomStringConvertible {
        var id: String
        var kind: String
        var severity: String
        var confidence: String
        var title: String
        var subject: [String: Scalar]
        var remediation: String
        var description: String {
            "\(kind) \(severity) {" + subject.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}"
        }
    }
    var schema: String
    var inputs: [Input]
    var findings: [Finding]
    var notes: [String]?
}

func decodeReport(_ r: ProcessResult, _ context: String, file: StaticString = #filePath, line: UInt = #line) -> JSONReport? {
    do {
        return try JSONDecoder().decode(JSONReport.self, from: r.stdout)
    } catch {
        XCTFail("\(context): not a JSON report (exit \(r.status), \(error)); stdout: \(r.stdoutText.prefix(400)); stderr: \(r.stderr.prefix(400))",
                file: file, line: line)
        return nil
    }
}

func matches(_ a: JSONReport.Finding, _ e: ExpectedFinding, ignoring: Set<String> = []) -> Bool {
    guard a.kind == e.kind, a.severity == e.severity else { return false }
    for (k, v) in e.subject where !ignoring.contains(k) {
        guard let got = a.subject[k], got.text == v.text, got.isNumber == v.isNumber else { return false }
    }
    return true
}

/// Same count, and a one-to-one pairing in which each expected finding is matched by kind,
/// severity and every subject key it gives.
func assertFindings(_ actual: [JSONReport.Finding], match expected: [ExpectedFinding], ignoring: Set<String> = [], _ context: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    let listing = "\n  actual:\n    " + actual.map(\.description).joined(separator: "\n    ")
        + "\n  expected:\n    " + expected.map(\.description).joined(separator: "\n    ")
    guard actual.count == expected.count else {
        XCTFail("\(context): \(actual.count) finding(s), expected \(expected.count)\(listing)", file: file, line: line)
        return
    }
    var used = [Bool](repeating: false, count: actual.count)
    func assign(_ k: Int) -> Bool {
        if k == expected.count { return true }
        for a in actual.indices where !used[a] && matches(actual[a], expected[k], ignoring: ignoring) {
            used[a] = true
            if assign(k + 1) { return true }
            used[a] = false
        }
        return false
    }
    if !assign(0) {
        let unmatched = expected.filter { e in !actual.contains { matches($0, e, ignoring: ignoring) } }
        XCTFail("\(context): findings do not match expected.json (unmatched: \(unmatched.map(\.description)))\(listing)", file: file, line: line)
    }
}

/// The exit status the contract gives for these findings with the default `--fail-on medium`.
func expectedExit(_ findings: [ExpectedFinding]) -> Int32 {
    findings.contains { ["medium", "high", "critical"].contains($0.severity) } ? 1 : 0
}

/// A run that could not be done: exit 2, nothing on stdout, one line on stderr.
func assertOneLineFailure(_ r: ProcessResult, _ context: String, mentioning words: [String] = [],
                          file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(r.timedOut, "\(context): timed out", file: file, line: line)
    XCTAssertEqual(r.status, 2, "\(context): exit \(r.status); stderr: \(r.stderr)", file: file, line: line)
    XCTAssertTrue(r.stdout.isEmpty, "\(context): printed a report on failure: \(r.stdoutText.prefix(200))", file: file, line: line)
    XCTAssertEqual(r.stderrLines.count, 1, "\(context): stderr is not one line: \(r.stderr)", file: file, line: line)
    XCTAssertTrue(r.stderr.hasSuffix("\n"), "\(context): stderr does not end the line", file: file, line: line)
    let msg = r.stderrLines.first ?? ""
    XCTAssertTrue(msg.hasPrefix("dnsaudit: "), "\(context): \(msg)", file: file, line: line)
    for w in words {
        XCTAssertTrue(msg.lowercased().contains(w.lowercased()), "\(context): '\(msg)' does not mention '\(w)'", file: file, line: line)
    }
}
