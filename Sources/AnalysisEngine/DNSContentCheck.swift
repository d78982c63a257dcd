/// Recognises DNS on ports that are not DNS ports, the way Suricata's probing parsers and Zeek's
/// dynamic protocol detection do: cheap, and strict enough that other traffic does not pass.
///
/// A payload is DNS when its header is plausible (a known opcode, Z bit clear, one question,
/// a query with RCODE 0) and the question and every record the counts announce parse exactly to
/// the payload's end: names of labels 1…63 bytes long (255 bytes at most), compression pointers
/// only in records and only backwards, RDATA inside the message.
public enum DNSContentCheck {
    /// The shortest DNS message with a question: header, the root name, type and class.
    static let minimumLength = 12 + 1 + 4
    /// Records walked at most (a message of 512 bytes holds fewer).
    static let maximumRecords = 512

    @inline(__always)
    static func be16(_ p: UnsafeRawBufferPointer, _ i: Int) -> Int { Int(p[i]) << 8 | Int(p[i + 1]) }

    /// Is this UDP payload (or TCP message, without its length prefix) a DNS message?
    public static func looksLikeDNS(_ p: UnsafeRawBufferPointer) -> Bool {
        guard p.count >= minimumLength, be16(p, 4) == 1 else { return false }  // exactly one question
        let flags = be16(p, 2)
        let opcode = (flags >> 11) & 0x0F
        guard opcode <= 5, opcode != 3, flags & 0x0040 == 0 else { return false }  // QUERY…UPDATE, Z clear
        let isResponse = flags & 0x8000 != 0
        if !isResponse && flags & 0x000F != 0 { return false }  // a query carries RCODE 0
        let records = be16(p, 6) + be16(p, 8) + be16(p, 10)
        guard records <= maximumRecords else { return false }
        // The question: a plain name (no pointer: nothing precedes it), a type, a class in use.
        guard var off = skipName(p, at: 12, pointers: false), off + 4 <= p.count else { return false }
        guard be16(p, off) != 0 else { return false }
        switch be16(p, off + 2) {
        case 1, 3, 4, 254, 255: break  // IN, CH, HS, NONE, ANY
        default: return false
        }
        off += 4
        for _ in 0..<records {
            guard let end = skipName(p, at: off, pointers: true), end + 10 <= p.count else { return false }
            let rdlength = be16(p, end + 8)
            off = end + 10 + rdlength
            guard off <= p.count else { return false }
        }
        return off == p.count
    }

    /// A length-prefixed DNS message (RFC 1035 §4.2.2) whose whole first message is in `p`.
    public static func looksLikeDNSOverTCP(_ p: UnsafeRawBufferPointer) -> Bool {
        guard p.count >= 2 + minimumLength else { return false }
        let length = be16(p, 0)
        guard length >= minimumLength, p.count >= 2 + length else { return false }
        return looksLikeDNS(UnsafeRawBufferPointer(rebasing: p[2..<(2 + length)]))
    }

    /// The offset after the name at `start`, or nil when it is not a well-formed name.
    static func skipName(_ p: UnsafeRawBufferPointer, at start: Int, pointers: Bool) -> Int? {
        var off = start
        var nameLength = 1
        while off < p.count {
            let len = Int(p[off])
            switch len & 0xC0 {
            case 0x00:
                if len == 0 { return off + 1 }
                nameLength += len + 1
                guard nameLength <= 255 else { return nil }
                off += 1 + len
            case 0xC0:
                // A pointer ends the name; it must point back to an earlier name's start.
                guard pointers, off + 1 < p.count else { return nil }
                let target = (len & 0x3F) << 8 | Int(p[off + 1])
                guard target >= 12, target < start else { return nil }
                return off + 2
            default:
                return nil  // extended label types (0x40, 0x80) are not used
            }
        }
        return nil
    }
}
