import Findings

/// The HTML report's inline SVG pictures (no scripts, no external assets): a timeline for each
/// race (`dns.injection`) or reset finding, and a path sketch for confirmed findings. Every text
/// is HTML-escaped; the pictures are drawn only from the finding's own evidence facts.
enum HTMLPictures {
    static func esc(_ s: String) -> String { HTMLReportRenderer.esc(s) }

    static func fact(_ e: Evidence, _ key: String) -> SubjectValue? { e.facts.first { $0.0 == key }?.1 }
    static func int(_ e: Evidence, _ key: String) -> Int? {
        switch fact(e, key) {
        case .int(let i)?: return i
        case .string(let s)?: return Int(s)
        case nil: return nil
        }
    }
    static func str(_ e: Evidence, _ key: String) -> String? { fact(e, key)?.description }

    static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

    /// "2.1 ms", "1.25 s", "850 µs".
    static func duration(ns: Int) -> String {
        let a = abs(ns)
        if a >= 1_000_000_000 { return String(format1(Double(ns) / 1e9, 2)) + " s" }
        if a >= 1_000_000 { return String(format1(Double(ns) / 1e6, 1)) + " ms" }
        if a >= 1_000 { return String(ns / 1_000) + " µs" }
        return String(ns) + " ns"
    }

    /// A fixed-point decimal without Foundation.
    static func format1(_ v: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (v * scale).rounded()
        guard r.isFinite, abs(r) < 1e15 else { return String(v) }
        let n = Int64(r)
        let sign = n < 0 ? "-" : ""
        let m = abs(n), s = Int64(scale)
        var frac = String(m % s)
        while frac.count < digits { frac = "0" + frac }
        return digits == 0 ? sign + String(m) : sign + String(m / s) + "." + frac
    }

    // MARK: Timelines

    struct Mark {
        var atNS: Int
        var label: String
        var sub: String
        var alarming: Bool
    }

    /// The timeline for a race or a reset, or nil when the evidence does not carry the times.
    static func timeline(_ f: Finding) -> String? {
        if let marks = raceMarks(f), !marks.marks.isEmpty {
            return draw(title: "Timeline: the query and each answer (time after the query)", origin: "query",
                        marks: marks.marks, reference: marks.usual)
        }
        if let marks = resetMarks(f), !marks.marks.isEmpty {
            return draw(title: "Timeline: the ClientHello and each reset (time after the ClientHello)", origin: "ClientHello",
                        marks: marks.marks, reference: nil, note: marks.note)
        }
        return nil
    }

    static func raceMarks(_ f: Finding) -> (marks: [Mark], usual: (ns: Int, label: String)?)? {
        var marks: [Mark] = []
        var usual: (ns: Int, label: String)?
        for e in f.evidence {
            guard let at = int(e, "arrival_after_query_ns") else { continue }
            let ttl = int(e, "ip_ttl"), usualTTL = int(e, "resolver_usual_ip_ttl")
            var sub = ttl.map { "IP TTL \($0)" } ?? ""
            if let u = usualTTL { sub += " (usual \(u))" }
            let alarming = str(e, "suspicious") != nil || (ttl != nil && usualTTL != nil && ttl != usualTTL)
            marks.append(Mark(atNS: at, label: clip(str(e, "answers") ?? str(e, "rcode") ?? "answer", 34), sub: sub, alarming: alarming))
            if let rtt = int(e, "resolver_median_rtt_ns") { usual = (ns: rtt, label: "resolver's usual RTT \(duration(ns: rtt))") }
        }
        if marks.isEmpty { return nil }
        return (marks: marks, usual: usual)
    }

    /// Reset delays are in the detail text ("RST from the server's address 1.2 ms after the
    /// ClientHello, IP TTL 64, …"), one per reset in order; TTLs in the facts.
    static func resetMarks(_ f: Finding) -> (marks: [Mark], note: String?)? {
        for e in f.evidence where int(e, "reset1_ip_ttl") != nil {
            let delays = delaysInDetail(e.detail)
            let synack = int(e, "server_synack_ip_ttl")
            var marks: [Mark] = []
            var n = 1
            while let ttl = int(e, "reset\(n)_ip_ttl") {
                let from = str(e, "reset\(n)_from") ?? "?"
                var sub = "IP TTL \(ttl)"
                if let s = synack { sub += " (SYN-ACK \(s))" }
                let injected = str(e, "reset\(n)_injected") != nil || (synack != nil && from == "server" && synack != ttl)
                let at = n - 1 < delays.count ? delays[n - 1] : nil
                marks.append(Mark(atNS: at ?? 0, label: "RST from the \(from)" + (at == nil ? " (time not recorded)" : ""), sub: sub, alarming: injected))
                n += 1
            }
            return (marks, synack.map { "the server's SYN-ACK came with IP TTL \($0)" })
        }
        return nil
    }

    /// "… 1.2 ms after the ClientHello …" / "… 0.3 ms before the ClientHello arrived …" → ns.
    static func delaysInDetail(_ detail: String) -> [Int] {
        var out: [Int] = []
        let words = detail.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var i = 0
        while i + 3 < words.count {
            if words[i + 1] == "ms", (words[i + 2] == "after" || words[i + 2] == "before"), words[i + 3] == "the",
               i + 4 < words.count, words[i + 4].hasPrefix("ClientHello"), let v = Double(words[i]) {
                out.append(Int((v * 1_000_000).rounded()) * (words[i + 2] == "before" ? -1 : 1))
            }
            i += 1
        }
        return out
    }

    static func draw(title: String, origin: String, marks: [Mark], reference: (ns: Int, label: String)?, note: String? = nil) -> String {
        let width = 760.0, left = 70.0, right = 40.0
        let rows = marks.count
        let height = 100.0 + Double(rows) * 34.0
        let axisY = 50.0
        let maxNS = max(1, marks.map(\.atNS).max() ?? 1, reference?.ns ?? 0)
        let minNS = min(0, marks.map(\.atNS).min() ?? 0)
        let span = Double(maxNS - minNS) * 1.1
        func x(_ ns: Int) -> Double { left + (Double(ns - minNS) / span) * (width - left - right) }
        var s = "<figure class=\"pic\"><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        s += "<title>\(esc(title))</title>"
        s += "<line x1=\"\(left)\" y1=\"\(axisY)\" x2=\"\(width - right + 20)\" y2=\"\(axisY)\" class=\"axis\"/>"
        // Ticks: 0 and max.
        for ns in [0, maxNS] {
            s += "<line x1=\"\(x(ns))\" y1=\"\(axisY - 4)\" x2=\"\(x(ns))\" y2=\"\(axisY + 4)\" class=\"axis\"/>"
            s += "<text x=\"\(x(ns))\" y=\"\(axisY - 10)\" text-anchor=\"middle\" class=\"tick\">\(esc(ns == 0 ? "0" : duration(ns: ns)))</text>"
        }
        s += "<circle cx=\"\(x(0))\" cy=\"\(axisY)\" r=\"6\" class=\"origin\"/>"
        s += "<text x=\"\(x(0) - 10)\" y=\"\(axisY + 4)\" text-anchor=\"end\" class=\"lbl\">\(esc(origin))</text>"
        if let r = reference {
            s += "<line x1=\"\(x(r.ns))\" y1=\"\(axisY - 18)\" x2=\"\(x(r.ns))\" y2=\"\(height - 8)\" class=\"usual\"/>"
            let end = x(r.ns) > width * 0.6
            s += "<text x=\"\(end ? x(r.ns) - 4 : x(r.ns) + 4)\" y=\"\(height - 10)\" text-anchor=\"\(end ? "end" : "start")\" class=\"tick\">\(esc(r.label))</text>"
        }
        for (i, m) in marks.enumerated() {
            let y = axisY + 30 + Double(i) * 34
            let cls = m.alarming ? "bad" : "good"
            s += "<line x1=\"\(x(m.atNS))\" y1=\"\(axisY)\" x2=\"\(x(m.atNS))\" y2=\"\(y - 4)\" class=\"stem \(cls)\"/>"
            s += "<circle cx=\"\(x(m.atNS))\" cy=\"\(axisY)\" r=\"5\" class=\"\(cls)\"/>"
            let anchorRight = x(m.atNS) > width * 0.6
            let tx = anchorRight ? x(m.atNS) - 6 : x(m.atNS) + 6
            let anchor = anchorRight ? "end" : "start"
            s += "<text x=\"\(tx)\" y=\"\(y + 4)\" text-anchor=\"\(anchor)\" class=\"lbl \(cls)\">\(esc(duration(ns: m.atNS) + " · " + m.label))</text>"
            if !m.sub.isEmpty {
                s += "<text x=\"\(tx)\" y=\"\(y + 18)\" text-anchor=\"\(anchor)\" class=\"sub \(cls)\">\(esc(m.sub + (m.alarming ? " — marked" : "")))</text>"
            }
        }
        s += "</svg>"
        s += "<figcaption>\(esc(title))" + (note.map { "; " + esc($0) } ?? "") + ". Red: the packet's IP TTL or timing does not fit the resolver's or server's own packets.</figcaption></figure>\n"
        return s
    }

    // MARK: Path sketch

    /// Client → the rule that diverts → the answering server, beside what the references say; for a
    /// confirmed finding (its own subject and the findings it names in `related`).
    static func pathSketch(_ f: Finding, _ report: Report) -> String? {
        guard f.confidence == .confirmed else { return nil }
        let related = report.findings.filter { f.related.contains($0.id) }
        let all = [f] + related
        func subject(_ key: String) -> String? {
            for g in all { if let v = g.subjectValue(key)?.description, !v.isEmpty { return v } }
            return nil
        }
        guard let rule = all.first(where: { $0.kindName.hasPrefix("firewall.") }) else { return nil }
        let client = subject("client") ?? "clients"
        let asked = all.first(where: { !$0.kindName.hasPrefix("firewall.") })?.subjectValue("resolver")?.description
        var ruleText = [rule.subjectValue("table"), rule.subjectValue("chain")].compactMap { $0?.description }.joined(separator: " / ")
        if let h = rule.subjectValue("handle") { ruleText += " #\(h)" }
        if ruleText.isEmpty { ruleText = rule.kindName }
        let target = rule.subjectValue("target")?.description ?? subject("server") ?? "?"
        let name = subject("qname")
        let refs = all.flatMap(\.evidence).first { $0.source == .reference }?.detail
        let answers = all.flatMap(\.evidence).compactMap { str($0, "answers") }.first

        let width = 760, height = refs == nil ? 150 : 200
        var s = "<figure class=\"pic\"><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\">"
        s += "<title>Path: client, diverting rule, answering server</title>"
        s += "<defs><marker id=\"arr-\(f.id)\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" class=\"arrowhead\"/></marker></defs>"
        func box(_ x: Int, _ y: Int, _ w: Int, _ title: String, _ lines: [String], _ cls: String) -> String {
            var b = "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(w)\" height=\"\(28 + 16 * lines.count)\" rx=\"6\" class=\"box \(cls)\"/>"
            b += "<text x=\"\(x + 10)\" y=\"\(y + 19)\" class=\"boxtitle\">\(esc(title))</text>"
            for (i, l) in lines.enumerated() {
                b += "<text x=\"\(x + 10)\" y=\"\(y + 37 + 16 * i)\" class=\"sub\">\(esc(clip(l, w / 7)))</text>"
            }
            return b
        }
        s += box(10, 20, 200, "Client", [client] + (name.map { ["asks for \($0)"] } ?? []) + (asked.map { ["sends it to \($0)"] } ?? []), "node")
        s += box(280, 20, 210, "Rule that diverts", [ruleText, rule.kindName], "rule")
        s += box(560, 20, 190, "Answering server", [target] + (answers.map { ["answers \($0)"] } ?? []), "bad")
        s += "<line x1=\"210\" y1=\"50\" x2=\"278\" y2=\"50\" class=\"flow\" marker-end=\"url(#arr-\(f.id))\"/>"
        s += "<line x1=\"490\" y1=\"50\" x2=\"558\" y2=\"50\" class=\"flow\" marker-end=\"url(#arr-\(f.id))\"/>"
        if let asked {
            s += "<text x=\"245\" y=\"118\" class=\"sub\">\(esc("meant for \(asked); the rule sends it to \(target)"))</text>"
        }
        if let refs {
            s += box(10, 135, 740, "What the references say", [refs], "good")
        }
        s += "</svg><figcaption>Path sketch of this confirmed finding: the client's traffic, the rule that diverts it, the server that answers"
            + (refs == nil ? "" : ", beside the trusted references' answer") + ".</figcaption></figure>\n"
        return s
    }

    static let css = """
    .pic{margin:.75rem 0;overflow-x:auto}.pic svg{max-width:100%;height:auto;background:#fff;border:1px solid #e5e7eb;border-radius:6px}
    .pic figcaption{color:#4b5563;font-size:.85rem}
    .pic .axis{stroke:#374151;stroke-width:1.5}.pic .usual{stroke:#6b7280;stroke-dasharray:4 3}
    .pic text{font:12px system-ui,sans-serif;fill:#111827}.pic .tick{fill:#4b5563;font-size:11px}
    .pic .origin{fill:#1d4ed8}.pic circle.good{fill:#15803d}.pic circle.bad{fill:#b91c1c}
    .pic .stem.good{stroke:#15803d}.pic .stem.bad{stroke:#b91c1c}.pic .stem{stroke-width:1.5}
    .pic text.bad{fill:#b91c1c}.pic text.good{fill:#166534}.pic .sub{font-size:11px}
    .pic .box{fill:#f9fafb;stroke:#6b7280}.pic .box.rule{fill:#fff7ed;stroke:#b45309}.pic .box.bad{fill:#fef2f2;stroke:#b91c1c}
    .pic .box.good{fill:#f0fdf4;stroke:#15803d}.pic .boxtitle{font-weight:700}
    .pic .flow{stroke:#b91c1c;stroke-width:2}.pic .arrowhead{fill:#b91c1c}
    """
}
