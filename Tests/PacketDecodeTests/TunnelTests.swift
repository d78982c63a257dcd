import Foundation
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// Generated round trips for every encapsulation: PacketSynth builds the frame, PacketDecoder
/// must find the innermost DNS datagram, and — where tshark is installed — tshark's reading of
/// the same frames (written to a pcap per link type) is the truth for the inner addresses and ports.
final class TunnelTests: XCTestCase {
    static let macA = MACAddress(2, 0, 0, 0, 0, 0xa)
    static let macB = MACAddress(2, 0, 0, 0, 0, 0xb)
    static let eth = FrameBuilder.ethernet(source: macA, destination: macB)
    static let outer1 = IPAddress("192.0.2.1")!, outer2 = IPAddress("192.0.2.2")!
    static let outer6a = IPAddress("2001:db8:ffff::1")!, outer6b = IPAddress("2001:db8:ffff::2")!
    static let mid1 = IPAddress("198.18.0.1")!, mid2 = IPAddress("198.18.0.2")!
    static let in4src = "10.1.0.1", in4dst = "10.2.0.2"
    static let in6src = "2001:db8:1::1", in6dst = "2001:db8:2::2"

    /// A DNS query for tunnel.example A.
    static let dns: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                               6] + Array("tunnel".utf8) + [7] + Array("example".utf8) + [0, 0, 1, 0, 1]
    static let inner4 = IPPacket.udp(from: IPAddress(in4src)!, 40001, to: IPAddress(in4dst)!, 53, payload: dns)
    static let inner6 = IPPacket.udp(from: IPAddress(in6src)!, 40002, to: IPAddress(in6dst)!, 53, payload: dns)
    static let innerEth4 = Encapsulate.ethernet(inner4, etherType: EtherType.ipv4, source: macA, destination: macB)

    struct Case {
        var name: String
        var dlt: UInt32
        var frame: [UInt8]
        var innerV6: Bool
        var link: LinkType { LinkType(dlt: Int32(dlt)) }
    }

    static func ip(_ proto: UInt8, _ payload: [UInt8], v6: Bool = false) -> [UInt8] {
        v6 ? eth.ip(from: outer6a, to: outer6b, protocol: proto, payload: payload)
           : eth.ip(from: outer1, to: outer2, protocol: proto, payload: payload)
    }

    static func udp(_ port: UInt16, _ payload: [UInt8], builder: FrameBuilder = eth, sourcePort: UInt16 = 49152) -> [UInt8] {
        builder.udp(from: outer1, sourcePort, to: outer2, port, payload: payload)
    }

    static var cases: [Case] {
        let pptp = FrameBuilder.rawIP.ip(from: mid1, to: mid2, protocol: IPProtocolNumber.gre,
                                         payload: Encapsulate.pptpGRE(Encapsulate.ppp(inner4), callID: 5, sequence: 1))
        let vxlanInside = Encapsulate.ethernet(IPPacket.udp(from: mid1, 50001, to: mid2, TunnelPorts.vxlan,
                                                            payload: Encapsulate.vxlan(innerEth4, vni: 9)),
                                               etherType: EtherType.ipv4, source: macA, destination: macB)
        return [
            Case(name: "GRE with checksum, key and sequence, IPv4 inside", dlt: 1,
                 frame: ip(IPProtocolNumber.gre, Encapsulate.gre(inner4, protocolType: EtherType.ipv4, checksum: true, key: 7, sequence: 1)),
                 innerV6: false),
            Case(name: "GRE over IPv6 carrying IPv6", dlt: 1,
                 frame: ip(IPProtocolNumber.gre, Encapsulate.gre(inner6, protocolType: EtherType.ipv6), v6: true), innerV6: true),
            Case(name: "GRE transparent Ethernet bridging", dlt: 1,
                 frame: ip(IPProtocolNumber.gre, Encapsulate.gre(innerEth4, protocolType: EtherType.transparentEthernet, key: 1)),
                 innerV6: false),
            Case(name: "ERSPAN type I", dlt: 1, frame: ip(IPProtocolNumber.gre, Encapsulate.erspanI(innerEth4)), innerV6: false),
            Case(name: "ERSPAN type II", dlt: 1,
                 frame: ip(IPProtocolNumber.gre, Encapsulate.erspanII(innerEth4, sessionID: 5, sequence: 9)), innerV6: false),
            Case(name: "ERSPAN type III with platform sub-header", dlt: 1,
                 frame: ip(IPProtocolNumber.gre, Encapsulate.erspanIII(innerEth4, sessionID: 6, sequence: 10, platformSubheader: true)),
                 innerV6: false),
            Case(name: "PPTP enhanced GRE carrying PPP, inside 4in6", dlt: 1,
                 frame: ip(IPProtocolNumber.ipInIP, pptp, v6: true), innerV6: false),
            Case(name: "VXLAN behind an 802.1Q tag", dlt: 1,
                 frame: udp(TunnelPorts.vxlan, Encapsulate.vxlan(innerEth4, vni: 42),
                            builder: FrameBuilder.ethernet(source: macA, destination: macB, vlan: 100)),
                 innerV6: false),
            Case(name: "Geneve with an option, Ethernet inside", dlt: 1,
                 frame: udp(TunnelPorts.geneve, Encapsulate.geneve(innerEth4, protocolType: EtherType.transparentEthernet, vni: 7,
                                                                   options: [0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef])),
                 innerV6: false),
            Case(name: "Geneve carrying IPv6 by EtherType", dlt: 1,
                 frame: udp(TunnelPorts.geneve, Encapsulate.geneve(inner6, protocolType: EtherType.ipv6, vni: 8)), innerV6: true),
            Case(name: "VXLAN inside Geneve", dlt: 1,
                 frame: udp(TunnelPorts.geneve, Encapsulate.geneve(vxlanInside, protocolType: EtherType.transparentEthernet, vni: 3)),
                 innerV6: false),
            Case(name: "GRE-in-UDP", dlt: 1,
                 frame: udp(TunnelPorts.greInUDP, Encapsulate.gre(inner4, protocolType: EtherType.ipv4)), innerV6: false),
            Case(name: "GTP-U with sequence number and an extension header", dlt: 1,
                 frame: udp(TunnelPorts.gtpUser, Encapsulate.gtpU(inner4, teid: 0x1000, sequence: 3,
                                                                  extensionHeaders: [(type: 0x85, content: [0x00, 0x09])]),
                            sourcePort: TunnelPorts.gtpUser),
                 innerV6: false),
            Case(name: "GTP-U carrying IPv6", dlt: 1,
                 frame: udp(TunnelPorts.gtpUser, Encapsulate.gtpU(inner6, teid: 0x2000), sourcePort: TunnelPorts.gtpUser),
                 innerV6: true),
            Case(name: "Teredo with an origin indication", dlt: 1,
                 frame: udp(50000, Encapsulate.teredo(inner6, origin: (port: 40000, address: 0xC000_0263)), sourcePort: TunnelPorts.teredo),
                 innerV6: true),
            Case(name: "MPLS, two labels", dlt: 1,
                 frame: eth.frame(etherType: EtherType.mplsUnicast, payload: Encapsulate.mpls(inner4, labels: [100, 200])),
                 innerV6: false),
            Case(name: "MPLS-in-IP carrying IPv6", dlt: 1,
                 frame: ip(IPProtocolNumber.mplsInIP, Encapsulate.mpls(inner6, labels: [16])), innerV6: true),
            Case(name: "4in4", dlt: 1, frame: ip(IPProtocolNumber.ipInIP, inner4), innerV6: false),
            Case(name: "6in4", dlt: 1, frame: ip(IPProtocolNumber.ipv6InIP, inner6), innerV6: true),
            Case(name: "4in6", dlt: 1, frame: ip(IPProtocolNumber.ipInIP, inner4, v6: true), innerV6: false),
            Case(name: "6in6", dlt: 1, frame: ip(IPProtocolNumber.ipv6InIP, inner6, v6: true), innerV6: true),
            Case(name: "PPPoE session over QinQ", dlt: 1,
                 frame: Encapsulate.ethernet(Encapsulate.pppoeSession(inner4, sessionID: 0x1234), etherType: EtherType.pppoeSession,
                                             source: macA, destination: macB,
                                             tags: [(tpid: EtherType.qinq, vid: 10), (tpid: EtherType.vlan, vid: 20)]),
                 innerV6: false),
            Case(name: "DLT_PPP with HDLC framing", dlt: 9, frame: Encapsulate.ppp(inner4), innerV6: false),
            Case(name: "DLT_PPP without framing, IPv6", dlt: 9, frame: Encapsulate.ppp(inner6, hdlcFraming: false), innerV6: true),
            Case(name: "DLT_PPP_SERIAL", dlt: 50, frame: Encapsulate.ppp(inner4), innerV6: false),
            Case(name: "DLT_PPP_SERIAL holding Cisco HDLC", dlt: 50, frame: Encapsulate.ciscoHDLC(inner6), innerV6: true),
            Case(name: "DLT_PPP_ETHER", dlt: 51, frame: Encapsulate.pppoeSession(inner4, sessionID: 7), innerV6: false),
            Case(name: "DLT_C_HDLC", dlt: 104, frame: Encapsulate.ciscoHDLC(inner4), innerV6: false),
        ]
    }

    func testEveryEncapsulationDecodesToTheInnerDatagram() {
        for c in Self.cases {
            guard let s = segment(c.frame, c.link) else {
                XCTFail("\(c.name): not decoded to a segment: \(decode(c.frame, c.link))")
                continue
            }
            XCTAssertEqual(s.src, c.innerV6 ? Self.in6src : Self.in4src, c.name)
            XCTAssertEqual(s.dst, c.innerV6 ? Self.in6dst : Self.in4dst, c.name)
            XCTAssertEqual(s.sport, c.innerV6 ? 40002 : 40001, c.name)
            XCTAssertEqual(s.dport, 53, c.name)
            XCTAssertEqual(s.payload, Self.dns, c.name)
            XCTAssertGreaterThan(s.tunnelLayers, c.dlt == 1 ? 0 : -1, "\(c.name): the layers are counted")
        }
        XCTAssertEqual(segment(Self.inner4, .raw)?.tunnelLayers, 0)
    }

    /// Every prefix and a corrupted byte at every position: a result, never a trap.
    func testTruncatedAndCorruptedTunnelsNeverTrap() {
        for c in Self.cases {
            for n in 0..<c.frame.count { _ = decode(Array(c.frame.prefix(n)), c.link) }
            for i in 0..<c.frame.count {
                for v: UInt8 in [0x00, 0xff, 0x45, 0x60, 0x81] {
                    var f = c.frame
                    f[i] = v
                    _ = decode(f, c.link)
                }
            }
        }
    }

    func testTunnelNestingIsBounded() {
        var p = Self.inner4
        for _ in 0..<40 {
            p = FrameBuilder.rawIP.ip(from: Self.mid1, to: Self.mid2, protocol: IPProtocolNumber.ipInIP, payload: p)
        }
        guard case .malformed(.tooManyTunnels) = decode(p, .raw) else { return XCTFail("40 layers: \(decode(p, .raw))") }
        var q = Self.inner4
        for _ in 0..<(PacketDecoder.maxTunnelLayers - 1) {
            q = FrameBuilder.rawIP.ip(from: Self.mid1, to: Self.mid2, protocol: IPProtocolNumber.ipInIP, payload: q)
        }
        XCTAssertEqual(segment(q, .raw)?.src, Self.in4src, "\(PacketDecoder.maxTunnelLayers - 1) layers decode")
        let labels = Encapsulate.mpls(Self.inner4, labels: Array(repeating: 3, count: 40))
        guard case .malformed(.tooManyMPLSLabels) = decode(Self.eth.frame(etherType: EtherType.mplsUnicast, payload: labels), .ethernet)
        else { return XCTFail("40 MPLS labels") }
    }

    /// Datagrams on tunnel ports that are not that tunnel stay plain UDP; tunnels without a
    /// packet inside are counted as such; bad headers are malformed.
    func testNotATunnelAndControlMessages() {
        let notVXLAN = Self.udp(TunnelPorts.vxlan, [0, 0, 0, 0, 0, 0, 0, 0] + Self.innerEth4)  // I flag clear
        XCTAssertEqual(segment(notVXLAN, .ethernet)?.dport, TunnelPorts.vxlan)
        let echo: [UInt8] = [0x32, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00]  // GTP-U echo request
        guard case .skipped(.tunnelControl) = decode(Self.udp(TunnelPorts.gtpUser, echo), .ethernet) else { return XCTFail("GTP echo") }
        let badGRE: [UInt8] = [0x00, 0x05, 0x08, 0x00] + Self.inner4  // version 5
        guard case .malformed(.badTunnelHeader) = decode(Self.ip(IPProtocolNumber.gre, badGRE), .ethernet) else { return XCTFail("GRE v5") }
        let notTeredo = Self.udp(50000, Self.dns, sourcePort: TunnelPorts.teredo)
        XCTAssertEqual(segment(notTeredo, .ethernet)?.payload, Self.dns)
        // A DNS query from port 3544 whose id starts like an IPv6 header is still DNS.
        var lookalike = Self.dns + [UInt8](repeating: 0, count: 40)
        lookalike[0] = 0x60
        XCTAssertEqual(segment(Self.udp(53, lookalike, sourcePort: TunnelPorts.teredo), .ethernet)?.dport, 53)
        let lcp: [UInt8] = [0x11, 0x00, 0x00, 0x01, 0x00, 0x06, 0xc0, 0x21, 1, 1, 0, 4]  // PPPoE session carrying LCP
        guard case .skipped(.nonIP) = decode(lcp, .pppEther) else { return XCTFail("PPP LCP") }
    }

    // MARK: - tshark as the truth

    func testTsharkReadsTheSameInnerDatagrams() throws {
        guard let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("tshark not installed: the generated tunnels are checked against PacketDecoder only")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunnel-truth-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let byLink = Dictionary(grouping: Self.cases, by: \.dlt)
        var checked = 0
        for (dlt, cases) in byLink.sorted(by: { $0.key < $1.key }) {
            let file = dir.appendingPathComponent("dlt\(dlt).pcap")
            try Self.pcap(dlt: dlt, frames: cases.map(\.frame)).write(to: file)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tshark)
            p.arguments = ["-r", file.path, "-d", "udp.port==4754,gre", "-T", "fields",
                           "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
                           "-e", "udp.srcport", "-e", "udp.dstport", "-e", "dns.qry.name",
                           "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            for (i, c) in cases.enumerated() {
                guard i < lines.count else { XCTFail("\(c.name): tshark printed no line"); continue }
                let f = lines[i].split(separator: "\t", omittingEmptySubsequences: false).map { $0.split(separator: ",").map(String.init) }
                guard f.count >= 7 else { XCTFail("\(c.name): tshark line \(lines[i])"); continue }
                XCTAssertEqual(f[6].last, "tunnel.example", "\(c.name): tshark finds no DNS question inside: \(lines[i])")
                let (srcs, dsts) = c.innerV6 ? (f[2], f[3]) : (f[0], f[1])
                guard let s = segment(c.frame, c.link) else { XCTFail(c.name); continue }
                XCTAssertEqual(s.src, srcs.last, "\(c.name): tshark's innermost source")
                XCTAssertEqual(s.dst, dsts.last, "\(c.name): tshark's innermost destination")
                XCTAssertEqual(String(s.sport), f[4].last, "\(c.name): tshark's innermost source port")
                XCTAssertEqual(String(s.dport), f[5].last, "\(c.name): tshark's innermost destination port")
                checked += 1
            }
        }
        XCTAssertEqual(checked, Self.cases.count)
    }

    /// A classic little-endian pcap file.
    static func pcap(dlt: UInt32, frames: [[UInt8]]) -> Data {
        var d = Data()
        func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        le32(0xa1b2c3d4); le16(2); le16(4); le32(0); le32(0); le32(65535); le32(dlt)
        for (i, f) in frames.enumerated() {
            le32(1_700_000_000 + UInt32(i)); le32(0); le32(UInt32(f.count)); le32(UInt32(f.count))
            d.append(contentsOf: f)
        }
        return d
    }
}
