import Findings

/// When a finding's event happened (ECS `@timestamp`, EVE `timestamp`), as RFC 3339 UTC:
/// 1. an evidence fact `time` (RFC 3339) — the packet's or the probe's own time, when the detector
///    stamped it;
/// 2. for capture evidence without one, the window its input covers: `start` = the input's
///    `first_packet`, `end` = its `last_packet` (`@timestamp` = start: the event happened inside
///    that window, never after the report);
/// 3. otherwise (a ruleset read, a probe) the run's time, `generated_at`.
struct EventTime {
    var timestamp: String
    var start: String?
    var end: String?
    /// Whether `timestamp` is the event's own time (1) rather than a window or the run's time.
    var exact: Bool

    static func of(_ f: Finding, _ report: Report) -> EventTime {
        for e in f.evidence {
            for (k, v) in e.facts where k == "time" {
                if case .string(let s) = v, RFC3339.epochSeconds(s) != nil { return EventTime(timestamp: s, exact: true) }
            }
        }
        for e in f.evidence where e.source == .capture {
            let candidates = report.inputs.filter { $0.kind == "capture" || $0.kind == "live" }
            let input = candidates.first { $0.name == e.input } ?? (candidates.count == 1 ? candidates.first : nil)
            guard let input else { continue }
            func fact(_ key: String) -> String? {
                for (k, v) in input.facts where k == key { if case .string(let s) = v { return s } }
                return nil
            }
            if let first = fact("first_packet") {
                return EventTime(timestamp: first, start: first, end: fact("last_packet"), exact: false)
            }
        }
        return EventTime(timestamp: report.generatedAt, exact: false)
    }
}
