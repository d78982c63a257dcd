import WireBytes

/// A question entry.
public struct DNSQuestion: Sendable, Equatable {
    /// Presentation format with a trailing dot, case as on the wire.
    public var name: String
    public var type: UInt16
    /// The class without the mDNS unicast-response bit.
    public var qclass: UInt16
    /// mDNS (RFC 6762 §5.4): top bit of the class field ("QU" question).
    public var unicastResponse: Bool

    public init(name: String, type: UInt16, qclass: UInt16 = 1, unicastResponse: Bool = false) {
        self.name = name
        self.type = type
        self.qclass = qclass
        self.unicastResponse = unicastResponse
    }
}

/// A resource record (the OPT pseudo-RR is not one: see `DNSMessage.edns`).
public struct DNSResourceRecord: Sendable, Equatable {
    public var name: String
    public var type: UInt16
    /// The class without the mDNS cache-flush bit.
    public var rrclass: UInt16
    /// mDNS (RFC 6762 §10.2): top bit of the class field.
    public var cacheFlush: Bool
    public var ttl: UInt32
    public var rdata: DNSRData

    public init(name: String, type: UInt16, rrclass: UInt16 = 1, cacheFlush: Bool = false, ttl: UInt32, rdata: DNSRData) {
        self.name = name
        self.type = type
        self.rrclass = rrclass
        self.cacheFlush = cacheFlush
        self.ttl = ttl
        self.rdata = rdata
    }
}

/// A fully materialized DNS message, for decode output and evidence.
public struct DNSMessage: Sendable, Equatable {
    public var id: UInt16
    /// The raw header flags word.
    public var flags: UInt16
    /// Section counts as written in the header.
    public var counts: DNSCounts
    public var questions: [DNSQuestion]
    public var answers: [DNSResourceRecord]
    public var authority: [DNSResourceRecord]
    /// Without the OPT pseudo-RR (that is `edns`).
    public var additional: [DNSResourceRecord]
    public var edns: EDNSInfo?
    /// Some section could not be fully parsed (the message ended early or a record could
    /// not be delimited); the sections hold what was parsed before that point.
    public var truncated: Bool
    /// Every problem found, in the order found, without duplicates.
    public var anomalies: [DNSAnomaly]

    public init(id: UInt16, flags: UInt16, counts: DNSCounts = DNSCounts(), questions: [DNSQuestion] = [],
                answers: [DNSResourceRecord] = [], authority: [DNSResourceRecord] = [],
                additional: [DNSResourceRecord] = [], edns: EDNSInfo? = nil, truncated: Bool = false,
                anomalies: [DNSAnomaly] = []) {
        self.id = id
        self.flags = flags
        self.counts = counts
        self.questions = questions
        self.answers = answers
        self.authority = authority
        self.additional = additional
        self.edns = edns
        self.truncated = truncated
        self.anomalies = anomalies
    }

    public var qr: Bool { flags & 0x8000 != 0 }
    public var opcode: UInt8 { UInt8(truncatingIfNeeded: flags >> 11) & 0x0F }
    public var aa: Bool { flags & 0x0400 != 0 }
    public var tc: Bool { flags & 0x0200 != 0 }
    public var rd: Bool { flags & 0x0100 != 0 }
    public var ra: Bool { flags & 0x0080 != 0 }
    public var z: Bool { flags & 0x0040 != 0 }
    public var ad: Bool { flags & 0x0020 != 0 }
    public var cd: Bool { flags & 0x0010 != 0 }
    /// The 4-bit header RCODE (see `edns?.extendedRCode` for the full value).
    public var rcode: UInt16 { flags & 0x000F }

    /// No malformation anomaly (informational ones such as forward pointers do not count).
    public var isWellFormed: Bool { !truncated && !anomalies.contains { $0.isMalformation } }

    /// Parse a message (over TCP: without the 2-byte length prefix). Fails only when the 12-byte
    /// header is missing; every other problem gives a message with `anomalies` (and
    /// `truncated: true` when a section was cut short). Never traps on hostile input.
    ///
    /// Matches tshark where tshark decodes a message: forward compression pointers are followed
    /// (informational anomaly), names that cannot be expanded get tshark's placeholder texts
    /// (`DNSName.tooLongPlaceholder`, …) while the records around them are still parsed.
    /// Deliberate difference: a malformed EDNS option does not stop parsing (the OPT RDLENGTH
    /// bounds it), so records after the OPT are still returned (zeek/dns-edns-bad-length).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<DNSMessage, DNSParseError> {
        var c = ByteCursor(bytes)
        guard let id = c.u16(), let flags = c.u16(), let qd = c.u16(), let an = c.u16(),
              let ns = c.u16(), let ar = c.u16() else {
            return .failure(.tooShort(length: bytes.count))
        }
        var p = MessageParser(msg: bytes, offset: 12)
        var m = DNSMessage(id: id, flags: flags, counts: DNSCounts(qd: qd, an: an, ns: ns, ar: ar))
        m.questions.reserveCapacity(min(Int(qd), 8))
        for _ in 0..<qd {
            guard let q = p.question() else { break }
            m.questions.append(q)
        }
        let sections: [(DNSSection, UInt16)] = [(.answer, an), (.authority, ns), (.additional, ar)]
        var optSeen = false
        for (section, count) in sections where !p.stopped {
            for _ in 0..<count {
                guard let rr = p.record(section: section) else { break }
                if rr.type == DNSType.opt {
                    if section != .additional {
                        p.note(.ednsMisplacedOPT(section))
                    } else {
                        if optSeen {
                            p.note(.ednsMultipleOPT)
                        } else {
                            optSeen = true
                            if !rr.ownerIsRoot { p.note(.ednsBadOwner) }
                            var anomalies: [DNSAnomaly] = []
                            let options = EDNSInfo.parseOptions(bytes, start: rr.rdataStart, end: rr.rdataEnd, anomalies: &anomalies)
                            for a in anomalies { p.note(a) }
                            m.edns = EDNSInfo(
                                udpSize: rr.rawClass,
                                extendedRCode: UInt16(truncatingIfNeeded: rr.ttl >> 24) << 4 | (flags & 0x000F),
                                version: UInt8(truncatingIfNeeded: rr.ttl >> 16),
                                dnssecOK: rr.ttl & 0x8000 != 0,
                                options: options)
                        }
                        continue
                    }
                }
                let record = p.materialize(rr, section: section)
                switch section {
                case .answer: m.answers.append(record)
                case .authority: m.authority.append(record)
                default: m.additional.append(record)
                }
            }
        }
        if !p.stopped && p.offset < bytes.count {
            p.note(.trailingBytes(count: bytes.count - p.offset))
        }
        m.truncated = p.stopped
        m.anomalies = p.anomalies
        return .success(m)
    }

    /// Parse bytes held in an array.
    public static func parse(_ bytes: [UInt8]) -> Result<DNSMessage, DNSParseError> {
        bytes.withUnsafeBytes { parse($0) }
    }
}

/// A record located in the message, before its RDATA is decoded.
struct LocatedRR {
    var nameText: String
    var ownerIsRoot: Bool
    var type: UInt16
    var rawClass: UInt16
    var ttl: UInt32
    var rdataStart: Int
    var rdataEnd: Int
}

struct MessageParser {
    let msg: UnsafeRawBufferPointer
    var offset: Int
    var stopped = false
    var anomalies: [DNSAnomaly] = []

    init(msg: UnsafeRawBufferPointer, offset: Int) {
        self.msg = msg
        self.offset = offset
    }

    mutating func note(_ a: DNSAnomaly) {
        if !anomalies.contains(a) { anomalies.append(a) }
    }

    mutating func noteName(_ error: NameError?, forward: Bool, section: DNSSection) {
        if forward { note(.forwardCompressionPointer(section)) }
        switch error {
        case nil, .structural?: break
        case .tooLong?: note(.nameTooLong(section))
        case .labelType?: note(.labelTooLong(section))
        case .loop?: note(.compressionLoop(section))
        case .badPointer?: note(.badCompressionPointer(section))
        }
    }

    /// Stop at a record that cannot be delimited.
    mutating func stop(_ a: DNSAnomaly) {
        note(a)
        stopped = true
    }

    mutating func question() -> DNSQuestion? {
        guard !stopped else { return nil }
        let n = readName(msg, at: offset, limit: msg.count)
        guard n.end >= 0 else {
            stop(n.error == .labelType ? .labelTooLong(.question) : .truncatedQuestion)
            return nil
        }
        var c = ByteCursor(msg, offset: n.end)
        guard let type = c.u16(), let cls = c.u16() else {
            stop(.truncatedQuestion)
            return nil
        }
        noteName(n.error, forward: n.forward, section: .question)
        offset = c.offset
        return DNSQuestion(name: n.text, type: type, qclass: cls & 0x7FFF, unicastResponse: cls & 0x8000 != 0)
    }

    mutating func record(section: DNSSection) -> LocatedRR? {
        guard !stopped else { return nil }
        let n = readName(msg, at: offset, limit: msg.count)
        guard n.end >= 0 else {
            stop(n.error == .labelType ? .labelTooLong(section) : .truncatedRR(section))
            return nil
        }
        var c = ByteCursor(msg, offset: n.end)
        guard let type = c.u16(), let cls = c.u16(), let ttl = c.u32(), let rdlen = c.u16() else {
            stop(.truncatedRR(section))
            return nil
        }
        let rdataStart = c.offset
        guard c.skip(Int(rdlen)) else {
            stop(.truncatedRR(section))
            return nil
        }
        noteName(n.error, forward: n.forward, section: section)
        offset = c.offset
        return LocatedRR(nameText: n.text, ownerIsRoot: n.error == nil && n.text == ".",
                         type: type, rawClass: cls, ttl: ttl, rdataStart: rdataStart, rdataEnd: c.offset)
    }

    mutating func materialize(_ rr: LocatedRR, section: DNSSection) -> DNSResourceRecord {
        let cls = rr.rawClass & 0x7FFF
        let rdata: DNSRData
        switch rdataStatus(type: rr.type, rrclass: cls, msg, start: rr.rdataStart, end: rr.rdataEnd) {
        case .malformed:
            note(.rrLengthMismatch(section, type: rr.type))
            rdata = .malformed(Array(UnsafeRawBufferPointer(rebasing: msg[rr.rdataStart..<rr.rdataEnd])))
        case .ok, .nameError:
            var errors: [NameError] = []
            var forward = false
            let d = DNSRData.decode(type: rr.type, rrclass: cls, msg, start: rr.rdataStart, end: rr.rdataEnd,
                                    nameErrors: &errors, forwardPointer: &forward)
            if case .malformed = d, isTypedRDataType(rr.type) { note(.rrLengthMismatch(section, type: rr.type)) }
            for e in errors { noteName(e, forward: false, section: section) }
            if forward { note(.forwardCompressionPointer(section)) }
            rdata = d
        }
        return DNSResourceRecord(name: rr.nameText, type: rr.type, rrclass: cls, cacheFlush: rr.rawClass & 0x8000 != 0,
                                 ttl: rr.ttl, rdata: rdata)
    }
}
