// DNS registries: type, class, rcode, EDNS option and extended-error names; header counts,
// sections, anomalies and the parse error.

/// Header section counts, as written in the header (not as parsed).
public struct DNSCounts: Sendable, Equatable, Hashable {
    public var qd: UInt16
    public var an: UInt16
    public var ns: UInt16
    public var ar: UInt16

    public init(qd: UInt16 = 0, an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0) {
        self.qd = qd
        self.an = an
        self.ns = ns
        self.ar = ar
    }
}

/// A message section.
public enum DNSSection: UInt8, Sendable, Equatable, Hashable, CaseIterable {
    case header, question, answer, authority, additional

    public var name: String {
        switch self {
        case .header: return "header"
        case .question: return "question"
        case .answer: return "answer"
        case .authority: return "authority"
        case .additional: return "additional"
        }
    }
}

/// Why `DNSMessage.parse` could not produce a message at all.
public enum DNSParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer than the 12 header bytes.
    case tooShort(length: Int)

    public var description: String {
        switch self {
        case .tooShort(let n): return "DNS message too short: \(n) bytes, need at least 12"
        }
    }
}

/// One problem found while parsing a message. `code` is a stable short identifier in the
/// style of Zeek "weird" names; pipelines may match on it.
public enum DNSAnomaly: Sendable, Equatable, Hashable {
    /// The message ended inside a question (or qdcount promises more than is there).
    case truncatedQuestion
    /// The message ended inside a resource record, or its RDLENGTH runs past the end.
    case truncatedRR(DNSSection)
    /// A name expands to more than 255 octets.
    case nameTooLong(DNSSection)
    /// A label length byte with the reserved 0x40/0x80 type bits (a "label" longer than 63).
    case labelTooLong(DNSSection)
    /// A compression pointer chain longer than `DNSName.maxPointerHops` (a loop, in practice).
    case compressionLoop(DNSSection)
    /// A compression pointer to an offset outside the message, or to data that runs off its end.
    case badCompressionPointer(DNSSection)
    /// A compression pointer to a later (or the same) offset. RFC 1035 says pointers refer
    /// to a *prior* occurrence; tshark and Suricata still follow them, and so do we. Informational.
    case forwardCompressionPointer(DNSSection)
    /// RDATA of a known type that does not parse or does not fill RDLENGTH exactly.
    case rrLengthMismatch(DNSSection, type: UInt16)
    /// An EDNS option whose length overruns the OPT RDATA, or is wrong for its code.
    case ednsBadOptionLength
    /// More than one OPT pseudo-RR (only the first is used).
    case ednsMultipleOPT
    /// An OPT pseudo-RR with an owner name other than the root.
    case ednsBadOwner
    /// An OPT RR outside the additional section (kept there as an ordinary record).
    case ednsMisplacedOPT(DNSSection)
    /// Bytes after the last record the header announces. Informational.
    case trailingBytes(count: Int)

    public var code: String {
        switch self {
        case .truncatedQuestion: return "DNS_truncated_question"
        case .truncatedRR: return "DNS_truncated_RR"
        case .nameTooLong: return "DNS_name_too_long"
        case .labelTooLong: return "DNS_label_too_long"
        case .compressionLoop: return "DNS_compression_loop"
        case .badCompressionPointer: return "DNS_bad_compression_pointer"
        case .forwardCompressionPointer: return "DNS_label_forward_compress_offset"
        case .rrLengthMismatch: return "DNS_RR_length_mismatch"
        case .ednsBadOptionLength: return "DNS_EDNS_bad_option_length"
        case .ednsMultipleOPT: return "DNS_EDNS_multiple_OPT"
        case .ednsBadOwner: return "DNS_EDNS_bad_owner"
        case .ednsMisplacedOPT: return "DNS_EDNS_misplaced_OPT"
        case .trailingBytes: return "DNS_trailing_bytes"
        }
    }

    /// The section the problem was found in.
    public var section: DNSSection {
        switch self {
        case .truncatedQuestion: return .question
        case .truncatedRR(let s), .nameTooLong(let s), .labelTooLong(let s), .compressionLoop(let s),
             .badCompressionPointer(let s), .forwardCompressionPointer(let s), .rrLengthMismatch(let s, _),
             .ednsMisplacedOPT(let s):
            return s
        case .ednsBadOptionLength, .ednsMultipleOPT, .ednsBadOwner, .trailingBytes: return .additional
        }
    }

    /// False for informational anomalies (forward pointers, trailing bytes) that mainstream
    /// parsers accept silently; true for real malformations.
    public var isMalformation: Bool {
        switch self {
        case .forwardCompressionPointer, .trailingBytes: return false
        default: return true
        }
    }
}

/// RR type codes and mnemonics (IANA "Resource Record (RR) TYPEs").
public enum DNSType {
    public static let a: UInt16 = 1
    public static let ns: UInt16 = 2
    public static let cname: UInt16 = 5
    public static let soa: UInt16 = 6
    public static let null: UInt16 = 10
    public static let ptr: UInt16 = 12
    public static let hinfo: UInt16 = 13
    public static let mx: UInt16 = 15
    public static let txt: UInt16 = 16
    public static let aaaa: UInt16 = 28
    public static let srv: UInt16 = 33
    public static let naptr: UInt16 = 35
    public static let dname: UInt16 = 39
    public static let opt: UInt16 = 41
    public static let ds: UInt16 = 43
    public static let rrsig: UInt16 = 46
    public static let nsec: UInt16 = 47
    public static let dnskey: UInt16 = 48
    public static let nsec3: UInt16 = 50
    public static let tlsa: UInt16 = 52
    public static let smimea: UInt16 = 53
    public static let cds: UInt16 = 59
    public static let cdnskey: UInt16 = 60
    public static let svcb: UInt16 = 64
    public static let https: UInt16 = 65
    public static let spf: UInt16 = 99
    public static let tkey: UInt16 = 249
    public static let tsig: UInt16 = 250
    public static let ixfr: UInt16 = 251
    public static let axfr: UInt16 = 252
    public static let any: UInt16 = 255
    public static let uri: UInt16 = 256
    public static let caa: UInt16 = 257

    static let table: [(UInt16, String)] = [
        (1, "A"), (2, "NS"), (3, "MD"), (4, "MF"), (5, "CNAME"), (6, "SOA"), (7, "MB"), (8, "MG"),
        (9, "MR"), (10, "NULL"), (11, "WKS"), (12, "PTR"), (13, "HINFO"), (14, "MINFO"), (15, "MX"),
        (16, "TXT"), (17, "RP"), (18, "AFSDB"), (19, "X25"), (20, "ISDN"), (21, "RT"), (22, "NSAP"),
        (23, "NSAP-PTR"), (24, "SIG"), (25, "KEY"), (26, "PX"), (27, "GPOS"), (28, "AAAA"), (29, "LOC"),
        (30, "NXT"), (31, "EID"), (32, "NIMLOC"), (33, "SRV"), (34, "ATMA"), (35, "NAPTR"), (36, "KX"),
        (37, "CERT"), (38, "A6"), (39, "DNAME"), (40, "SINK"), (41, "OPT"), (42, "APL"), (43, "DS"),
        (44, "SSHFP"), (45, "IPSECKEY"), (46, "RRSIG"), (47, "NSEC"), (48, "DNSKEY"), (49, "DHCID"),
        (50, "NSEC3"), (51, "NSEC3PARAM"), (52, "TLSA"), (53, "SMIMEA"), (55, "HIP"), (56, "NINFO"),
        (57, "RKEY"), (58, "TALINK"), (59, "CDS"), (60, "CDNSKEY"), (61, "OPENPGPKEY"), (62, "CSYNC"),
        (63, "ZONEMD"), (64, "SVCB"), (65, "HTTPS"), (66, "DSYNC"), (99, "SPF"), (100, "UINFO"),
        (101, "UID"), (102, "GID"), (103, "UNSPEC"), (104, "NID"), (105, "L32"), (106, "L64"),
        (107, "LP"), (108, "EUI48"), (109, "EUI64"), (249, "TKEY"), (250, "TSIG"), (251, "IXFR"),
        (252, "AXFR"), (253, "MAILB"), (254, "MAILA"), (255, "ANY"), (256, "URI"), (257, "CAA"),
        (258, "AVC"), (259, "DOA"), (260, "AMTRELAY"), (261, "RESINFO"), (262, "WALLET"),
        (32768, "TA"), (32769, "DLV"),
    ]

    static let byCode: [UInt16: String] = {
        var d = [UInt16: String]()
        for (c, n) in table { d[c] = n }
        return d
    }()

    static let byName: [String: UInt16] = {
        var d = [String: UInt16]()
        for (c, n) in table { d[n] = c }
        return d
    }()

    /// "A", "AAAA", …, or "TYPE123" (RFC 3597) for codes without a mnemonic.
    public static func mnemonic(_ t: UInt16) -> String {
        byCode[t] ?? "TYPE\(t)"
    }

    /// The code for a mnemonic ("AAAA", case-insensitive) or an RFC 3597 "TYPE123"; nil if unknown.
    public static func code(for mnemonic: String) -> UInt16? {
        let up = asciiUppercased(mnemonic)
        if let c = byName[up] { return c }
        if up.hasPrefix("TYPE") { return UInt16(up.dropFirst(4)) }
        return nil
    }
}

/// Class codes and mnemonics.
public enum DNSClass {
    public static let `in`: UInt16 = 1
    public static let ch: UInt16 = 3
    public static let hs: UInt16 = 4
    public static let none: UInt16 = 254
    public static let any: UInt16 = 255

    /// "IN", "CH", "HS", "NONE", "ANY", or "CLASS123".
    public static func mnemonic(_ c: UInt16) -> String {
        switch c {
        case 1: return "IN"
        case 3: return "CH"
        case 4: return "HS"
        case 254: return "NONE"
        case 255: return "ANY"
        default: return "CLASS\(c)"
        }
    }

    /// The code for a class mnemonic (case-insensitive) or "CLASS123"; nil if unknown.
    public static func code(for mnemonic: String) -> UInt16? {
        let up = asciiUppercased(mnemonic)
        switch up {
        case "IN": return 1
        case "CH", "CHAOS": return 3
        case "HS": return 4
        case "NONE": return 254
        case "ANY": return 255
        default:
            if up.hasPrefix("CLASS") { return UInt16(up.dropFirst(5)) }
            return nil
        }
    }
}

/// RCODE names (the 4-bit header RCODE, or the 12-bit extended RCODE with EDNS).
public enum DNSRCode {
    public static let noError: UInt16 = 0
    public static let formErr: UInt16 = 1
    public static let servFail: UInt16 = 2
    public static let nxDomain: UInt16 = 3
    public static let notImp: UInt16 = 4
    public static let refused: UInt16 = 5

    public static func name(_ code: UInt16) -> String {
        switch code {
        case 0: return "NOERROR"
        case 1: return "FORMERR"
        case 2: return "SERVFAIL"
        case 3: return "NXDOMAIN"
        case 4: return "NOTIMP"
        case 5: return "REFUSED"
        case 6: return "YXDOMAIN"
        case 7: return "YXRRSET"
        case 8: return "NXRRSET"
        case 9: return "NOTAUTH"
        case 10: return "NOTZONE"
        case 11: return "DSOTYPENI"
        case 16: return "BADVERS"  // BADSIG in a TSIG RR (RFC 8945): same number
        case 17: return "BADKEY"
        case 18: return "BADTIME"
        case 19: return "BADMODE"
        case 20: return "BADNAME"
        case 21: return "BADALG"
        case 22: return "BADTRUNC"
        case 23: return "BADCOOKIE"
        default: return "RCODE\(code)"
        }
    }
}

/// EDNS option codes and names.
public enum EDNSOptionCode {
    public static let nsid: UInt16 = 3
    public static let ecs: UInt16 = 8
    public static let cookie: UInt16 = 10
    public static let padding: UInt16 = 12
    public static let extendedError: UInt16 = 15

    /// Registry name of an option code, nil when unassigned.
    public static func name(_ code: UInt16) -> String? {
        switch code {
        case 1: return "LLQ"
        case 2: return "UL"
        case 3: return "NSID"
        case 5: return "DAU"
        case 6: return "DHU"
        case 7: return "N3U"
        case 8: return "ECS"
        case 9: return "EXPIRE"
        case 10: return "COOKIE"
        case 11: return "TCP-KEEPALIVE"
        case 12: return "PADDING"
        case 13: return "CHAIN"
        case 14: return "KEY-TAG"
        case 15: return "EDE"
        case 16: return "CLIENT-TAG"
        case 17: return "SERVER-TAG"
        case 18: return "REPORT-CHANNEL"
        case 19: return "ZONEVERSION"
        default: return nil
        }
    }
}

/// RFC 8914 Extended DNS Error info-code names (IANA registry).
public enum DNSExtendedError {
    public static func name(_ infoCode: UInt16) -> String {
        switch infoCode {
        case 0: return "Other Error"
        case 1: return "Unsupported DNSKEY Algorithm"
        case 2: return "Unsupported DS Digest Type"
        case 3: return "Stale Answer"
        case 4: return "Forged Answer"
        case 5: return "DNSSEC Indeterminate"
        case 6: return "DNSSEC Bogus"
        case 7: return "Signature Expired"
        case 8: return "Signature Not Yet Valid"
        case 9: return "DNSKEY Missing"
        case 10: return "RRSIGs Missing"
        case 11: return "No Zone Key Bit Set"
        case 12: return "NSEC Missing"
        case 13: return "Cached Error"
        case 14: return "Not Ready"
        case 15: return "Blocked"
        case 16: return "Censored"
        case 17: return "Filtered"
        case 18: return "Prohibited"
        case 19: return "Stale NXDOMAIN Answer"
        case 20: return "Not Authoritative"
        case 21: return "Not Supported"
        case 22: return "No Reachable Authority"
        case 23: return "Network Error"
        case 24: return "Invalid Data"
        case 25: return "Signature Expired before Valid"
        case 26: return "Too Early"
        case 27: return "Unsupported NSEC3 Iterations Value"
        case 28: return "Unable to conform to policy"
        case 29: return "Synthesized"
        case 30: return "Invalid Query Type"
        default: return "Unassigned (\(infoCode))"
        }
    }
}

/// SVCB/HTTPS SvcParamKey codes and names (RFC 9460).
public enum SVCParamKey {
    public static let mandatory: UInt16 = 0
    public static let alpn: UInt16 = 1
    public static let noDefaultALPN: UInt16 = 2
    public static let port: UInt16 = 3
    public static let ipv4hint: UInt16 = 4
    public static let ech: UInt16 = 5
    public static let ipv6hint: UInt16 = 6

    /// "alpn", "port", …, or "key123".
    public static func name(_ key: UInt16) -> String {
        switch key {
        case 0: return "mandatory"
        case 1: return "alpn"
        case 2: return "no-default-alpn"
        case 3: return "port"
        case 4: return "ipv4hint"
        case 5: return "ech"
        case 6: return "ipv6hint"
        default: return "key\(key)"
        }
    }

    public static func code(for name: String) -> UInt16? {
        switch name {
        case "mandatory": return 0
        case "alpn": return 1
        case "no-default-alpn": return 2
        case "port": return 3
        case "ipv4hint": return 4
        case "ech": return 5
        case "ipv6hint": return 6
        default:
            if name.hasPrefix("key") { return UInt16(name.dropFirst(3)) }
            return nil
        }
    }
}

func asciiUppercased(_ s: String) -> String {
    var out = [UInt8]()
    out.reserveCapacity(s.utf8.count)
    for b in s.utf8 { out.append(b >= 0x61 && b <= 0x7a ? b &- 0x20 : b) }
    return String(decoding: out, as: UTF8.self)
}
