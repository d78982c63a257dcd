import NetTypes
import WireBytes

/// One layer a packet travelled inside: a VLAN tag, a PPPoE session, an MPLS label stack, or an
/// IP/UDP tunnel with its outer endpoints (the link the packet was on) and its identifier.
public struct TunnelHop: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case vlan, pppoe, mpls, gre, erspan, pptp, vxlan, geneve
        case greInUDP = "gre-in-udp"
        case gtpu = "gtp-u"
        case teredo
        case ip4in4 = "4in4", ip6in4 = "6in4", ip4in6 = "4in6", ip6in6 = "6in6"
        case mplsInIP = "mpls-in-ip"
    }

    public var kind: Kind
    /// The outer IP header's addresses, for tunnels carried by IP (GRE, IP-in-IP, UDP tunnels).
    public var outerSource: IPAddress?
    public var outerDestination: IPAddress?
    /// VLAN id, PPPoE session id, MPLS top label, GRE key, PPTP call id, VXLAN/Geneve VNI, GTP-U
    /// TEID, ERSPAN session id — whichever the kind has (nil when its header carries none).
    public var id: UInt32?

    public init(kind: Kind, outerSource: IPAddress? = nil, outerDestination: IPAddress? = nil, id: UInt32? = nil) {
        self.kind = kind
        self.outerSource = outerSource
        self.outerDestination = outerDestination
        self.id = id
    }

    /// The identifier's name in evidence (`vni`, `key`, `teid`, …), nil when the kind has none.
    public var idName: String? {
        switch kind {
        case .vlan: return "vlan"
        case .pppoe: return "pppoe_session"
        case .mpls, .mplsInIP: return "mpls_label"
        case .gre, .greInUDP: return "key"
        case .erspan: return "erspan_session"
        case .pptp: return "pptp_call"
        case .vxlan, .geneve: return "vni"
        case .gtpu: return "teid"
        case .teredo, .ip4in4, .ip6in4, .ip4in6, .ip6in6: return nil
        }
    }

    /// "VXLAN VNI 5000 from 192.0.2.1 to 192.0.2.2", "VLAN 100", "GRE key 42 from … to …".
    public var text: String {
        var s: String
        switch kind {
        case .vlan: s = "VLAN"
        case .pppoe: s = "PPPoE"
        case .mpls: s = "MPLS"
        case .mplsInIP: s = "MPLS-in-IP"
        case .gre: s = "GRE"
        case .greInUDP: s = "GRE-in-UDP"
        case .erspan: s = "ERSPAN"
        case .pptp: s = "PPTP GRE"
        case .vxlan: s = "VXLAN"
        case .geneve: s = "Geneve"
        case .gtpu: s = "GTP-U"
        case .teredo: s = "Teredo"
        case .ip4in4, .ip6in4, .ip4in6, .ip6in6: s = "IP-in-IP (\(kind.rawValue))"
        }
        if let id {
            switch kind {
            case .gre, .greInUDP: s += " key \(id)"
            case .vxlan, .geneve: s += " VNI \(id)"
            case .gtpu: s += " TEID 0x" + String(id, radix: 16)
            case .pppoe: s += " session 0x" + String(id, radix: 16)
            case .pptp: s += " call 0x" + String(id, radix: 16)
            case .mpls, .mplsInIP: s += " label \(id)"
            case .erspan: s += " session \(id)"
            case .vlan: s += " \(id)"
            case .teredo, .ip4in4, .ip6in4, .ip4in6, .ip6in6: break
            }
        }
        if let a = outerSource, let b = outerDestination { s += " from \(a) to \(b)" }
        return s
    }
}

extension PacketDecoder {
    /// The tunnel layers of one frame, outermost first: VLAN tags, PPPoE sessions, MPLS stacks and
    /// every tunnel `resolveTunnels` goes through, with outer endpoints and ids. Not on the packet
    /// path: called only for frames that were tunnelled (or VLAN-tagged), to name in evidence which
    /// link a packet travelled on. Bounded like `resolveTunnels` (no recursion).
    public static func tunnelTrace(_ frame: UnsafeRawBufferPointer, linkType: LinkType) -> [TunnelHop] {
        var hops: [TunnelHop] = []
        tunnelTrace(frame, linkType: linkType, into: &hops)
        return hops
    }

    /// `tunnelTrace` into `hops` (emptied first, its capacity kept): a caller that keeps one
    /// array allocates nothing per frame.
    public static func tunnelTrace(_ frame: UnsafeRawBufferPointer, linkType: LinkType, into hops: inout [TunnelHop]) {
        hops.removeAll(keepingCapacity: true)
        switch linkType {
        case .ethernet: vlanHops(frame, at: 12, into: &hops)
        case .pppEther: if let s = frame.be16(at: 2) { hops.append(TunnelHop(kind: .pppoe, id: UInt32(s))) }
        default: break
        }
        guard let base = frame.baseAddress else { return }
        var regionStart = base
        var r = decodeLink(frame, linkType: linkType)
        var layers = 0
        // The UDP tunnel just recorded (GTP-U, Teredo and GRE-in-UDP carry IP or GRE: not a layer of their own).
        var afterUDPTunnel = false
        while layers < maxTunnelLayers && hops.count < 32 {
            layers += 1
            switch r {
            case .segment(let seg):
                guard seg.proto == .udp, isTunnelPort(seg.sport, seg.dport), let inner = decodeUDPTunnel(seg) else { return }
                let p = seg.payload
                var hop = TunnelHop(kind: .teredo, outerSource: seg.ip.src, outerDestination: seg.ip.dst)
                switch seg.dport {
                case vxlanPort:
                    hop.kind = .vxlan
                    hop.id = p.be32(at: 4).map { $0 >> 8 }
                case genevePort:
                    hop.kind = .geneve
                    hop.id = p.be32(at: 4).map { $0 >> 8 }
                case greInUDPPort:
                    hop.kind = .greInUDP
                    hop.id = greKey(p)
                case gtpUserPort:
                    hop.kind = .gtpu
                    hop.id = p.be32(at: 4)
                default:
                    break
                }
                hops.append(hop)
                if let b = p.baseAddress { regionStart = b }
                afterUDPTunnel = true
                r = inner
            case .encapsulated(let kind, let bytes):
                guard let start = bytes.baseAddress else { return }
                let distance = regionStart.distance(to: start)
                let region = UnsafeRawBufferPointer(start: regionStart, count: max(distance, 0))
                let continuesUDPTunnel = afterUDPTunnel
                afterUDPTunnel = false
                switch kind {
                case .gre where continuesUDPTunnel, .ip where continuesUDPTunnel:
                    break
                case .gre:
                    let outer = outerIP(region, protocols: [47])
                    var hop = TunnelHop(kind: .gre, outerSource: outer?.src, outerDestination: outer?.dst, id: greKey(bytes))
                    if bytes.count >= 4, bytes[1] & 0x07 == 1 {
                        hop.kind = .pptp
                        hop.id = bytes.be16(at: 6).map(UInt32.init)
                    } else if let proto = bytes.be16(at: 2), proto == 0x88BE || proto == 0x22EB {
                        hop.kind = .erspan
                        hop.id = erspanSession(bytes, type3: proto == 0x22EB)
                    }
                    hops.append(hop)
                case .ip:
                    let outer = outerIP(region, protocols: [4, 41])
                    let innerV6 = bytes.count >= 1 && bytes[0] >> 4 == 6
                    let outerV6 = outer?.src.isV6 ?? false
                    let k: TunnelHop.Kind = outerV6 ? (innerV6 ? .ip6in6 : .ip4in6) : (innerV6 ? .ip6in4 : .ip4in4)
                    hops.append(TunnelHop(kind: k, outerSource: outer?.src, outerDestination: outer?.dst))
                case .mpls:
                    let outer = outerIP(region, protocols: [137])
                    hops.append(TunnelHop(kind: outer == nil ? .mpls : .mplsInIP, outerSource: outer?.src, outerDestination: outer?.dst,
                                          id: bytes.be32(at: 0).map { $0 >> 12 }))
                case .pppoe:
                    hops.append(TunnelHop(kind: .pppoe, id: bytes.be16(at: 2).map(UInt32.init)))
                case .ethernet:
                    vlanHops(bytes, at: 12, into: &hops)
                case .etherType(let t):
                    if t == 0x8100 || t == 0x88A8 || t == 0x9100 { vlanTags(bytes, firstType: t, into: &hops) }
                case .ppp:
                    break
                }
                regionStart = start
                r = decodeEncapsulated(kind, bytes)
            default:
                return
            }
        }
        return
    }

    /// VLAN tags of an Ethernet header whose EtherType sits at `offset`.
    static func vlanHops(_ p: UnsafeRawBufferPointer, at offset: Int, into hops: inout [TunnelHop]) {
        guard let t = p.be16(at: offset), t == 0x8100 || t == 0x88A8 || t == 0x9100 else { return }
        vlanTags(UnsafeRawBufferPointer(rebasing: p[(offset + 2)...]), firstType: t, into: &hops)
    }

    /// Tags from `p` (which starts with the first tag's TCI), up to 8.
    static func vlanTags(_ p: UnsafeRawBufferPointer, firstType: UInt16, into hops: inout [TunnelHop]) {
        var off = 0
        var type = firstType
        var n = 0
        while (type == 0x8100 || type == 0x88A8 || type == 0x9100) && n < 8, let tci = p.be16(at: off), let next = p.be16(at: off + 2) {
            hops.append(TunnelHop(kind: .vlan, id: UInt32(tci & 0x0FFF)))
            type = next
            off += 4
            n += 1
        }
    }

    /// The GRE key (version 0 with the K bit), nil without one.
    static func greKey(_ p: UnsafeRawBufferPointer) -> UInt32? {
        guard p.count >= 4, p[1] & 0x07 == 0, p[0] & 0x20 != 0 else { return nil }
        return p.be32(at: p[0] & 0xC0 != 0 ? 8 : 4)
    }

    /// ERSPAN type II/III session id (10 bits), after the GRE header; nil for type I or short headers.
    static func erspanSession(_ gre: UnsafeRawBufferPointer, type3: Bool) -> UInt32? {
        guard gre.count >= 4 else { return nil }
        let flags = gre[0]
        guard type3 || flags & 0x10 != 0 else { return nil }  // type I: no ERSPAN header
        var off = 4
        if flags & 0xC0 != 0 { off += 4 }
        if flags & 0x20 != 0 { off += 4 }
        if flags & 0x10 != 0 { off += 4 }
        return gre.be16(at: off + 2).map { UInt32($0 & 0x03FF) }
    }

    /// The IP header that ends exactly where `region` ends and names one of `protocols` as its
    /// payload (IPv4 with any header length; IPv6 without extension headers): the outer header of
    /// an IP-carried tunnel. Nil when none fits.
    static func outerIP(_ region: UnsafeRawBufferPointer, protocols: [UInt8]) -> (src: IPAddress, dst: IPAddress)? {
        let n = region.count
        var ihl = 20
        while ihl <= 60 {
            let o = n - ihl
            if o >= 0, region[o] >> 4 == 4, Int(region[o] & 0x0F) * 4 == ihl, protocols.contains(region[o + 9]),
               let s = region.be32(at: o + 12), let d = region.be32(at: o + 16) {
                return (IPAddress(v4: s), IPAddress(v4: d))
            }
            ihl += 4
        }
        let o = n - 40
        if o >= 0, region[o] >> 4 == 6, protocols.contains(region[o + 6]),
           let s = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: region[(o + 8)..<(o + 24)])),
           let d = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: region[(o + 24)..<(o + 40)])) {
            return (s, d)
        }
        return nil
    }
}
