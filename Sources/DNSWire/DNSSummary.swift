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
    /// FNV-1a 64 of the first question: its uncompressed wire name with ASCII letters lowercased,
    /// then type and class (big-endian, class without the QU bit). 0 when there is no question
    /// or it did not parse.
    public var questionHash: UInt64
    /// Order-independent digest of the answer section. Per RR, FNV-1a 64 over the owner name,
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

    /// Summarize a message; nil when it is shorter than the 12-byte header. No heap allocation.
    public static func summarize(_ bytes: UnsafeRawBufferPointer) -> DNSSummary? {
        let msg = bytes
        let n = msg.count
        guard n >= 12 else { return nil }
        @inline(__always) func be16(_ i: Int) -> UInt16 { UInt16(msg[i]) << 8 | UInt16(msg[i + 1]) }
        var s = DNSSummary(id: be16(0), flags: be16(2),
                           counts: DNSCounts(qd: be16(4), an: be16(6), ns: be16(8), ar: be16(10)))
        var pos = 12

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
            var h = fnvOffset
            let scan = hashName(msg, start: pos, limit: n, &h)
            guard scan.end >= 0, n - scan.end >= 10 else {
                s.wellFormed = false
                break
            }
            if scan.error != nil { s.wellFormed = false }
            let p = scan.end
            let type = be16(p)
            let cls = be16(p + 2) & 0x7FFF
            let rdlen = Int(be16(p + 8))
            let rdStart = p + 10
            guard n - rdStart >= rdlen else {
                s.wellFormed = false
                break
            }
            // An OPT pseudo-RR outside the additional section is a malformation (parse agrees).
            if type == DNSType.opt { s.wellFormed = false }
            fnv16(&h, type)
            fnv16(&h, cls)
            if checkRData(type: type, rrclass: cls, msg, start: rdStart, end: rdStart + rdlen, &h) != .ok {
                s.wellFormed = false
            }
            digest &+= mix64(h)
            pos = rdStart + rdlen
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
    static func tailIsWellFormed(_ msg: UnsafeRawBufferPointer, from start: Int, records: Int) -> Bool {
        let n = msg.count
        var pos = start
        var i = 0
        while i < records {
            var h = fnvOffset
            let scan = hashName(msg, start: pos, limit: n, &h)
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
            } else if checkRData(type: type, rrclass: cls, msg, start: rdStart, end: rdStart + rdlen, &h) != .ok {
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
