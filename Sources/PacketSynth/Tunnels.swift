// Encapsulations: each function wraps a payload (an IP packet or an Ethernet frame) in one
// tunnel or link header, with every length (and the GRE checksum) filled in. They compose:
// the result is the payload of the next layer out (an IP protocol, a UDP port, an EtherType).

extension EtherType {
    public static let qinq: UInt16 = 0x88a8
    public static let pppoeSession: UInt16 = 0x8864
    public static let mplsUnicast: UInt16 = 0x8847
    public static let transparentEthernet: UInt16 = 0x6558
    public static let erspan: UInt16 = 0x88be
    public static let erspanIII: UInt16 = 0x22eb
    public static let ppp: UInt16 = 0x880b
}

extension IPProtocolNumber {
    public static let ipInIP: UInt8 = 4
    public static let ipv6InIP: UInt8 = 41
    public static let gre: UInt8 = 47
    public static let mplsInIP: UInt8 = 137
}

public enum TunnelPorts {
    public static let vxlan: UInt16 = 4789
    public static let geneve: UInt16 = 6081
    public static let greInUDP: UInt16 = 4754
    public static let gtpUser: UInt16 = 2152
    public static let teredo: UInt16 = 3544
}

public enum Encapsulate {
    /// An Ethernet II frame; `tags` are VLAN tags outermost first (TPID 0x8100, or 0x88a8 for QinQ's outer tag).
    public static func ethernet(_ payload: [UInt8], etherType: UInt16, source: MACAddress, destination: MACAddress,
                                tags: [(tpid: UInt16, vid: UInt16)] = []) -> [UInt8] {
        var out = destination.bytes + source.bytes
        for t in tags {
            out.appendBE16(t.tpid)
            out.appendBE16(t.vid & 0x0fff)
        }
        out.appendBE16(etherType)
        return out + payload
    }

    /// The EtherType of an IP packet (by its first nibble).
    public static func etherType(ofIPPacket p: [UInt8]) -> UInt16 {
        (p.first ?? 0x45) >> 4 == 6 ? EtherType.ipv6 : EtherType.ipv4
    }

    /// A GRE version 0 header (RFC 2784/2890) and payload; the checksum covers header and payload.
    public static func gre(_ payload: [UInt8], protocolType: UInt16, checksum: Bool = false, key: UInt32? = nil,
                           sequence: UInt32? = nil) -> [UInt8] {
        var flags: UInt8 = 0
        if checksum { flags |= 0x80 }
        if key != nil { flags |= 0x20 }
        if sequence != nil { flags |= 0x10 }
        var out: [UInt8] = [flags, 0]
        out.appendBE16(protocolType)
        if checksum { out += [0, 0, 0, 0] }
        if let key { out.appendBE32(key) }
        if let sequence { out.appendBE32(sequence) }
        out += payload
        if checksum {
            let c = internetChecksum(out)
            out[4] = UInt8(c >> 8)
            out[5] = UInt8(c & 0xff)
        }
        return out
    }

    /// Enhanced GRE (version 1, PPTP, RFC 2637) carrying a PPP frame.
    public static func pptpGRE(_ pppFrame: [UInt8], callID: UInt16, sequence: UInt32) -> [UInt8] {
        var out: [UInt8] = [0x30, 0x01]  // key and sequence present, version 1
        out.appendBE16(EtherType.ppp)
        out.appendBE16(UInt16(truncatingIfNeeded: pppFrame.count))
        out.appendBE16(callID)
        out.appendBE32(sequence)
        return out + pppFrame
    }

    /// ERSPAN type I: GRE protocol 0x88be, no sequence number, the mirrored frame right after.
    public static func erspanI(_ frame: [UInt8]) -> [UInt8] {
        gre(frame, protocolType: EtherType.erspan)
    }

    /// ERSPAN type II: GRE with a sequence number, then the 8-byte ERSPAN header (version 1).
    public static func erspanII(_ frame: [UInt8], sessionID: UInt16, sequence: UInt32) -> [UInt8] {
        var h: [UInt8] = [0x10, 0x00]  // version 1, VLAN 0
        h.appendBE16(sessionID & 0x03ff)
        h += [0, 0, 0, 0]  // reserved, index
        return gre(h + frame, protocolType: EtherType.erspan, sequence: sequence)
    }

    /// ERSPAN type III: GRE with a sequence number, the 12-byte header (version 2) and, with
    /// `platformSubheader`, the 8-byte platform-specific sub-header (O bit set).
    public static func erspanIII(_ frame: [UInt8], sessionID: UInt16, sequence: UInt32, timestamp: UInt32 = 0,
                                 platformSubheader: Bool = false) -> [UInt8] {
        var h: [UInt8] = [0x20, 0x00]  // version 2, VLAN 0
        h.appendBE16(sessionID & 0x03ff)
        h.appendBE32(timestamp)
        h += [0, 0, 0, platformSubheader ? 0x01 : 0x00]  // SGT, P/FT/HW ID/D/Gra, O
        if platformSubheader { h += [0x08, 0, 0, 0, 0, 0, 0, 0] }  // platform id 1 (reserved word, timestamp)
        return gre(h + frame, protocolType: EtherType.erspanIII, sequence: sequence)
    }

    /// A VXLAN header (RFC 7348, I flag set) before an Ethernet frame: a UDP payload for port 4789.
    public static func vxlan(_ frame: [UInt8], vni: UInt32) -> [UInt8] {
        [0x08, 0, 0, 0, UInt8(truncatingIfNeeded: vni >> 16), UInt8(truncatingIfNeeded: vni >> 8),
         UInt8(truncatingIfNeeded: vni), 0] + frame
    }

    /// A Geneve header (RFC 8926) with raw `options` (a multiple of 4 bytes): a UDP payload for port 6081.
    public static func geneve(_ payload: [UInt8], protocolType: UInt16, vni: UInt32, options: [UInt8] = []) -> [UInt8] {
        precondition(options.count % 4 == 0 && options.count <= 252, "Geneve options are whole 4-byte words")
        var out: [UInt8] = [UInt8(options.count / 4), 0]
        out.appendBE16(protocolType)
        out += [UInt8(truncatingIfNeeded: vni >> 16), UInt8(truncatingIfNeeded: vni >> 8), UInt8(truncatingIfNeeded: vni), 0]
        return out + options + payload
    }

    /// A GTP-U T-PDU (3GPP TS 29.281) carrying an IP packet: a UDP payload for port 2152. With a
    /// sequence number or extension headers (each a content of 4n-2 bytes) the optional fields are present.
    public static func gtpU(_ ipPacket: [UInt8], teid: UInt32, sequence: UInt16? = nil,
                            extensionHeaders: [(type: UInt8, content: [UInt8])] = []) -> [UInt8] {
        var flags: UInt8 = 0x30  // version 1, protocol type GTP
        if sequence != nil { flags |= 0x02 }
        if !extensionHeaders.isEmpty { flags |= 0x04 }
        var body: [UInt8] = []
        if flags & 0x07 != 0 {
            body.appendBE16(sequence ?? 0)
            body.append(0)  // N-PDU number
            body.append(extensionHeaders.first?.type ?? 0)
            for (i, e) in extensionHeaders.enumerated() {
                precondition((e.content.count + 2) % 4 == 0, "a GTP-U extension header is a whole number of 4-byte words")
                body.append(UInt8((e.content.count + 2) / 4))
                body += e.content
                body.append(i + 1 < extensionHeaders.count ? extensionHeaders[i + 1].type : 0)
            }
        }
        body += ipPacket
        var out: [UInt8] = [flags, 0xff]
        out.appendBE16(UInt16(truncatingIfNeeded: body.count))
        out.appendBE32(teid)
        return out + body
    }

    /// A Teredo datagram (RFC 4380): an IPv6 packet, after an origin indication when given.
    public static func teredo(_ ipv6Packet: [UInt8], origin: (port: UInt16, address: UInt32)? = nil) -> [UInt8] {
        var out: [UInt8] = []
        if let origin {
            out += [0, 0]
            out.appendBE16(~origin.port)     // obfuscated: bits inverted
            out.appendBE32(~origin.address)
        }
        return out + ipv6Packet
    }

    /// An MPLS label stack (RFC 3032), outermost label first, bottom-of-stack set on the last.
    public static func mpls(_ payload: [UInt8], labels: [UInt32], ttl: UInt8 = 64) -> [UInt8] {
        var out: [UInt8] = []
        for (i, l) in labels.enumerated() {
            let bottom: UInt32 = i == labels.count - 1 ? 1 : 0
            out.appendBE32((l & 0xfffff) << 12 | bottom << 8 | UInt32(ttl))
        }
        return out + payload
    }

    /// PPP (RFC 1661) carrying an IP packet; with `hdlcFraming`, after address 0xFF and control 0x03.
    public static func ppp(_ ipPacket: [UInt8], hdlcFraming: Bool = true) -> [UInt8] {
        var out: [UInt8] = hdlcFraming ? [0xff, 0x03] : []
        out.appendBE16((ipPacket.first ?? 0x45) >> 4 == 6 ? 0x0057 : 0x0021)
        return out + ipPacket
    }

    /// A PPPoE session frame's payload (RFC 2516): the 6-byte header, then PPP without framing.
    public static func pppoeSession(_ ipPacket: [UInt8], sessionID: UInt16) -> [UInt8] {
        let ppp = ppp(ipPacket, hdlcFraming: false)
        var out: [UInt8] = [0x11, 0x00]
        out.appendBE16(sessionID)
        out.appendBE16(UInt16(truncatingIfNeeded: ppp.count))
        return out + ppp
    }

    /// A Cisco HDLC frame (address 0x0F, control 0, EtherType).
    public static func ciscoHDLC(_ ipPacket: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x0f, 0x00]
        out.appendBE16(etherType(ofIPPacket: ipPacket))
        return out + ipPacket
    }

    /// The Internet checksum (RFC 1071) of `bytes`.
    static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
