/// An IPv4 or IPv6 address stored inline (no allocation), hashable for flow tables.
public struct IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// IPv6: the 128 bits as hi/lo. IPv4: `lo` holds the address in its low 32 bits, `hi` is 0.
    public var hi: UInt64
    public var lo: UInt64
    public var isV6: Bool

    @inlinable
    public init(v4 value: UInt32) {
        hi = 0
        lo = UInt64(value)
        isV6 = false
    }

    @inlinable
    public init(v6Hi hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
        isV6 = true
    }

    /// From 4 or 16 network-order bytes.
    public init?(bytes: UnsafeRawBufferPointer) {
        if bytes.count == 4 {
            self.init(v4: UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3]))
        } else if bytes.count == 16 {
            var h: UInt64 = 0, l: UInt64 = 0
            for i in 0..<8 { h = h << 8 | UInt64(bytes[i]) }
            for i in 8..<16 { l = l << 8 | UInt64(bytes[i]) }
            self.init(v6Hi: h, lo: l)
        } else {
            return nil
        }
    }

    public init?(bytes: [UInt8]) {
        guard let a = bytes.withUnsafeBytes({ IPAddress(bytes: $0) }) else { return nil }
        self = a
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text.
    public init?(_ text: String) {
        if text.contains(":") {
            guard let b = IPAddress.parseV6(text) else { return nil }
            self.init(bytes: b)
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var v: UInt32 = 0
            for p in parts {
                guard !p.isEmpty, p.count <= 3, p.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = UInt32(p), n <= 255 else { return nil }
                v = v << 8 | n
            }
            self.init(v4: v)
        }
    }

    /// Whether `text` is an IPv4 or IPv6 literal (no zone index, no brackets): the one IP-literal
    /// check of the project (endpoints, probe targets, resolver addresses).
    public static func isLiteral(_ text: String) -> Bool {
        !text.contains("%") && IPAddress(text) != nil
    }

    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool {
        isV6 ? (hi == 0 && lo == 1) : (lo >> 24) & 0xFF == 127
    }

    public var bytes: [UInt8] {
        if isV6 {
            var out = [UInt8](repeating: 0, count: 16)
            for i in 0..<8 { out[i] = UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64(i))) }
            for i in 0..<8 { out[8 + i] = UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64(i))) }
            return out
        }
        let v = UInt32(truncatingIfNeeded: lo)
        return [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.isV6 != b.isV6 { return !a.isV6 }
        return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo
    }

    /// Dotted quad, or RFC 5952 compressed lowercase IPv6 (the text `appendText` writes).
    public var description: String {
        var out: [UInt8] = []
        out.reserveCapacity(isV6 ? 39 : 15)
        appendText(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The RFC 5952 text of 16 network-order bytes; "" for any other count.
    public static func formatV6(_ b: [UInt8]) -> String {
        guard b.count == 16, let a = IPAddress(bytes: b) else { return "" }
        return a.description
    }

    /// Appends the text of this address as UTF-8 bytes, without allocating beyond `out`'s growth:
    /// a dotted quad for IPv4; for IPv6 RFC 5952 §4 text — lowercase hex without leading zeros,
    /// the longest run (the first on ties) of two or more zero groups as "::", and an
    /// IPv4-mapped address as ::ffff:a.b.c.d.
    /// The one IP address formatter of the project: `description`, the JSON writer of reports and
    /// decode lines, DNS AAAA presentation and generated test traffic all write through it.
    public func appendText(to out: inout [UInt8]) {
        if isV6 {
            IPAddress.appendV6(hi: hi, lo: lo, to: &out)
        } else {
            IPAddress.appendDottedQuad(UInt32(truncatingIfNeeded: lo), to: &out)
        }
    }

    /// Appends the RFC 5952 text of an IPv6 address given as its eight 16-bit groups (nothing
    /// for any other count); see `appendText(to:)`.
    public static func appendV6(groups g: [UInt16], to out: inout [UInt8]) {
        guard g.count == 8 else { return }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(g[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(g[i]) }
        appendV6(hi: h, lo: l, to: &out)
    }

    /// a.b.c.d of an IPv4 address (also the tail of an IPv4-mapped IPv6 address).
    static func appendDottedQuad(_ v: UInt32, to out: inout [UInt8]) {
        appendOctet(UInt8(truncatingIfNeeded: v >> 24), to: &out)
        out.append(UInt8(ascii: "."))
        appendOctet(UInt8(truncatingIfNeeded: v >> 16), to: &out)
        out.append(UInt8(ascii: "."))
        appendOctet(UInt8(truncatingIfNeeded: v >> 8), to: &out)
        out.append(UInt8(ascii: "."))
        appendOctet(UInt8(truncatingIfNeeded: v), to: &out)
    }

    /// Decimal digits of one byte, no leading zeros.
    @inline(__always)
    static func appendOctet(_ b: UInt8, to out: inout [UInt8]) {
        if b >= 100 { out.append(48 &+ b / 100) }
        if b >= 10 { out.append(48 &+ (b / 10) % 10) }
        out.append(48 &+ b % 10)
    }

    /// RFC 5952 text of the IPv6 address whose 128 bits are `hi`/`lo`.
    static func appendV6(hi: UInt64, lo: UInt64, to out: inout [UInt8]) {
        @inline(__always) func group(_ i: Int) -> UInt16 {
            i < 4 ? UInt16(truncatingIfNeeded: hi >> UInt64(48 - 16 * i))
                : UInt16(truncatingIfNeeded: lo >> UInt64(48 - 16 * (i - 4)))
        }
        if hi == 0 && (lo >> 32) == 0xffff {
            out.append(contentsOf: "::ffff:".utf8)
            appendDottedQuad(UInt32(truncatingIfNeeded: lo), to: &out)
            return
        }
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if group(i) == 0 {
                var j = i
                while j < 8 && group(j) == 0 { j += 1 }
                if j - i > bestLen { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        if bestLen < 2 { bestStart = -1 }
        i = 0
        while i < 8 {
            if i == bestStart {
                out.append(UInt8(ascii: ":"))
                if i == 0 { out.append(UInt8(ascii: ":")) }
                i += bestLen
                continue
            }
            let g = group(i)
            var started = false
            var shift = 12
            while shift >= 0 {
                let d = UInt8(truncatingIfNeeded: (g >> UInt16(shift)) & 0xf)
                if d != 0 || started || shift == 0 {
                    out.append(d < 10 ? 48 &+ d : 87 &+ d)  // 0-9, a-f
                    started = true
                }
                shift -= 4
            }
            if i < 7 { out.append(UInt8(ascii: ":")) }
            i += 1
        }
    }

    static func parseV6(_ text: String) -> [UInt8]? {
        var s = Substring(text)
        if let pct = s.firstIndex(of: "%") { s = s[..<pct] }  // zone index
        var tail4: [UInt8] = []
        if let lastColon = s.lastIndex(of: ":"), s[s.index(after: lastColon)...].contains(".") {
            guard let v4 = IPAddress(String(s[s.index(after: lastColon)...])), !v4.isV6 else { return nil }
            tail4 = v4.bytes
            s = s[...lastColon]
            if s.hasSuffix(":") && !s.hasSuffix("::") { s = s.dropLast() }
        }
        let halves = String(s).components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        let tailGroups = halves.count == 2 ? groups(halves[1]) : []
        guard let tail = tailGroups else { return nil }
        let want = tail4.isEmpty ? 8 : 6
        var all: [UInt16]
        if halves.count == 2 {
            let fill = want - head.count - tail.count
            guard fill >= 1 else { return nil }
            all = head + [UInt16](repeating: 0, count: fill) + tail
        } else {
            all = head
        }
        guard all.count == want else { return nil }
        var out: [UInt8] = []
        for g in all { out.append(UInt8(g >> 8)); out.append(UInt8(g & 0xff)) }
        return out + tail4
    }
}

extension String {
    func components(separatedBy sep: String) -> [String] {
        var result: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: sep) {
            result.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        result.append(String(rest))
        return result
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        let n = Array(needle.utf8)
        guard !n.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            var j = i
            var k = 0
            while k < n.count, j < endIndex, self.utf8[j] == n[k] {
                j = self.utf8.index(after: j)
                k += 1
            }
            if k == n.count { return i..<j }
            i = self.index(after: i)
        }
        return nil
    }
}
