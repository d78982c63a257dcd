// Link and network addresses with parsing and RFC 5952 formatting.

import NetTypes

/// A 48-bit Ethernet MAC address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// `bytes` must hold 6 bytes; extra bytes are dropped and missing ones are zero.
    public init(_ bytes: [UInt8]) {
        var b = Array(bytes.prefix(6))
        while b.count < 6 { b.append(0) }
        self.bytes = b
    }

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        bytes = [b0, b1, b2, b3, b4, b5]
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-`).
    public init?(_ string: String) {
        let parts = string.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var b: [UInt8] = []
        for p in parts {
            guard p.count <= 2, let v = UInt8(p, radix: 16) else { return nil }
            b.append(v)
        }
        bytes = b
    }

    public static let broadcast = MACAddress(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
    public static let zero = MACAddress(0, 0, 0, 0, 0, 0)

    public var description: String {
        bytes.map { hex2($0) }.joined(separator: ":")
    }
}

/// An IPv4 address, stored as a host-order 32-bit value (`a.b.c.d` = a<<24 | … | d).
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: UInt32

    public init(value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad notation (the one parser: `NetTypes.IPAddress`).
    public init?(_ string: String) {
        guard !string.contains(":"), let a = IPAddress(string) else { return nil }
        value = UInt32(truncatingIfNeeded: a.lo)
    }

    public var bytes: [UInt8] {
        [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    public var description: String { NetTypes.IPAddress(v4: value).description }

    public static func < (l: IPv4Address, r: IPv4Address) -> Bool { l.value < r.value }

    /// This address plus `n` (wrapping).
    public func advanced(by n: UInt32) -> IPv4Address { IPv4Address(value: value &+ n) }
}

/// An IPv6 address, stored as two host-order 64-bit halves.
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Eight 16-bit groups; missing trailing groups are zero, extra ones are ignored.
    public init(groups: [UInt16]) {
        var g = Array(groups.prefix(8))
        while g.count < 8 { g.append(0) }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<4 { hi = hi << 16 | UInt64(g[i]) }
        for i in 4..<8 { lo = lo << 16 | UInt64(g[i]) }
        self.init(high: hi, low: lo)
    }

    /// Sixteen bytes in network order.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { lo = lo << 8 | UInt64(bytes[i]) }
        self.init(high: hi, low: lo)
    }

    /// Parses RFC 4291 text (`2001:db8::1`, `::`, `::ffff:192.0.2.1`; the one parser:
    /// `NetTypes.IPAddress`).
    public init?(_ string: String) {
        guard string.contains(":"), !string.contains("%"), let a = IPAddress(string), a.isV6 else { return nil }
        self.init(high: a.hi, low: a.lo)
    }

    public var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) }
            + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }

    /// RFC 5952 text (`NetTypes.IPAddress.appendText`).
    public var description: String { NetTypes.IPAddress(v6Hi: high, lo: low).description }

    public static func < (l: IPv6Address, r: IPv6Address) -> Bool {
        (l.high, l.low) < (r.high, r.low)
    }

    /// This address plus `n` in the low 64 bits (wrapping).
    public func advanced(by n: UInt64) -> IPv6Address { IPv6Address(high: high, low: low &+ n) }
}

/// PacketSynth builds with the project's one `NetTypes.IPAddress`; these spell it from the
/// family-specific addresses above (`.v4(IPv4Address(192, 0, 2, 1))`) and back.
extension IPAddress {
    public static func v4(_ a: IPv4Address) -> IPAddress { IPAddress(v4: a.value) }
    public static func v6(_ a: IPv6Address) -> IPAddress { IPAddress(v6Hi: a.high, lo: a.low) }

    /// The IPv4 address, or nil for IPv6.
    public var ipv4: IPv4Address? { isV6 ? nil : IPv4Address(value: UInt32(truncatingIfNeeded: lo)) }
    /// The IPv6 address, or nil for IPv4.
    public var ipv6: IPv6Address? { isV6 ? IPv6Address(high: hi, low: lo) : nil }
}

@inline(__always) func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 0xf)]])
}
