import DNSWire
import Foundation
import XCTest

// MARK: - reference implementation

/// A frozen copy of `DNSSummary.summarize` (and the name walker, RDATA check and hashing it
/// used) as it was before the hot-path rewrite, except that names' labels are hashed a word at a
/// time (`foldLabelBytes`, the specification since stop 11). The differential test below holds
/// the current implementation to it bit for bit. Do not "fix" or speed this up: it is the
/// specification.
private enum ReferenceSummary {
    static let fnvOffset: UInt64 = 0xcbf2_9ce4_8422_2325
    static let fnvPrime: UInt64 = 0x0000_0100_0000_01b3
    static let maxPointerHops = 127
    static let maxWireLength = 255

    enum NameError { case structural, tooLong, labelType, loop, badPointer }
    enum RDataStatus { case ok, nameError, malformed }

    struct NameScan {
        var end: Int
        var error: NameError?
        var forward: Bool
    }

    static func fnv(_ h: inout UInt64, _ b: UInt8) { h = (h ^ UInt64(b)) &* fnvPrime }

    static func fnv16(_ h: inout UInt64, _ v: UInt16) {
        fnv(&h, UInt8(truncatingIfNeeded: v >> 8))
        fnv(&h, UInt8(truncatingIfNeeded: v))
    }

    static func fnvRange(_ h: inout UInt64, _ msg: UnsafeRawBufferPointer, _ from: Int, _ to: Int) {
        var i = from
        while i < to {
            fnv(&h, msg[i])
            i += 1
        }
    }

    static func asciiLower(_ c: UInt8) -> UInt8 { (c &- 0x41) < 26 ? c | 0x20 : c }

    static func mix64(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func scanName(_ msg: UnsafeRawBufferPointer, start: Int, limit: Int, onLabel: (Int, Int) -> Void) -> NameScan {
        var pos = start
        var bound = min(limit, msg.count)
        var end = -1
        var hops = 0
        var wire = 1
        var error: NameError? = nil
        var forward = false
        while true {
            guard pos >= 0, pos < bound else {
                if end < 0 { return NameScan(end: -1, error: .structural, forward: forward) }
                return NameScan(end: end, error: error ?? .badPointer, forward: forward)
            }
            let b = msg[pos]
            if b == 0 {
                if end < 0 { end = pos + 1 }
                break
            }
            switch b & 0xC0 {
            case 0x00:
                let len = Int(b)
                guard bound - pos - 1 >= len else {
                    if end < 0 { return NameScan(end: -1, error: .structural, forward: forward) }
                    return NameScan(end: end, error: error ?? .badPointer, forward: forward)
                }
                if error == nil {
                    wire += 1 + len
                    if wire > maxWireLength {
                        error = .tooLong
                        if end >= 0 { return NameScan(end: end, error: error, forward: forward) }
                    } else {
                        onLabel(pos + 1, len)
                    }
                }
                pos += 1 + len
            case 0xC0:
                guard bound - pos >= 2 else {
                    if end < 0 { return NameScan(end: -1, error: .structural, forward: forward) }
                    return NameScan(end: end, error: error ?? .badPointer, forward: forward)
                }
                let target = Int(b & 0x3F) << 8 | Int(msg[pos + 1])
                if end < 0 { end = pos + 2 }
                if error != nil { return NameScan(end: end, error: error, forward: forward) }
                if target >= pos { forward = true }
                hops += 1
                if hops > maxPointerHops { return NameScan(end: end, error: .loop, forward: forward) }
                guard target < msg.count else { return NameScan(end: end, error: .badPointer, forward: forward) }
                pos = target
                bound = msg.count
            default:
                if end < 0 { return NameScan(end: -1, error: .labelType, forward: forward) }
                return NameScan(end: end, error: error ?? .labelType, forward: forward)
            }
        }
        return NameScan(end: end, error: error, forward: forward)
    }

    /// A label's bytes after its length octet: ASCII-lowercased, packed little-endian into 8-byte
    /// words (the last one zero-padded), each folded by a multiply and a fold of its high half.
    /// (Until stop 11 each byte was an FNV-1a step; the word fold is the specification since.)
    static func foldLabelBytes(_ h: inout UInt64, _ bytes: [UInt8]) {
        var k = 0
        while k < bytes.count {
            var w: UInt64 = 0
            for i in 0..<min(8, bytes.count - k) { w |= UInt64(asciiLower(bytes[k + i])) << (8 * UInt64(i)) }
            let x = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h = x ^ (x >> 32)
            k += 8
        }
    }

    static func hashName(_ msg: UnsafeRawBufferPointer, start: Int, limit: Int, _ h: inout UInt64) -> NameScan {
        var hh = h
        let scan = scanName(msg, start: start, limit: limit) { s, l in
            fnv(&hh, UInt8(truncatingIfNeeded: l))
            foldLabelBytes(&hh, Array(msg[s..<(s + l)]))
        }
        fnv(&hh, 0)
        h = hh
        return scan
    }

    static func isTypedRDataType(_ type: UInt16) -> Bool {
        switch type {
        case 1, 2, 5, 6, 12, 15, 16, 28, 33, 35, 39, 43, 46, 47, 48, 50, 52, 53, 59, 60, 64, 65, 99, 256, 257: return true
        default: return false
        }
    }

    struct RDataWalker {
        let msg: UnsafeRawBufferPointer
        let end: Int
        var p: Int
        var h: UInt64
        var nameErr = false

        init(msg: UnsafeRawBufferPointer, start: Int, end: Int, h: UInt64) {
            self.msg = msg
            self.end = end
            p = start
            self.h = h
        }

        mutating func raw(_ n: Int) -> Bool {
            guard n >= 0, end - p >= n else { return false }
            fnvRange(&h, msg, p, p + n)
            p += n
            return true
        }

        mutating func name() -> Bool {
            let s = hashName(msg, start: p, limit: end, &h)
            guard s.end >= 0 else { return false }
            if s.error != nil { nameErr = true }
            p = s.end
            return true
        }

        mutating func charString() -> Bool {
            guard p < end else { return false }
            return raw(1 + Int(msg[p]))
        }

        mutating func typeBitmap() -> Bool {
            while p < end {
                guard end - p >= 2 else { return false }
                let blen = Int(msg[p + 1])
                guard blen >= 1, blen <= 32, raw(2 + blen) else { return false }
            }
            return true
        }

        mutating func svcParams() -> Bool {
            while p < end {
                guard end - p >= 4 else { return false }
                let key = UInt16(msg[p]) << 8 | UInt16(msg[p + 1])
                let vlen = Int(msg[p + 2]) << 8 | Int(msg[p + 3])
                guard end - p - 4 >= vlen, svcParamValueIsValid(key: key, msg, start: p + 4, length: vlen),
                      raw(4 + vlen) else { return false }
            }
            return true
        }

        mutating func nsec3() -> Bool {
            guard end - p >= 5 else { return false }
            let saltLen = Int(msg[p + 4])
            guard raw(5 + saltLen), p < end else { return false }
            let hashLen = Int(msg[p])
            return hashLen >= 1 && raw(1 + hashLen) && typeBitmap()
        }
    }

    static func checkRData(type: UInt16, rrclass: UInt16, _ msg: UnsafeRawBufferPointer, start: Int, end: Int, _ h: inout UInt64) -> RDataStatus {
        let len = end - start
        if len == 0 && (rrclass == DNSClass.any || rrclass == DNSClass.none) || !isTypedRDataType(type) {
            fnvRange(&h, msg, start, end)
            return .ok
        }
        var w = RDataWalker(msg: msg, start: start, end: end, h: h)
        let ok: Bool
        switch type {
        case 1: ok = len == 4 && w.raw(4)
        case 28: ok = len == 16 && w.raw(16)
        case 2, 5, 12, 39: ok = w.name() && w.p == end
        case 15: ok = w.raw(2) && w.name() && w.p == end
        case 16, 99:
            var good = len > 0
            while good && w.p < end { good = w.charString() }
            ok = good
        case 6: ok = w.name() && w.name() && w.raw(20) && w.p == end
        case 33: ok = w.raw(6) && w.name() && w.p == end
        case 257: ok = len >= 2 && msg[start + 1] >= 1 && 2 + Int(msg[start + 1]) <= len && w.raw(len)
        case 35: ok = w.raw(4) && w.charString() && w.charString() && w.charString() && w.name() && w.p == end
        case 43, 59, 48, 60: ok = len >= 4 && w.raw(len)
        case 46: ok = w.raw(18) && w.name() && w.raw(end - w.p)
        case 47: ok = w.name() && w.typeBitmap()
        case 50: ok = w.nsec3()
        case 64, 65: ok = w.raw(2) && w.name() && w.svcParams()
        case 52, 53: ok = len >= 3 && w.raw(len)
        case 256: ok = len >= 4 && w.raw(len)
        default: ok = w.raw(len)
        }
        if !ok {
            fnvRange(&h, msg, start, end)
            return .malformed
        }
        h = w.h
        return w.nameErr ? .nameError : .ok
    }

    static func svcParamValueIsValid(key: UInt16, _ msg: UnsafeRawBufferPointer, start: Int, length: Int) -> Bool {
        switch key {
        case SVCParamKey.mandatory: return length > 0 && length % 2 == 0
        case SVCParamKey.alpn:
            guard length > 0 else { return false }
            var p = start
            let end = start + length
            while p < end {
                let l = Int(msg[p])
                guard l >= 1, end - p - 1 >= l else { return false }
                p += 1 + l
            }
            return true
        case SVCParamKey.noDefaultALPN: return length == 0
        case SVCParamKey.port: return length == 2
        case SVCParamKey.ipv4hint: return length > 0 && length % 4 == 0
        case SVCParamKey.ipv6hint: return length > 0 && length % 16 == 0
        default: return true
        }
    }

    static func summarize(_ bytes: UnsafeRawBufferPointer) -> DNSSummary? {
        let msg = bytes
        let n = msg.count
        guard n >= 12 else { return nil }
        func be16(_ i: Int) -> UInt16 { UInt16(msg[i]) << 8 | UInt16(msg[i + 1]) }
        var s = DNSSummary(id: be16(0), flags: be16(2),
                           counts: DNSCounts(qd: be16(4), an: be16(6), ns: be16(8), ar: be16(10)))
        var pos = 12

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

    static func summarize(_ bytes: [UInt8]) -> DNSSummary? {
        bytes.withUnsafeBytes { summarize($0) }
    }
}

// MARK: - corpora

enum SummaryCorpus {
    /// ~10 realistic messages, as seen by `dnsaudit analyze`: queries and responses, A, AAAA
    /// behind a CNAME chain, HTTPS, TXT, NXDOMAIN with SOA, EDNS OPT with options.
    static func realistic() -> [[UInt8]] {
        var out: [[UInt8]] = []
        func add(_ make: () throws -> [UInt8]) {
            if let m = try? make() { out.append(m) }
        }
        // 1. A query with EDNS.
        add { try DNSQuery.make(id: 0x1201, name: "www.example.com.", type: DNSType.a, edns: (1232, false, false)) }
        // 2. A response, two addresses, EDNS.
        add {
            var b = DNSMessageBuilder(id: 0x1201, flags: DNSMessageBuilder.responseFlags())
            try b.addQuestion(name: "www.example.com.", type: DNSType.a)
            try b.addAnswer(name: "www.example.com.", type: DNSType.a, ttl: 300, rdata: .a("93.184.215.14"))
            try b.addAnswer(name: "www.example.com.", type: DNSType.a, ttl: 300, rdata: .a("93.184.215.15"))
            b.setEDNS()
            return try b.build()
        }
        // 3. AAAA behind a two-step CNAME chain, EDNS.
        add {
            var b = DNSMessageBuilder(id: 0x3344, flags: DNSMessageBuilder.responseFlags())
            try b.addQuestion(name: "www.Shop.example.org.", type: DNSType.aaaa)
            try b.addAnswer(name: "www.Shop.example.org.", type: DNSType.cname, ttl: 300, rdata: .cname("shop.example.org.cdn.example.net."))
            try b.addAnswer(name: "shop.example.org.cdn.example.net.", type: DNSType.cname, ttl: 60, rdata: .cname("e1234.a.cdn-edge.example.net."))
            try b.addAnswer(name: "e1234.a.cdn-edge.example.net.", type: DNSType.aaaa, ttl: 20, rdata: .aaaa("2001:db8:1::17"))
            try b.addAnswer(name: "e1234.a.cdn-edge.example.net.", type: DNSType.aaaa, ttl: 20, rdata: .aaaa("2001:db8:1::18"))
            b.setEDNS()
            return try b.build()
        }
        // 4. HTTPS (captured, cloudflare.com).
        out.append(Vectors.httpsResponse)
        // 5. TXT behind a CNAME chain with NS and glue (captured).
        out.append(Vectors.txtMultiple)
        // 6. NXDOMAIN with SOA in the authority section, EDNS.
        add {
            var b = DNSMessageBuilder(id: 0x6006, flags: DNSMessageBuilder.responseFlags(rcode: 3))
            try b.addQuestion(name: "nosuchhost.example.com.", type: DNSType.a)
            try b.addAuthority(name: "example.com.", type: DNSType.soa, ttl: 900,
                               rdata: .soa(mname: "ns1.example.com.", rname: "hostmaster.example.com.", serial: 2024060101,
                                           refresh: 7200, retry: 3600, expire: 1_209_600, minimum: 300))
            b.setEDNS()
            return try b.build()
        }
        // 7. EDNS query with NSID, padding and a cookie (captured).
        out.append(Vectors.nsidPaddingCookieQuery)
        // 8. EDNS response with a cookie and ECS (captured).
        out.append(Vectors.cookieEcsResponse)
        // 9. Twelve A answers (captured google.com).
        out.append(Vectors.googleA)
        // 10. AAAA response (captured).
        out.append(Vectors.googleAAAA)
        return out
    }

    /// Every vector, the robustness corpus and the realistic set.
    static func all() -> [[UInt8]] {
        var c = realistic() + RobustnessTests.corpus
        c += [
            Vectors.maxCompressionDepth, Vectors.forwardPointerQuery, Vectors.forwardPointerResponse, Vectors.ndpiMalformed,
            Vectors.ednsBadLength, Vectors.googleA, Vectors.googleAAAA, Vectors.googleMX, Vectors.srvResponse,
            Vectors.httpsResponse, Vectors.ptrResponse, Vectors.txtMultiple, Vectors.rrsigResponse, Vectors.ecsV4Response,
            Vectors.ecsV6Query, Vectors.cookieResponse, Vectors.nsidQuery, Vectors.opt77Query, Vectors.paddingQuery,
            Vectors.nsidPaddingCookieQuery, Vectors.cookieEcsResponse,
        ]
        return c
    }
}

// MARK: - differential test

final class SummaryDifferentialTests: XCTestCase {
    private var checked = 0
    private var failures = 0
    private var seen = (wellFormed: 0, malformed: 0, tailBad: 0, short: 0)

    private func check(_ m: [UInt8], _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
        checked += 1
        let ref = ReferenceSummary.summarize(m)
        let new = m.withUnsafeBytes { DNSSummary.summarize($0) }
        // The [UInt8] overload must agree too, and so must the same bytes in the middle of a larger
        // buffer whose neighbouring bytes look like names and pointers (nothing is read outside).
        let viaArray = DNSSummary.summarize(m)
        let framed = ([0xC0, 0x0C, 0x03] + m + [0xC0, 0x0C, 0x03, 0x41, 0x42, 0x43, 0x00, 0x00, 0x01, 0x00, 0x01]).withUnsafeBytes {
            DNSSummary.summarize(UnsafeRawBufferPointer(rebasing: $0[3..<(3 + m.count)]))
        }
        if let r = ref {
            if r.wellFormed { seen.wellFormed += 1 } else { seen.malformed += 1 }
            if !r.tailWellFormed { seen.tailBad += 1 }
        } else {
            seen.short += 1
        }
        guard ref != new || ref != viaArray || ref != framed
                || ref?.tailWellFormed != new?.tailWellFormed else { return }
        failures += 1
        if failures <= 10 {
            XCTFail("summary differs for \(what()) \(toHex(m)):\n reference \(String(describing: ref))\n new       \(String(describing: new))",
                    file: file, line: line)
        }
    }

    /// Types whose RDATA is checked structurally, plus OPT and a few untyped ones.
    static let interestingTypes: [UInt16] = [1, 2, 5, 6, 12, 15, 16, 28, 33, 35, 39, 41, 43, 46, 47, 48, 50, 52, 53, 59, 60,
                                             64, 65, 99, 256, 257, 0, 10, 255, 0xFFFF]
    static let interestingBytes: [UInt8] = [0x00, 0x01, 0x02, 0x03, 0x04, 0x0c, 0x1f, 0x20, 0x29, 0x3f, 0x40, 0x41, 0x5a,
                                            0x5b, 0x61, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xfe, 0xff]

    func mutate(_ m: inout [UInt8], _ rng: inout SplitMix) {
        guard !m.isEmpty else { m = [UInt8(truncatingIfNeeded: rng.next())]; return }
        let at = Int(rng.next() % UInt64(m.count))
        switch rng.next() % 14 {
        case 0: m[at] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
        case 1: m[at] = Self.interestingBytes[Int(rng.next() % UInt64(Self.interestingBytes.count))]
        case 2: m[at] = UInt8(truncatingIfNeeded: rng.next())
        case 3: m.removeSubrange(at..<m.count)  // truncation
        case 4: m.insert(contentsOf: (0..<(1 + rng.next() % 6)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        case 5:  // a compression pointer to a random (often earlier, sometimes looping) offset
            let target = rng.next() % 2 == 0 ? 12 + Int(rng.next() % UInt64(max(1, m.count - 12 + 4)))
                                             : Int(rng.next() % UInt64(m.count + 8))
            m[at] = 0xC0 | UInt8(truncatingIfNeeded: target >> 8 & 0x3f)
            if at + 1 < m.count { m[at + 1] = UInt8(truncatingIfNeeded: target) }
        case 6:  // a self-pointer or a two-pointer loop
            m[at] = 0xC0 | UInt8(truncatingIfNeeded: at >> 8 & 0x3f)
            if at + 1 < m.count { m[at + 1] = UInt8(truncatingIfNeeded: at) }
            if at + 3 < m.count, rng.next() % 2 == 0 {
                m[at + 1] = UInt8(truncatingIfNeeded: at + 2)
                m[at + 2] = 0xC0 | UInt8(truncatingIfNeeded: at >> 8 & 0x3f)
                m[at + 3] = UInt8(truncatingIfNeeded: at)
            }
        case 7:  // header counts, small or huge
            if m.count >= 12 {
                let field = 4 + 2 * Int(rng.next() % 4)
                let big = rng.next() % 5 == 0
                m[field] = big ? 0xFF : 0
                m[field + 1] = big ? 0xFF : UInt8(truncatingIfNeeded: rng.next() % 8)
            }
        case 8:  // duplicate a range somewhere
            let len = Int(rng.next() % 24)
            let end = min(m.count, at + len)
            m.insert(contentsOf: m[at..<end], at: Int(rng.next() % UInt64(m.count)))
        case 9:  // a 16-bit value (RDLENGTH, type, class, option length)
            if at + 1 < m.count {
                let v = rng.next() % 3 == 0 ? Self.interestingTypes[Int(rng.next() % UInt64(Self.interestingTypes.count))]
                                            : UInt16(truncatingIfNeeded: rng.next() % 300)
                m[at] = UInt8(truncatingIfNeeded: v >> 8)
                m[at + 1] = UInt8(truncatingIfNeeded: v)
            }
        case 10:  // case flip of a letter
            if (m[at] | 0x20) >= 0x61 && (m[at] | 0x20) <= 0x7a { m[at] ^= 0x20 }
        case 11:  // class ANY / NONE
            if at + 1 < m.count {
                m[at] = rng.next() % 2 == 0 ? 0 : 0x80
                m[at + 1] = rng.next() % 2 == 0 ? 0xFF : 0xFE
            }
        case 12:  // a long label (towards names > 255 octets)
            let len = 40 + Int(rng.next() % 24)
            m.insert(contentsOf: [UInt8(len)] + (0..<len).map { _ in UInt8(0x41 + rng.next() % 26) }, at: at)
        default:  // remove a few bytes
            let end = min(m.count, at + 1 + Int(rng.next() % 4))
            m.removeSubrange(at..<end)
        }
    }

    /// A random name: labels of random letters (mixed case, sometimes odd bytes), ending in the
    /// root label or in a pointer to an earlier name.
    func randomName(_ rng: inout SplitMix, pointers: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        let labels = Int(rng.next() % 5)
        for _ in 0..<labels {
            let len = 1 + Int(rng.next() % (rng.next() % 8 == 0 ? 63 : 12))
            out.append(UInt8(len))
            for _ in 0..<len {
                let r = rng.next() % 20
                out.append(r == 0 ? UInt8(truncatingIfNeeded: rng.next()) : r < 10 ? UInt8(0x41 + rng.next() % 26) : UInt8(0x61 + rng.next() % 26))
            }
        }
        if !pointers.isEmpty, rng.next() % 3 != 0 {
            let t = pointers[Int(rng.next() % UInt64(pointers.count))]
            out += [0xC0 | UInt8(truncatingIfNeeded: t >> 8 & 0x3f), UInt8(truncatingIfNeeded: t)]
        } else {
            out.append(0)
        }
        return out
    }

    func be16(_ v: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
    /// A compression pointer to offset `t`.
    func ptr(_ t: Int) -> [UInt8] { [0xC0 | UInt8(truncatingIfNeeded: t >> 8 & 0x3f), UInt8(truncatingIfNeeded: t)] }

    /// Random RDATA roughly shaped for `type` (right often enough to reach deep into checkRData).
    func randomRData(type: UInt16, _ rng: inout SplitMix, pointers: [Int]) -> [UInt8] {
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        func cstr() -> [UInt8] { let l = Int(rng.next() % 12); return [UInt8(l)] + bytes(l) }
        func bitmap() -> [UInt8] {
            var o: [UInt8] = []
            for _ in 0..<Int(rng.next() % 3) { let l = 1 + Int(rng.next() % 4); o += [UInt8(rng.next() % 4), UInt8(l)] + bytes(l) }
            return o
        }
        switch type {
        case 1: return bytes(4)
        case 28: return bytes(16)
        case 2, 5, 12, 39: return randomName(&rng, pointers: pointers)
        case 15: return bytes(2) + randomName(&rng, pointers: pointers)
        case 16, 99: return (0..<(1 + Int(rng.next() % 3))).flatMap { _ in cstr() }
        case 6:
            let a = randomName(&rng, pointers: pointers)
            return a + randomName(&rng, pointers: pointers) + bytes(20)
        case 33: return bytes(6) + randomName(&rng, pointers: pointers)
        case 257: let t = 1 + Int(rng.next() % 5); return [0, UInt8(t)] + bytes(t + Int(rng.next() % 6))
        case 35: return bytes(4) + cstr() + cstr() + cstr() + randomName(&rng, pointers: pointers)
        case 46: return bytes(18) + randomName(&rng, pointers: pointers) + bytes(Int(rng.next() % 8))
        case 47: return randomName(&rng, pointers: pointers) + bitmap()
        case 50:
            let salt = Int(rng.next() % 4), hash = 1 + Int(rng.next() % 6)
            return bytes(4) + [UInt8(salt)] + bytes(salt) + [UInt8(hash)] + bytes(hash) + bitmap()
        case 64, 65:
            var o = bytes(2) + randomName(&rng, pointers: pointers)
            for _ in 0..<Int(rng.next() % 4) {
                let key = Int(rng.next() % 8)
                var v: [UInt8]
                switch key {
                case 0: v = bytes(2 * Int(rng.next() % 3))
                case 1: v = (0..<Int(rng.next() % 3)).flatMap { _ in [UInt8(2)] + [0x68, 0x32] }
                case 2: v = []
                case 3: v = bytes(2)
                case 4: v = bytes(4 * Int(rng.next() % 3))
                case 6: v = bytes(16 * Int(rng.next() % 2))
                default: v = bytes(Int(rng.next() % 5))
                }
                if rng.next() % 10 == 0 { v += bytes(1) }
                o += be16(key) + be16(v.count) + v
            }
            return o
        case 41:
            var o: [UInt8] = []
            for _ in 0..<Int(rng.next() % 3) { let l = Int(rng.next() % 6); o += be16(Int(rng.next() % 16)) + be16(l) + bytes(l) }
            if rng.next() % 8 == 0 { o += bytes(1 + Int(rng.next() % 3)) }
            return o
        default: return bytes(Int(rng.next() % (rng.next() % 2 == 0 ? 8 : 40)))
        }
    }

    /// A random, mostly well-formed message with compression pointers between its names.
    func randomMessage(_ rng: inout SplitMix) -> [UInt8] {
        let qd = rng.next() % 10 == 0 ? Int(rng.next() % 3) : 1
        let an = Int(rng.next() % 6), ns = Int(rng.next() % 3), ar = Int(rng.next() % 3)
        var m = be16(Int(rng.next() % 65536)) + be16(Int(rng.next() % 65536)) + be16(qd) + be16(an) + be16(ns) + be16(ar)
        var pointers: [Int] = []
        for _ in 0..<qd {
            let start = m.count
            m += randomName(&rng, pointers: pointers)
            pointers.append(start)
            m += be16(Int(Self.interestingTypes[Int(rng.next() % UInt64(Self.interestingTypes.count))])) + be16(rng.next() % 4 == 0 ? 0x8001 : 1)
        }
        for _ in 0..<(an + ns + ar) {
            let start = m.count
            m += randomName(&rng, pointers: pointers)
            if rng.next() % 2 == 0 { pointers.append(start) }
            let type = Self.interestingTypes[Int(rng.next() % UInt64(Self.interestingTypes.count))]
            let cls: Int = rng.next() % 6 == 0 ? [0x8001, 255, 254, 3][Int(rng.next() % 4)] : 1
            var rd = randomRData(type: type, &rng, pointers: pointers)
            if (cls == 255 || cls == 254), rng.next() % 2 == 0 { rd = [] }
            m += be16(Int(type)) + be16(cls) + be16(Int(rng.next() % 65536)) + be16(Int(rng.next() % 65536)) + be16(rd.count)
            if [2, 5, 12, 39, 15, 33, 6, 47, 64, 65].contains(type) { pointers.append(m.count + (type == 15 ? 2 : type == 33 ? 6 : type == 64 || type == 65 ? 2 : 0)) }
            m += rd
        }
        return m
    }

    /// A question, then an untyped answer whose RDATA is a chain of `hops` pointers ending at the
    /// question name, then CNAME and A answers whose owners point at the question, into the
    /// chain or at earlier CNAME targets, and whose CNAME targets point into the chain
    /// (pointer-hop limit edges for names reused through the hash cache).
    func chainMessage(hops: Int, answers: Int, _ rng: inout SplitMix) -> [UInt8] {
        var m = be16(Int(rng.next() % 65536)) + be16(0x8180) + be16(1) + be16(0) + be16(0) + be16(0)
        m += [3, 0x57, 0x77, 0x57, 7] + Array("ExAmple".utf8) + [3] + Array("COM".utf8) + [0] + [0, 1, 0, 1]
        var targets: [Int] = [12]
        // The chain, as the RDATA of an untyped answer owned by the question name.
        var chain: [UInt8] = []
        let chainStart = m.count + 12
        var prev = 12
        for _ in 0..<hops {
            let here = chainStart + chain.count
            chain += ptr(prev)
            targets.append(here)
            prev = here
        }
        m += ptr(12) + be16(0xFF00) + be16(1) + [0, 0, 0, 9] + be16(chain.count) + chain
        var count = 1
        var cnameTargets: [Int] = []
        for _ in 0..<answers {
            let pool = rng.next() % 2 == 0 && !cnameTargets.isEmpty ? cnameTargets : targets
            m += ptr(pool[Int(rng.next() % UInt64(pool.count))])
            if rng.next() % 3 == 0 {
                m += be16(1) + be16(1) + [0, 0, 0, 9] + be16(4) + [192, 0, 2, UInt8(truncatingIfNeeded: rng.next())]
            } else {
                let rd: [UInt8] = (rng.next() % 2 == 0 ? [2, 0x4B, 0x6b] : []) + ptr(targets[Int(rng.next() % UInt64(targets.count))])
                m += be16(5) + be16(1) + [0, 0, 0, 9] + be16(rd.count)
                cnameTargets.append(m.count)
                m += rd
            }
            count += 1
        }
        m.replaceSubrange(6..<8, with: be16(count))
        return m
    }

    func testMatchesReferenceOnCorpus() {
        let corpus = SummaryCorpus.all()
        for (i, m) in corpus.enumerated() {
            check(m, "corpus[\(i)]")
            for len in 0...m.count { check(Array(m[0..<len]), "corpus[\(i)] prefix \(len)") }
        }
        XCTAssertEqual(failures, 0)
        print("differential corpus: \(checked) cases, \(failures) differences")
    }

    /// Every byte of every corpus message set to each interesting value.
    func testMatchesReferenceOnSingleByteSubstitutions() {
        for (i, m) in SummaryCorpus.all().enumerated() {
            for at in 0..<m.count {
                var x = m
                for v in Self.interestingBytes where v != m[at] {
                    x[at] = v
                    check(x, "corpus[\(i)] byte \(at) = \(v)")
                }
                for bit in 0..<8 {
                    x[at] = m[at] ^ UInt8(1 << bit)
                    check(x, "corpus[\(i)] byte \(at) bit \(bit)")
                }
            }
        }
        XCTAssertEqual(failures, 0)
        print("differential substitutions: \(checked) cases, \(failures) differences")
    }

    /// Every byte value at every position of labels 1...17 bytes long, as the name's last label
    /// (its last word is loaded whole or, when fewer than 8 bytes of the message are left, byte
    /// by byte): the word-at-a-time lowercasing and packing against the reference's bytes.
    func testMatchesReferenceOnEveryLabelByte() {
        for len in 1...17 {
            for at in 0..<len {
                for v in 0...255 {
                    var label = [UInt8](repeating: 0x5A, count: len)  // "Z…"
                    label[at] = UInt8(v)
                    let query: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x57, 0x77, 0x57]
                        + [UInt8(len)] + label + [0, 0, 1, 0, 1]
                    check(query, "label length \(len), byte \(at) = \(v)")
                }
            }
        }
        XCTAssertEqual(failures, 0)
        print("differential label bytes: \(checked) cases, \(failures) differences")
    }

    func testMatchesReferenceOnMutations() {
        var rng = SplitMix(state: 0xD1FF_5EED_0001)
        let corpus = SummaryCorpus.all()
        for i in 0..<60_000 {
            var m = corpus[i % corpus.count]
            for _ in 0..<(1 + Int(rng.next() % 5)) { mutate(&m, &rng) }
            check(m, "mutation \(i)")
        }
        XCTAssertEqual(failures, 0)
        print("differential mutations: \(checked) cases (\(seen)), \(failures) differences")
    }

    func testMatchesReferenceOnRandomMessages() {
        var rng = SplitMix(state: 0xD1FF_5EED_0002)
        for i in 0..<40_000 {
            var m = randomMessage(&rng)
            check(m, "random message \(i)")
            if i % 2 == 0 {
                for _ in 0..<(1 + Int(rng.next() % 3)) { mutate(&m, &rng) }
                check(m, "mutated random message \(i)")
            }
        }
        for i in 0..<5_000 {
            let n = 12 + Int(rng.next() % 200)
            check((0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, "random bytes \(i)")
        }
        XCTAssertEqual(failures, 0)
        print("differential random: \(checked) cases (\(seen)), \(failures) differences")
    }

    func testMatchesReferenceOnPointerChains() {
        var rng = SplitMix(state: 0xD1FF_5EED_0003)
        for hops in [0, 1, 2, 60, 120, 124, 125, 126, 127, 128, 129, 130] {
            for _ in 0..<40 {
                var m = chainMessage(hops: hops, answers: 1 + Int(rng.next() % 6), &rng)
                check(m, "chain \(hops)")
                mutate(&m, &rng)
                check(m, "mutated chain \(hops)")
            }
        }
        // Question names at the pointer-hop limit (through a chain kept in an earlier RDATA),
        // then owners pointing at the question, into the chain, and an authority NS.
        for hops in 123...129 {
            for inlineLabel in [false, true] {
                let qLen = inlineLabel ? 8 : 6
                let base = 12 + qLen + 11  // the chain is the RDATA of the first answer
                var chainBody: [UInt8] = [1, 0x41, 0]
                var prev = base
                for _ in 0..<hops {
                    let here = base + chainBody.count
                    chainBody += [0xC0 | UInt8(prev >> 8), UInt8(prev & 0xff)]
                    prev = here
                }
                let deepest = prev
                var m: [UInt8] = [0, 1, 0x81, 0x80, 0, 1, 0, 4, 0, 1, 0, 0]
                if inlineLabel { m += [1, 0x71] }
                m += [0xC0 | UInt8(deepest >> 8), UInt8(deepest & 0xff), 0, 1, 0, 1]
                m += [0] + be16(0xFF00) + be16(1) + [0, 0, 0, 1] + be16(chainBody.count) + chainBody
                for target in [12, deepest, deepest - 2] {
                    m += [0xC0 | UInt8(target >> 8), UInt8(target & 0xff)] + be16(1) + be16(1) + [0, 0, 0, 1] + be16(4) + [1, 2, 3, 4]
                }
                m += [0xC0, 12] + be16(2) + be16(1) + [0, 0, 0, 1] + be16(2) + [0xC0, 12]
                check(m, "hop limit \(hops) inline \(inlineLabel)")
                for _ in 0..<300 {
                    var x = m
                    for _ in 0..<(1 + Int(rng.next() % 2)) { mutate(&x, &rng) }
                    check(x, "hop limit \(hops) mutated")
                }
            }
        }
        XCTAssertEqual(failures, 0)
        print("differential pointer chains: \(checked) cases (\(seen)), \(failures) differences")
    }

    /// Names reused through a pointer (a CNAME target, an inline owner, the question) whose own
    /// walk is right at the pointer-hop limit: one more hop through the pointer must fail exactly
    /// as in the reference.
    func testMatchesReferenceAtHopLimitThroughReusedNames() {
        var rng = SplitMix(state: 0xD1FF_5EED_0004)
        for hops in 121...129 {
            for inlineLabel in [false, true] {
                for questionInChain in [false, true] {
                    // Header, then the question at 12, then a first answer whose RDATA holds a chain of
                    // `hops` pointers ending in the name "A".
                    let qLen = questionInChain ? 6 : 7
                    let base = 12 + qLen + 11
                    var chainBody: [UInt8] = [1, 0x41, 0]
                    var prev = base
                    for _ in 0..<hops {
                        let here = base + chainBody.count
                        chainBody += ptr(prev)
                        prev = here
                    }
                    let deepest = prev
                    var m: [UInt8] = [0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]
                    m += questionInChain ? ptr(deepest - 2) + [0, 5, 0, 1] : [1, 0x71, 0, 0, 5, 0, 1]
                    m += [0] + be16(0xFF00) + be16(1) + [0, 0, 0, 1] + be16(chainBody.count) + chainBody
                    var answers = 1
                    for e in [deepest, deepest - 2, deepest - 4] {
                        // CNAME (owner: the question) whose target points into the chain.
                        let cnameTarget = (inlineLabel ? [1, 0x78] : []) + ptr(e)
                        m += ptr(12) + be16(5) + be16(1) + [0, 0, 0, 1] + be16(cnameTarget.count)
                        let rdStart = m.count
                        m += cnameTarget
                        // Two A records owned by a pointer to the CNAME target (a miss, then a hit).
                        for _ in 0..<2 { m += ptr(rdStart) + be16(1) + be16(1) + [0, 0, 0, 1] + be16(4) + [192, 0, 2, 1] }
                        // An inline owner pointing into the chain, then an A owned by a pointer to it.
                        let ownerAt = m.count
                        m += [1, 0x6f] + ptr(e) + be16(16) + be16(1) + [0, 0, 0, 1] + be16(2) + [1, 0x61]
                        m += ptr(ownerAt) + be16(1) + be16(1) + [0, 0, 0, 1] + be16(4) + [192, 0, 2, 2]
                        answers += 5
                    }
                    m.replaceSubrange(6..<8, with: be16(answers))
                    check(m, "reused names at hop limit \(hops) inline \(inlineLabel) question-in-chain \(questionInChain)")
                    for _ in 0..<100 {
                        var x = m
                        mutate(&x, &rng)
                        check(x, "reused names at hop limit \(hops), mutated")
                    }
                }
            }
        }
        XCTAssertEqual(failures, 0)
        print("differential hop limit through reused names: \(checked) cases (\(seen)), \(failures) differences")
    }

    /// Authority/additional names that reach the 255-octet and 127-hop limits through names
    /// seen earlier in the tail (which the tail walk may remember), with prefixes that land just
    /// under, on and just over each limit.
    func testMatchesReferenceOnTailNamesAtLimits() {
        var rng = SplitMix(state: 0xD1FF_5EED_0005)
        func label(_ len: Int) -> [UInt8] { [UInt8(len)] + (0..<len).map { _ in UInt8(0x61 + rng.next() % 26) } }
        for round in 0..<4000 {
            // A pool of names in the RDATA of an untyped answer at offset 12 (owner: the root).
            let poolStart = 12 + 11
            var pool: [UInt8] = []
            var targets: [(offset: Int, wire: Int, hops: Int)] = []
            // Long inline names: wire 1 + 4 x (1 + 58...62).
            for _ in 0..<2 {
                let at = poolStart + pool.count
                var wire = 1
                for _ in 0..<4 { let l = 58 + Int(rng.next() % 5); pool += label(l); wire += 1 + l }
                pool += [0]
                targets.append((at, wire, 0))
            }
            // A pointer chain of depth up to 128 ending in "a".
            let chainAt = poolStart + pool.count
            pool += label(1) + [0]
            targets.append((chainAt, 3, 0))
            var prev = chainAt
            let depth = 120 + Int(rng.next() % 9)
            for d in 1...depth {
                let here = poolStart + pool.count
                pool += ptr(prev)
                if d >= depth - 4 { targets.append((here, 3, d)) }
                prev = here
            }
            // A label in front of a long name (wire near 255).
            for t in targets.prefix(2) {
                let at = poolStart + pool.count
                let l = max(1, min(63, 255 - t.wire - 1 + Int(rng.next() % 3) - 1))
                pool += label(l) + ptr(t.offset)
                targets.append((at, t.wire + l + 1, 1))
            }
            var m: [UInt8] = [UInt8(round >> 8), UInt8(round & 0xff), 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0]
            m += [0] + be16(0xFF01) + be16(1) + [0, 0, 0, 1] + be16(pool.count) + pool
            // Tail records: owner and NS target = a short prefix + a pointer to a pool name.
            func name() -> [UInt8] {
                let t = targets[Int(rng.next() % UInt64(targets.count))]
                var prefix: [UInt8] = []
                switch rng.next() % 4 {
                case 0: break
                case 1: prefix = label(1 + Int(rng.next() % 8))
                default:
                    // Land on 254, 255 or 256 octets when possible.
                    let want = 254 + Int(rng.next() % 3) - t.wire
                    if want >= 2 && want <= 64 { prefix = label(want - 1) } else { prefix = label(1 + Int(rng.next() % 3)) }
                }
                return prefix + ptr(t.offset)
            }
            let records = 1 + Int(rng.next() % 5)
            var nsOwners: [Int] = []
            for _ in 0..<records {
                let ownerAt = m.count
                if !nsOwners.isEmpty, rng.next() % 3 == 0 {
                    m += ptr(nsOwners[Int(rng.next() % UInt64(nsOwners.count))])
                } else {
                    m += name()
                }
                nsOwners.append(ownerAt)
                if rng.next() % 2 == 0 {
                    let target = name()
                    m += be16(2) + be16(1) + [0, 0, 0, 1] + be16(target.count)
                    nsOwners.append(m.count)
                    m += target
                } else {
                    m += be16(1) + be16(1) + [0, 0, 0, 1] + be16(4) + [192, 0, 2, 9]
                }
            }
            m.replaceSubrange(8..<10, with: be16(records))
            check(m, "tail limits round \(round)")
            if round % 4 == 0 {
                var x = m
                mutate(&x, &rng)
                check(x, "tail limits round \(round), mutated")
            }
        }
        XCTAssertEqual(failures, 0)
        print("differential tail names at limits: \(checked) cases (\(seen)), \(failures) differences")
    }

    /// The worst-case 64 KB chain message of RobustnessTests, and huge counts.
    func testMatchesReferenceOnLargeMessages() {
        let (wire, qd) = worstCaseChainMessage()
        check(wire, "worst-case chain")
        var asAnswers = wire
        asAnswers[4] = 0
        asAnswers[5] = 1
        asAnswers[6] = UInt8((qd - 1) >> 8)
        asAnswers[7] = UInt8((qd - 1) & 0xff)
        check(asAnswers, "worst-case chain as answers")
        check(hex("0000 8180 ffff ffff ffff ffff 00 0001 0001"), "huge counts")
        check(hex("0000 0100 ffff 0000 0000 0000") + Array((0..<13000).flatMap { _ in hex("0000010001") }), "many roots")
        XCTAssertEqual(failures, 0)
    }
}

// MARK: - timing harness (only with DNSAUDIT_SUMMARY_BENCH=1; never asserts on time)

final class SummaryBenchmark: XCTestCase {
    /// swift test -c release --scratch-path /tmp/summary-build-rel --filter SummaryBenchmark
    /// with DNSAUDIT_SUMMARY_BENCH=1 (DNSAUDIT_SUMMARY_BENCH_ROUNDS sets the passes, default 1M).
    func testSummarizeNanosecondsPerMessage() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["DNSAUDIT_SUMMARY_BENCH"] == "1" else { throw XCTSkip("set DNSAUDIT_SUMMARY_BENCH=1 to time summarize()") }
        let rounds = Int(env["DNSAUDIT_SUMMARY_BENCH_ROUNDS"] ?? "") ?? 1_000_000
        let msgs = SummaryCorpus.realistic()
        XCTAssertEqual(msgs.count, 10)
        // One contiguous buffer, so each call sees a plain UnsafeRawBufferPointer as in analyze.
        let flat = msgs.flatMap { $0 }
        var ranges: [Range<Int>] = []
        var at = 0
        for m in msgs { ranges.append(at..<(at + m.count)); at += m.count }
        var sink: UInt64 = 0
        func time(_ label: String, _ body: (UnsafeRawBufferPointer) -> DNSSummary?) {
            flat.withUnsafeBytes { all in
                var best = Double.infinity
                for _ in 0..<3 {
                    let start = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<rounds {
                        for r in ranges {
                            if let s = body(UnsafeRawBufferPointer(rebasing: all[r])) {
                                sink &+= s.answerDigest &+ s.questionHash &+ (s.tailWellFormed ? 1 : 0)
                            }
                        }
                    }
                    let ns = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds * ranges.count)
                    best = min(best, ns)
                }
                print(String(format: "%@: %.1f ns/message (best of 3, %d messages x %d rounds)", label, best, ranges.count, rounds))
            }
        }
        time("DNSSummary.summarize") { DNSSummary.summarize($0) }
        time("ReferenceSummary (frozen original, compiled in the test module)") { ReferenceSummary.summarize($0) }
        // Per message, for the report.
        flat.withUnsafeBytes { all in
            for (i, r) in ranges.enumerated() {
                let one = UnsafeRawBufferPointer(rebasing: all[r])
                let n = max(1, rounds / 4)
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<n { if let s = DNSSummary.summarize(one) { sink &+= s.answerDigest } }
                let ns = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(n)
                print(String(format: "  message %d (%d bytes): %.1f ns", i + 1, r.count, ns))
            }
        }
        print("sink \(sink)")
    }
}
