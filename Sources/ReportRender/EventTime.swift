import Findings
import NetTypes

/// When a finding's event happened (ECS `@timestamp`, EVE `timestamp`), as RFC 3339 UTC:
/// 1. the first evidence fact `time` — the packet's or the probe's own time, when the detector
///    stamped it: capture detectors write epoch `seconds.nanoseconds` (as the decode lines' `ts`),
///    written here as RFC 3339 UTC with nanoseconds; an RFC 3339 value is taken as it is;
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
                guard case .string(let s) = v else { continue }
                if let t = EventTime.epoch(s) { return EventTime(timestamp: t.rfc3339, exact: true) }
                if RFC3339.epochSeconds(s) != nil { return EventTime(timestamp: s, exact: true) }
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

    /// `seconds.nanoseconds` since the epoch ("1700000000.123456789"; 1–9 fraction digits, or none);
    /// nil for anything else.
    static func epoch(_ text: String) -> Timestamp? {
        let b = Array(text.utf8)
        var i = 0
        var seconds: Int64 = 0
        while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
            guard i < 12 else { return nil }
            seconds = seconds * 10 + Int64(b[i] - 0x30)
            i += 1
        }
        guard i > 0 else { return nil }
        var nanos: UInt32 = 0
        if i < b.count {
            guard b[i] == UInt8(ascii: "."), b.count - i - 1 >= 1, b.count - i - 1 <= 9 else { return nil }
            var scale: UInt32 = 100_000_000
            for c in b[(i + 1)...] {
                guard c >= 0x30 && c <= 0x39 else { return nil }
                nanos += UInt32(c - 0x30) * scale
                scale /= 10
            }
        }
        return Timestamp(seconds: seconds, nanoseconds: nanos)
    }
}
