// The one place where dnsaudit-gen builds DNS messages: everything goes through DNSWire's
// DNSMessageBuilder. The rest of the generator speaks in `DNSRecordSpec`s.

import DNSWire
import PacketSynth

/// One resource record to put in a response.
struct DNSRecordSpec {
    enum Data {
        case a(IPv4Address)
        case aaaa(IPv6Address)
        case cname(String)
        case txt([String])
        case https(priority: UInt16, target: String, alpn: [String], ipv4hint: [IPv4Address], ipv6hint: [IPv6Address])
        case soa(mname: String, rname: String, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
                 minimum: UInt32)
    }

    var name: String
    var ttl: UInt32
    var data: Data

    var type: UInt16 {
        switch data {
        case .a: return DNSType.a
        case .aaaa: return DNSType.aaaa
        case .cname: return DNSType.cname
        case .txt: return DNSType.txt
        case .https: return DNSType.https
        case .soa: return DNSType.soa
        }
    }

    var rdata: DNSRData {
        switch data {
        case .a(let v4): return .a(DNSIPv4Address(value: v4.value))
        case .aaaa(let v6): return .aaaa(DNSIPv6Address(high: v6.high, low: v6.low))
        case .cname(let target): return .cname(target)
        case .txt(let strings): return .txt(strings.map { Array($0.utf8) })
        case let .https(priority, target, alpn, v4, v6):
            var params: [DNSSVCParam] = []
            if !alpn.isEmpty { params.append(.alpn(alpn.map { Array($0.utf8) })) }
            if !v4.isEmpty { params.append(.ipv4hint(v4.map { DNSIPv4Address(value: $0.value) })) }
            if !v6.isEmpty { params.append(.ipv6hint(v6.map { DNSIPv6Address(high: $0.high, low: $0.low) })) }
            return .https(priority: priority, target: target, params: params)
        case let .soa(mname, rname, serial, refresh, retry, expire, minimum):
            return .soa(mname: mname, rname: rname, serial: serial, refresh: refresh, retry: retry,
                        expire: expire, minimum: minimum)
        }
    }
}

enum RRType {
    static let a = DNSType.a
    static let aaaa = DNSType.aaaa
    static let cname = DNSType.cname
    static let txt = DNSType.txt
    static let https = DNSType.https
    static let soa = DNSType.soa
}

enum DNSPayloads {
    /// A recursive query (RD set), with an OPT record when `ednsSize` is given.
    static func query(id: UInt16, name: String, type: UInt16, ednsSize: UInt16? = 1232) throws -> [UInt8] {
        var b = DNSMessageBuilder(id: id, flags: DNSMessageBuilder.queryFlags(rd: true))
        try b.addQuestion(name: name, type: type)
        if let ednsSize { b.setEDNS(udpSize: ednsSize) }
        return try b.build()
    }

    /// A response from a recursive resolver (RD and RA set) echoing the question.
    static func response(id: UInt16, name: String, type: UInt16, rcode: UInt16 = 0, authoritative: Bool = false,
                         answers: [DNSRecordSpec], authority: [DNSRecordSpec] = [],
                         ednsSize: UInt16? = 1232) throws -> [UInt8] {
        var b = DNSMessageBuilder(id: id, flags: DNSMessageBuilder.responseFlags(rcode: rcode, aa: authoritative,
                                                                                 rd: true, ra: true))
        try b.addQuestion(name: name, type: type)
        for rr in answers {
            try b.addAnswer(name: rr.name, type: rr.type, rrclass: 1, ttl: rr.ttl, rdata: rr.rdata)
        }
        for rr in authority {
            try b.addAuthority(name: rr.name, type: rr.type, rrclass: 1, ttl: rr.ttl, rdata: rr.rdata)
        }
        if let ednsSize { b.setEDNS(udpSize: ednsSize) }
        return try b.build()
    }

    /// Prefixes a message with the 2-byte length used over TCP (RFC 1035 §4.2.2).
    static func tcpFramed(_ message: [UInt8]) -> [UInt8] {
        [UInt8(truncatingIfNeeded: message.count >> 8), UInt8(truncatingIfNeeded: message.count)] + message
    }

    /// Overwrites the transaction ID of a built message (templates reused with fresh IDs).
    static func withID(_ message: [UInt8], _ id: UInt16) -> [UInt8] {
        var m = message
        if m.count >= 2 {
            m[0] = UInt8(truncatingIfNeeded: id >> 8)
            m[1] = UInt8(truncatingIfNeeded: id)
        }
        return m
    }
}
