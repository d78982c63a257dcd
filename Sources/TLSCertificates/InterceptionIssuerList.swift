/// Case-insensitive substring patterns naming TLS interception products' CAs
/// (rules/tls-interception-issuers.txt).
public struct InterceptionIssuerList: Sendable {
    public private(set) var patterns: [String]
    private var folded: [String]

    /// One pattern per line; `#` starts a comment; blank lines are ignored.
    public init(text: String) {
        var p: [String] = []
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.trimmingCharacters(in: " \t")
            if !trimmed.isEmpty { p.append(trimmed) }
        }
        patterns = p
        folded = p.map { $0.lowercased() }
    }

    /// The first pattern that occurs in `name`, if any.
    public func match(_ name: String) -> String? {
        let n = name.lowercased()
        for (i, f) in folded.enumerated() where n.contains(f) { return patterns[i] }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}
