import Foundation

/// One `dnsaudit … --format json` run, parsed: its exit status, stderr, the printed text and the
/// report object. The labs' one report reader (`ProbeReport` in the probe labs is this type).
public struct DNSAuditReport {
    public var status: Int32
    public var stderr: String
    public var raw: String
    public var report: [String: Any]

    public init(status: Int32, stderr: String, raw: String, report: [String: Any]) {
        self.status = status
        self.stderr = stderr
        self.raw = raw
        self.report = report
    }

    public var findings: [[String: Any]] { report["findings"] as? [[String: Any]] ?? [] }
    public var notes: [String] { report["notes"] as? [String] ?? [] }

    public func findings(kind: String) -> [[String: Any]] { findings.filter { $0["kind"] as? String == kind } }

    public static let mediumOrAbove: Set<String> = ["medium", "high", "critical"]
    public var mediumOrAboveFindings: [[String: Any]] { findings.filter { Self.mediumOrAbove.contains($0["severity"] as? String ?? "") } }

    public static func subject(_ f: [String: Any]) -> [String: Any] { f["subject"] as? [String: Any] ?? [:] }

    /// The whole finding as one string (title, subject, evidence), for "names X" checks.
    public static func text(_ f: [String: Any]) -> String { json(f) }

    /// What the tool printed, compactly, for failure messages and the log.
    public var described: String {
        let lines = Self.findingLines(findings)
        return "exit \(status); \(findings.count) finding(s)" + (lines.isEmpty ? "" : ":\n" + lines.joined(separator: "\n"))
            + (notes.isEmpty ? "" : "\n  notes:\n" + notes.map { "    - \($0)" }.joined(separator: "\n"))
            + (stderr.isEmpty ? "" : "\n  stderr: \(stderr.prefix(500))")
    }

    /// One line per finding — kind [severity/confidence] subject, title, evidence details (cut
    /// to `evidenceLimit` characters) — for failure messages and logs of every lab.
    public static func findingLines(_ findings: [[String: Any]], evidenceLimit: Int = .max) -> [String] {
        findings.map { f -> String in
            let ev = (f["evidence"] as? [[String: Any]] ?? []).map { $0["detail"] as? String ?? "" }.joined(separator: " | ")
            return "  \(f["kind"] ?? "?") [\(f["severity"] ?? "?")/\(f["confidence"] ?? "?")] subject=\(json(f["subject"] ?? [:])) "
                + "title=\"\(f["title"] ?? "")\" evidence=\"\(ev.prefix(evidenceLimit))\""
        }
    }

    /// Compact JSON with sorted keys (or the value's description if it is not JSON).
    public static func json(_ o: Any) -> String {
        guard JSONSerialization.isValidJSONObject(o), let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else {
            return "\(o)"
        }
        return String(decoding: d, as: UTF8.self)
    }
}

extension NamespaceLab {
    /// Runs the built dnsaudit with `args` inside namespace `ns` and parses its JSON report: the
    /// labs' one run-dnsaudit step. Throws when it does not finish in `timeout` seconds, exits
    /// with anything but 0 (nothing at or above --fail-on) or 1 (findings), or prints no JSON
    /// object. Network rule: refuses a `probe` without an explicit `--resolver` and `--reference`
    /// (it would fall back to the built-in public resolvers and references). `wrapper`: a command
    /// prefix dnsaudit runs under (e.g. setpriv to drop privileges); none by default.
    public func runDNSAudit(_ args: [String], in ns: String, timeout: TimeInterval = 60, wrapper: [String] = []) throws -> DNSAuditReport {
        let shown = args.joined(separator: " ")
        if args.first == "probe", !(args.contains("--resolver") && args.contains("--reference")) {
            throw LabError("refusing to run a probe without an explicit lab resolver and reference: \(shown)")
        }
        let r = try exec(ns, wrapper + [PackagePaths.dnsaudit.path] + args, timeout: timeout)
        guard !r.timedOut else { throw LabError("dnsaudit \(shown) did not finish in \(timeout) s") }
        guard r.status == 0 || r.status == 1 else {
            throw LabError("dnsaudit \(shown) exited \(r.status): \(r.stderr.prefix(1000)) \(r.stdout.prefix(500))")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: r.stdoutData)
        } catch {
            throw LabError("dnsaudit \(shown) printed no parseable JSON (\(error)): \(r.stdout.prefix(800)) \(r.stderr.prefix(500))")
        }
        guard let o = parsed as? [String: Any] else { throw LabError("dnsaudit \(shown): the report is not a JSON object") }
        return DNSAuditReport(status: r.status, stderr: r.stderr, raw: r.stdout, report: o)
    }
}
