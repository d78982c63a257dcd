// IPv4 / IPv6 address values as carried in A, AAAA, SVCB hints and ECS.
// (Prefixed with DNS so they never clash with other modules' address types.)

import NetTypes

/// An IPv4 address (A RDATA). Write it as a literal: `.a("192.0.2.1")` or `.a([192, 0, 2, 1])`.
public struct DNSIPv4Address: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral
{
    /// The address as a big-endian number (192.0.2.1 is 0xC000_0201).
    public var value: UInt32

    public init(value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Exactly 4 bytes, else nil.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 4 else { return nil }
        var v: UInt32 = 0
        for b in bytes { v = v << 8 | UInt32(b) }
        value = v
    }

    /// Dotted quad ("192.0.2.1"), else nil.
    public init?(_ text: String) {
        var parts: [UInt32] = []
        var cur: UInt32 = 0
        var digits = 0
        for b in text.utf8 {
            if b == UInt8(ascii: ".") {
                guard digits > 0, parts.count < 3 else { return nil }
                parts.append(cur)
                cur = 0
                digits = 0
            } else if b >= 0x30 && b <= 0x39 {
                guard digits < 3 else { return nil }
                cur = cur * 10 + UInt32(b - 0x30)
                digits += 1
                guard cur <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts.count == 3 else { return nil }
        parts.append(cur)
        value = parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]
    }

    /// An invalid literal becomes 0.0.0.0 (literals are programmer input; use `init?(_:)` for data).
    public init(stringLiteral text: String) {
        self = DNSIPv4Address(text) ?? DNSIPv4Address(value: 0)
    }

    /// Fewer or more than 4 elements become 0.0.0.0.
    public init(arrayLiteral elements: UInt8...) {
        self = DNSIPv4Address(bytes: elements) ?? DNSIPv4Address(value: 0)
    }

    public var bytes: [UInt8] {
        [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    public var description: String {
        var out = [UInt8]()
        out.reserveCapacity(15)
        appendIPv4(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func < (l: Self, r: Self) -> Bool { l.value < r.value }
}

/// An IPv6 address (AAAA RDATA). `description` is RFC 5952 (compressed, lowercase).
public struct DNSIPv6Address: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral
{
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Exactly 16 bytes, else nil.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        var i = 0
        for b in bytes {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
            i += 1
        }
        high = h
        low = l
    }

    /// Any RFC 4291 text form ("2001:db8::1", "::ffff:192.0.2.1"), else nil.
    public init?(_ text: String) {
        guard let groups = parseIPv6Groups(Array(text.utf8)) else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(groups[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(groups[i]) }
        high = h
        low = l
    }

    /// An invalid literal becomes `::`.
    public init(stringLiteral text: String) {
        self = DNSIPv6Address(text) ?? DNSIPv6Address(high: 0, low: 0)
    }

    /// Other than 16 elements become `::`.
    public init(arrayLiteral elements: UInt8...) {
        self = DNSIPv6Address(bytes: elements) ?? DNSIPv6Address(high: 0, low: 0)
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: high >> UInt64(s))) }
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: low >> UInt64(s))) }
        return out
    }

    var groups: [UInt16] {
        var g = [UInt16]()
        g.reserveCapacity(8)
        for s in stride(from: 48, through: 0, by: -16) { g.append(UInt16(truncatingIfNeeded: high >> UInt64(s))) }
        for s in stride(from: 48, through: 0, by: -16) { g.append(UInt16(truncatingIfNeeded: low >> UInt64(s))) }
        return g
    }

    public var description: String {
        var out = [UInt8]()
        out.reserveCapacity(39)
        IPAddress(v6Hi: high, lo: low).appendText(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func < (l: Self, r: Self) -> Bool { (l.high, l.low) < (r.high, r.low) }
}

// MARK: - formatting helpers (shared by presentation code)

@usableFromInline
func appendDecimal<T: BinaryInteger>(_ v: T, to out: inout [UInt8]) {
    out.append(contentsOf: String(v).utf8)
}

/// Dotted quad, through the one IP address formatter (`IPAddress.appendText`).
func appendIPv4(_ v: UInt32, to out: inout [UInt8]) {
    IPAddress(v4: v).appendText(to: &out)
}

private let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)
private let upperHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

func parseIPv6Groups(_ t: [UInt8]) -> [UInt16]? {
    guard !t.isEmpty, t.count <= 45 else { return nil }
    var head: [UInt16] = []
    var tail: [UInt16] = []
    var sawGap = false
    var i = 0
    if t.count >= 2 && t[0] == UInt8(ascii: ":") && t[1] == UInt8(ascii: ":") {
        sawGap = true
        i = 2
    } else if t[0] == UInt8(ascii: ":") {
        return nil
    }
    while i < t.count {
        // IPv4 tail?
        var j = i
        var hasDot = false
        while j < t.count && t[j] != UInt8(ascii: ":") {
            if t[j] == UInt8(ascii: ".") { hasDot = true }
            j += 1
        }
        if hasDot {
            guard j == t.count, let v4 = DNSIPv4Address(String(decoding: t[i..<j], as: UTF8.self)) else { return nil }
            let hi = UInt16(truncatingIfNeeded: v4.value >> 16)
            let lo = UInt16(truncatingIfNeeded: v4.value)
            if sawGap { tail.append(hi); tail.append(lo) } else { head.append(hi); head.append(lo) }
            i = j
            break
        }
        guard j > i, j - i <= 4 else { return nil }
        var v: UInt16 = 0
        for k in i..<j {
            guard let d = hexValue(t[k]) else { return nil }
            v = v << 4 | UInt16(d)
        }
        if sawGap { tail.append(v) } else { head.append(v) }
        i = j
        if i < t.count {
            // at ':'
            i += 1
            if i < t.count && t[i] == UInt8(ascii: ":") {
                guard !sawGap else { return nil }
                sawGap = true
                i += 1
            } else if i == t.count {
                return nil  // trailing single ':'
            }
        }
    }
    let total = head.count + tail.count
    if sawGap {
        guard total <= 7 else { return nil }
        return head + [UInt16](repeating: 0, count: 8 - total) + tail
    }
    guard total == 8 else { return nil }
    return head
}

func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: return b - 0x30
    case 0x61...0x66: return b - 0x61 + 10
    case 0x41...0x46: return b - 0x41 + 10
    default: return nil
    }
}

func appendHex(_ bytes: UnsafeRawBufferPointer, uppercase: Bool, to out: inout [UInt8]) {
    let digits = uppercase ? upperHexDigits : lowerHexDigits
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
}

func appendHex(_ bytes: [UInt8], uppercase: Bool, to out: inout [UInt8]) {
    bytes.withUnsafeBytes { appendHex($0, uppercase: uppercase, to: &out) }
}

func hexBytes(_ bytes: [UInt8], uppercase: Bool = false) -> String {
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    appendHex(bytes, uppercase: uppercase, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Parse a hex string (even length, no separators); nil on anything else.
func parseHex(_ s: String) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 2 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(u.count / 2)
    var i = 0
    while i < u.count {
        guard let h = hexValue(u[i]), let l = hexValue(u[i + 1]) else { return nil }
        out.append(h << 4 | l)
        i += 2
    }
    return out
}

private let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
private let base32HexAlphabet: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUV".utf8)

/// Standard base64 with padding (RFC 4648 §4).
func appendBase64(_ data: [UInt8], to out: inout [UInt8]) {
    var i = 0
    let n = data.count
    while i + 3 <= n {
        let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
        out.append(base64Alphabet[Int(v >> 18 & 63)])
        out.append(base64Alphabet[Int(v >> 12 & 63)])
        out.append(base64Alphabet[Int(v >> 6 & 63)])
        out.append(base64Alphabet[Int(v & 63)])
        i += 3
    }
    let rest = n - i
    if rest == 1 {
        let v = UInt32(data[i]) << 16
        out.append(base64Alphabet[Int(v >> 18 & 63)])
        out.append(base64Alphabet[Int(v >> 12 & 63)])
        out.append(UInt8(ascii: "="))
        out.append(UInt8(ascii: "="))
    } else if rest == 2 {
        let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
        out.append(base64Alphabet[Int(v >> 18 & 63)])
        out.append(base64Alphabet[Int(v >> 12 & 63)])
        out.append(base64Alphabet[Int(v >> 6 & 63)])
        out.append(UInt8(ascii: "="))
    }
}

public func base64Encode(_ data: [UInt8]) -> String {
    var out = [UInt8]()
    out.reserveCapacity((data.count + 2) / 3 * 4)
    appendBase64(data, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Base32 with the extended-hex alphabet, no padding, uppercase (RFC 4648 §7; NSEC3 RFC 5155).
func appendBase32Hex(_ data: [UInt8], to out: inout [UInt8]) {
    var buffer: UInt64 = 0
    var bits = 0
    for b in data {
        buffer = buffer << 8 | UInt64(b)
        bits += 8
        while bits >= 5 {
            bits -= 5
            out.append(base32HexAlphabet[Int(buffer >> UInt64(bits) & 31)])
        }
        buffer &= (1 << UInt64(bits)) - 1
    }
    if bits > 0 {
        out.append(base32HexAlphabet[Int(buffer << UInt64(5 - bits) & 31)])
    }
}
