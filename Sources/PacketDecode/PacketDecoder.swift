import NetTypes
import WireBytes

/// Why a frame produced no transport payload. Each is counted and reported, never silently dropped.
public enum SkipReason: String, Sendable, CaseIterable {
    case unsupportedLinkType = "unsupported_link_type"
    case nonIP = "non_ip"                      // ARP, LLDP, … (not an error)
    case otherIPProtocol = "other_ip_protocol" // ICMP, GRE, ESP, … (not an error)
    case nflogNoPayload = "nflog_no_payload"
    case tunnelControl = "tunnel_control"      // GTP-U echo/error, PPTP GRE acknowledgements: no packet inside
}

/// A frame that could not be decoded as its headers claim.
public enum MalformedReason: String, Sendable, CaseIterable {
    case truncatedLink = "truncated_link_header"
    case truncatedIPv4 = "truncated_ipv4_header"
    case badIPv4Header = "bad_ipv4_header"
    case truncatedIPv6 = "truncated_ipv6_header"
    case badIPVersion = "bad_ip_version"
    case truncatedExtensionHeader = "truncated_ipv6_extension_header"
    case truncatedUDP = "truncated_udp_header"
    case badUDPLength = "bad_udp_length"
    case truncatedTCP = "truncated_tcp_header"
    case badTCPOffset = "bad_tcp_data_offset"
    case badFragment = "bad_ip_fragment"
    case tooManyVLANTags = "too_many_vlan_tags"
    case truncatedTunnel = "truncated_tunnel_header"
    case badTunnelHeader = "bad_tunnel_header"
    case tooManyTunnels = "too_many_tunnel_layers"
    case tooManyMPLSLabels = "too_many_mpls_labels"
}

/// Network-layer facts about a packet, kept for evidence (IP TTL, IP ID) and reassembly.
public struct IPInfo: Sendable {
    public var src: IPAddress
    public var dst: IPAddress
    /// IPv4 TTL or IPv6 hop limit.
    public var ttl: UInt8
    /// IPv4 identification; for IPv6 the fragment identification when fragmented, else 0.
    public var ipID: UInt32
    public var isV6: Bool { src.isV6 }
}

/// One IP fragment, to be handed to the fragment reassembler.
public struct IPFragment {
    public var ip: IPInfo
    public var protocolNumber: UInt8
    public var identification: UInt32
    /// Byte offset of this fragment's data in the original datagram payload.
    public var offset: Int
    public var moreFragments: Bool
    /// Borrowed fragment data; copy it before the frame buffer is reused.
    public var data: UnsafeRawBufferPointer
}

/// A decoded UDP or TCP segment. `payload` borrows the frame buffer.
public struct TransportSegment {
    public var ip: IPInfo
    public var proto: TransportProtocol
    public var sport: UInt16
    public var dport: UInt16
    /// TCP only.
    public var seq: UInt32 = 0
    public var ack: UInt32 = 0
    public var tcpFlags: UInt8 = 0
    public var window: UInt16 = 0
    public var payload: UnsafeRawBufferPointer
    /// Bit 0: the payload is truncated; bits 1…7: tunnel layers. One byte, so that the segment
    /// (and every `DecodeResult`) stays the size it had before tunnels were decoded: a second
    /// byte measurably slowed the packet path.
    @usableFromInline var bits: UInt8 = 0
    /// The payload is shorter than the headers announce (snap length, truncated capture).
    @inlinable public var payloadTruncated: Bool {
        get { bits & 1 != 0 }
        set { bits = newValue ? bits | 1 : bits & ~1 }
    }
    /// Tunnel layers (GRE, VXLAN, PPPoE, IP-in-IP, …) around this segment; 0 on a plain link.
    @inlinable public var tunnelLayers: Int {
        get { Int(bits >> 1) }
        set { bits = UInt8(truncatingIfNeeded: min(max(newValue, 0), 127) << 1) | bits & 1 }
    }

    @inlinable
    public init(ip: IPInfo, proto: TransportProtocol, sport: UInt16, dport: UInt16, payload: UnsafeRawBufferPointer,
                payloadTruncated: Bool = false) {
        self.ip = ip
        self.proto = proto
        self.sport = sport
        self.dport = dport
        self.payload = payload
        self.bits = payloadTruncated ? 1 : 0
    }

    public static let fin: UInt8 = 0x01
    public static let syn: UInt8 = 0x02
    public static let rst: UInt8 = 0x04
    public static let psh: UInt8 = 0x08
    public static let ackFlag: UInt8 = 0x10
}

public enum DecodeResult {
    case segment(TransportSegment)
    case fragment(IPFragment)
    case skipped(SkipReason)
    case malformed(MalformedReason)
    /// Bytes carried inside another protocol (IP-in-IP, GRE, MPLS, PPPoE, …), yet to be decoded
    /// with `PacketDecoder.resolveTunnels` (which never returns it).
    case encapsulated(Encapsulation, UnsafeRawBufferPointer)
}

/// Stateless decoding of link, network and transport headers. Zero-copy and bounds-checked.
public enum PacketDecoder {
    public static let etherIPv4: UInt16 = 0x0800
    public static let etherIPv6: UInt16 = 0x86DD

    /// Decodes one captured frame's link, network and transport headers: the packet path.
    /// Tunnels are left to the caller, out of this inlined code (any look at the result here
    /// cost the plain packet path tens of instructions per packet): `.encapsulated` results, and
    /// UDP segments on tunnel ports (`isTunnelPort`), go to `resolveTunnels`.
    /// `decodeThroughTunnels` does both in one call.
    @inline(__always)
    public static func decode(_ frame: UnsafeRawBufferPointer, linkType: LinkType) -> DecodeResult {
        decodeLink(frame, linkType: linkType)
    }

    /// Decodes one captured frame through any tunnels (`maxTunnelLayers` at most) to the
    /// innermost UDP/TCP segment: flows are keyed by the inner addresses.
    public static func decodeThroughTunnels(_ frame: UnsafeRawBufferPointer, linkType: LinkType) -> DecodeResult {
        resolveTunnels(decodeLink(frame, linkType: linkType))
    }

    /// A reassembled IP datagram's payload (`IPFragmentReassembler`), through any tunnels.
    public static func decodeReassembled(proto: UInt8, _ p: UnsafeRawBufferPointer, ip: IPInfo) -> DecodeResult {
        resolveTunnels(decodeTransport(proto: proto, p, ip: ip, truncated: false))
    }

    @inline(__always)
    static func decodeLink(_ frame: UnsafeRawBufferPointer, linkType: LinkType) -> DecodeResult {
        switch linkType {
        case .ethernet:
            return decodeEthernet(frame, at: 0)
        case .raw, .ipv4, .ipv6:
            guard frame.count >= 1 else { return .malformed(.truncatedLink) }
            return decodeIP(frame)
        case .null, .loop:
            guard frame.count >= 4 else { return .malformed(.truncatedLink) }
            var family: UInt32
            if case .loop = linkType {
                family = frame.be32(at: 0) ?? 0
            } else {
                // Host byte order of the capturing machine: accept either.
                let le = UInt32(frame[0]) | UInt32(frame[1]) << 8 | UInt32(frame[2]) << 16 | UInt32(frame[3]) << 24
                family = le < 256 ? le : (frame.be32(at: 0) ?? 0)
            }
            let rest = UnsafeRawBufferPointer(rebasing: frame[4...])
            switch family {
            case 2: return decodeIPv4(rest)
            case 10, 24, 28, 30: return decodeIPv6(rest)
            default: return .skipped(.nonIP)
            }
        case .linuxSLL:
            guard let proto = frame.be16(at: 14) else { return .malformed(.truncatedLink) }
            return dispatchEtherType(proto, UnsafeRawBufferPointer(rebasing: frame[16...]), vlanDepth: 0)
        case .linuxSLL2:
            guard frame.count >= 20, let proto = frame.be16(at: 0) else { return .malformed(.truncatedLink) }
            return dispatchEtherType(proto, UnsafeRawBufferPointer(rebasing: frame[20...]), vlanDepth: 0)
        case .nflog:
            return decodeNFLOG(frame)
        case .ppp:
            return decodePPP(frame)
        case .pppSerial:
            // Cisco HDLC shares this link type: address 0x0F/0x8F, control 0, then an EtherType.
            if frame.count >= 4 && (frame[0] == 0x0F || frame[0] == 0x8F) && frame[1] == 0 {
                return decodeCiscoHDLC(frame)
            }
            return decodePPP(frame)
        case .pppEther:
            return decodePPPoE(frame)
        case .cHDLC:
            return decodeCiscoHDLC(frame)
        case .unsupported:
            return .skipped(.unsupportedLinkType)
        }
    }

    @inline(__always)
    static func decodeEthernet(_ frame: UnsafeRawBufferPointer, at offset: Int) -> DecodeResult {
        guard let type = frame.be16(at: offset + 12) else { return .malformed(.truncatedLink) }
        return dispatchEtherType(type, UnsafeRawBufferPointer(rebasing: frame[(offset + 14)...]), vlanDepth: 0)
    }

    /// A loop rather than recursion over VLAN tags, so that the whole decode chain inlines into
    /// one function (the result is built once instead of copied up through every level).
    @inline(__always)
    static func dispatchEtherType(_ type: UInt16, _ rest: UnsafeRawBufferPointer, vlanDepth: Int) -> DecodeResult {
        var type = type
        var rest = rest
        var depth = vlanDepth
        while true {
            switch type {
            case etherIPv4: return decodeIPv4(rest)
            case etherIPv6: return decodeIPv6(rest)
            case 0x8100, 0x88A8, 0x9100:  // 802.1Q, 802.1ad (QinQ), legacy QinQ
                guard depth < 8 else { return .malformed(.tooManyVLANTags) }
                guard let inner = rest.be16(at: 2) else { return .malformed(.truncatedLink) }
                type = inner
                rest = UnsafeRawBufferPointer(rebasing: rest[4...])
                depth += 1
            default:
                return otherEtherType(type, rest)
            }
        }
    }

    /// NFLOG: 4-byte header (family, version, resource id), then TLVs in host byte order,
    /// each padded to 4 bytes; NFULA_PAYLOAD (type 9) holds the IP packet.
    static func decodeNFLOG(_ frame: UnsafeRawBufferPointer) -> DecodeResult {
        guard frame.count >= 4 else { return .malformed(.truncatedLink) }
        let family = frame[0]
        var off = 4
        while off + 4 <= frame.count {
            let len = Int(UInt16(frame[off]) | UInt16(frame[off + 1]) << 8)
            let type = UInt16(frame[off + 2]) | UInt16(frame[off + 3]) << 8
            guard len >= 4, off + len <= frame.count else { return .malformed(.truncatedLink) }
            if type & 0x7fff == 9 {
                let payload = UnsafeRawBufferPointer(rebasing: frame[(off + 4)..<(off + len)])
                switch family {
                case 2: return decodeIPv4(payload)
                case 10: return decodeIPv6(payload)
                default: return decodeIP(payload)
                }
            }
            off += (len + 3) & ~3
        }
        return .skipped(.nflogNoPayload)
    }

    /// Raw IP: version from the first nibble.
    public static func decodeIP(_ p: UnsafeRawBufferPointer) -> DecodeResult {
        guard p.count >= 1 else { return .malformed(.truncatedIPv4) }
        switch p[0] >> 4 {
        case 4: return decodeIPv4(p)
        case 6: return decodeIPv6(p)
        default: return .malformed(.badIPVersion)
        }
    }

    @inline(__always)
    public static func decodeIPv4(_ p: UnsafeRawBufferPointer) -> DecodeResult {
        guard p.count >= 20 else { return .malformed(.truncatedIPv4) }
        guard p[0] >> 4 == 4 else { return .malformed(.badIPVersion) }
        let ihl = Int(p[0] & 0x0f) * 4
        guard ihl >= 20, p.count >= ihl else { return .malformed(.badIPv4Header) }
        let totalLength = Int(p.be16(at: 2) ?? 0)
        guard totalLength >= ihl else { return .malformed(.badIPv4Header) }
        // Trim link-layer padding; keep what was captured when the snap length cut it short.
        let end = min(totalLength, p.count)
        let truncated = totalLength > p.count
        let id = UInt32(p.be16(at: 4) ?? 0)
        let fragWord = p.be16(at: 6) ?? 0
        let more = fragWord & 0x2000 != 0
        let fragOffset = Int(fragWord & 0x1fff) * 8
        let ttl = p[8]
        let proto = p[9]
        let src = IPAddress(v4: p.be32(at: 12) ?? 0)
        let dst = IPAddress(v4: p.be32(at: 16) ?? 0)
        let info = IPInfo(src: src, dst: dst, ttl: ttl, ipID: id)
        let payload = UnsafeRawBufferPointer(rebasing: p[ihl..<end])
        if more || fragOffset != 0 {
            guard !truncated else { return .malformed(.badFragment) }
            return .fragment(IPFragment(ip: info, protocolNumber: proto, identification: id,
                                        offset: fragOffset, moreFragments: more, data: payload))
        }
        return decodeTransport(proto: proto, payload, ip: info, truncated: truncated)
    }

    public static func decodeIPv6(_ p: UnsafeRawBufferPointer) -> DecodeResult {
        guard p.count >= 40 else { return .malformed(.truncatedIPv6) }
        guard p[0] >> 4 == 6 else { return .malformed(.badIPVersion) }
        let payloadLength = Int(p.be16(at: 4) ?? 0)
        var next = p[6]
        let hop = p[7]
        guard let src = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: p[8..<24])),
              let dst = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: p[24..<40])) else {
            return .malformed(.truncatedIPv6)
        }
        // Jumbograms (payload length 0) and short captures: use what is there.
        let end = payloadLength == 0 ? p.count : min(40 + payloadLength, p.count)
        let truncated = payloadLength != 0 && 40 + payloadLength > p.count
        var off = 40
        var info = IPInfo(src: src, dst: dst, ttl: hop, ipID: 0)
        var hops = 0
        while hops < 16 {
            hops += 1
            switch next {
            case 0, 43, 60, 135, 139, 140:  // hop-by-hop, routing, destination options, mobility, HIP, shim6
                guard off + 2 <= end else { return .malformed(.truncatedExtensionHeader) }
                let len = (Int(p[off + 1]) + 1) * 8
                guard off + len <= end else { return .malformed(.truncatedExtensionHeader) }
                next = p[off]
                off += len
            case 51:  // AH: length in 4-byte units minus 2
                guard off + 2 <= end else { return .malformed(.truncatedExtensionHeader) }
                let len = (Int(p[off + 1]) + 2) * 4
                guard off + len <= end else { return .malformed(.truncatedExtensionHeader) }
                next = p[off]
                off += len
            case 44:  // Fragment
                guard off + 8 <= end else { return .malformed(.truncatedExtensionHeader) }
                let nh = p[off]
                let word = p.be16(at: off + 2) ?? 0
                let ident = p.be32(at: off + 4) ?? 0
                let fragOffset = Int(word >> 3) * 8
                let more = word & 1 != 0
                info.ipID = ident
                let data = UnsafeRawBufferPointer(rebasing: p[(off + 8)..<end])
                if fragOffset == 0 && !more {
                    // Atomic fragment: the whole datagram is here.
                    return decodeTransport(proto: nh, data, ip: info, truncated: truncated)
                }
                guard !truncated else { return .malformed(.badFragment) }
                return .fragment(IPFragment(ip: info, protocolNumber: nh, identification: ident,
                                            offset: fragOffset, moreFragments: more, data: data))
            default:
                return decodeTransport(proto: next, UnsafeRawBufferPointer(rebasing: p[off..<end]), ip: info, truncated: truncated)
            }
        }
        return .malformed(.truncatedExtensionHeader)
    }

    /// Decodes a UDP or TCP header that starts at the beginning of `p`.
    @inline(__always)
    public static func decodeTransport(proto: UInt8, _ p: UnsafeRawBufferPointer, ip: IPInfo, truncated: Bool) -> DecodeResult {
        switch proto {
        case 17:
            guard p.count >= 8 else { return .malformed(.truncatedUDP) }
            let sport = p.be16(at: 0) ?? 0
            let dport = p.be16(at: 2) ?? 0
            let length = Int(p.be16(at: 4) ?? 0)
            var end = p.count
            var short = truncated
            if length >= 8 {
                if length <= p.count { end = length } else { short = true }
            } else if length != 0 {  // 0 is legal for IPv6 jumbograms only; treat as "to the end"
                return .malformed(.badUDPLength)
            }
            let seg = TransportSegment(ip: ip, proto: .udp, sport: sport, dport: dport,
                                       payload: UnsafeRawBufferPointer(rebasing: p[8..<end]),
                                       payloadTruncated: short)
            return .segment(seg)
        case 6:
            guard p.count >= 20 else { return .malformed(.truncatedTCP) }
            let dataOffset = Int(p[12] >> 4) * 4
            guard dataOffset >= 20 else { return .malformed(.badTCPOffset) }
            guard dataOffset <= p.count else { return .malformed(.truncatedTCP) }
            var seg = TransportSegment(ip: ip, proto: .tcp, sport: p.be16(at: 0) ?? 0, dport: p.be16(at: 2) ?? 0,
                                       payload: UnsafeRawBufferPointer(rebasing: p[dataOffset...]),
                                       payloadTruncated: truncated)
            seg.seq = p.be32(at: 4) ?? 0
            seg.ack = p.be32(at: 8) ?? 0
            seg.tcpFlags = p[13]
            seg.window = p.be16(at: 14) ?? 0
            return .segment(seg)
        default:
            // Out of line: a tunnel case built here, in code inlined on every path, cost the
            // plain packet path about 60 instructions per packet (cachegrind).
            return otherIPProtocol(proto, p)
        }
    }
}

extension SkipReason {
    /// Position in `allCases`, for counting in a plain array.
    @inlinable public var ordinal: Int {
        switch self {
        case .unsupportedLinkType: return 0
        case .nonIP: return 1
        case .otherIPProtocol: return 2
        case .nflogNoPayload: return 3
        case .tunnelControl: return 4
        }
    }
}

extension MalformedReason {
    /// Position in `allCases`, for counting in a plain array.
    @inlinable public var ordinal: Int {
        switch self {
        case .truncatedLink: return 0
        case .truncatedIPv4: return 1
        case .badIPv4Header: return 2
        case .truncatedIPv6: return 3
        case .badIPVersion: return 4
        case .truncatedExtensionHeader: return 5
        case .truncatedUDP: return 6
        case .badUDPLength: return 7
        case .truncatedTCP: return 8
        case .badTCPOffset: return 9
        case .badFragment: return 10
        case .tooManyVLANTags: return 11
        case .truncatedTunnel: return 12
        case .badTunnelHeader: return 13
        case .tooManyTunnels: return 14
        case .tooManyMPLSLabels: return 15
        }
    }
}
