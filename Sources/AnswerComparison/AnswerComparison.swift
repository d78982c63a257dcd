import DNSWire

// The comparison engine: is the answer the local path gave for (qname, qtype) consistent with
// what trusted references (DoH / DoT) answer? After OONI's web_connectivity DNS analysis and Iris:
//
// Consistent (no finding) when
//   - both sides say NXDOMAIN (`both-nxdomain`), or both say "no addresses" (`both-empty`);
//   - the address sets overlap with at least one reference (`overlap`);
//   - an address shares its /24 (IPv4) or /48 (IPv6) with a reference address (`same-prefix`;
//     our offline stand-in for OONI's ASN overlap: CDNs hand out neighbouring addresses);
//   - the CNAME chains end in the same name (`cname-match`);
//   - (probe only, decided by the caller) a returned address completes a TLS handshake that
//     validates for the name (`tls-verified`, Iris's "independently verifiable").
// Inconsistent, with a `reason`:
//   - `bogon`: the path returned a non-routable address (RFC 6890: 0/8, 10/8, 127/8, 100.64/10,
//     169.254/16, 172.16/12, 192.168/16, 198.18/15, documentation nets, multicast, 240/4, ::, ::1,
//     fc00::/7, fe80::/10, ff00::/8, 2001:db8::/32, …) that no reference returned. A sinkhole
//     address (0.0.0.0, ::, 127/8, ::1) is a bogon even when the references answer with private
//     addresses themselves (split-horizon or lab names);
//   - `nxdomain-rewrite`: the references say NXDOMAIN, the path returned public addresses (ad
//     servers of NXDOMAIN-rewriting ISPs) or reserved ones that no public name ever has
//     (documentation, benchmarking, "this network", link-local, multicast, 240/4…). Only private
//     addresses (RFC 1918, CGNAT 100.64/10, ULA fc00::/7) are tolerated there, as split-horizon
//     DNS, and the result says why (`tolerance`);
//   - `blocked-nxdomain`, `blocked-servfail`, `blocked-refused`: the path failed the name that the
//     references resolve;
//   - `blocked-nodata`: the path answered NOERROR without addresses, the references have some;
//   - `no-overlap`: routable addresses that share nothing with any reference.
// Confidence: `likely` when two or more references agree with each other, `possible` with one;
// when the references disagree with each other (different rcodes, or disjoint address sets for a
// `no-overlap` case: a geo-distributed name) the result is `referencesDisagree` and the caller
// lowers severity instead of raising a finding.

/// What one resolver answered for one (qname, qtype), reduced to what the comparison needs.
public struct AnswerSet: Sendable, Equatable {
    public var rcode: UInt16
    /// A / AAAA addresses (presentation format) for the queried name or the end of its CNAME chain.
    public var addresses: [String]
    /// CNAME targets in order, lowercased, with a trailing dot.
    public var cnames: [String]
    /// The AD bit of the response.
    public var authenticated: Bool
    /// HTTPS / SVCB records (RFC 9460) in the answer, in order: what `ServiceRecordComparator`
    /// compares for HTTPS/SVCB questions (empty for everything else).
    public var services: [ServiceRecord] = []

    public init(rcode: UInt16, addresses: [String], cnames: [String] = [], authenticated: Bool = false) {
        self.rcode = rcode
        self.addresses = addresses
        self.cnames = cnames
        self.authenticated = authenticated
    }

    /// From a parsed response: follows the CNAME chain from the question name.
    public init(message m: DNSMessage) {
        rcode = m.rcode
        authenticated = m.ad
        var current = (m.questions.first?.name ?? "").lowercased()
        var chain: [String] = []
        var guardCount = 0
        while guardCount < 16,
              let next = m.answers.first(where: { $0.name.lowercased() == current && $0.type == DNSType.cname }) {
            guardCount += 1
            if case .cname(let target) = next.rdata {
                current = target.lowercased()
                chain.append(current)
            } else { break }
        }
        var addrs: [String] = []
        for rr in m.answers {
            switch rr.rdata {
            case .a(let a): addrs.append(a.description)
            case .aaaa(let a): addrs.append(a.description)
            case .https(let p, let t, let params), .svcb(let p, let t, let params):
                services.append(ServiceRecord(priority: p, target: t, params: params))
            default: continue
            }
        }
        addresses = addrs
        cnames = chain
    }

    public var isNXDomain: Bool { rcode == 3 }
    public var isNoError: Bool { rcode == 0 }
    public var finalName: String? { cnames.last }
}

/// The verdict for one (qname, qtype).
public struct AnswerComparisonResult: Sendable, Equatable {
    public enum Verdict: String, Sendable {
        case consistent, inconsistent
        /// The references contradict each other: no finding, a note.
        case referencesDisagree = "references-disagree"
        /// No reference answered.
        case noReference = "no-reference"
    }
    public enum Certainty: String, Sendable { case likely, possible }

    public var verdict: Verdict
    /// `overlap`, `both-nxdomain`, … for consistent; `bogon`, `no-overlap`, … for inconsistent.
    public var reason: String
    public var certainty: Certainty
    /// Path addresses that are bogons.
    public var bogons: [String]
    /// Union of the references' addresses (sorted).
    public var referenceAddresses: [String]
    /// How many references answered.
    public var referencesAnswered: Int
    /// For a consistent result whose answer differs from the references': why it was tolerated
    /// (split-horizon, a sinkhole on both sides, a neighbouring CDN address…), for the notes.
    public var tolerance: String?

    public var isInconsistent: Bool { verdict == .inconsistent }

    public init(verdict: Verdict, reason: String, certainty: Certainty, bogons: [String], referenceAddresses: [String],
                referencesAnswered: Int) {
        self.verdict = verdict
        self.reason = reason
        self.certainty = certainty
        self.bogons = bogons
        self.referenceAddresses = referenceAddresses
        self.referencesAnswered = referencesAnswered
    }
}

public enum AnswerComparator {
    /// Compares the path's answer with the references' (nil = that reference was unavailable).
    /// `pathPassesPrivate`: the same resolver gave private or loopback addresses in other answers
    /// (of this capture or run), so a filter of private answers cannot explain an empty one.
    public static func compare(path: AnswerSet, references: [AnswerSet?], pathPassesPrivate: Bool = false) -> AnswerComparisonResult {
        let refs = references.compactMap { $0 }
        let refAddrs = Array(Set(refs.flatMap(\.addresses).map(normalize))).sorted()
        let pathAddrs = path.addresses.map(normalize)
        let bogons = pathAddrs.filter { Bogon.isBogon($0) }
        func result(_ v: AnswerComparisonResult.Verdict, _ r: String, _ c: AnswerComparisonResult.Certainty = .likely) -> AnswerComparisonResult {
            AnswerComparisonResult(verdict: v, reason: r, certainty: c, bogons: bogons, referenceAddresses: refAddrs, referencesAnswered: refs.count)
        }
        guard !refs.isEmpty else { return result(.noReference, "no-reference", .possible) }
        // Normalize reference outcomes: SERVFAIL/REFUSED from a reference is "no opinion".
        let decisive = refs.filter { $0.rcode == 0 || $0.rcode == 3 }
        guard !decisive.isEmpty else { return result(.noReference, "references-failed", .possible) }
        let refNX = decisive.filter(\.isNXDomain).count
        let refHasAddrs = decisive.filter { !$0.addresses.isEmpty }.count
        let agreeCount = decisive.count
        let certainty: AnswerComparisonResult.Certainty = agreeCount >= 2 ? .likely : .possible
        // References that contradict each other on existence.
        if refNX > 0 && refNX < decisive.count {
            if path.isNXDomain || !path.addresses.isEmpty { return result(.referencesDisagree, "rcode-disagree", .possible) }
        }
        let refSet = Set(refAddrs)

        // A resolver with rebinding protection (dnsmasq --stop-dns-rebind, unbound private-address)
        // refuses answers that point a public name at private or loopback addresses: when every
        // address the references give is such an address and the path gave none, that is the
        // resolver's filter, not tampering — unless the resolver passes private answers elsewhere.
        let pathGaveNone = pathAddrs.isEmpty && path.finalName == nil
        if pathGaveNone && !pathPassesPrivate && refHasAddrs > 0 && refNX == 0 && !refAddrs.isEmpty && refAddrs.allSatisfy(Bogon.isRebindingTarget) {
            var r = result(.consistent, "rebinding-protection", certainty)
            r.tolerance = "resolver filters private answers (rebinding protection): the references answer only private or loopback addresses "
                + "(\(refAddrs.prefix(3).joined(separator: ", "))) and the path answered \(path.rcode == 0 ? "no address" : "rcode \(path.rcode)")"
            return r
        }

        // Path NXDOMAIN / failures.
        if path.isNXDomain {
            if refNX == decisive.count { return result(.consistent, "both-nxdomain") }
            return refHasAddrs > 0 ? result(.inconsistent, "blocked-nxdomain", certainty) : result(.consistent, "no-addresses")
        }
        if path.rcode == 2 || path.rcode == 5 {
            if refHasAddrs > 0 { return result(.inconsistent, path.rcode == 2 ? "blocked-servfail" : "blocked-refused", certainty) }
            return result(.consistent, "no-addresses")
        }
        if path.rcode != 0 { return result(.consistent, "other-rcode", .possible) }

        // Path NOERROR.
        if pathAddrs.isEmpty {
            if refHasAddrs == 0 { return result(.consistent, "both-empty") }
            // The chain may legitimately end elsewhere (a CNAME-only answer); compare chains first.
            if let end = path.finalName, decisive.contains(where: { $0.finalName == end }) { return result(.consistent, "cname-match") }
            return result(.inconsistent, "blocked-nodata", .possible)
        }
        if refNX == decisive.count {
            // References: the name does not exist. Public or reserved addresses = rewriting; a
            // sinkhole = blocked on both sides; private ones only = split horizon.
            let rewritten = pathAddrs.filter { !Bogon.isBogon($0) || (!Bogon.isPrivate($0) && !Bogon.isSinkhole($0)) }
            if rewritten.isEmpty {
                if pathAddrs.contains(where: { Bogon.isSinkhole($0) }) {
                    var r = result(.consistent, "both-blocked", .possible)
                    r.tolerance = "both-blocked: the references say the name does not exist and the path sinkholes it (\(pathAddrs.prefix(3).joined(separator: ", ")))"
                    return r
                }
                var r = result(.consistent, "split-horizon", .possible)
                r.tolerance = "split-horizon: the references do not know the name and the path answered only private addresses "
                    + "(\(pathAddrs.prefix(3).joined(separator: ", ")); RFC 1918, CGNAT or ULA), as an internal zone does"
                return r
            }
            return result(.inconsistent, "nxdomain-rewrite", certainty)
        }
        if !refSet.isDisjoint(with: pathAddrs) { return result(.consistent, "overlap") }
        // Sinkholes and reserved addresses (documentation, benchmarking, multicast…) are bogons
        // unless a reference answered such an address too; private ones only when no reference has a bogon.
        let refHasBogon = refAddrs.contains { Bogon.isBogon($0) }
        let refHasReserved = refAddrs.contains { Bogon.isBogon($0) && !Bogon.isPrivate($0) }
        let reserved = pathAddrs.filter { Bogon.isBogon($0) && !Bogon.isPrivate($0) }
        if pathAddrs.contains(where: { Bogon.isSinkhole($0) }) || (!reserved.isEmpty && !refHasReserved) || (!bogons.isEmpty && !refHasBogon) {
            return result(.inconsistent, "bogon", refHasAddrs > 0 ? certainty : .possible)
        }
        if let end = path.finalName, decisive.contains(where: { $0.finalName == end }) { return result(.consistent, "cname-match") }
        let refPrefixes = Set(refAddrs.compactMap(prefixKey))
        if pathAddrs.contains(where: { prefixKey($0).map(refPrefixes.contains) ?? false }) {
            var r = result(.consistent, "same-prefix")
            r.tolerance = "same-prefix: \(pathAddrs.prefix(3).joined(separator: ", ")) shares a /24 (IPv4) or /48 (IPv6) with the references' \(refAddrs.prefix(3).joined(separator: ", ")), as a CDN's neighbouring servers do"
            return r
        }
        if refHasAddrs == 0 { return result(.inconsistent, "blocked-nodata-reference", .possible) }
        // References that answer with disjoint address sets: a geo-distributed name. Do not accuse.
        let withAddrs = decisive.filter { !$0.addresses.isEmpty }
        if withAddrs.count >= 2 {
            let sets = withAddrs.map { Set($0.addresses.map(normalize)) }
            var anyDisjoint = false
            for i in 0..<sets.count { for j in (i + 1)..<sets.count where sets[i].isDisjoint(with: sets[j]) { anyDisjoint = true } }
            if anyDisjoint { return result(.referencesDisagree, "no-overlap", .possible) }
        }
        return result(.inconsistent, "no-overlap", certainty)
    }

    /// A /24 (IPv4) or /48 (IPv6) prefix key, for the CDN neighbourhood rule.
    static func prefixKey(_ a: String) -> String? {
        if let v4 = DNSIPv4Address(a) { return "4:" + String(v4.value >> 8) }
        if let v6 = DNSIPv6Address(a) { return "6:" + String(v6.high >> 16) }
        return nil
    }

    static func normalize(_ a: String) -> String {
        if let v4 = DNSIPv4Address(a) { return v4.description }
        if let v6 = DNSIPv6Address(a) { return v6.description }
        return a.lowercased()
    }
}

/// Non-routable addresses (RFC 6890 special-purpose registries, as OONI's bogon list).
public enum Bogon {
    static let v4: [(UInt32, Int)] = [
        (0x0000_0000, 8), (0x0A00_0000, 8), (0x6440_0000, 10), (0x7F00_0000, 8), (0xA9FE_0000, 16),
        (0xAC10_0000, 12), (0xC000_0000, 24), (0xC000_0200, 24), (0xC0A8_0000, 16), (0xC612_0000, 15),
        (0xC633_6400, 24), (0xCB00_7100, 24), (0xE000_0000, 4), (0xF000_0000, 4),
    ]
    // (high 64 bits prefix, length) — all these prefixes are at most 64 bits long, except ::, ::1, ::ffff:0:0/96.
    static let v6: [(UInt64, Int)] = [
        (0xFC00_0000_0000_0000, 7), (0xFE80_0000_0000_0000, 10), (0xFF00_0000_0000_0000, 8),
        (0x2001_0DB8_0000_0000, 32), (0x0100_0000_0000_0000, 64),
    ]

    /// True for an address no public name should resolve to.
    public static func isBogon(_ text: String) -> Bool {
        if let a = DNSIPv4Address(text) {
            return v4.contains { net, len in a.value >> UInt32(32 - len) == net >> UInt32(32 - len) }
        }
        if let a = DNSIPv6Address(text) {
            if a.high == 0 && (a.low == 0 || a.low == 1) { return true }
            if a.high == 0 && a.low >> 32 == 0xFFFF {  // IPv4-mapped
                return isBogon(DNSIPv4Address(value: UInt32(truncatingIfNeeded: a.low)).description)
            }
            return v6.contains { net, len in a.high >> UInt64(64 - len) == net >> UInt64(64 - len) }
        }
        return false
    }

    /// Private addresses a split-horizon (internal) zone plausibly answers: RFC 1918, CGNAT
    /// 100.64/10 (RFC 6598), ULA fc00::/7.
    public static func isPrivate(_ text: String) -> Bool {
        if let a = DNSIPv4Address(text) {
            let v = a.value
            return v >> 24 == 10 || v >> 20 == 0xAC1 || v >> 16 == 0xC0A8 || v >> 22 == 0x191  // 100.64/10
        }
        if let a = DNSIPv6Address(text) { return a.high >> 57 == 0x7E }  // fc00::/7
        return false
    }

    /// The addresses rebinding protection filters out of public answers (dnsmasq
    /// `--stop-dns-rebind`, unbound `private-address`): RFC 1918, CGNAT, ULA, loopback, "this
    /// network", link-local (169.254/16, fe80::/10), ::.
    public static func isRebindingTarget(_ text: String) -> Bool {
        if isPrivate(text) || isSinkhole(text) { return true }
        if let a = DNSIPv4Address(text) { return a.value >> 16 == 0xA9FE }
        if let a = DNSIPv6Address(text) { return a.high >> 54 == 0x3FA }  // fe80::/10
        return false
    }

    /// The addresses blockers answer with: 0.0.0.0/8, 127/8, ::, ::1.
    public static func isSinkhole(_ text: String) -> Bool {
        if let a = DNSIPv4Address(text) { return a.value >> 24 == 0 || a.value >> 24 == 127 }
        if let a = DNSIPv6Address(text) { return a.high == 0 && (a.low == 0 || a.low == 1) }
        return false
    }
}
