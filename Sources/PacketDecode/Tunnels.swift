import NetTypes
import WireBytes

/// What the bytes of an `.encapsulated` result start with.
public enum Encapsulation: Sendable, Equatable {
    /// An Ethernet frame (VXLAN, Geneve, GRE transparent bridging, ERSPAN, MPLS pseudowire).
    case ethernet
    /// An IP packet, version from the first nibble (IP-in-IP, 6in4, 4in6, GTP-U, MPLS).
    case ip
    /// A GRE header (IP protocol 47, GRE-in-UDP).
    case gre
    /// A PPP protocol field, optionally after HDLC address/control (PPPoE, PPTP GRE).
    case ppp
    /// A PPPoE session header.
    case pppoe
    /// An MPLS label stack.
    case mpls
    /// A packet of this EtherType (GRE and Geneve name their payload this way).
    case etherType(UInt16)
}

extension PacketDecoder {
    /// Tunnel layers decoded at most per frame (VLAN tags and MPLS labels have limits of their own).
    public static let maxTunnelLayers = 12
    /// MPLS label stack entries read at most.
    public static let maxMPLSLabels = 16

    public static let vxlanPort: UInt16 = 4789
    public static let genevePort: UInt16 = 6081
    public static let greInUDPPort: UInt16 = 4754
    public static let gtpUserPort: UInt16 = 2152
    public static let teredoPort: UInt16 = 3544

    /// UDP ports whose datagrams may carry a tunnel (checked by content before being decoded as one).
    @inlinable
    public static func isTunnelPort(_ sport: UInt16, _ dport: UInt16) -> Bool {
        switch dport {
        case 4789, 6081, 4754, 2152, 3544: return true  // VXLAN, Geneve, GRE-in-UDP, GTP-U, Teredo
        default: return sport == 3544
        }
    }

    /// Decodes tunnel layer after tunnel layer, in a loop (no recursion), until a final result:
    /// `.encapsulated` bytes, and UDP datagrams on tunnel ports whose payload is that tunnel.
    /// A segment found inside tunnels carries their count (`tunnelLayers`); any other result is
    /// returned as it is.
    @inline(never)
    public static func resolveTunnels(_ first: DecodeResult) -> DecodeResult {
        var r = first
        var layers = 0
        while true {
            switch r {
            case .segment(var seg):
                if seg.proto == .udp && isTunnelPort(seg.sport, seg.dport), let inner = decodeUDPTunnel(seg) {
                    guard layers < maxTunnelLayers else { return .malformed(.tooManyTunnels) }
                    layers += 1
                    r = inner
                    continue
                }
                if layers == 0 { return r }
                seg.tunnelLayers = layers
                return .segment(seg)
            case .encapsulated(let kind, let bytes):
                guard layers < maxTunnelLayers else { return .malformed(.tooManyTunnels) }
                layers += 1
                r = decodeEncapsulated(kind, bytes)
            default:
                return r
            }
        }
    }

    /// One layer: the bytes that `kind` names.
    static func decodeEncapsulated(_ kind: Encapsulation, _ p: UnsafeRawBufferPointer) -> DecodeResult {
        switch kind {
        case .ethernet:
            guard p.count >= 14 else { return .malformed(.truncatedLink) }
            return decodeEthernet(p, at: 0)
        case .ip: return decodeIP(p)
        case .etherType(let t): return dispatchEtherType(t, p, vlanDepth: 0)
        case .gre: return decodeGRE(p)
        case .ppp: return decodePPP(p)
        case .pppoe: return decodePPPoE(p)
        case .mpls: return decodeMPLS(p)
        }
    }

    /// IP protocols beyond UDP and TCP: IP-in-IP, GRE and MPLS-in-IP are tunnels.
    @inline(never)
    static func otherIPProtocol(_ proto: UInt8, _ p: UnsafeRawBufferPointer) -> DecodeResult {
        switch proto {
        case 4, 41: return .encapsulated(.ip, p)   // IPv4 / IPv6 inside IP (4in4, 6in4, 4in6, 6in6)
        case 47: return .encapsulated(.gre, p)
        case 137: return .encapsulated(.mpls, p)   // MPLS-in-IP (RFC 4023)
        default: return .skipped(.otherIPProtocol)
        }
    }

    /// EtherTypes beyond IP and VLAN tags: PPPoE sessions, MPLS, bridged Ethernet.
    @inline(never)
    static func otherEtherType(_ type: UInt16, _ rest: UnsafeRawBufferPointer) -> DecodeResult {
        switch type {
        case 0x8864: return .encapsulated(.pppoe, rest)          // PPPoE session (0x8863 discovery carries no IP)
        case 0x8847, 0x8848: return .encapsulated(.mpls, rest)   // MPLS unicast, multicast
        case 0x6558: return .encapsulated(.ethernet, rest)       // transparent Ethernet bridging
        default: return .skipped(.nonIP)
        }
    }

    // MARK: - Point-to-point links

    /// PPP (RFC 1661): optional HDLC-like address/control (0xFF 0x03, RFC 1662), then the
    /// protocol field (one byte when compressed: its low bit is set).
    static func decodePPP(_ p: UnsafeRawBufferPointer) -> DecodeResult {
        var off = 0
        if p.count >= 2 && p[0] == 0xFF && p[1] == 0x03 { off = 2 }
        guard off < p.count else { return .malformed(.truncatedLink) }
        let proto: UInt16
        if p[off] & 1 == 1 {
            proto = UInt16(p[off])
            off += 1
        } else {
            guard let v = p.be16(at: off) else { return .malformed(.truncatedLink) }
            proto = v
            off += 2
        }
        let rest = UnsafeRawBufferPointer(rebasing: p[off...])
        switch proto {
        case 0x0021: return decodeIP(rest)                         // IPv4
        case 0x0057: return decodeIP(rest)                         // IPv6
        case 0x0281, 0x0283: return .encapsulated(.mpls, rest)     // MPLS unicast, multicast
        default: return .skipped(.nonIP)                           // LCP, IPCP, CHAP, compressed TCP/IP, …
        }
    }

    /// PPPoE session stage (RFC 2516): version/type 0x11, code 0, session id, length, then PPP.
    static func decodePPPoE(_ p: UnsafeRawBufferPointer) -> DecodeResult {
        guard p.count >= 6, let length = p.be16(at: 4) else { return .malformed(.truncatedTunnel) }
        guard p[0] == 0x11, p[1] == 0x00 else { return .malformed(.badTunnelHeader) }
        let end = min(p.count, 6 + Int(length))
        return .encapsulated(.ppp, UnsafeRawBufferPointer(rebasing: p[6..<end]))
    }

    /// Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control 0, EtherType.
    static func decodeCiscoHDLC(_ p: UnsafeRawBufferPointer) -> DecodeResult {
        guard let type = p.be16(at: 2) else { return .malformed(.truncatedLink) }
        return dispatchEtherType(type, UnsafeRawBufferPointer(rebasing: p[4...]), vlanDepth: 0)
    }

    // MARK: - GRE, ERSPAN

    /// GRE version 0 (RFC 2784/2890, with RFC 1701 routing) and version 1 (PPTP, RFC 2637).
    static func decodeGRE(_ p: UnsafeRawBufferPointer) -> DecodeResult {
        guard p.count >= 4, let proto = p.be16(at: 2) else { return .malformed(.truncatedTunnel) }
        let flags = p[0]
        var off = 4
        switch p[1] & 0x07 {
        case 0:
            if flags & 0xC0 != 0 { off += 4 }  // checksum and offset (present when C or R is set)
            if flags & 0x20 != 0 { off += 4 }  // key
            if flags & 0x10 != 0 { off += 4 }  // sequence number
            if flags & 0x40 != 0 {
                // RFC 1701 source routing: entries until the NULL one (address family 0, length 0).
                var entries = 0
                while true {
                    guard off + 4 <= p.count, let family = p.be16(at: off) else { return .malformed(.truncatedTunnel) }
                    let length = Int(p[off + 3])
                    off += 4 + length
                    if family == 0 && length == 0 { break }
                    entries += 1
                    guard entries < 64 else { return .malformed(.badTunnelHeader) }
                }
            }
        case 1:
            // Enhanced GRE: key (payload length, call id) always present, PPP payload.
            guard flags & 0x20 != 0, proto == 0x880B else { return .malformed(.badTunnelHeader) }
            off += 4
            if flags & 0x10 != 0 { off += 4 }
            if p[1] & 0x80 != 0 { off += 4 }  // acknowledgment number
            if flags & 0x10 == 0 { return .skipped(.tunnelControl) }  // an acknowledgment only
        default:
            return .malformed(.badTunnelHeader)
        }
        guard off <= p.count else { return .malformed(.truncatedTunnel) }
        let rest = UnsafeRawBufferPointer(rebasing: p[off...])
        switch proto {
        case 0x88BE:
            // ERSPAN type I has no sequence number and no header of its own; type II has 8 bytes.
            if flags & 0x10 == 0 { return .encapsulated(.ethernet, rest) }
            guard rest.count >= 8 else { return .malformed(.truncatedTunnel) }
            return .encapsulated(.ethernet, UnsafeRawBufferPointer(rebasing: rest[8...]))
        case 0x22EB:
            // ERSPAN type III: 12 bytes, and an 8-byte platform sub-header when the O bit is set.
            guard rest.count >= 12 else { return .malformed(.truncatedTunnel) }
            let length = rest[11] & 0x01 != 0 ? 20 : 12
            guard rest.count >= length else { return .malformed(.truncatedTunnel) }
            return .encapsulated(.ethernet, UnsafeRawBufferPointer(rebasing: rest[length...]))
        case 0x880B:
            return .encapsulated(.ppp, rest)
        default:
            return .encapsulated(.etherType(proto), rest)
        }
    }

    // MARK: - MPLS

    /// An MPLS label stack (RFC 3032) to its bottom entry; then IPv4/IPv6 by the first nibble, or
    /// a pseudowire control word (first nibble 0) and Ethernet, as Wireshark guesses.
    static func decodeMPLS(_ p: UnsafeRawBufferPointer) -> DecodeResult {
        var off = 0
        var labels = 0
        while true {
            guard off + 4 <= p.count else { return .malformed(.truncatedTunnel) }
            let bottom = p[off + 2] & 0x01 != 0
            off += 4
            labels += 1
            if bottom { break }
            guard labels < maxMPLSLabels else { return .malformed(.tooManyMPLSLabels) }
        }
        guard off < p.count else { return .malformed(.truncatedTunnel) }
        let rest = UnsafeRawBufferPointer(rebasing: p[off...])
        switch p[off] >> 4 {
        case 4, 6: return decodeIP(rest)
        case 0:
            guard rest.count >= 4 + 14 else { return .malformed(.truncatedTunnel) }
            return .encapsulated(.ethernet, UnsafeRawBufferPointer(rebasing: rest[4...]))
        default:
            return .skipped(.nonIP)
        }
    }

    // MARK: - Tunnels over UDP

    /// A datagram on a tunnel port: the tunnel's payload when its header checks out, else nil
    /// (something else that happens to use the port: it stays a plain datagram).
    static func decodeUDPTunnel(_ seg: TransportSegment) -> DecodeResult? {
        let p = seg.payload
        switch seg.dport {
        case vxlanPort:
            // RFC 7348: flags with the I bit (valid VNI), 3 reserved, VNI, 1 reserved; then Ethernet.
            guard p.count >= 8 + 14, p[0] & 0x08 != 0 else { return nil }
            return .encapsulated(.ethernet, UnsafeRawBufferPointer(rebasing: p[8...]))
        case genevePort:
            // RFC 8926: version 0, option length in 4-byte words, protocol type, VNI.
            guard p.count >= 8, p[0] >> 6 == 0, let proto = p.be16(at: 2) else { return nil }
            let length = 8 + Int(p[0] & 0x3F) * 4
            guard p.count >= length else { return .malformed(.truncatedTunnel) }
            let rest = UnsafeRawBufferPointer(rebasing: p[length...])
            return proto == 0x6558 ? .encapsulated(.ethernet, rest) : .encapsulated(.etherType(proto), rest)
        case greInUDPPort:
            // RFC 8086: a GRE header (version 0) follows the UDP header.
            guard p.count >= 4, p[1] & 0x07 == 0 else { return nil }
            return .encapsulated(.gre, p)
        case gtpUserPort:
            return decodeGTPU(seg)
        default:
            return decodeTeredo(seg)
        }
    }

    /// GTP-U (3GPP TS 29.281): version 1, protocol type GTP; T-PDUs (type 255) carry IP.
    static func decodeGTPU(_ seg: TransportSegment) -> DecodeResult? {
        let p = seg.payload
        guard p.count >= 8, p[0] >> 5 == 1, p[0] & 0x10 != 0, let length = p.be16(at: 2) else { return nil }
        let end = min(p.count, 8 + Int(length))
        var off = 8
        if p[0] & 0x07 != 0 {
            // Sequence number, N-PDU number, next extension header type; then extension headers,
            // each a length in 4-byte words, its content, and the next type in its last byte.
            guard end >= 12 else { return .malformed(.truncatedTunnel) }
            var next = p[11]
            off = 12
            var headers = 0
            while next != 0 {
                guard off < end else { return .malformed(.truncatedTunnel) }
                let len = Int(p[off]) * 4
                guard len > 0, headers < 16 else { return .malformed(.badTunnelHeader) }
                guard off + len <= end else { return .malformed(.truncatedTunnel) }
                next = p[off + len - 1]
                off += len
                headers += 1
            }
        }
        guard p[1] == 0xFF else { return .skipped(.tunnelControl) }  // echo, error indication, end marker
        guard off < end else { return .skipped(.tunnelControl) }
        return .encapsulated(.ip, UnsafeRawBufferPointer(rebasing: p[off..<end]))
    }

    /// Teredo (RFC 4380): optional authentication and origin indications, then IPv6.
    static func decodeTeredo(_ seg: TransportSegment) -> DecodeResult? {
        let p = seg.payload
        var off = 0
        if p.count >= off + 4 && p[off] == 0 && p[off + 1] == 1 {
            // Authentication: id length, auth length, client id, auth value, 8-byte nonce, confirmation.
            off += 4 + Int(p[off + 2]) + Int(p[off + 3]) + 9
        }
        if p.count >= off + 8 && p[off] == 0 && p[off + 1] == 0 {
            off += 8  // origin indication: port and address of the peer
        }
        // An IPv6 header whose payload length fills the datagram exactly: anything else on the
        // port (a DNS query from source port 3544, …) stays plain UDP.
        guard p.count >= off + 40, p[off] >> 4 == 6, let length = p.be16(at: off + 4),
              off + 40 + Int(length) == p.count else { return nil }
        return .encapsulated(.ip, UnsafeRawBufferPointer(rebasing: p[off...]))
    }
}
