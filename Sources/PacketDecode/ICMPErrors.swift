import NetTypes
import WireBytes

/// An ICMP or ICMPv6 destination-unreachable message and the UDP/TCP header it quotes: which of
/// our datagrams it refuses, and who says so.
public struct ICMPUnreachable: Sendable, Equatable {
    /// The router or host that sent the error.
    public var reporter: IPAddress
    public var type: UInt8
    public var code: UInt8
    /// The quoted (original) datagram's addresses, protocol and ports.
    public var quotedSource: IPAddress
    public var quotedDestination: IPAddress
    public var quotedProtocol: UInt8
    public var quotedSourcePort: UInt16
    public var quotedDestinationPort: UInt16
    public var isV6: Bool { reporter.isV6 }

    /// "port unreachable", "administratively prohibited", … (RFC 792, RFC 1812, RFC 4443).
    public var reason: String {
        if isV6 {
            switch code {
            case 0: return "no route to destination"
            case 1: return "communication administratively prohibited"
            case 3: return "address unreachable"
            case 4: return "port unreachable"
            case 5: return "source address failed ingress/egress policy"
            case 6: return "reject route to destination"
            default: return "destination unreachable (code \(code))"
            }
        }
        switch code {
        case 0: return "network unreachable"
        case 1: return "host unreachable"
        case 3: return "port unreachable"
        case 9, 10: return "communication with the destination administratively prohibited"
        case 13: return "communication administratively prohibited"
        default: return "destination unreachable (code \(code))"
        }
    }
}

extension PacketDecoder {
    /// The destination-unreachable error in a frame (ICMP type 3, ICMPv6 type 1) quoting a UDP or
    /// TCP header; nil for anything else. Off the packet path: called for frames the decoder
    /// skipped as another IP protocol, and only while something waits for such an answer.
    /// Ethernet (with VLAN tags), Linux SLL/SLL2, raw IP and NULL/LOOP links; no tunnels.
    public static func icmpUnreachable(_ frame: UnsafeRawBufferPointer, linkType: LinkType) -> ICMPUnreachable? {
        var off: Int
        switch linkType {
        case .ethernet:
            off = 12
            var tags = 0
            while let t = frame.be16(at: off), t == 0x8100 || t == 0x88A8 || t == 0x9100, tags < 8 {
                off += 4
                tags += 1
            }
            guard let t = frame.be16(at: off), t == etherIPv4 || t == etherIPv6 else { return nil }
            off += 2
        case .linuxSLL: off = 16
        case .linuxSLL2: off = 20
        case .raw, .ipv4, .ipv6: off = 0
        case .null, .loop: off = 4
        default: return nil
        }
        guard off < frame.count else { return nil }
        return icmpUnreachable(ip: UnsafeRawBufferPointer(rebasing: frame[off...]))
    }

    /// The same from an IP packet's first byte.
    public static func icmpUnreachable(ip p: UnsafeRawBufferPointer) -> ICMPUnreachable? {
        guard let outer = ipHeader(p), let icmp = outer.payload, icmp.count >= 8 else { return nil }
        let v6 = outer.src.isV6
        guard outer.proto == (v6 ? 58 : 1), icmp[0] == (v6 ? 1 : 3) else { return nil }
        let quoted = UnsafeRawBufferPointer(rebasing: icmp[8...])
        guard let inner = ipHeader(quoted), inner.proto == 17 || inner.proto == 6, let l4 = inner.payload,
              let sport = l4.be16(at: 0), let dport = l4.be16(at: 2) else { return nil }
        return ICMPUnreachable(reporter: outer.src, type: icmp[0], code: icmp[1], quotedSource: inner.src, quotedDestination: inner.dst,
                               quotedProtocol: inner.proto, quotedSourcePort: sport, quotedDestinationPort: dport)
    }

    /// Addresses, protocol and payload of an IPv4 header or an IPv6 header without extension
    /// headers; the payload may be cut short (a quoted datagram).
    static func ipHeader(_ p: UnsafeRawBufferPointer) -> (src: IPAddress, dst: IPAddress, proto: UInt8, payload: UnsafeRawBufferPointer?)? {
        guard p.count >= 1 else { return nil }
        switch p[0] >> 4 {
        case 4:
            let ihl = Int(p[0] & 0x0F) * 4
            guard ihl >= 20, p.count >= ihl, let s = p.be32(at: 12), let d = p.be32(at: 16) else { return nil }
            let fragWord = p.be16(at: 6) ?? 0
            let payload = fragWord & 0x1FFF == 0 ? UnsafeRawBufferPointer(rebasing: p[ihl...]) : nil
            return (IPAddress(v4: s), IPAddress(v4: d), p[9], payload)
        case 6:
            guard p.count >= 40,
                  let s = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: p[8..<24])),
                  let d = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: p[24..<40])) else { return nil }
            return (s, d, p[6], UnsafeRawBufferPointer(rebasing: p[40...]))
        default:
            return nil
        }
    }
}
