import Findings

/// `--format sarif`: SARIF 2.1.0 for CI dashboards and code-scanning tools.
///
/// One run; one rule per finding kind present (`shortDescription` says what the kind means);
/// one result per finding: `ruleId` = kind, `level` from the severity (critical/high → error,
/// medium → warning, low/info → note), `message.text` = title, `partialFingerprints` with the
/// finding's stable id, `properties` with severity, confidence, subject, evidence and remediation.
/// Locations are logical (the resolver, server, name or firewall rule the finding is about), plus
/// the capture or ruleset file as an `artifactLocation` when the evidence names one.
public enum SARIFReportRenderer {
    public static let schemaURI = "https://json.schemastore.org/sarif-2.1.0.json"

    public static func render(_ report: Report, pretty: Bool = false) -> String {
        let findings = report.sortedFindings
        var kinds: [String] = []
        for f in findings where !kinds.contains(f.kindName) { kinds.append(f.kindName) }
        kinds.sort()

        var w = JSONWriter(reserving: 8192)
        w.object { w in
            w.field("$schema", schemaURI)
            w.field("version", "2.1.0")
            w.key("runs"); w.array { w in
                w.object { w in
                    w.key("tool"); w.object { w in
                        w.key("driver"); w.object { w in
                            w.field("name", "dnsaudit")
                            w.field("version", report.toolVersion)
                            w.field("semanticVersion", report.toolVersion)
                            w.key("rules"); w.array { w in
                                for k in kinds { writeRule(k, findings.filter { $0.kindName == k }, &w) }
                            }
                        }
                    }
                    w.key("invocations"); w.array { w in
                        w.object { w in
                            w.field("executionSuccessful", true)
                            if RFC3339.epochSeconds(report.generatedAt) != nil { w.field("endTimeUtc", report.generatedAt) }
                            if !report.notes.isEmpty {
                                w.key("toolExecutionNotifications"); w.array { w in
                                    for n in report.notes {
                                        w.object { w in
                                            w.key("message"); w.object { w in w.field("text", n.isEmpty ? "(empty note)" : n) }
                                            w.field("level", "note")
                                        }
                                    }
                                }
                            }
                        }
                    }
                    let files = artifactFiles(report)
                    if !files.isEmpty {
                        w.key("artifacts"); w.array { w in
                            for f in files {
                                w.object { w in
                                    w.key("location"); w.object { w in w.field("uri", uri(forPath: f)) }
                                    let kind = report.inputs.first { $0.name == f }?.kind
                                    if kind == "capture" { w.field("mimeType", "application/vnd.tcpdump.pcap") }
                                    w.field("roles", strings: ["analysisTarget"])
                                }
                            }
                        }
                    }
                    w.key("results"); w.array { w in
                        for f in findings { writeResult(f, ruleIndex: kinds.firstIndex(of: f.kindName) ?? 0, files: files, report, &w) }
                    }
                    w.key("properties"); w.object { w in
                        w.field("schema", Report.schema)
                        w.field("generated_at", report.generatedAt)
                        w.key("summary"); JSONReportRenderer.writeSummary(report, &w)
                    }
                }
            }
        }
        return pretty ? JSONReportRenderer.prettyPrint(w.output) : w.output
    }

    static func writeRule(_ kind: String, _ findings: [Finding], _ w: inout JSONWriter) {
        let worst = findings.map(\.severity).max() ?? .info
        w.object { w in
            w.field("id", kind)
            w.field("name", ruleName(kind))
            w.key("shortDescription"); w.object { w in w.field("text", ReportText.describe(kind: kind)) }
            w.key("fullDescription"); w.object { w in w.field("text", ReportText.describe(kind: kind)) }
            if let r = findings.first?.remediation, !r.isEmpty {
                w.key("help"); w.object { w in w.field("text", r) }
            }
            w.key("defaultConfiguration"); w.object { w in w.field("level", worst.sarifLevel) }
            w.key("properties"); w.object { w in
                w.field("tags", strings: ["security", String(kind.split(separator: ".").first ?? "dnsaudit")])
                w.field("security-severity", worst.securitySeverity)
            }
        }
    }

    /// `dns.answer-mismatch` → `DnsAnswerMismatch` (SARIF's rule `name` is an identifier-like string).
    static func ruleName(_ kind: String) -> String {
        var out = ""
        var upper = true
        for c in kind {
            if c.isLetter || c.isNumber {
                out += upper ? c.uppercased() : String(c)
                upper = false
            } else {
                upper = true
            }
        }
        return out.isEmpty ? "Finding" : out
    }

    static func artifactFiles(_ report: Report) -> [String] {
        var files: [String] = []
        for f in report.sortedFindings {
            for e in f.evidence {
                if let file = ReportText.evidenceFile(e, report), !files.contains(file) { files.append(file) }
            }
        }
        return files
    }

    /// The main thing a finding is about, as a logical location: a firewall rule, else the
    /// resolver or server, else the name asked.
    static func logicalLocation(_ f: Finding) -> (name: String, fqn: String, kind: String)? {
        let all = f.subject.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        if let chain = f.subjectValue("chain") {
            var fqn = [f.subjectValue("family"), f.subjectValue("table"), Optional(chain)].compactMap { $0?.description }.joined(separator: "/")
            if let h = f.subjectValue("handle") { fqn += "#\(h)" }
            return ("rule " + fqn, fqn.isEmpty ? all : fqn, "member")
        }
        for key in ["resolver", "server", "target", "qname", "sni", "client"] {
            if let v = f.subjectValue(key) { return ("\(key) \(v)", all, "resource") }
        }
        guard let first = f.subject.first else { return nil }
        return ("\(first.0) \(first.1)", all, "resource")
    }

    static func writeResult(_ f: Finding, ruleIndex: Int, files: [String], _ report: Report, _ w: inout JSONWriter) {
        w.object { w in
            w.field("ruleId", f.kindName)
            w.field("ruleIndex", ruleIndex)
            w.field("level", f.severity.sarifLevel)
            w.key("message"); w.object { w in w.field("text", f.title.isEmpty ? f.kindName : f.title) }
            let logical = logicalLocation(f)
            var fileFrames: [(String, [UInt64])] = []
            for e in f.evidence {
                guard let file = ReportText.evidenceFile(e, report) else { continue }
                if let i = fileFrames.firstIndex(where: { $0.0 == file }) {
                    for fr in e.frames where !fileFrames[i].1.contains(fr) { fileFrames[i].1.append(fr) }
                } else {
                    fileFrames.append((file, e.frames))
                }
            }
            func writeLogical(_ w: inout JSONWriter) {
                guard let l = logical else { return }
                w.key("logicalLocations"); w.array { w in
                    w.object { w in
                        w.field("name", l.name)
                        w.field("fullyQualifiedName", l.fqn)
                        w.field("kind", l.kind)
                    }
                }
            }
            if !fileFrames.isEmpty || logical != nil {
                w.key("locations"); w.array { w in
                    if fileFrames.isEmpty {
                        w.object { w in writeLogical(&w) }
                    }
                    for (file, frames) in fileFrames {
                        w.object { w in
                            w.key("physicalLocation"); w.object { w in
                                w.key("artifactLocation"); w.object { w in
                                    w.field("uri", uri(forPath: file))
                                    if let i = files.firstIndex(of: file) { w.field("index", i) }
                                }
                            }
                            writeLogical(&w)
                            if !frames.isEmpty {
                                w.key("properties"); w.object { w in w.field("frames", ints: frames.sorted()) }
                            }
                        }
                    }
                }
            }
            w.key("partialFingerprints"); w.object { w in w.field("dnsauditFindingId/v1", f.id) }
            w.key("properties"); w.object { w in
                w.field("id", f.id)
                w.field("severity", f.severity.rawValue)
                w.field("confidence", f.confidence.rawValue)
                w.key("subject"); w.object { w in
                    for (k, v) in f.subject { w.key(k); JSONReportRenderer.writeValue(v, &w) }
                }
                w.key("evidence"); JSONReportRenderer.writeEvidence(f.evidence, &w)
                w.field("remediation", f.remediation)
                w.field("security-severity", f.severity.securitySeverity)
            }
        }
    }

    /// A URI reference for a file path: relative paths stay relative, absolute ones become
    /// `file://` URIs; everything outside RFC 3986's unreserved set and `/` is percent-encoded.
    public static func uri(forPath path: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var out = path.hasPrefix("/") ? "file://" : ""
        for b in path.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.append(Character(Unicode.Scalar(b)))
            default:
                out.append("%")
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0f)])
            }
        }
        return out
    }
}
