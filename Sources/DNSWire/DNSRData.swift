import NetTypes
import WireBytes

/// RDATA, typed for the common types. Names are in presentation format with a trailing dot
/// (compression already expanded). `presentation` is the master-file text (RFC 1035 and each
/// type's own RFC; unknown types as RFC 3597 `\# len hex`).
public enum DNSRData: Sendable, Equatable {
    case a(DNSIPv4Address)
    case aaaa(DNSIPv6Address)
    case cname(String)
    case ns(String)
    case ptr(String)
    case dname(String)
    case mx(preference: UInt16, exchange: String)
    /// The character-strings, each at most 255 bytes. Also used for SPF (99).
    case txt([[UInt8]])
    case soa(mname: String, rname: String, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32, minimum: UInt32)
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String)
    case caa(flags: UInt8, tag: String, value: [UInt8])
    case naptr(order: UInt16, preference: UInt16, flags: [UInt8], services: [UInt8], regexp: [UInt8], replacement: String)
    /// Also used for CDS (59).
    case ds(keyTag: UInt16, algorithm: UInt8, digestType: UInt8, digest: [UInt8])
    /// Also used for CDNSKEY (60).
    case dnskey(flags: UInt16, protocol: UInt8, algorithm: UInt8, publicKey: [UInt8])
    case rrsig(typeCovered: UInt16, algorithm: UInt8, labels: UInt8, originalTTL: UInt32, expiration: UInt32,
               inception: UInt32, keyTag: UInt16, signerName: String, signature: [UInt8])
    case nsec(nextDomain: String, types: [UInt16])
    case nsec3(hashAlgorithm: UInt8, flags: UInt8, iterations: UInt16, salt: [UInt8], nextHashedOwner: [UInt8], types: [UInt16])
    case svcb(priority: UInt16, target: String, params: [DNSSVCParam])
    case https(priority: UInt16, target: String, params: [DNSSVCParam])
    /// Also used for SMIMEA (53).
    case tlsa(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8])
    case uri(priority: UInt16, weight: UInt16, target: [UInt8])
    /// A type without a typed case here (or an empty RDATA with class ANY/NONE, as in UPDATE).
    case unknown([UInt8])
    /// RDATA of a known type that did not parse; the raw bytes.
    case malformed([UInt8])

    /// TXT from text strings (each UTF-8 encoded; split yourself if longer than 255 bytes).
    public static func text(_ strings: String...) -> DNSRData {
        .txt(strings.map { Array($0.utf8) })
    }

    /// The RR types this value may be carried in (empty = any type).
    public var compatibleTypes: [UInt16] {
        switch self {
        case .a: return [DNSType.a]
        case .aaaa: return [DNSType.aaaa]
        case .cname: return [DNSType.cname]
        case .ns: return [DNSType.ns]
        case .ptr: return [DNSType.ptr]
        case .dname: return [DNSType.dname]
        case .mx: return [DNSType.mx]
        case .txt: return [DNSType.txt, DNSType.spf]
        case .soa: return [DNSType.soa]
        case .srv: return [DNSType.srv]
        case .caa: return [DNSType.caa]
        case .naptr: return [DNSType.naptr]
        case .ds: return [DNSType.ds, DNSType.cds]
        case .dnskey: return [DNSType.dnskey, DNSType.cdnskey]
        case .rrsig: return [DNSType.rrsig]
        case .nsec: return [DNSType.nsec]
        case .nsec3: return [DNSType.nsec3]
        case .svcb: return [DNSType.svcb]
        case .https: return [DNSType.https]
        case .tlsa: return [DNSType.tlsa, DNSType.smimea]
        case .uri: return [DNSType.uri]
        case .unknown, .malformed: return []
        }
    }
}

/// One SVCB/HTTPS SvcParam (RFC 9460).
public enum DNSSVCParam: Sendable, Equatable {
    case mandatory([UInt16])
    case alpn([[UInt8]])
    case noDefaultALPN
    case port(UInt16)
    case ipv4hint([DNSIPv4Address])
    /// ECHConfigList bytes.
    case ech([UInt8])
    case ipv6hint([DNSIPv6Address])
    case other(key: UInt16, value: [UInt8])

    /// `alpn` from protocol-id strings ("h2", "h3").
    public static func alpnIDs(_ ids: [String]) -> DNSSVCParam {
        .alpn(ids.map { Array($0.utf8) })
    }

    public var key: UInt16 {
        switch self {
        case .mandatory: return SVCParamKey.mandatory
        case .alpn: return SVCParamKey.alpn
        case .noDefaultALPN: return SVCParamKey.noDefaultALPN
        case .port: return SVCParamKey.port
        case .ipv4hint: return SVCParamKey.ipv4hint
        case .ech: return SVCParamKey.ech
        case .ipv6hint: return SVCParamKey.ipv6hint
        case .other(let k, _): return k
        }
    }
}

// MARK: - hashing (FNV-1a 64 over fixed fields and raw bytes; names' labels a word at a time)

@usableFromInline let fnvOffset: UInt64 = 0xcbf2_9ce4_8422_2325
@usableFromInline let fnvPrime: UInt64 = 0x0000_0100_0000_01b3

@inlinable @inline(__always)
func fnv(_ h: inout UInt64, _ b: UInt8) {
    h = (h ^ UInt64(b)) &* fnvPrime
}

@inlinable @inline(__always)
func fnv16(_ h: inout UInt64, _ v: UInt16) {
    fnv(&h, UInt8(truncatingIfNeeded: v >> 8))
    fnv(&h, UInt8(truncatingIfNeeded: v))
}

/// Fold `msg[from ..< to]` (which the caller has checked is in bounds) into `h`.
@inlinable @inline(__always)
func fnvRange(_ h: inout UInt64, _ msg: UnsafeRawBufferPointer, _ from: Int, _ to: Int) {
    guard from < to, let base = msg.baseAddress else { return }
    var hh = h
    var i = from
    while i < to {
        fnv(&hh, base.load(fromByteOffset: i, as: UInt8.self))
        i += 1
    }
    h = hh
}

/// One 8-byte word of a label into the hash: a multiply that is a bijection of `h` for a
/// fixed word (and of the word for a fixed `h`), then its high half folded into the low half
/// (a multiply only carries information upwards).
@inlinable @inline(__always)
func wordStep(_ h: UInt64, _ w: UInt64) -> UInt64 {
    let x = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
    return x ^ (x >> 32)
}

/// ASCII letters of eight bytes at once lowercased (bytes with the high bit set are left alone):
/// a byte gets 0x20 when it is in 0x41...0x5A.
@inlinable @inline(__always)
func asciiLower8(_ w: UInt64) -> UInt64 {
    let high = w & 0x8080_8080_8080_8080
    let low7 = w & 0x7F7F_7F7F_7F7F_7F7F
    let atLeastA = low7 &+ 0x3F3F_3F3F_3F3F_3F3F     // bit 7 set where the byte is ≥ 0x41
    let pastZ = low7 &+ 0x2525_2525_2525_2525        // bit 7 set where the byte is ≥ 0x5B
    let upper = atLeastA & ~pastZ & ~high & 0x8080_8080_8080_8080
    return w | (upper >> 2)
}

/// The `k`-th 8-byte word of the label at `msg[start ..< start + len]` (in bounds): its bytes
/// ASCII-lowercased, little-endian, zero-padded after the label's end.
@inlinable @inline(__always)
func labelWord(_ base: UnsafeRawPointer, count: Int, start: Int, len: Int, _ k: Int) -> UInt64 {
    let at = start + 8 * k
    let n = min(8, len - 8 * k)
    var w: UInt64
    if count - at >= 8 {
        w = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self))
        if n < 8 { w &= (1 << (8 * UInt64(n))) - 1 }
    } else {
        w = 0
        var i = 0
        while i < n {
            w |= UInt64(base.load(fromByteOffset: at + i, as: UInt8.self)) << (8 * UInt64(i))
            i += 1
        }
    }
    return asciiLower8(w)
}

/// Fold one label's canonical form into `h`: its length octet (FNV-1a), then its bytes
/// ASCII-lowercased, eight at a time (`labelWord`, `wordStep`). `msg[start ..< start + len]` is
/// in bounds (`scanName` checked it), so `len > 0` implies a non-nil base.
@inlinable @inline(__always)
func foldLabel(_ h: inout UInt64, _ msg: UnsafeRawBufferPointer, _ start: Int, _ len: Int) {
    var hh = h
    fnv(&hh, UInt8(truncatingIfNeeded: len))
    if len > 0, let base = msg.baseAddress {
        var k = 0
        while 8 * k < len {
            hh = wordStep(hh, labelWord(base, count: msg.count, start: start, len: len, k))
            k += 1
        }
    }
    h = hh
}

/// Walk a name, hashing its canonical form (uncompressed, ASCII-lowercased labels, then the
/// root's zero octet).
@inlinable @inline(__always)
func hashName(_ msg: UnsafeRawBufferPointer, start: Int, limit: Int, _ h: inout UInt64) -> NameScan {
    var hh = h
    let scan = scanName(msg, start: start, limit: limit) { s, l in foldLabel(&hh, msg, s, l) }
    fnv(&hh, 0)
    h = hh
    return scan
}

/// `hashName` into two states at once (two independent chains over the same words): `h` goes
/// on from where it is, `fresh` is typically `fnvOffset`.
@inlinable @inline(__always)
func hashName2(_ msg: UnsafeRawBufferPointer, start: Int, limit: Int, _ h: inout UInt64, _ fresh: inout UInt64) -> NameScan {
    var h1 = h
    var h2 = fresh
    let scan = scanName(msg, start: start, limit: limit) { s, l in
        fnv(&h1, UInt8(truncatingIfNeeded: l))
        fnv(&h2, UInt8(truncatingIfNeeded: l))
        if l > 0, let base = msg.baseAddress {
            var k = 0
            while 8 * k < l {
                let w = labelWord(base, count: msg.count, start: s, len: l, k)
                h1 = wordStep(h1, w)
                h2 = wordStep(h2, w)
                k += 1
            }
        }
    }
    fnv(&h1, 0)
    fnv(&h2, 0)
    h = h1
    fresh = h2
    return scan
}

/// What `checkRData` folds the canonical RDATA into: an FNV-1a state, or nothing (validation only).
@usableFromInline
protocol RDataFold {
    /// Fold `msg[from ..< to]` (in bounds) raw.
    mutating func raw(_ msg: UnsafeRawBufferPointer, _ from: Int, _ to: Int)
    /// Walk the name at `start` (see `scanName`), folding its canonical form.
    mutating func name(_ msg: UnsafeRawBufferPointer, start: Int, limit: Int) -> NameScan
}

@usableFromInline
struct FNVFold: RDataFold {
    @usableFromInline var h: UInt64
    @inlinable @inline(__always) init(_ h: UInt64) { self.h = h }
    @inlinable @inline(__always) mutating func raw(_ msg: UnsafeRawBufferPointer, _ from: Int, _ to: Int) {
        fnvRange(&h, msg, from, to)
    }
    @inlinable @inline(__always) mutating func name(_ msg: UnsafeRawBufferPointer, start: Int, limit: Int) -> NameScan {
        hashName(msg, start: start, limit: limit, &h)
    }
}

/// Validation only: the same walk, no hashing.
@usableFromInline
struct NoFold: RDataFold {
    @inlinable @inline(__always) init() {}
    @inlinable @inline(__always) mutating func raw(_ msg: UnsafeRawBufferPointer, _ from: Int, _ to: Int) {}
    @inlinable @inline(__always) mutating func name(_ msg: UnsafeRawBufferPointer, start: Int, limit: Int) -> NameScan {
        scanName(msg, start: start, limit: limit) { _, _ in }
    }
}

// MARK: - validation (no allocation; the single definition of "well-formed RDATA")

@usableFromInline
enum RDataStatus: Sendable {
    case ok
    /// A name inside could not be expanded (the RDATA is still typed, with a placeholder name).
    case nameError
    /// The RDATA does not parse as its type.
    case malformed
}

/// Whether type `type` gets a typed `DNSRData` case.
@inlinable
func isTypedRDataType(_ type: UInt16) -> Bool {
    switch type {
    case 1, 2, 5, 6, 12, 15, 16, 28, 33, 35, 39, 43, 46, 47, 48, 50, 52, 53, 59, 60, 64, 65, 99, 256, 257: return true
    default: return false
    }
}

/// Walks one RDATA for `checkRData`, folding as it goes. A struct with mutating methods (not
/// closures over local state) so nothing is boxed on the heap.
@usableFromInline
struct RDataWalker<Fold: RDataFold> {
    @usableFromInline let msg: UnsafeRawBufferPointer
    @usableFromInline let end: Int
    @usableFromInline var p: Int
    @usableFromInline var fold: Fold
    @usableFromInline var nameErr = false

    @inlinable @inline(__always) init(msg: UnsafeRawBufferPointer, start: Int, end: Int, fold: Fold) {
        self.msg = msg
        self.end = end
        p = start
        self.fold = fold
    }

    /// Fold `n` raw bytes at p; false if they are not there.
    @inlinable @inline(__always) mutating func raw(_ n: Int) -> Bool {
        guard n >= 0, end - p >= n else { return false }
        fold.raw(msg, p, p + n)
        p += n
        return true
    }

    @inlinable @inline(__always) mutating func name() -> Bool {
        let s = fold.name(msg, start: p, limit: end)
        guard s.end >= 0 else { return false }
        if s.error != nil { nameErr = true }
        p = s.end
        return true
    }

    @inlinable @inline(__always) mutating func charString() -> Bool {
        guard p < end else { return false }
        return raw(1 + Int(msg[p]))
    }

    @inlinable mutating func typeBitmap() -> Bool {
        while p < end {
            guard end - p >= 2 else { return false }
            let blen = Int(msg[p + 1])
            guard blen >= 1, blen <= 32, raw(2 + blen) else { return false }
        }
        return true
    }

    @inlinable mutating func svcParams() -> Bool {
        while p < end {
            guard end - p >= 4 else { return false }
            let key = UInt16(msg[p]) << 8 | UInt16(msg[p + 1])
            let vlen = Int(msg[p + 2]) << 8 | Int(msg[p + 3])
            guard end - p - 4 >= vlen, svcParamValueIsValid(key: key, msg, start: p + 4, length: vlen),
                  raw(4 + vlen) else { return false }
        }
        return true
    }

    @inlinable mutating func nsec3() -> Bool {
        guard end - p >= 5 else { return false }
        let saltLen = Int(msg[p + 4])
        guard raw(5 + saltLen), p < end else { return false }
        let hashLen = Int(msg[p])
        return hashLen >= 1 && raw(1 + hashLen) && typeBitmap()
    }
}

/// Check RDATA `[start, end)` of `msg` for type `type` and fold its canonical form (names
/// expanded and lowercased) into `fold`. Malformed RDATA is folded raw. The single definition of
/// "well-formed RDATA": `DNSMessage.parse` and `DNSSummary.summarize` both use it.
@inlinable
func checkRData<Fold: RDataFold>(type: UInt16, rrclass: UInt16, _ msg: UnsafeRawBufferPointer, start: Int, end: Int,
                                 _ fold: inout Fold) -> RDataStatus {
    let len = end - start
    if len == 0 && (rrclass == DNSClass.any || rrclass == DNSClass.none) || !isTypedRDataType(type) {
        fold.raw(msg, start, end)
        return .ok
    }
    var w = RDataWalker(msg: msg, start: start, end: end, fold: fold)
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
        fold.raw(msg, start, end)
        return .malformed
    }
    fold = w.fold
    return w.nameErr ? .nameError : .ok
}

/// `checkRData` folding into an FNV-1a state.
@inlinable @inline(__always)
func checkRData(type: UInt16, rrclass: UInt16, _ msg: UnsafeRawBufferPointer, start: Int, end: Int, _ h: inout UInt64) -> RDataStatus {
    var f = FNVFold(h)
    let status = checkRData(type: type, rrclass: rrclass, msg, start: start, end: end, &f)
    h = f.h
    return status
}

/// `checkRData` without hashing: only whether the RDATA is well-formed.
@inlinable @inline(__always)
func rdataStatus(type: UInt16, rrclass: UInt16, _ msg: UnsafeRawBufferPointer, start: Int, end: Int) -> RDataStatus {
    var f = NoFold()
    return checkRData(type: type, rrclass: rrclass, msg, start: start, end: end, &f)
}

@inlinable
func svcParamValueIsValid(key: UInt16, _ msg: UnsafeRawBufferPointer, start: Int, length: Int) -> Bool {
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

// MARK: - decoding (materialized)

/// Reads fields of one RDATA; names may point anywhere in the message.
struct RDataReader {
    let msg: UnsafeRawBufferPointer
    var cursor: ByteCursor
    let end: Int
    /// Name problems found (error, forward-pointer flag).
    var nameErrors: [NameError] = []
    var forwardPointer = false

    init(msg: UnsafeRawBufferPointer, start: Int, end: Int) {
        self.msg = msg
        self.end = end
        // The cursor sees the message up to the end of this RDATA, so offsets stay message offsets.
        cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: msg[0..<end]), offset: start)
    }

    var atEnd: Bool { cursor.offset == end }
    mutating func u8() -> UInt8? { cursor.u8() }
    mutating func u16() -> UInt16? { cursor.u16() }
    mutating func u32() -> UInt32? { cursor.u32() }
    mutating func bytes(_ n: Int) -> [UInt8]? { cursor.slice(n).map { Array($0) } }
    mutating func rest() -> [UInt8] { Array(cursor.slice(max(0, end - cursor.offset)) ?? UnsafeRawBufferPointer(start: nil, count: 0)) }
    mutating func charString() -> [UInt8]? {
        guard let l = cursor.u8() else { return nil }
        return bytes(Int(l))
    }
    mutating func name() -> String? {
        let r = readName(msg, at: cursor.offset, limit: end)
        guard r.end >= 0 else { return nil }
        if let e = r.error { nameErrors.append(e) }
        if r.forward { forwardPointer = true }
        cursor.offset = r.end
        return r.text
    }
    mutating func typeBitmap() -> [UInt16]? {
        var types: [UInt16] = []
        while cursor.offset < end {
            guard let window = u8(), let blen = u8(), blen >= 1, blen <= 32,
                  let bits = cursor.slice(Int(blen)) else { return nil }
            for (i, byte) in bits.enumerated() where byte != 0 {
                for bit in 0..<8 where byte & (0x80 >> UInt8(bit)) != 0 {
                    types.append(UInt16(window) << 8 | UInt16(i * 8 + bit))
                }
            }
        }
        return types
    }
}

extension DNSRData {
    /// Decode RDATA `[start, end)` of `msg` as type `type`. Call only after `checkRData` said
    /// `.ok` or `.nameError`; anything unexpected still yields `.malformed`, never a trap.
    static func decode(type: UInt16, rrclass: UInt16, _ msg: UnsafeRawBufferPointer, start: Int, end: Int,
                       nameErrors: inout [NameError], forwardPointer: inout Bool) -> DNSRData {
        let len = end - start
        let rawBytes = { Array(UnsafeRawBufferPointer(rebasing: msg[start..<end])) }
        if len == 0 && (rrclass == DNSClass.any || rrclass == DNSClass.none) || !isTypedRDataType(type) {
            return .unknown(rawBytes())
        }
        var r = RDataReader(msg: msg, start: start, end: end)
        let value: DNSRData? = {
            switch type {
            case 1: return r.bytes(4).flatMap { DNSIPv4Address(bytes: $0) }.map { .a($0) }
            case 28: return r.bytes(16).flatMap { DNSIPv6Address(bytes: $0) }.map { .aaaa($0) }
            case 2: return r.name().map { .ns($0) }
            case 5: return r.name().map { .cname($0) }
            case 12: return r.name().map { .ptr($0) }
            case 39: return r.name().map { .dname($0) }
            case 15:
                guard let pref = r.u16(), let ex = r.name() else { return nil }
                return .mx(preference: pref, exchange: ex)
            case 16, 99:
                var strings: [[UInt8]] = []
                while !r.atEnd {
                    guard let s = r.charString() else { return nil }
                    strings.append(s)
                }
                return .txt(strings)
            case 6:
                guard let m = r.name(), let rn = r.name(), let serial = r.u32(), let refresh = r.u32(),
                      let retry = r.u32(), let expire = r.u32(), let minimum = r.u32() else { return nil }
                return .soa(mname: m, rname: rn, serial: serial, refresh: refresh, retry: retry, expire: expire, minimum: minimum)
            case 33:
                guard let pr = r.u16(), let w = r.u16(), let port = r.u16(), let t = r.name() else { return nil }
                return .srv(priority: pr, weight: w, port: port, target: t)
            case 257:
                guard let flags = r.u8(), let tag = r.charString() else { return nil }
                return .caa(flags: flags, tag: String(decoding: tag, as: UTF8.self), value: r.rest())
            case 35:
                guard let order = r.u16(), let pref = r.u16(), let fl = r.charString(), let sv = r.charString(),
                      let re = r.charString(), let repl = r.name() else { return nil }
                return .naptr(order: order, preference: pref, flags: fl, services: sv, regexp: re, replacement: repl)
            case 43, 59:
                guard let kt = r.u16(), let alg = r.u8(), let dt = r.u8() else { return nil }
                return .ds(keyTag: kt, algorithm: alg, digestType: dt, digest: r.rest())
            case 48, 60:
                guard let fl = r.u16(), let pr = r.u8(), let alg = r.u8() else { return nil }
                return .dnskey(flags: fl, protocol: pr, algorithm: alg, publicKey: r.rest())
            case 46:
                guard let tc = r.u16(), let alg = r.u8(), let labels = r.u8(), let ottl = r.u32(), let exp = r.u32(),
                      let inc = r.u32(), let kt = r.u16(), let signer = r.name() else { return nil }
                return .rrsig(typeCovered: tc, algorithm: alg, labels: labels, originalTTL: ottl, expiration: exp,
                              inception: inc, keyTag: kt, signerName: signer, signature: r.rest())
            case 47:
                guard let next = r.name(), let types = r.typeBitmap() else { return nil }
                return .nsec(nextDomain: next, types: types)
            case 50:
                guard let alg = r.u8(), let fl = r.u8(), let it = r.u16(), let salt = r.charString(),
                      let hash = r.charString(), let types = r.typeBitmap() else { return nil }
                return .nsec3(hashAlgorithm: alg, flags: fl, iterations: it, salt: salt, nextHashedOwner: hash, types: types)
            case 64, 65:
                guard let prio = r.u16(), let target = r.name() else { return nil }
                var params: [DNSSVCParam] = []
                while !r.atEnd {
                    guard let key = r.u16(), let vlen = r.u16(), let v = r.bytes(Int(vlen)),
                          let p = DNSSVCParam.decode(key: key, value: v) else { return nil }
                    params.append(p)
                }
                return type == 64 ? .svcb(priority: prio, target: target, params: params)
                    : .https(priority: prio, target: target, params: params)
            case 52, 53:
                guard let u = r.u8(), let s = r.u8(), let m = r.u8() else { return nil }
                return .tlsa(usage: u, selector: s, matchingType: m, data: r.rest())
            case 256:
                guard let pr = r.u16(), let w = r.u16() else { return nil }
                return .uri(priority: pr, weight: w, target: r.rest())
            default:
                return nil
            }
        }()
        guard let v = value, r.atEnd else { return .malformed(rawBytes()) }
        nameErrors.append(contentsOf: r.nameErrors)
        if r.forwardPointer { forwardPointer = true }
        return v
    }
}

extension DNSSVCParam {
    static func decode(key: UInt16, value v: [UInt8]) -> DNSSVCParam? {
        let ok = v.withUnsafeBytes { svcParamValueIsValid(key: key, $0, start: 0, length: v.count) }
        guard ok else { return nil }
        switch key {
        case SVCParamKey.mandatory:
            var keys: [UInt16] = []
            var i = 0
            while i + 1 < v.count {
                keys.append(UInt16(v[i]) << 8 | UInt16(v[i + 1]))
                i += 2
            }
            return .mandatory(keys)
        case SVCParamKey.alpn:
            var ids: [[UInt8]] = []
            var i = 0
            while i < v.count {
                let l = Int(v[i])
                guard i + 1 + l <= v.count else { return nil }
                ids.append(Array(v[(i + 1)..<(i + 1 + l)]))
                i += 1 + l
            }
            return .alpn(ids)
        case SVCParamKey.noDefaultALPN: return .noDefaultALPN
        case SVCParamKey.port:
            guard v.count == 2 else { return nil }
            return .port(UInt16(v[0]) << 8 | UInt16(v[1]))
        case SVCParamKey.ipv4hint:
            var out: [DNSIPv4Address] = []
            var i = 0
            while i + 4 <= v.count {
                if let a = DNSIPv4Address(bytes: v[i..<(i + 4)]) { out.append(a) }
                i += 4
            }
            return .ipv4hint(out)
        case SVCParamKey.ech: return .ech(v)
        case SVCParamKey.ipv6hint:
            var out: [DNSIPv6Address] = []
            var i = 0
            while i + 16 <= v.count {
                if let a = DNSIPv6Address(bytes: v[i..<(i + 16)]) { out.append(a) }
                i += 16
            }
            return .ipv6hint(out)
        default: return .other(key: key, value: v)
        }
    }
}

// MARK: - presentation

extension DNSRData {
    /// Master-file presentation of the RDATA (see CONTRACT.md "Value formats").
    public var presentation: String {
        var o = [UInt8]()
        o.reserveCapacity(64)
        func s(_ t: String) { o.append(contentsOf: t.utf8) }
        func sp() { o.append(0x20) }
        func n<T: BinaryInteger>(_ v: T) { appendDecimal(v, to: &o) }
        switch self {
        case .a(let a): s(a.description)
        case .aaaa(let a): s(a.description)
        case .cname(let x), .ns(let x), .ptr(let x), .dname(let x): s(x)
        case .mx(let p, let x): n(p); sp(); s(x)
        case .txt(let strings):
            for (i, t) in strings.enumerated() {
                if i > 0 { sp() }
                appendQuoted(t, to: &o)
            }
        case .soa(let m, let r, let serial, let refresh, let retry, let expire, let minimum):
            s(m); sp(); s(r); sp(); n(serial); sp(); n(refresh); sp(); n(retry); sp(); n(expire); sp(); n(minimum)
        case .srv(let p, let w, let port, let t): n(p); sp(); n(w); sp(); n(port); sp(); s(t)
        case .caa(let flags, let tag, let value):
            n(flags); sp(); s(tag); sp(); appendQuoted(value, to: &o)
        case .naptr(let order, let pref, let fl, let sv, let re, let repl):
            n(order); sp(); n(pref); sp(); appendQuoted(fl, to: &o); sp(); appendQuoted(sv, to: &o); sp()
            appendQuoted(re, to: &o); sp(); s(repl)
        case .ds(let kt, let alg, let dt, let digest):
            n(kt); sp(); n(alg); sp(); n(dt)
            if !digest.isEmpty { sp(); appendHex(digest, uppercase: true, to: &o) }
        case .dnskey(let fl, let pr, let alg, let key):
            n(fl); sp(); n(pr); sp(); n(alg)
            if !key.isEmpty { sp(); appendBase64(key, to: &o) }
        case .rrsig(let tc, let alg, let labels, let ottl, let exp, let inc, let kt, let signer, let sig):
            s(DNSType.mnemonic(tc)); sp(); n(alg); sp(); n(labels); sp(); n(ottl); sp()
            appendDNSSECTime(exp, to: &o); sp(); appendDNSSECTime(inc, to: &o); sp(); n(kt); sp(); s(signer)
            if !sig.isEmpty { sp(); appendBase64(sig, to: &o) }
        case .nsec(let next, let types):
            s(next)
            for t in types { sp(); s(DNSType.mnemonic(t)) }
        case .nsec3(let alg, let fl, let it, let salt, let hash, let types):
            n(alg); sp(); n(fl); sp(); n(it); sp()
            if salt.isEmpty { s("-") } else { appendHex(salt, uppercase: true, to: &o) }
            sp(); appendBase32Hex(hash, to: &o)
            for t in types { sp(); s(DNSType.mnemonic(t)) }
        case .svcb(let prio, let target, let params), .https(let prio, let target, let params):
            n(prio); sp(); s(target)
            for p in params { sp(); p.appendPresentation(to: &o) }
        case .tlsa(let u, let sel, let m, let data):
            n(u); sp(); n(sel); sp(); n(m)
            if !data.isEmpty { sp(); appendHex(data, uppercase: true, to: &o) }
        case .uri(let p, let w, let t): n(p); sp(); n(w); sp(); appendQuoted(t, to: &o)
        case .unknown(let b), .malformed(let b):
            s("\\# "); n(b.count)
            if !b.isEmpty { sp(); appendHex(b, uppercase: false, to: &o) }
        }
        return String(decoding: o, as: UTF8.self)
    }
}

extension DNSSVCParam {
    /// `key=value` in RFC 9460 presentation (ech base64; unknown keys `keyNNNNN=hex`).
    public var presentation: String {
        var o = [UInt8]()
        appendPresentation(to: &o)
        return String(decoding: o, as: UTF8.self)
    }

    func appendPresentation(to o: inout [UInt8]) {
        o.append(contentsOf: SVCParamKey.name(key).utf8)
        switch self {
        case .mandatory(let keys):
            o.append(UInt8(ascii: "="))
            for (i, k) in keys.enumerated() {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                o.append(contentsOf: SVCParamKey.name(k).utf8)
            }
        case .alpn(let ids):
            o.append(UInt8(ascii: "="))
            for (i, id) in ids.enumerated() {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                for c in id {
                    if c == UInt8(ascii: ",") || c == UInt8(ascii: "\\") {
                        o.append(UInt8(ascii: "\\"))
                        o.append(c)
                    } else if c < 0x21 || c > 0x7E || c == UInt8(ascii: "\"") {
                        appendDDD(c, to: &o)
                    } else {
                        o.append(c)
                    }
                }
            }
        case .noDefaultALPN:
            break
        case .port(let p):
            o.append(UInt8(ascii: "="))
            appendDecimal(p, to: &o)
        case .ipv4hint(let addrs):
            o.append(UInt8(ascii: "="))
            for (i, a) in addrs.enumerated() {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                appendIPv4(a.value, to: &o)
            }
        case .ech(let b):
            o.append(UInt8(ascii: "="))
            appendBase64(b, to: &o)
        case .ipv6hint(let addrs):
            o.append(UInt8(ascii: "="))
            for (i, a) in addrs.enumerated() {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                IPAddress(v6Hi: a.high, lo: a.low).appendText(to: &o)
            }
        case .other(_, let v):
            if !v.isEmpty {
                o.append(UInt8(ascii: "="))
                appendHex(v, uppercase: false, to: &o)
            }
        }
    }
}

/// A character-string in double quotes: `"` and `\` escaped with a backslash, bytes outside
/// 0x20...0x7E as `\DDD`.
func appendQuoted(_ bytes: [UInt8], to o: inout [UInt8]) {
    o.append(UInt8(ascii: "\""))
    for c in bytes {
        if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
            o.append(UInt8(ascii: "\\"))
            o.append(c)
        } else if c < 0x20 || c > 0x7E {
            appendDDD(c, to: &o)
        } else {
            o.append(c)
        }
    }
    o.append(UInt8(ascii: "\""))
}

/// RRSIG time field as YYYYMMDDHHmmSS (UTC; RFC 4034 §3.2).
func appendDNSSECTime(_ t: UInt32, to o: inout [UInt8]) {
    let secs = Int64(t)
    let days = secs / 86400
    let rem = secs % 86400
    // Civil from days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days + 719_468
    let era = z / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    var y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    if m <= 2 { y += 1 }
    func two(_ v: Int64) {
        o.append(0x30 + UInt8(truncatingIfNeeded: v / 10))
        o.append(0x30 + UInt8(truncatingIfNeeded: v % 10))
    }
    appendDecimal(y, to: &o)
    two(m)
    two(d)
    two(rem / 3600)
    two(rem % 3600 / 60)
    two(rem % 60)
}
