import Findings
import Foundation
import XCTest

/// Paths and expectations shared by the firewall unit tests.
enum FirewallFixtures {
    /// The package root (…/Tests/FirewallTests/Support.swift → …).
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let examples = root.appendingPathComponent("rules/examples")
    static let policyExample = root.appendingPathComponent("rules/policy.example.toml")

    /// Example names (`clean-workstation`, …): every `NAME.expected.json`, sorted.
    static func exampleNames() throws -> [String] {
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path)
        return files.filter { $0.hasSuffix(".expected.json") }.map { String($0.dropLast(".expected.json".count)) }.sorted()
    }

    static func expected(_ name: String) throws -> ExpectedExample {
        let data = try Data(contentsOf: examples.appendingPathComponent("\(name).expected.json"))
        return try JSONDecoder().decode(ExpectedExample.self, from: data)
    }

    static func path(_ file: String) -> String { examples.appendingPathComponent(file).path }

    /// A private temporary directory, removed by the caller's `defer`.
    static func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-fwtests-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }
}

/// `NAME.expected.json`.
struct ExpectedExample: Decodable {
    var description: String
    var ruleset: String
    var install: String
    var findings: [ExpectedFinding]
}

struct ExpectedFinding: Decodable, CustomStringConvertible {
    var kind: String
    var severity: String
    var subject: [String: ExpectedValue]

    var description: String {
        "\(kind) \(severity) {" + subject.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.text)" }.joined(separator: ", ") + "}"
    }
}

/// A subject value in expected.json: a string or a number.
struct ExpectedValue: Decodable {
    var text: String
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) {
            text = String(i)
        } else {
            text = try c.decode(String.self)
        }
    }
}

func describe(_ f: Finding) -> String {
    "\(f.kind) \(f.severity.rawValue) {" + f.subject.map { "\($0.0)=\($0.1)" }.joined(separator: ", ") + "}"
}

/// Whether `actual` satisfies `expected`: same kind and severity, and every subject key the
/// expectation gives (except those in `ignoring`) present with the same value.
func matches(_ actual: Finding, _ expected: ExpectedFinding, ignoring: Set<String> = []) -> Bool {
    guard actual.kind.rawValue == expected.kind, actual.severity.rawValue == expected.severity else { return false }
    for (k, v) in expected.subject where !ignoring.contains(k) {
        guard let a = actual.subjectValue(k), a.description == v.text else { return false }
    }
    return true
}

/// Checks that `actual` and `expected` pair up one to one (count equal, each expected finding
/// matched by a distinct actual one); records a failure that lists both sides otherwise.
func assertFindings(_ actual: [Finding], match expected: [ExpectedFinding], ignoring: Set<String> = [], _ context: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    let listing = "\n  actual:\n    " + actual.map(describe).joined(separator: "\n    ")
        + "\n  expected:\n    " + expected.map(\.description).joined(separator: "\n    ")
    guard actual.count == expected.count else {
        XCTFail("\(context): \(actual.count) finding(s), expected \(expected.count)\(listing)", file: file, line: line)
        return
    }
    // Small sets: a backtracking search for a perfect matching.
    var used = [Bool](repeating: false, count: actual.count)
    func assign(_ e: Int) -> Bool {
        if e == expected.count { return true }
        for a in actual.indices where !used[a] && matches(actual[a], expected[e], ignoring: ignoring) {
            used[a] = true
            if assign(e + 1) { return true }
            used[a] = false
        }
        return false
    }
    if !assign(0) {
        let unmatched = expected.filter { e in !actual.contains { matches($0, e, ignoring: ignoring) } }
        XCTFail("\(context): findings do not match expected.json (unmatched: \(unmatched.map(\.description)))\(listing)", file: file, line: line)
    }
}
