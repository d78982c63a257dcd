import Foundation
import IntegrationSupport
import NetTypes
import PacketSynth
import PcapWriter
import XCTest

/// Issue 19: a finding's ECS `@timestamp` / EVE `timestamp` is when its packet was seen (the
/// evidence's `time` fact), truth from tshark. Issue 17: evidence names the tunnel its frames
/// travelled in (kind, outer endpoints, VNI / key / VLAN), truth from tshark where installed.
final class EventTimeAndTunnelEvidenceTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-w-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    static var tshark: String? { ["/usr/bin/tshark", "/usr/local/bin/tshark"].first { FileManager.default.isExecutableFile(atPath: $0) } }

    func tsharkFields(_ file: URL, filter: String, _ fields: [String]) throws -> [[String]] {
        guard let t = Self.tshark else { throw XCTSkip("tshark not installed: no independent truth") }
        let r = try runProcess(URL(fileURLWithPath: t), ["-r", file.path, "-Y", filter, "-T", "fields"] + fields.flatMap { ["-e", $0] })
        XCTAssertEqual(r.status, 0, r.stderr)
        return String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    func jsonLines(_ args: [String]) throws -> [[String: Any]] {
        let r = try runProcess(TestPaths.dnsaudit, args)
        XCTAssertTrue(r.status == 0 || r.status == 1, r.stderr)
        return String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    func report(_ file: URL) throws -> [[String: Any]] {
        let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", file.path])
        XCTAssertTrue(r.status == 0 || r.status == 1, r.stderr)
        let o = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        return o["findings"] as? [[String: Any]] ?? []
    }

    /// "1768467601.002137000" → "2026-01-15T09:00:01.002137000Z" by Foundation's calendar (not dnsaudit's code).
    static func rfc3339(epoch: String) -> String {
        let parts = epoch.split(separator: ".")
        let seconds = Int(parts[0])!
        var frac = parts.count > 1 ? String(parts[1]) : ""
        while frac.count < 9 { frac += "0" }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))) + "." + frac + "Z"
    }

    // MARK: - Event time

    /// The demo injection: ECS `@timestamp` is the injected answer's frame time (the answer with IP
    /// TTL 243 and the forged address, per tshark), EVE's `timestamp` the same to the microsecond.
    func testECSAndEVETimestampIsTheInjectedFramesTime() throws {
        let file = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap")
        let truth = try tsharkFields(file, filter: "ip.ttl == 243 && dns.a == 203.0.113.66", ["frame.number", "frame.time_epoch"])
        XCTAssertEqual(truth.count, 1, "\(truth)")
        let (frame, epoch) = (truth[0][0], truth[0][1])
        let lines = try jsonLines(["analyze", "--format", "jsonl", file.path])
        let injection = try XCTUnwrap(lines.first { (($0["finding"] as? [String: Any])?["kind"] as? String) == "dns.injection" })
        XCTAssertEqual(injection["@timestamp"] as? String, Self.rfc3339(epoch: epoch))
        let evidence = try XCTUnwrap((injection["finding"] as? [String: Any])?["evidence"] as? [[String: Any]])
        XCTAssertEqual((evidence[0]["frames"] as? [Int])?.last, Int(frame), "the first evidence is the injected answer")
        XCTAssertEqual((evidence[0]["data"] as? [String: Any])?["time"] as? String, epoch, "the time fact is the frame's epoch time, as tshark prints it")

        let eve = try jsonLines(["analyze", "--format", "eve", file.path]).filter { $0["event_type"] as? String == "alert" }
        let alert = try XCTUnwrap(eve.first { (($0["alert"] as? [String: Any])?["signature"] as? String)?.contains("dns.injection") == true })
        let micro = String(Self.rfc3339(epoch: epoch).dropLast(4))  // 6 fraction digits
        XCTAssertEqual(alert["timestamp"] as? String, micro + "+0000")
    }

    /// Every capture finding of the shipped demo captures stamps each framed evidence with the
    /// time of a frame it cites (tshark's time of one of those frames).
    func testEveryCaptureEvidenceWithFramesHasTheTimeOfOneOfThem() throws {
        for name in ["dns-injection.pcap", "dns-clean.pcap", "dns-tcp-fragments.pcap"] {
            let file = TestPaths.root.appendingPathComponent("captures/" + name)
            let times = Dictionary(uniqueKeysWithValues: try tsharkFields(file, filter: "frame", ["frame.number", "frame.time_epoch"])
                .compactMap { r in Int(r[0]).map { ($0, r[1]) } })
            for f in try report(file) {
                for e in f["evidence"] as? [[String: Any]] ?? [] where e["source"] as? String == "capture" {
                    guard let frames = e["frames"] as? [Int], !frames.isEmpty else { continue }
                    let t = try XCTUnwrap((e["data"] as? [String: Any])?["time"] as? String, "\(name) \(f["kind"] ?? ""): no time")
                    XCTAssertTrue(frames.contains { times[$0] == t }, "\(name) \(f["kind"] ?? ""): \(t) is none of \(frames)' times")
                }
            }
        }
    }

    // MARK: - Tunnel evidence

    /// A query and two different answers (an injection) inside VLAN 100 and VXLAN VNI 42 between
    /// two VTEPs: the injection's evidence names the VXLAN endpoints, the VNI and the VLAN, as tshark
    /// reads them from the same file.
    func testInjectionInsideVXLANNamesTheTunnel() throws {
        let file = tmp.appendingPathComponent("vxlan-injection.pcap")
        let w = try PcapFileWriter(path: file.path, linkType: .ethernet)
        let mac1 = MACAddress(2, 0, 0, 0, 0, 1), mac2 = MACAddress(2, 0, 0, 0, 0, 2)
        let outer = FrameBuilder.ethernet(source: mac1, destination: mac2, vlan: 100)
        let vtep1 = IPAddress("192.0.2.1")!, vtep2 = IPAddress("192.0.2.2")!
        let client = IPAddress("10.1.0.10")!, resolver = IPAddress("10.2.0.53")!
        let q: [UInt8] = [0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3] + Array("www".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
        func answer(_ a: [UInt8]) -> [UInt8] {
            var m = q
            m[2] = 0x81; m[3] = 0x80; m[7] = 1
            return m + [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4] + a
        }
        func wrap(_ inner: [UInt8], reverse: Bool) -> [UInt8] {
            let eth = Encapsulate.ethernet(inner, etherType: EtherType.ipv4, source: mac1, destination: mac2)
            return reverse ? outer.udp(from: vtep2, 50000, to: vtep1, TunnelPorts.vxlan, payload: Encapsulate.vxlan(eth, vni: 42))
                           : outer.udp(from: vtep1, 50000, to: vtep2, TunnelPorts.vxlan, payload: Encapsulate.vxlan(eth, vni: 42))
        }
        try w.write(seconds: 1_800_000_000, nanoseconds: 0, frame: wrap(IPPacket.udp(from: client, 41000, to: resolver, 53, payload: q), reverse: false))
        try w.write(seconds: 1_800_000_000, nanoseconds: 2_000_000, frame: wrap(IPPacket.udp(from: resolver, 53, to: client, 41000, payload: answer([203, 0, 113, 66]), ip: IPFields(ttl: 250)), reverse: true))
        try w.write(seconds: 1_800_000_000, nanoseconds: 30_000_000, frame: wrap(IPPacket.udp(from: resolver, 53, to: client, 41000, payload: answer([93, 184, 215, 14]), ip: IPFields(ttl: 57)), reverse: true))
        try w.close()

        let findings = try report(file)
        let injection = try XCTUnwrap(findings.first { $0["kind"] as? String == "dns.injection" }, "\(findings)")
        let ev = try XCTUnwrap((injection["evidence"] as? [[String: Any]])?.first)
        let e = try XCTUnwrap(ev["data"] as? [String: Any])
        XCTAssertEqual(e["tunnel_kind"] as? String, "vlan/vxlan")
        XCTAssertEqual(e["tunnel"] as? String, "VLAN 100 › VXLAN VNI 42 from 192.0.2.1 to 192.0.2.2")
        XCTAssertTrue((ev["detail"] as? String)?.hasSuffix("(seen inside VLAN 100 › VXLAN VNI 42 from 192.0.2.1 to 192.0.2.2)") == true, "\(e)")
        XCTAssertNil(e["tunnel_other"], "the answers came back the other way through the same tunnel: the same link")

        // tshark's reading of the evidence's first frame (the query): outer addresses, VNI and VLAN id.
        let frame = try XCTUnwrap((ev["frames"] as? [Int])?.first)
        let t = try tsharkFields(file, filter: "frame.number == \(frame)", ["ip.src", "ip.dst", "vxlan.vni", "vlan.id"])
        XCTAssertEqual(t.count, 1)
        let outerSrc = t[0][0].split(separator: ",").first.map(String.init), outerDst = t[0][1].split(separator: ",").first.map(String.init)
        XCTAssertEqual(e["tunnel_src"] as? String, outerSrc)
        XCTAssertEqual(e["tunnel_dst"] as? String, outerDst)
        XCTAssertEqual(e["tunnel_vni"] as? Int, Int(t[0][2]))
        XCTAssertEqual(e["tunnel_vlan"] as? Int, Int(t[0][3]))
    }

    /// A real capture (Zeek's PPPoE over QinQ, a TLS ClientHello whose certificate does not verify):
    /// the finding's evidence names the two VLAN tags and the PPPoE session tshark reads in its first frame.
    func testRealPPPoEOverQinQFindingNamesItsLink() throws {
        let file = try TestPaths.requireRealCaptures().appendingPathComponent("zeek/pppoe-over-qinq.pcap")
        let findings = try report(file)
        let ev = try XCTUnwrap(findings.compactMap { ($0["evidence"] as? [[String: Any]])?.first { $0["source"] as? String == "capture" } }.first,
                               "\(findings)")
        let e = try XCTUnwrap(ev["data"] as? [String: Any])
        let frame = try XCTUnwrap((ev["frames"] as? [Int])?.first)
        let t = try tsharkFields(file, filter: "frame.number == \(frame)", ["vlan.id", "pppoe.session_id", "frame.time_epoch"])
        let vlans = t[0][0].split(separator: ",").map(String.init)
        let session = try XCTUnwrap(UInt32(t[0][1].dropFirst(2), radix: 16))
        XCTAssertEqual(vlans.count, 2)
        XCTAssertEqual(e["tunnel_kind"] as? String, "vlan/vlan/pppoe")
        XCTAssertEqual(e["tunnel"] as? String, "VLAN \(vlans[0]) › VLAN \(vlans[1]) › PPPoE session 0x" + String(session, radix: 16))
        XCTAssertEqual(e["tunnel_vlan"] as? Int, Int(vlans[0]))
        XCTAssertEqual(e["tunnel_pppoe_session"] as? Int, Int(session))
        XCTAssertNil(e["tunnel_src"], "no IP-carried tunnel")
        XCTAssertEqual(e["time"] as? String, t[0][2])
    }

    /// The same exchange on a plain link: no tunnel facts at all.
    func testPlainLinkHasNoTunnelFacts() throws {
        let findings = try report(TestPaths.root.appendingPathComponent("captures/dns-injection.pcap"))
        XCTAssertFalse(findings.isEmpty)
        for f in findings {
            for e in f["evidence"] as? [[String: Any]] ?? [] {
                XCTAssertNil((e["data"] as? [String: Any])?["tunnel"], "\(f["kind"] ?? "")")
            }
        }
    }
}
