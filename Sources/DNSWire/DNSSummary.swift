/// A fast, zero-copy, allocation-free summary of a DNS message for the analysis hot path.
///
/// It walks the header, the question section and the answer section only (that is what
/// matching and injection detection need). Its `wellFormed` agrees with `DNSMessage.parse` for
/// those sections: it is false exactly when parse reports a malformation (`isMalformation`) in
/// the question or answer section (forward compression pointers are accepted by both).
public struct DNSSummary: Sendable, Equatable, Hashable {
    public var id: UInt16
    public var flags: UInt16
    public var counts: DNSCounts
    /// Type and class of the first question (class without the mDNS QU bit); 0 when none.
    public var qtype: UInt16
    public var qclass: UInt16
    /// A 64-bit hash of the first question: its uncompressed wire name with ASCII letters
    /// lowercased (`hashName`), then type and class (big-endian, class without the QU bit). 0 when
    /// there is no question or it did not parse.
    public var questionHash: UInt64
    /// Order-independent digest of the answer section. Per RR, a 64-bit hash of the owner name,
    /// type, class (without the cache-flush bit) and canonical RDATA (embedded names expanded
    /// and lowercased; TTL excluded), mixed, then summed. Two responses with the same answers
    /// in any order, with any TTLs and any name compression have equal digests; the same RR
    /// twice counts twice. 0 when the answer section is empty.
    public var answerDigest: UInt64
    /// Number of answer RRs actually walked (≤ counts.an).
    public var answersParsed: UInt16
    /// False if anything in the header, question or answer section failed to parse.
    public var wellFormed: Bool
    /// False if the authority or additional section failed to parse: records out of bounds,
    /// bad names or RDATA, or an EDNS option whose length overruns the OPT record. (Kept apart
    /// from `wellFormed`, which must agree exactly with `parse` on the question and answer sections.)
    public var tailWellFormed: Bool = true

    /// Nothing in any section failed to parse.
    public var fullyWellFormed: Bool { wellFormed && tailWellFormed }

    public var qr: Bool { flags & 0x8000 != 0 }
    public var opcode: UInt8 { UInt8(truncatingIfNeeded: flags >> 11) & 0x0F }
    public var tc: Bool { flags & 0x0200 != 0 }
    public var rcode: UInt16 { flags & 0x000F }

    public init(id: UInt16, flags: UInt16, counts: DNSCounts, qtype: UInt16 = 0, qclass: UInt16 = 0,
                questionHash: UInt64 = 0, answerDigest: UInt64 = 0, answersParsed: UInt16 = 0, wellFormed: Bool = true) {
        self.id = id
        self.flags = flags
        self.counts = counts
        self.qtype = qtype
        self.qclass = qclass
        self.questionHash = questionHash
        self.answerDigest = answerDigest
        self.answersParsed = answersParsed
        self.wellFormed = wellFormed
    }

    /// Whether `summarize(bytes)` would give a query (a summary with `qr` false), read from the
    /// header alone: callers can start a query's bookkeeping before summarizing it.
    @inlinable
    public static func isQuery(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 12 && bytes[2] & 0x80 == 0
    }

    /// Summarize a message; nil when it is shorter than the 12-byte header. No heap allocation.
    ///
    /// Much of the cost is hashing, so the walk avoids hashing what it does not need to: the
    /// authority and additional sections are only validated, and an owner name that is a lone
    /// compression pointer to a name whose hash is already known (the question, an earlier
    /// owner, a CNAME target) reuses that hash.
    public static func summarize(_ bytes: UnsafeRawBufferPointer) -> DNSSummary? {
        let msg = bytes
        let n = msg.count
        guard n >= 12, let base = msg.baseAddress else { return nil }
        /// The byte at `i`; every caller has checked `i < n`.
        @inline(__always) func u8(_ i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }
        /// Big-endian 16 bits at `i`; every caller has checked `i + 1 < n`.
        @inline(__always) func be16(_ i: Int) -> UInt16 { UInt16(u8(i)) << 8 | UInt16(u8(i + 1)) }
        var s = DNSSummary(id: be16(0), flags: be16(2),
                           counts: DNSCounts(qd: be16(4), an: be16(6), ns: be16(8), ar: be16(10)))
        var pos = 12
        var known = NameHashCache()

        // Questions.
        var qi: UInt16 = 0
        while qi < s.counts.qd {
            var h = fnvOffset
            let scan = hashName(msg, start: pos, limit: n, &h)
            guard scan.end >= 0, n - scan.end >= 4 else {
                s.wellFormed = false
                return s
            }
            if scan.error != nil { s.wellFormed = false }
            let type = be16(scan.end)
            let cls = be16(scan.end + 2) & 0x7FFF
            if qi == 0 {
                s.qtype = type
                s.qclass = cls
                if scan.error == nil {
                    // A pointer to this name (one more hop) walks the same labels without error.
                    if scan.hops < DNSName.maxPointerHops { known.insert(pos, h) }
                    fnv16(&h, type)
                    fnv16(&h, cls)
                    s.questionHash = h
                }
            }
            pos = scan.end + 4
            qi += 1
        }

        // Answers.
        var digest: UInt64 = 0
        var ai: UInt16 = 0
        while ai < s.counts.an {
            var h: UInt64
            let p: Int  // just past the owner name
            let first: UInt8 = n - pos >= 2 ? u8(pos) : 0
            if first & 0xC0 == 0xC0, let cached = known.lookup(Int(first & 0x3F) << 8 | Int(u8(pos + 1))) {
                // `hashName` here would follow the pointer (hop 1; the cached walk used at most 126
                // more) and hash exactly the cached name's labels from `fnvOffset`, without error.
                h = cached
                p = pos + 2
            } else {
                h = fnvOffset
                let scan = hashName(msg, start: pos, limit: n, &h)
                guard scan.end >= 0 else {
                    s.wellFormed = false
                    break
                }
                if scan.error != nil {
                    s.wellFormed = false
                } else if first & 0xC0 == 0xC0 {
                    // The walk from the pointer's target is this walk less its first hop.
                    known.insert(Int(first & 0x3F) << 8 | Int(u8(pos + 1)), h)
                } else if scan.hops < DNSName.maxPointerHops {
                    known.insert(pos, h)
                }
                p = scan.end
            }
            guard n - p >= 10 else {
                s.wellFormed = false
                break
            }
            let type = be16(p)
            let cls = be16(p + 2) & 0x7FFF
            let rdlen = Int(be16(p + 8))
            let rdStart = p + 10
            guard n - rdStart >= rdlen else {
                s.wellFormed = false
                break
            }
            let rdEnd = rdStart + rdlen
            // An OPT pseudo-RR outside the additional section is a malformation (parse agrees).
            if type == DNSType.opt { s.wellFormed = false }
            fnv16(&h, type)
            fnv16(&h, cls)
            if type == DNSType.cname && !(rdlen == 0 && (cls == DNSClass.any || cls == DNSClass.none)) {
                // `checkRData` for CNAME, also hashing the target from `fnvOffset` (a second,
                // independent chain: nearly free) for the next owner, which usually points at it.
                var rr = h
                var target = fnvOffset
                let scan = hashName2(msg, start: rdStart, limit: rdEnd, &rr, &target)
                if scan.end == rdEnd {
                    h = rr
                    if scan.error != nil { s.wellFormed = false }
                } else {
                    fnvRange(&h, msg, rdStart, rdEnd)
                    s.wellFormed = false
                }
                if scan.error == nil && scan.hops < DNSName.maxPointerHops { known.insert(rdStart, target) }
                digest &+= mix64(h)
            } else if (type == DNSType.a && rdlen == 4) || (type == DNSType.aaaa && rdlen == 16) {
                // Well-formed; `checkRData` would fold exactly the raw RDATA.
                fnvRange(&h, msg, rdStart, rdEnd)
                digest &+= mix64(h)
            } else {
                if checkRData(type: type, rrclass: cls, msg, start: rdStart, end: rdEnd, &h) != .ok { s.wellFormed = false }
                digest &+= mix64(h)
            }
            pos = rdEnd
            ai += 1
        }
        s.answerDigest = digest
        s.answersParsed = ai
        if ai == s.counts.an {
            s.tailWellFormed = tailIsWellFormed(msg, from: pos, records: Int(s.counts.ns) + Int(s.counts.ar))
        }
        return s
    }

    /// Walks authority and additional records: bounds, names, RDATA, EDNS option framing.
    /// Validation only (nothing here is hashed).
    static func tailIsWellFormed(_ msg: UnsafeRawBufferPointer, from start: Int, records: Int) -> Bool {
        let n = msg.count
        var pos = start
        var i = 0
        while i < records {
            let scan = scanName(msg, start: pos, limit: n) { _, _ in }
            guard scan.end >= 0, scan.error == nil, n - scan.end >= 10 else { return false }
            let p = scan.end
            let type = UInt16(msg[p]) << 8 | UInt16(msg[p + 1])
            let cls = (UInt16(msg[p + 2]) << 8 | UInt16(msg[p + 3])) & 0x7FFF
            let rdlen = Int(UInt16(msg[p + 8]) << 8 | UInt16(msg[p + 9]))
            let rdStart = p + 10
            guard n - rdStart >= rdlen else { return false }
            if type == DNSType.opt {
                // Options: code(2) length(2) data, exactly filling the RDATA.
                var o = rdStart
                let end = rdStart + rdlen
                while o < end {
                    guard end - o >= 4 else { return false }
                    let olen = Int(UInt16(msg[o + 2]) << 8 | UInt16(msg[o + 3]))
                    guard end - o - 4 >= olen else { return false }
                    o += 4 + olen
                }
            } else if rdataStatus(type: type, rrclass: cls, msg, start: rdStart, end: rdStart + rdlen) != .ok {
                return false
            }
            pos = rdStart + rdlen
            i += 1
        }
        return true
    }

    /// Summarize bytes held in an array.
    public static func summarize(_ bytes: [UInt8]) -> DNSSummary? {
        bytes.withUnsafeBytes { summarize($0) }
    }
}

/// SplitMix64 finalizer: spreads per-RR hashes before they are summed.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Canonical-name hashes already computed in this message, by the offset of the name: the hash
/// state after `hashName` from `fnvOffset` over the name at that offset, when that walk found no
/// error and followed at most `maxPointerHops - 1` pointers (so a pointer to it still walks
/// cleanly). Four entries, round robin; on the stack.
struct NameHashCache {
    var k0 = -1, k1 = -1, k2 = -1, k3 = -1
    var v0: UInt64 = 0, v1: UInt64 = 0, v2: UInt64 = 0, v3: UInt64 = 0
    var next = 0

    @inline(__always) func lookup(_ offset: Int) -> UInt64? {
        if offset == k0 { return v0 }
        if offset == k1 { return v1 }
        if offset == k2 { return v2 }
        if offset == k3 { return v3 }
        return nil
    }

    @inline(__always) mutating func insert(_ offset: Int, _ h: UInt64) {
        switch next & 3 {
        case 0: k0 = offset; v0 = h
        case 1: k1 = offset; v1 = h
        case 2: k2 = offset; v2 = h
        default: k3 = offset; v3 = h
        }
        next &+= 1
    }
}
