import Foundation
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// `PacketDecoder.tunnelTrace` names every layer of the generated tunnels of `TunnelTests`, with
/// the outer endpoints and ids the builders put there (issue 17: the tunnel endpoints are evidence).
final class TunnelTraceTests: XCTestCase {
    func trace(_ c: TunnelTests.Case) -> [TunnelHop] {
        c.frame.withUnsafeBytes { PacketDecoder.tunnelTrace($0, linkType: c.link) }
    }

    func testEveryLayerIsNamedWithItsEndpointsAndId() {
        let o = "from 192.0.2.1 to 192.0.2.2", o6 = "from 2001:db8:ffff::1 to 2001:db8:ffff::2", mid = "from 198.18.0.1 to 198.18.0.2"
        let expected: [String: String] = [
            "GRE with checksum, key and sequence, IPv4 inside": "GRE key 7 \(o)",
            "GRE over IPv6 carrying IPv6": "GRE \(o6)",
            "GRE transparent Ethernet bridging": "GRE key 1 \(o)",
            "ERSPAN type I": "ERSPAN \(o)",
            "ERSPAN type II": "ERSPAN session 5 \(o)",
            "ERSPAN type III with platform sub-header": "ERSPAN session 6 \(o)",
            "PPTP enhanced GRE carrying PPP, inside 4in6": "IP-in-IP (4in6) \(o6) › PPTP GRE call 0x5 \(mid)",
            "VXLAN behind an 802.1Q tag": "VLAN 100 › VXLAN VNI 42 \(o)",
            "Geneve with an option, Ethernet inside": "Geneve VNI 7 \(o)",
            "Geneve carrying IPv6 by EtherType": "Geneve VNI 8 \(o)",
            "VXLAN inside Geneve": "Geneve VNI 3 \(o) › VXLAN VNI 9 \(mid)",
            "GRE-in-UDP": "GRE-in-UDP \(o)",
            "GTP-U with sequence number and an extension header": "GTP-U TEID 0x1000 \(o)",
            "GTP-U carrying IPv6": "GTP-U TEID 0x2000 \(o)",
            "Teredo with an origin indication": "Teredo \(o)",
            "MPLS, two labels": "MPLS label 100",
            "MPLS-in-IP carrying IPv6": "MPLS-in-IP label 16 \(o)",
            "4in4": "IP-in-IP (4in4) \(o)",
            "6in4": "IP-in-IP (6in4) \(o)",
            "4in6": "IP-in-IP (4in6) \(o6)",
            "6in6": "IP-in-IP (6in6) \(o6)",
            "PPPoE session over QinQ": "VLAN 10 › VLAN 20 › PPPoE session 0x1234",
            "DLT_PPP with HDLC framing": "",
            "DLT_PPP without framing, IPv6": "",
            "DLT_PPP_SERIAL": "",
            "DLT_PPP_SERIAL holding Cisco HDLC": "",
            "DLT_PPP_ETHER": "PPPoE session 0x7",
            "DLT_C_HDLC": "",
        ]
        XCTAssertEqual(Set(expected.keys), Set(TunnelTests.cases.map(\.name)), "every generated case has an expectation")
        for c in TunnelTests.cases {
            XCTAssertEqual(trace(c).map(\.text).joined(separator: " › "), expected[c.name], c.name)
        }
    }

    func testIdsAndKindsAreStructured() {
        let vxlan = TunnelTests.cases.first { $0.name == "VXLAN behind an 802.1Q tag" }!
        let hops = trace(vxlan)
        XCTAssertEqual(hops.map(\.kind), [.vlan, .vxlan])
        XCTAssertEqual(hops.map(\.id), [100, 42])
        XCTAssertEqual(hops[1].outerSource, TunnelTests.outer1)
        XCTAssertEqual(hops[1].outerDestination, TunnelTests.outer2)
        XCTAssertEqual(hops.map(\.idName), ["vlan", "vni"])
    }

    /// A plain frame has no layers; hostile bytes give some answer, never a trap.
    func testPlainAndHostileFrames() {
        let plain = TunnelTests.eth.udp(from: TunnelTests.outer1, 40000, to: TunnelTests.outer2, 53, payload: TunnelTests.dns)
        XCTAssertEqual(plain.withUnsafeBytes { PacketDecoder.tunnelTrace($0, linkType: .ethernet) }, [])
        for c in TunnelTests.cases {
            for n in 0..<c.frame.count { _ = Array(c.frame.prefix(n)).withUnsafeBytes { PacketDecoder.tunnelTrace($0, linkType: c.link) } }
            for i in 0..<c.frame.count {
                for v: UInt8 in [0x00, 0xff, 0x45, 0x60, 0x81] {
                    var f = c.frame
                    f[i] = v
                    _ = f.withUnsafeBytes { PacketDecoder.tunnelTrace($0, linkType: c.link) }
                }
            }
        }
        var p = TunnelTests.inner4
        for _ in 0..<40 { p = FrameBuilder.rawIP.ip(from: TunnelTests.mid1, to: TunnelTests.mid2, protocol: IPProtocolNumber.ipInIP, payload: p) }
        XCTAssertLessThanOrEqual(p.withUnsafeBytes { PacketDecoder.tunnelTrace($0, linkType: .raw) }.count, PacketDecoder.maxTunnelLayers)
    }
}
