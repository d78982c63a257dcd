/// Builds DNS messages (for references, probes and test-capture generators).
///
/// Names are presentation format ("example.com" or "example.com."). Owner names, question
/// names and the names inside NS, CNAME, PTR, MX and SOA RDATA are compressed (exact-case
/// suffix match); other RDATA names are written uncompressed, as RFC 3597 §4 requires.
/// Records and SvcParams are written in the order given.
public struct DNSMessageBuilder: Sendable {
    public var id: UInt16
    public var flags: UInt16

    struct Question: Sendable {
        var name: [UInt8]
        var type: UInt16
        var qclass: UInt16
    }

    struct Record: Sendable {
        var name: [UInt8]
        var type: UInt16
        var rrclass: UInt16
        var ttl: UInt32
        var rdata: DNSRData
    }

    struct OPT: Sendable {
        var udpSize: UInt16
        var dnssecOK: Bool
        var options: [EDNSOption]
        var version: UInt8
        var extendedRCode: UInt16
    }

    var questions: [Question] = []
    var answers: [Record] = []
    var authority: [Record] = []
    var additional: [Record] = []
    var opt: OPT?

    public init(id: UInt16, flags: UInt16) {
        self.id = id
        self.flags = flags
    }

    /// Flags for a standard query.
    public static func queryFlags(rd: Bool = true, cd: Bool = false, ad: Bool = false) -> UInt16 {
        (rd ? 0x0100 : 0) | (cd ? 0x0010 : 0) | (ad ? 0x0020 : 0)
    }

    /// Flags for a response (QR set). `rcode` is the 4-bit header value (higher bits go in
    /// `setEDNS(extendedRCode:)`).
    public static func responseFlags(rcode: UInt16 = 0, aa: Bool = false, rd: Bool = true, ra: Bool = true,
                                     tc: Bool = false, ad: Bool = false, cd: Bool = false, opcode: UInt8 = 0) -> UInt16 {
        var f: UInt16 = 0x8000 | (rcode & 0x000F) | UInt16(opcode & 0x0F) << 11
        if aa { f |= 0x0400 }
        if tc { f |= 0x0200 }
        if rd { f |= 0x0100 }
        if ra { f |= 0x0080 }
        if ad { f |= 0x0020 }
        if cd { f |= 0x0010 }
        return f
    }

    public mutating func addQuestion(name: String, type: UInt16, qclass: UInt16 = 1) throws {
        questions.append(Question(name: try dnsWireName(name), type: type, qclass: qclass))
    }

    public mutating func addAnswer(name: String, type: UInt16, rrclass: UInt16 = 1, ttl: UInt32, rdata: DNSRData) throws {
        answers.append(try Self.record(name, type, rrclass, ttl, rdata))
    }

    public mutating func addAuthority(name: String, type: UInt16, rrclass: UInt16 = 1, ttl: UInt32, rdata: DNSRData) throws {
        authority.append(try Self.record(name, type, rrclass, ttl, rdata))
    }

    public mutating func addAdditional(name: String, type: UInt16, rrclass: UInt16 = 1, ttl: UInt32, rdata: DNSRData) throws {
        additional.append(try Self.record(name, type, rrclass, ttl, rdata))
    }

    /// Add (or replace) the OPT pseudo-RR, written last in the additional section.
    /// `extendedRCode` is the full 12-bit RCODE; its upper 8 bits go in the OPT TTL (the header
    /// keeps the 4 bits from `flags`).
    public mutating func setEDNS(udpSize: UInt16 = 1232, dnssecOK: Bool = false, options: [EDNSOption] = [],
                                 version: UInt8 = 0, extendedRCode: UInt16 = 0) {
        opt = OPT(udpSize: udpSize, dnssecOK: dnssecOK, options: options, version: version, extendedRCode: extendedRCode)
    }

    static func record(_ name: String, _ type: UInt16, _ rrclass: UInt16, _ ttl: UInt32, _ rdata: DNSRData) throws -> Record {
        let compatible = rdata.compatibleTypes
        guard compatible.isEmpty || compatible.contains(type) else {
            throw DNSEncodeError.rdataDoesNotMatchType(type: type)
        }
        return Record(name: try dnsWireName(name), type: type, rrclass: rrclass, ttl: ttl, rdata: rdata)
    }

    /// The message in wire format, with name compression.
    public func build() throws -> [UInt8] {
        var w = WireWriter()
        w.u16(id)
        w.u16(flags)
        let arCount = additional.count + (opt == nil ? 0 : 1)
        for c in [questions.count, answers.count, authority.count, arCount] {
            guard c <= 0xFFFF else { throw DNSEncodeError.badValue("more than 65535 entries in a section") }
            w.u16(UInt16(c))
        }
        for q in questions {
            w.name(q.name, compress: true)
            w.u16(q.type)
            w.u16(q.qclass)
        }
        for section in [answers, authority, additional] {
            for r in section { try w.record(r) }
        }
        if let o = opt {
            w.bytes.append(0)  // root owner
            w.u16(DNSType.opt)
            w.u16(o.udpSize)
            w.u32(UInt32(o.extendedRCode >> 4 & 0xFF) << 24 | UInt32(o.version) << 16 | (o.dnssecOK ? 0x8000 : 0))
            var body: [UInt8] = []
            for option in o.options {
                let v = try option.encodedValue()
                guard v.count <= 0xFFFF else { throw DNSEncodeError.badValue("EDNS option longer than 65535") }
                body.append(UInt8(option.code >> 8))
                body.append(UInt8(option.code & 0xFF))
                body.append(UInt8(v.count >> 8))
                body.append(UInt8(v.count & 0xFF))
                body.append(contentsOf: v)
            }
            guard body.count <= 0xFFFF else { throw DNSEncodeError.badValue("OPT RDATA longer than 65535") }
            w.u16(UInt16(body.count))
            w.bytes.append(contentsOf: body)
        }
        guard w.bytes.count <= 0xFFFF else { throw DNSEncodeError.messageTooLong(w.bytes.count) }
        return w.bytes
    }
}

/// Ready-made queries.
public enum DNSQuery {
    /// A query for (name, type, class), optionally with EDNS (and an empty NSID option to
    /// request the server's identifier).
    public static func make(id: UInt16, name: String, type: UInt16, qclass: UInt16 = 1, recursionDesired: Bool = true,
                            edns: (udpSize: UInt16, dnssecOK: Bool, requestNSID: Bool)? = nil) throws -> [UInt8] {
        var b = DNSMessageBuilder(id: id, flags: DNSMessageBuilder.queryFlags(rd: recursionDesired))
        try b.addQuestion(name: name, type: type, qclass: qclass)
        if let e = edns {
            b.setEDNS(udpSize: e.udpSize, dnssecOK: e.dnssecOK, options: e.requestNSID ? [.nsid([])] : [])
        }
        return try b.build()
    }
}

/// Appends wire data and remembers name suffixes for compression.
struct WireWriter {
    var bytes: [UInt8] = []
    var suffixes: [[UInt8]: Int] = [:]

    init() {
        bytes.reserveCapacity(512)
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(v & 0xFF))
    }
    mutating func u32(_ v: UInt32) {
        u16(UInt16(v >> 16))
        u16(UInt16(v & 0xFFFF))
    }

    /// Write an uncompressed wire name, compressing against earlier names when allowed.
    mutating func name(_ wire: [UInt8], compress: Bool) {
        var pos = 0
        while pos < wire.count, wire[pos] != 0 {
            let suffix = Array(wire[pos...])
            if compress, let off = suffixes[suffix] {
                u16(0xC000 | UInt16(off))
                return
            }
            if compress, bytes.count < 0x4000, suffixes[suffix] == nil {
                suffixes[suffix] = bytes.count
            }
            let len = Int(wire[pos])
            let end = min(wire.count, pos + 1 + len)
            bytes.append(contentsOf: wire[pos..<end])
            pos = end
        }
        bytes.append(0)
    }

    mutating func charString(_ s: [UInt8], _ what: String) throws {
        guard s.count <= 255 else { throw DNSEncodeError.badValue("\(what) longer than 255 bytes") }
        u8(UInt8(s.count))
        bytes.append(contentsOf: s)
    }

    mutating func typeBitmap(_ types: [UInt16]) {
        let sorted = Array(Set(types)).sorted()
        var i = 0
        while i < sorted.count {
            let window = sorted[i] >> 8
            var bitmap = [UInt8](repeating: 0, count: 32)
            var maxByte = 0
            while i < sorted.count && sorted[i] >> 8 == window {
                let low = Int(sorted[i] & 0xFF)
                bitmap[low / 8] |= 0x80 >> UInt8(low % 8)
                maxByte = max(maxByte, low / 8)
                i += 1
            }
            u8(UInt8(window))
            u8(UInt8(maxByte + 1))
            bytes.append(contentsOf: bitmap[0...maxByte])
        }
    }

    mutating func record(_ r: Record) throws {
        name(r.name, compress: true)
        u16(r.type)
        u16(r.rrclass)
        u32(r.ttl)
        let lengthAt = bytes.count
        u16(0)
        let start = bytes.count
        try rdata(r.rdata)
        let len = bytes.count - start
        guard len <= 0xFFFF else { throw DNSEncodeError.badValue("RDATA longer than 65535") }
        bytes[lengthAt] = UInt8(len >> 8)
        bytes[lengthAt + 1] = UInt8(len & 0xFF)
    }

    typealias Record = DNSMessageBuilder.Record

    mutating func rdata(_ d: DNSRData) throws {
        switch d {
        case .a(let a): u32(a.value)
        case .aaaa(let a): bytes.append(contentsOf: a.bytes)
        case .cname(let n), .ns(let n), .ptr(let n): name(try dnsWireName(n), compress: true)
        case .dname(let n): name(try dnsWireName(n), compress: false)
        case .mx(let p, let x):
            u16(p)
            name(try dnsWireName(x), compress: true)
        case .txt(let strings):
            for s in strings { try charString(s, "TXT string") }
        case .soa(let m, let r, let serial, let refresh, let retry, let expire, let minimum):
            name(try dnsWireName(m), compress: true)
            name(try dnsWireName(r), compress: true)
            for v in [serial, refresh, retry, expire, minimum] { u32(v) }
        case .srv(let p, let w, let port, let t):
            u16(p)
            u16(w)
            u16(port)
            name(try dnsWireName(t), compress: false)
        case .caa(let flags, let tag, let value):
            u8(flags)
            guard !tag.isEmpty else { throw DNSEncodeError.badValue("empty CAA tag") }
            try charString(Array(tag.utf8), "CAA tag")
            bytes.append(contentsOf: value)
        case .naptr(let order, let pref, let fl, let sv, let re, let repl):
            u16(order)
            u16(pref)
            try charString(fl, "NAPTR flags")
            try charString(sv, "NAPTR services")
            try charString(re, "NAPTR regexp")
            name(try dnsWireName(repl), compress: false)
        case .ds(let kt, let alg, let dt, let digest):
            u16(kt)
            u8(alg)
            u8(dt)
            bytes.append(contentsOf: digest)
        case .dnskey(let fl, let pr, let alg, let key):
            u16(fl)
            u8(pr)
            u8(alg)
            bytes.append(contentsOf: key)
        case .rrsig(let tc, let alg, let labels, let ottl, let exp, let inc, let kt, let signer, let sig):
            u16(tc)
            u8(alg)
            u8(labels)
            u32(ottl)
            u32(exp)
            u32(inc)
            u16(kt)
            name(try dnsWireName(signer), compress: false)
            bytes.append(contentsOf: sig)
        case .nsec(let next, let types):
            name(try dnsWireName(next), compress: false)
            typeBitmap(types)
        case .nsec3(let alg, let fl, let it, let salt, let hash, let types):
            u8(alg)
            u8(fl)
            u16(it)
            try charString(salt, "NSEC3 salt")
            guard !hash.isEmpty else { throw DNSEncodeError.badValue("empty NSEC3 next hashed owner") }
            try charString(hash, "NSEC3 next hashed owner")
            typeBitmap(types)
        case .svcb(let prio, let target, let params), .https(let prio, let target, let params):
            u16(prio)
            name(try dnsWireName(target), compress: false)
            for p in params {
                let v = try p.encodedValue()
                guard v.count <= 0xFFFF else { throw DNSEncodeError.badValue("SvcParam value longer than 65535") }
                u16(p.key)
                u16(UInt16(v.count))
                bytes.append(contentsOf: v)
            }
        case .tlsa(let u, let s, let m, let data):
            u8(u)
            u8(s)
            u8(m)
            bytes.append(contentsOf: data)
        case .uri(let p, let w, let t):
            u16(p)
            u16(w)
            bytes.append(contentsOf: t)
        case .unknown(let b), .malformed(let b):
            bytes.append(contentsOf: b)
        }
    }
}

extension DNSSVCParam {
    func encodedValue() throws -> [UInt8] {
        switch self {
        case .mandatory(let keys):
            var out: [UInt8] = []
            for k in keys { out.append(UInt8(k >> 8)); out.append(UInt8(k & 0xFF)) }
            return out
        case .alpn(let ids):
            var out: [UInt8] = []
            for id in ids {
                guard !id.isEmpty, id.count <= 255 else { throw DNSEncodeError.badValue("ALPN id must be 1...255 bytes") }
                out.append(UInt8(id.count))
                out.append(contentsOf: id)
            }
            return out
        case .noDefaultALPN: return []
        case .port(let p): return [UInt8(p >> 8), UInt8(p & 0xFF)]
        case .ipv4hint(let addrs): return addrs.flatMap { $0.bytes }
        case .ech(let b): return b
        case .ipv6hint(let addrs): return addrs.flatMap { $0.bytes }
        case .other(_, let v): return v
        }
    }
}
