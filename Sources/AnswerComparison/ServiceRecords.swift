import DNSWire

// HTTPS / SVCB records (RFC 9460) compared between the path and the references (issue 20 item 4).
// What matters for a browser: whether the record is there at all, and its `ech` (the Encrypted
// Client Hello configuration), `alpn`, `port`, `ipv4hint` / `ipv6hint` and target name. A path
// that removes `ech=` (or the whole record while the references have it) switches ECH off for
// every client behind it; one that changes the other parameters steers clients elsewhere.
//
// Consistent when the path's records match at least one reference in each parameter (hints:
// overlap, or a shared /24 or /48 as for addresses; ECH configurations must be byte-equal to one
// reference's, since servers publish one at a time). References that disagree with each other
// about whether a record (or `ech`) exists are not judged.

/// One HTTPS or SVCB record, reduced to its parameters.
public struct ServiceRecord: Sendable, Equatable {
    public var priority: UInt16
    public var target: String
    public var params: [DNSSVCParam]

    public init(priority: UInt16, target: String, params: [DNSSVCParam]) {
        self.priority = priority
        self.target = target
        self.params = params
    }

    public var ech: [UInt8]? {
        for p in params { if case .ech(let b) = p { return b } }
        return nil
    }
    public var alpn: [String] {
        for p in params { if case .alpn(let ids) = p { return ids.map { String(decoding: $0, as: UTF8.self) } } }
        return []
    }
    public var port: UInt16? {
        for p in params { if case .port(let v) = p { return v } }
        return nil
    }
    public var hints: [String] {
        var out: [String] = []
        for p in params {
            switch p {
            case .ipv4hint(let a): out += a.map(\.description)
            case .ipv6hint(let a): out += a.map(\.description)
            default: continue
            }
        }
        return out
    }
    /// Presentation form: `1 . alpn=h2,h3 ech=AEX…` (ECH shortened to its first 16 base64 characters).
    public var summary: String {
        let t = target.isEmpty ? "." : target
        let ps = params.map { p -> String in
            let s = p.presentation
            if case .ech = p, s.count > 24 { return String(s.prefix(20)) + "…" }
            return s
        }
        return ([String(priority), t] + ps).joined(separator: " ")
    }
}

/// The verdict on one HTTPS/SVCB question.
public struct ServiceComparisonResult: Sendable, Equatable {
    public var verdict: AnswerComparisonResult.Verdict
    /// Consistent: `both-no-record`, `match`. Inconsistent: `ech-stripped`, `record-stripped`
    /// (both mean ECH or the record is gone), `ech-changed`, `alpn-rewritten`, `port-rewritten`,
    /// `hint-rewritten`, `hint-stripped`, `target-rewritten`, `record-added`, `blocked-servfail`,
    /// `blocked-refused`. Not judged: `references-disagree`, `no-reference`.
    public var reason: String
    public var certainty: AnswerComparisonResult.Certainty
    /// Every parameter that differs (the first is `reason`), e.g. `alpn h2 (references h2,h3)`.
    public var differences: [String]
    /// How many references answered with a record, and whether any of them carries `ech`.
    public var referencesWithRecord: Int
    public var referencesAnswered: Int
    public var referencesHaveECH: Bool
    /// The references' records (summaries, deduplicated, sorted).
    public var referenceRecords: [String]

    public var isInconsistent: Bool { verdict == .inconsistent }
    /// `ech-stripped` and `record-stripped`: ECH (or the whole record) removed on the path.
    public var isStripped: Bool { reason == "ech-stripped" || reason == "record-stripped" }
}

public enum ServiceRecordComparator {
    /// Compares the path's HTTPS/SVCB answer with the references' (nil = that reference was unavailable).
    public static func compare(path: AnswerSet, references: [AnswerSet?]) -> ServiceComparisonResult {
        let refs = references.compactMap { $0 }
        let decisive = refs.filter { $0.rcode == 0 || $0.rcode == 3 }
        let withRecord = decisive.filter { !$0.services.isEmpty }
        let withECH = withRecord.filter { $0.services.contains { $0.ech != nil } }
        let refRecords = Array(Set(withRecord.flatMap { $0.services.map(\.summary) })).sorted()
        let certainty: AnswerComparisonResult.Certainty = withRecord.count >= 2 ? .likely : .possible
        func result(_ v: AnswerComparisonResult.Verdict, _ reason: String, _ c: AnswerComparisonResult.Certainty, _ diffs: [String] = []) -> ServiceComparisonResult {
            ServiceComparisonResult(verdict: v, reason: reason, certainty: c, differences: diffs.isEmpty && v == .inconsistent ? [reason] : diffs,
                                    referencesWithRecord: withRecord.count, referencesAnswered: refs.count,
                                    referencesHaveECH: !withECH.isEmpty, referenceRecords: refRecords)
        }
        guard !refs.isEmpty else { return result(.noReference, "no-reference", .possible) }
        guard !decisive.isEmpty else { return result(.noReference, "references-failed", .possible) }
        let pathRecords = path.rcode == 0 ? path.services : []

        if withRecord.isEmpty {
            if pathRecords.isEmpty { return result(.consistent, "both-no-record", certainty) }
            return result(.inconsistent, "record-added", .possible,
                          ["record-added: the path answers \(pathRecords.map(\.summary).joined(separator: " | ")); the references have no HTTPS/SVCB record"])
        }
        // References that disagree about whether the record exists, or carries ECH: not judged.
        let disagree = withRecord.count < decisive.count || (!withECH.isEmpty && withECH.count < withRecord.count)
        if pathRecords.isEmpty {
            if path.rcode == 2 || path.rcode == 5 {
                return result(.inconsistent, path.rcode == 2 ? "blocked-servfail" : "blocked-refused", .possible)
            }
            if disagree { return result(.referencesDisagree, "references-disagree", .possible) }
            return result(.inconsistent, "record-stripped", certainty,
                          ["record-stripped: the path answers \(path.rcode == 3 ? "NXDOMAIN" : "no HTTPS/SVCB record"); the references answer \(refRecords.prefix(3).joined(separator: " | "))"])
        }
        var diffs: [String] = []
        let pathECH = pathRecords.compactMap(\.ech)
        if !withECH.isEmpty && pathECH.isEmpty {
            if disagree { return result(.referencesDisagree, "references-disagree", .possible) }
            diffs.append("ech-stripped: the path's record has no ech= (the references publish an ECH configuration)")
        } else if !pathECH.isEmpty {
            let refECH = Set(withECH.flatMap { $0.services.compactMap(\.ech) })
            if refECH.isEmpty {
                diffs.append("ech-added: the path's record carries ech= that no reference publishes")
            } else if !pathECH.allSatisfy(refECH.contains) {
                diffs.append("ech-changed: the path's ECH configuration differs from every reference's")
            }
        }
        func anyRef(_ same: (AnswerSet) -> Bool) -> Bool { withRecord.contains(where: same) }
        let pathALPN = Set(pathRecords.flatMap(\.alpn))
        if !anyRef({ Set($0.services.flatMap(\.alpn)) == pathALPN }) {
            diffs.append("alpn-rewritten: the path says alpn \(show(pathALPN)) (references: \(withRecord.map { show(Set($0.services.flatMap(\.alpn))) }.joined(separator: " / ")))")
        }
        let pathPorts = Set(pathRecords.compactMap(\.port))
        if !anyRef({ Set($0.services.compactMap(\.port)) == pathPorts }) {
            diffs.append("port-rewritten: the path says port \(show(Set(pathPorts.map(String.init))))"
                + " (references: \(withRecord.map { show(Set($0.services.compactMap(\.port).map(String.init))) }.joined(separator: " / ")))")
        }
        let pathTargets = Set(pathRecords.map { $0.target.lowercased() })
        if !anyRef({ Set($0.services.map { $0.target.lowercased() }) == pathTargets }) {
            diffs.append("target-rewritten: the path's target is \(show(pathTargets)) (references: \(withRecord.map { show(Set($0.services.map { $0.target.lowercased() })) }.joined(separator: " / ")))")
        }
        let pathHints = Set(pathRecords.flatMap(\.hints).map(AnswerComparator.normalize))
        let refHints = Set(withRecord.flatMap { $0.services.flatMap(\.hints) }.map(AnswerComparator.normalize))
        if !refHints.isEmpty && pathHints.isEmpty {
            diffs.append("hint-stripped: the path's record has no ipv4hint/ipv6hint (references: \(show(refHints)))")
        } else if !pathHints.isEmpty && pathHints.isDisjoint(with: refHints) {
            let refPrefixes = Set(refHints.compactMap(AnswerComparator.prefixKey))
            if !pathHints.contains(where: { AnswerComparator.prefixKey($0).map(refPrefixes.contains) ?? false }) {
                diffs.append("hint-rewritten: the path's hints \(show(pathHints)) share nothing with the references' \(show(refHints))")
            }
        }
        guard let first = diffs.first else { return result(.consistent, "match", certainty) }
        let reason = String(first.prefix { $0 != ":" })
        // ECH configurations rotate: a different one alone is a weak signal.
        let c: AnswerComparisonResult.Certainty = reason == "ech-changed" || reason == "ech-added" ? .possible : certainty
        return result(.inconsistent, reason, c, diffs)
    }

    static func show(_ s: Set<String>) -> String {
        s.isEmpty ? "(none)" : s.sorted().joined(separator: ",")
    }
}
