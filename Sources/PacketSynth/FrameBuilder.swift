// Complete frames: link layer (Ethernet II, 802.1Q, or none) + IPv4/IPv6 + UDP/TCP/ICMP,
// every length and checksum filled in. Each frame is built in one array with one allocation.

import NetTypes

public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let arp: UInt16 = 0x0806
    public static let vlan: UInt16 = 0x8100
    public static let ipv6: UInt16 = 0x86dd
}

public enum IPProtocolNumber {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let ipv6Fragment: UInt8 = 44
    public static let icmpv6: UInt8 = 58
}

/// Network-layer header fields. `ttl` is the IPv4 TTL or the IPv6 hop limit; `identification`
/// and `dontFragment` apply to IPv4 only; `flowLabel` to IPv6 only; `tos` is the IPv4 TOS byte
/// or the IPv6 traffic class.
public struct IPFields: Hashable, Sendable {
    public var ttl: UInt8
    public var identification: UInt16
    public var dontFragment: Bool
    public var tos: UInt8
    public var flowLabel: UInt32

    public init(ttl: UInt8 = 64, identification: UInt16 = 0, dontFragment: Bool = true, tos: UInt8 = 0,
                flowLabel: UInt32 = 0) {
        self.ttl = ttl
        self.identification = identification
        self.dontFragment = dontFragment
        self.tos = tos
        self.flowLabel = flowLabel & 0xfffff
    }
}

/// TCP header flags.
public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)

    public var description: String {
        let names: [(TCPFlags, String)] = [(.syn, "SYN"), (.fin, "FIN"), (.rst, "RST"), (.psh, "PSH"),
                                           (.ack, "ACK"), (.urg, "URG"), (.ece, "ECE"), (.cwr, "CWR")]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: "|")
    }
}

/// TCP options, encoded in the order given and padded to a 4-byte boundary with EOL bytes.
public enum TCPOption: Hashable, Sendable {
    case nop
    case mss(UInt16)
    case windowScale(UInt8)
    case sackPermitted
    case timestamps(value: UInt32, echo: UInt32)
    case raw(kind: UInt8, data: [UInt8])

    var encodedLength: Int {
        switch self {
        case .nop: return 1
        case .mss: return 4
        case .windowScale: return 3
        case .sackPermitted: return 2
        case .timestamps: return 10
        case .raw(_, let data): return 2 + data.count
        }
    }

    func encode(into out: inout [UInt8]) {
        switch self {
        case .nop: out.append(1)
        case .mss(let v): out.append(2); out.append(4); out.appendBE16(v)
        case .windowScale(let s): out.append(3); out.append(3); out.append(s)
        case .sackPermitted: out.append(4); out.append(2)
        case let .timestamps(v, e): out.append(8); out.append(10); out.appendBE32(v); out.appendBE32(e)
        case let .raw(kind, data): out.append(kind); out.append(UInt8(truncatingIfNeeded: 2 + data.count)); out += data
        }
    }

    static func paddedLength(_ options: [TCPOption]) -> Int {
        let n = options.reduce(0) { $0 + $1.encodedLength }
        return (n + 3) & ~3
    }
}

/// The link layer wrapped around each IP packet.
public enum LinkLayer: Hashable, Sendable {
    /// Ethernet II, with an 802.1Q tag when `vlan` (the VLAN ID, 0…4095) is set.
    case ethernet(source: MACAddress, destination: MACAddress, vlan: UInt16? = nil)
    /// No link header at all (pcap link type 101, raw IP).
    case rawIP
}

/// Builds complete frames for one link-layer setting (one direction, for Ethernet).
public struct FrameBuilder: Hashable, Sendable {
    public var link: LinkLayer

    public init(link: LinkLayer) { self.link = link }

    public static func ethernet(source: MACAddress, destination: MACAddress, vlan: UInt16? = nil) -> FrameBuilder {
        FrameBuilder(link: .ethernet(source: source, destination: destination, vlan: vlan))
    }

    /// Raw IP packets, no link header.
    public static let rawIP = FrameBuilder(link: .rawIP)

    /// The builder for the opposite direction (Ethernet source and destination swapped).
    public var reversed: FrameBuilder {
        switch link {
        case let .ethernet(s, d, vlan): return .ethernet(source: d, destination: s, vlan: vlan)
        case .rawIP: return self
        }
    }

    /// Length of the link header this builder writes.
    public var linkHeaderLength: Int {
        switch link {
        case .ethernet(_, _, let vlan): return vlan == nil ? 14 : 18
        case .rawIP: return 0
        }
    }

    // MARK: Link layer

    func appendLinkHeader(_ out: inout [UInt8], etherType: UInt16) {
        switch link {
        case let .ethernet(s, d, vlan):
            out += d.bytes
            out += s.bytes
            if let vlan {
                out.appendBE16(EtherType.vlan)
                out.appendBE16(vlan & 0x0fff)
            }
            out.appendBE16(etherType)
        case .rawIP:
            break
        }
    }

    /// A frame with an arbitrary EtherType (ignored, and no header written, for raw IP).
    public func frame(etherType: UInt16, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(linkHeaderLength + payload.count)
        appendLinkHeader(&out, etherType: etherType)
        out += payload
        return out
    }

    /// Wraps a complete IP packet (version taken from its first nibble).
    public func frame(ipPacket: [UInt8]) -> [UInt8] {
        let isV6 = (ipPacket.first ?? 0x45) >> 4 == 6
        return frame(etherType: isV6 ? EtherType.ipv6 : EtherType.ipv4, payload: ipPacket)
    }

    // MARK: Transport

    /// A UDP datagram with a correct checksum (the IPv4 checksum is never left at 0).
    public func udp(from source: IPAddress, _ sourcePort: UInt16, to destination: IPAddress, _ destinationPort: UInt16,
                    payload: [UInt8], ip: IPFields = IPFields()) -> [UInt8] {
        let length = 8 + payload.count
        return emit(source: source, destination: destination, protocol: IPProtocolNumber.udp, ip: ip,
                    l4Length: length, checksum: .transport(offset: 6, zeroAsOnes: true)) { out in
            out.appendBE16(sourcePort)
            out.appendBE16(destinationPort)
            out.appendBE16(UInt16(truncatingIfNeeded: length))
            out.appendBE16(0)
            out += payload
        }
    }

    /// A TCP segment with a correct checksum.
    public func tcp(from source: IPAddress, _ sourcePort: UInt16, to destination: IPAddress, _ destinationPort: UInt16,
                    seq: UInt32, ack: UInt32, flags: TCPFlags, window: UInt16 = 65_535,
                    options: [TCPOption] = [], payload: [UInt8] = [], ip: IPFields = IPFields()) -> [UInt8] {
        let optionsLength = TCPOption.paddedLength(options)
        let headerLength = 20 + optionsLength
        return emit(source: source, destination: destination, protocol: IPProtocolNumber.tcp, ip: ip,
                    l4Length: headerLength + payload.count, checksum: .transport(offset: 16, zeroAsOnes: false)) { out in
            out.appendBE16(sourcePort)
            out.appendBE16(destinationPort)
            out.appendBE32(seq)
            out.appendBE32(flags.contains(.ack) ? ack : 0)
            out.append(UInt8(headerLength / 4) << 4)
            out.append(flags.rawValue)
            out.appendBE16(window)
            out.appendBE16(0)   // checksum
            out.appendBE16(0)   // urgent pointer
            let start = out.count
            for o in options { o.encode(into: &out) }
            while out.count - start < optionsLength { out.append(0) }
            out += payload
        }
    }

    /// An ICMP (IPv4) or ICMPv6 echo request or reply.
    public func icmpEcho(from source: IPAddress, to destination: IPAddress, reply: Bool, identifier: UInt16,
                         sequence: UInt16, payload: [UInt8] = [], ip: IPFields = IPFields()) -> [UInt8] {
        let v6 = source.isV6
        let type: UInt8 = v6 ? (reply ? 129 : 128) : (reply ? 0 : 8)
        return icmp(from: source, to: destination, type: type, code: 0,
                    body: [UInt8(identifier >> 8), UInt8(identifier & 0xff), UInt8(sequence >> 8), UInt8(sequence & 0xff)] + payload,
                    ip: ip)
    }

    /// An ICMP / ICMPv6 message of any type; `body` follows the 4-byte type/code/checksum header.
    public func icmp(from source: IPAddress, to destination: IPAddress, type: UInt8, code: UInt8, body: [UInt8],
                     ip: IPFields = IPFields()) -> [UInt8] {
        let v6 = source.isV6
        return emit(source: source, destination: destination,
                    protocol: v6 ? IPProtocolNumber.icmpv6 : IPProtocolNumber.icmp, ip: ip,
                    l4Length: 4 + body.count,
                    checksum: v6 ? .transport(offset: 2, zeroAsOnes: false) : .plain(offset: 2)) { out in
            out.append(type)
            out.append(code)
            out.appendBE16(0)
            out += body
        }
    }

    /// An IP packet with an arbitrary protocol number and payload (no upper-layer checksum touched).
    public func ip(from source: IPAddress, to destination: IPAddress, protocol proto: UInt8, payload: [UInt8],
                   ip: IPFields = IPFields()) -> [UInt8] {
        emit(source: source, destination: destination, protocol: proto, ip: ip, l4Length: payload.count,
             checksum: .none) { out in out += payload }
    }

    /// An ARP request or reply (Ethernet/IPv4). With a raw-IP builder only the ARP payload is returned.
    public func arp(reply: Bool, senderMAC: MACAddress, senderIP: IPv4Address, targetMAC: MACAddress,
                    targetIP: IPv4Address) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(28)
        body.appendBE16(1)               // hardware type: Ethernet
        body.appendBE16(EtherType.ipv4)  // protocol type
        body.append(6)
        body.append(4)
        body.appendBE16(reply ? 2 : 1)
        body += senderMAC.bytes
        body += senderIP.bytes
        body += targetMAC.bytes
        body += targetIP.bytes
        return frame(etherType: EtherType.arp, payload: body)
    }

    // MARK: Core

    enum ChecksumKind {
        case none
        /// Pseudo-header checksum (TCP, UDP, ICMPv6) stored at `offset` in the L4 header.
        case transport(offset: Int, zeroAsOnes: Bool)
        /// Checksum over the L4 bytes only (ICMPv4).
        case plain(offset: Int)
    }

    func emit(source: IPAddress, destination: IPAddress, protocol proto: UInt8, ip: IPFields, l4Length: Int,
              checksum: ChecksumKind, writeL4: (inout [UInt8]) -> Void) -> [UInt8] {
        precondition(source.isV6 == destination.isV6,
                     "PacketSynth: source \(source) and destination \(destination) are of different families")
        let v6 = source.isV6
        let ipHeaderLength = v6 ? 40 : 20
        var out: [UInt8] = []
        out.reserveCapacity(linkHeaderLength + ipHeaderLength + l4Length)
        appendLinkHeader(&out, etherType: v6 ? EtherType.ipv6 : EtherType.ipv4)
        let ipStart = out.count
        if v6 {
            let first = UInt32(6) << 28 | UInt32(ip.tos) << 20 | (ip.flowLabel & 0xfffff)
            out.appendBE32(first)
            out.appendBE16(UInt16(truncatingIfNeeded: l4Length))
            out.append(proto)
            out.append(ip.ttl)
        } else {
            precondition(20 + l4Length <= 65_535, "PacketSynth: IPv4 datagram larger than 65535 bytes")
            out.append(0x45)
            out.append(ip.tos)
            out.appendBE16(UInt16(truncatingIfNeeded: 20 + l4Length))
            out.appendBE16(ip.identification)
            out.appendBE16(ip.dontFragment ? 0x4000 : 0)
            out.append(ip.ttl)
            out.append(proto)
            out.appendBE16(0)
        }
        out += source.bytes
        out += destination.bytes
        let l4Start = out.count
        writeL4(&out)
        out.withUnsafeMutableBytes { buf in
            if !v6 {
                let header = UnsafeRawBufferPointer(rebasing: buf[ipStart..<(ipStart + 20)])
                let c = InternetChecksum.finish(InternetChecksum.partialSum(header))
                buf[ipStart + 10] = UInt8(c >> 8)
                buf[ipStart + 11] = UInt8(c & 0xff)
            }
            let l4 = UnsafeRawBufferPointer(rebasing: buf[l4Start...])
            switch checksum {
            case .none:
                break
            case let .transport(offset, zeroAsOnes):
                let pseudo = InternetChecksum.pseudoHeaderSum(source: source, destination: destination,
                                                              protocol: proto, length: l4.count)
                var c = InternetChecksum.finish(InternetChecksum.partialSum(l4, initial: pseudo))
                if zeroAsOnes && c == 0 { c = 0xffff }
                buf[l4Start + offset] = UInt8(c >> 8)
                buf[l4Start + offset + 1] = UInt8(c & 0xff)
            case let .plain(offset):
                let c = InternetChecksum.finish(InternetChecksum.partialSum(l4))
                buf[l4Start + offset] = UInt8(c >> 8)
                buf[l4Start + offset + 1] = UInt8(c & 0xff)
            }
        }
        return out
    }
}

/// The same builders without a link layer: plain IP packets.
public enum IPPacket {
    public static func udp(from source: IPAddress, _ sourcePort: UInt16, to destination: IPAddress,
                           _ destinationPort: UInt16, payload: [UInt8], ip: IPFields = IPFields()) -> [UInt8] {
        FrameBuilder.rawIP.udp(from: source, sourcePort, to: destination, destinationPort, payload: payload, ip: ip)
    }

    public static func tcp(from source: IPAddress, _ sourcePort: UInt16, to destination: IPAddress,
                           _ destinationPort: UInt16, seq: UInt32, ack: UInt32, flags: TCPFlags,
                           window: UInt16 = 65_535, options: [TCPOption] = [], payload: [UInt8] = [],
                           ip: IPFields = IPFields()) -> [UInt8] {
        FrameBuilder.rawIP.tcp(from: source, sourcePort, to: destination, destinationPort, seq: seq, ack: ack,
                               flags: flags, window: window, options: options, payload: payload, ip: ip)
    }
}

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendBE16(_ v: UInt16) {
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always) mutating func appendBE32(_ v: UInt32) {
        append(UInt8(truncatingIfNeeded: v >> 24))
        append(UInt8(truncatingIfNeeded: v >> 16))
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }
}

/// Reads a big-endian 16-bit value (0 when out of range).
@inline(__always) func be16(_ b: [UInt8], _ i: Int) -> UInt16 {
    guard i >= 0, i + 1 < b.count else { return 0 }
    return UInt16(b[i]) << 8 | UInt16(b[i + 1])
}
