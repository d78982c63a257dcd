// IPv4 fragmentation (RFC 791) and the IPv6 Fragment extension header (RFC 8200 §4.5).
// Both take a complete IP packet whose upper-layer checksum is already correct.

public enum FragmentationError: Error, Equatable, CustomStringConvertible {
    case notIPv4
    case notIPv6
    case truncatedPacket
    case badFragmentCount(Int)
    case badFragmentSize(Int)

    public var description: String {
        switch self {
        case .notIPv4: return "not an IPv4 packet"
        case .notIPv6: return "not an IPv6 packet"
        case .truncatedPacket: return "packet shorter than its header says"
        case .badFragmentCount(let n): return "cannot split the payload into \(n) fragments"
        case .badFragmentSize(let n): return "fragment payload size \(n) must be a positive multiple of 8"
        }
    }
}

public enum IPv4Fragmenter {
    /// Splits `datagram` (an IPv4 packet, header included) into fragments whose payloads are at
    /// most `maxPayload` bytes (a multiple of 8). DF is cleared; each fragment gets its own
    /// total length, offset, MF flag and header checksum; header options are copied to all.
    public static func fragment(_ datagram: [UInt8], maxPayload: Int) throws -> [[UInt8]] {
        guard maxPayload > 0, maxPayload % 8 == 0 else { throw FragmentationError.badFragmentSize(maxPayload) }
        guard datagram.count >= 20, datagram[0] >> 4 == 4 else { throw FragmentationError.notIPv4 }
        let ihl = Int(datagram[0] & 0x0f) * 4
        let total = Int(be16(datagram, 2))
        guard ihl >= 20, total >= ihl, total <= datagram.count else { throw FragmentationError.truncatedPacket }
        let header = Array(datagram[0..<ihl])
        let payload = datagram[ihl..<total]
        let baseFlags = be16(datagram, 6)
        let baseOffset = Int(baseFlags & 0x1fff) * 8     // fragmenting a fragment keeps its place
        let baseMF = baseFlags & 0x2000 != 0
        var out: [[UInt8]] = []
        var start = payload.startIndex
        while start < payload.endIndex {
            let end = min(start + maxPayload, payload.endIndex)
            let isLast = end == payload.endIndex
            var f = header
            let length = ihl + (end - start)
            f[2] = UInt8(length >> 8)
            f[3] = UInt8(length & 0xff)
            let offset = (baseOffset + (start - payload.startIndex)) / 8
            var flags = UInt16(offset & 0x1fff)
            if !isLast || baseMF { flags |= 0x2000 }
            f[6] = UInt8(flags >> 8)
            f[7] = UInt8(flags & 0xff)
            f[10] = 0
            f[11] = 0
            let c = InternetChecksum.checksum(f)
            f[10] = UInt8(c >> 8)
            f[11] = UInt8(c & 0xff)
            f += payload[start..<end]
            out.append(f)
            start = end
        }
        if out.isEmpty { out.append(Array(datagram[0..<total])) }
        return out
    }

    /// Splits `datagram` into exactly `count` fragments of near-equal size (multiples of 8 but the last).
    public static func fragment(_ datagram: [UInt8], into count: Int) throws -> [[UInt8]] {
        guard datagram.count >= 20, datagram[0] >> 4 == 4 else { throw FragmentationError.notIPv4 }
        let ihl = Int(datagram[0] & 0x0f) * 4
        let total = Int(be16(datagram, 2))
        guard total >= ihl, total <= datagram.count else { throw FragmentationError.truncatedPacket }
        let size = try chunkSize(payloadLength: total - ihl, count: count)
        return try fragment(datagram, maxPayload: size)
    }

    static func chunkSize(payloadLength: Int, count: Int) throws -> Int {
        guard count >= 1 else { throw FragmentationError.badFragmentCount(count) }
        if payloadLength == 0 && count == 1 { return 8 }
        let size = max(8, ((payloadLength + count - 1) / count + 7) / 8 * 8)
        let produced = (payloadLength + size - 1) / size
        guard produced == count else { throw FragmentationError.badFragmentCount(count) }
        return size
    }
}

public enum IPv6Fragmenter {
    /// The 8-byte Fragment extension header. `offset` is in bytes and must be a multiple of 8.
    public static func fragmentHeader(nextHeader: UInt8, offset: Int, moreFragments: Bool,
                                      identification: UInt32) -> [UInt8] {
        var h: [UInt8] = [nextHeader, 0]
        h.appendBE16(UInt16(truncatingIfNeeded: (offset / 8) << 3) | (moreFragments ? 1 : 0))
        h.appendBE32(identification)
        return h
    }

    /// Splits `packet` (an IPv6 packet; its 40-byte fixed header is the unfragmentable part) into
    /// fragments carrying a Fragment header, each fragment's fragmentable payload at most
    /// `maxPayload` bytes (a multiple of 8).
    public static func fragment(_ packet: [UInt8], maxPayload: Int, identification: UInt32) throws -> [[UInt8]] {
        guard maxPayload > 0, maxPayload % 8 == 0 else { throw FragmentationError.badFragmentSize(maxPayload) }
        guard packet.count >= 40, packet[0] >> 4 == 6 else { throw FragmentationError.notIPv6 }
        let payloadLength = Int(be16(packet, 4))
        guard 40 + payloadLength <= packet.count else { throw FragmentationError.truncatedPacket }
        let nextHeader = packet[6]
        let fixed = Array(packet[0..<40])
        let payload = packet[40..<(40 + payloadLength)]
        var out: [[UInt8]] = []
        var start = payload.startIndex
        repeat {
            let end = min(start + maxPayload, payload.endIndex)
            var f = fixed
            let length = 8 + (end - start)
            f[4] = UInt8(length >> 8)
            f[5] = UInt8(length & 0xff)
            f[6] = IPProtocolNumber.ipv6Fragment
            f += fragmentHeader(nextHeader: nextHeader, offset: start - payload.startIndex,
                                moreFragments: end < payload.endIndex, identification: identification)
            f += payload[start..<end]
            out.append(f)
            start = end
        } while start < payload.endIndex
        return out
    }

    /// Splits `packet` into exactly `count` fragments.
    public static func fragment(_ packet: [UInt8], into count: Int, identification: UInt32) throws -> [[UInt8]] {
        guard packet.count >= 40, packet[0] >> 4 == 6 else { throw FragmentationError.notIPv6 }
        let size = try IPv4Fragmenter.chunkSize(payloadLength: Int(be16(packet, 4)), count: count)
        return try fragment(packet, maxPayload: size, identification: identification)
    }
}
