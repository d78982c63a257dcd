// The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-headers.

import NetTypes

public enum InternetChecksum {
    /// The 32-bit partial sum of `bytes` as big-endian 16-bit words (odd length: zero padded),
    /// added to `initial`. Fold with `finish`.
    @inlinable
    public static func partialSum(_ bytes: UnsafeRawBufferPointer, initial: UInt64 = 0) -> UInt64 {
        var sum = initial
        let n = bytes.count
        var i = 0
        // Big-endian 32-bit words sum to the same ones' complement value as 16-bit words.
        while i + 4 <= n {
            sum &+= UInt64(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            i += 4
        }
        if i + 2 <= n {
            sum &+= UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
            i += 2
        }
        if i < n { sum &+= UInt64(bytes[i]) << 8 }
        return sum
    }

    @inlinable
    public static func partialSum(_ bytes: [UInt8], initial: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { partialSum($0, initial: initial) }
    }

    /// Folds a partial sum to 16 bits and complements it.
    @inlinable
    public static func finish(_ sum: UInt64) -> UInt16 {
        var s = sum
        while s > 0xffff { s = (s & 0xffff) + (s >> 16) }
        return ~UInt16(truncatingIfNeeded: s)
    }

    /// The checksum of `bytes` (e.g. an IPv4 header with its checksum field zeroed).
    /// Over bytes that include a correct checksum the result is 0.
    public static func checksum(_ bytes: [UInt8]) -> UInt16 { finish(partialSum(bytes)) }

    /// The partial sum of the TCP/UDP/ICMPv6 pseudo-header.
    public static func pseudoHeaderSum(source: IPAddress, destination: IPAddress, protocol proto: UInt8,
                                       length: Int) -> UInt64 {
        var sum: UInt64 = 0
        if !source.isV6 && !destination.isV6 {
            sum = (source.lo >> 16 & 0xffff) + (source.lo & 0xffff) + (destination.lo >> 16 & 0xffff) + (destination.lo & 0xffff)
            sum += UInt64(proto) + UInt64(length)
        } else {
            // IPv6 (RFC 8200 §8.1): addresses, 32-bit upper-layer length, 3 zero bytes, next header.
            for a in [source, destination] {
                for half in a.isV6 ? [a.hi, a.lo] : [a.lo] {
                    sum += ((half >> 48) & 0xffff) + ((half >> 32) & 0xffff) + ((half >> 16) & 0xffff) + (half & 0xffff)
                }
            }
            sum += UInt64(length >> 16) + UInt64(length & 0xffff) + UInt64(proto)
        }
        return sum
    }

    /// Verifies a TCP or UDP (or ICMPv6) segment carried between `source` and `destination`.
    public static func verifyTransport(_ segment: [UInt8], source: IPAddress, destination: IPAddress,
                                       protocol proto: UInt8) -> Bool {
        let sum = pseudoHeaderSum(source: source, destination: destination, protocol: proto, length: segment.count)
        return finish(partialSum(segment, initial: sum)) == 0
    }
}
