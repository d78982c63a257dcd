import Foundation
import XCTest

/// Runs the `dnsaudit-gen` executable that SwiftPM builds next to the test bundle.
final class GeneratorTests: XCTestCase {
    private func generator() throws -> String {
        let path = buildProductsDirectory() + "/dnsaudit-gen"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("dnsaudit-gen not built next to the tests (\(path)): build the package first")
        }
        return path
    }

    private func gen(_ args: [String]) throws -> (Int32, String, String) {
        guard let r = try runProgram(try generator(), args) else { throw XCTSkip("dnsaudit-gen not runnable") }
        return r
    }

    private func freshDirectory(_ name: String) -> String {
        let dir = temporaryPath(name)
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }

    func testDemoIsByteIdenticalAcrossRuns() throws {
        let a = freshDirectory("demo-a"), b = freshDirectory("demo-b")
        let (s1, _, e1) = try gen(["demo", "--out", a])
        XCTAssertEqual(s1, 0, e1)
        let (s2, _, e2) = try gen(["demo", "--out", b])
        XCTAssertEqual(s2, 0, e2)
        for name in ["dns-injection.pcap", "dns-clean.pcap", "dns-tcp-fragments.pcap", "README.md"] {
            let x = try readFile(a + "/" + name), y = try readFile(b + "/" + name)
            XCTAssertFalse(x.isEmpty, name)
            XCTAssertEqual(x, y, "\(name) differs between runs")
        }
        let pcap = try readPcap(try readFile(a + "/dns-injection.pcap"))
        XCTAssertEqual(pcap.magic, 0xa1b2_3c4d)
        XCTAssertEqual(pcap.linkType, 1)
        XCTAssertEqual(pcap.records.first?.seconds, 1_768_467_600, "starts 2026-01-15T09:00:00Z")
        let times = pcap.records.map { UInt64($0.seconds) * 1_000_000_000 + UInt64($0.nanoseconds) }
        XCTAssertEqual(times, times.sorted(), "timestamps never go back")
    }

    /// The committed captures/ must be what the generator writes today.
    func testCommittedCapturesAreUpToDate() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let committed = repo + "/captures"
        guard FileManager.default.fileExists(atPath: committed + "/dns-injection.pcap") else {
            throw XCTSkip("no captures/ directory next to the sources")
        }
        let dir = freshDirectory("demo-current")
        XCTAssertEqual(try gen(["demo", "--out", dir]).0, 0)
        for name in ["dns-injection.pcap", "dns-clean.pcap", "dns-tcp-fragments.pcap", "README.md"] {
            XCTAssertEqual(try readFile(dir + "/" + name), try readFile(committed + "/" + name),
                           "captures/\(name) is out of date: run `swift run dnsaudit-gen demo --out captures/` and commit")
        }
    }

    func testDemoCapturesDecodeInTshark() throws {
        guard tsharkPath() != nil else { throw XCTSkip("tshark not installed: skipping the demo cross-check") }
        let dir = freshDirectory("demo-tshark")
        let (status, _, err) = try gen(["demo", "--out", dir])
        XCTAssertEqual(status, 0, err)
        let files = ["dns-injection.pcap", "dns-clean.pcap", "dns-tcp-fragments.pcap"].map { dir + "/" + $0 }

        for f in files {
            let bad = try tshark(f, ["-Y", "_ws.malformed || _ws.expert.severity >= 8388608 || ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0"])
            XCTAssertEqual(bad, [], "\(f): \(bad)")
            let checked = try tshark(f, ["-Y", "ip.checksum.status == 1 || udp.checksum.status == 1 || tcp.checksum.status == 1",
                                         "-T", "fields", "-e", "frame.number"])
            XCTAssertGreaterThan(checked.count, 10, "\(f): checksums verified")
        }

        // The race: two answers to txid 0x4f2c, the forged one first with IP TTL 243 and IP ID 0.
        let race = try tshark(files[0], ["-Y", "dns.id == 0x4f2c && dns.flags.response == 1", "-T", "fields",
                                         "-e", "ip.ttl", "-e", "ip.id", "-e", "dns.qry.name", "-e", "dns.a", "-e", "dns.resp.ttl"])
        XCTAssertEqual(race, ["243\t0x0000\twww.example.org\t203.0.113.66\t300",
                              "57\t0x3e05\twww.example.org\t93.184.215.14\t1800"])
        let unsolicited = try tshark(files[0], ["-Y", "dns.unsolicited", "-T", "fields", "-e", "dns.id", "-e", "dns.qry.name"])
        XCTAssertEqual(unsolicited, ["0xbeef\tlogin.example.net"])
        let tcpAnswer = try tshark(files[0], ["-Y", "tcp && dns.flags.response == 1", "-T", "fields", "-e", "dns.id",
                                              "-e", "dns.txt"])
        XCTAssertEqual(tcpAnswer, ["0x6d01\tv=spf1 -all,wgyf8z8cgvm2qmxpnbnldrcltvk4xqfn"])

        // Clean: the duplicate response is byte-identical; NXDOMAIN and the CNAME chain decode.
        let dup = try tshark(files[1], ["-Y", "dns.id == 0x2a07 && dns.flags.response == 1", "-T", "fields",
                                        "-e", "frame.number", "-e", "ip.ttl", "-e", "dns.a"])
        XCTAssertEqual(dup, ["15\t57\t93.184.215.14", "16\t57\t93.184.215.14"])
        let clean = try readPcap(try readFile(files[1]))
        XCTAssertEqual(clean.records[14].data[42...], clean.records[15].data[42...], "byte-identical DNS responses")
        let nx = try tshark(files[1], ["-Y", "dns.flags.rcode == 3", "-T", "fields", "-e", "dns.qry.name", "-e", "dns.soa.mname"])
        XCTAssertEqual(nx, ["doesnotexist.example.com\tns.icann.org"])
        let cname = try tshark(files[1], ["-Y", "dns.id == 0x2a06 && dns.flags.response == 1", "-T", "fields",
                                          "-e", "dns.cname", "-e", "dns.a"])
        XCTAssertEqual(cname, ["static.example.com.cdn.example.net,edge-17.cdn.example.net\t198.51.100.80,198.51.100.81"])
        let v6 = try tshark(files[1], ["-Y", "ipv6 && dns", "-T", "fields", "-e", "frame.number"])
        XCTAssertEqual(v6.count, 6)

        // Reassembly: every message once, the big TCP answer at the frame of segment 2.
        let msgs = try tshark(files[2], ["-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "dns", "-T", "fields",
                                         "-e", "frame.number", "-e", "dns.id", "-e", "dns.flags.response"])
        XCTAssertEqual(msgs, ["4\t0x3b01,0x3b02\t0,0", "5\t0x3b01,0x3b02\t1,1", "7\t0x3b03\t0", "11\t0x3b03\t1",
                              "18\t0x3b04\t0", "20\t0x3b04\t1", "21\t0x3b05\t0", "23\t0x3b05\t1"])
        let frags = try tshark(files[2], ["-Y", "ip.flags.mf == 1 || ipv6.fraghdr.more == 1", "-T", "fields", "-e", "frame.number"])
        XCTAssertEqual(frags, ["19", "22"])
        let tcpEvents = try tshark(files[2], ["-Y", "tcp.analysis.out_of_order || tcp.analysis.retransmission || tcp.analysis.spurious_retransmission",
                                              "-T", "fields", "-e", "frame.number"])
        XCTAssertEqual(tcpEvents, ["11", "13"])
    }

    func testMixIsDeterministicAndValid() throws {
        let a = temporaryPath("mix-a.pcap"), b = temporaryPath("mix-b.pcap"), c = temporaryPath("mix-c.pcap")
        let (s1, out, e1) = try gen(["mix", "--packets", "4000", "--out", a, "--seed", "7"])
        XCTAssertEqual(s1, 0, e1)
        XCTAssertTrue(out.hasPrefix("wrote 4000 packets, "), out)
        XCTAssertEqual(try gen(["mix", "--packets", "4000", "--out", b, "--seed", "7"]).0, 0)
        XCTAssertEqual(try gen(["mix", "--packets", "4000", "--out", c, "--seed", "8"]).0, 0)
        let x = try readFile(a)
        XCTAssertEqual(x, try readFile(b), "same seed, same bytes")
        XCTAssertNotEqual(x, try readFile(c), "another seed, other bytes")
        let p = try readPcap(x)
        XCTAssertEqual(p.records.count, 4000)
        let times = p.records.map { UInt64($0.seconds) * 1_000_000_000 + UInt64($0.nanoseconds) }
        XCTAssertEqual(times, times.sorted(), "timestamps never go back")

        guard tsharkPath() != nil else { throw XCTSkip("tshark not installed: skipping the mix cross-check") }
        let bad = try tshark(a, ["-Y", "_ws.malformed || ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0 || icmpv6.checksum.status == 0"])
        XCTAssertEqual(bad, [])
        let dnsUDP = try tshark(a, ["-Y", "udp.port == 53", "-T", "fields", "-e", "frame.number"]).count
        XCTAssertEqual(Double(dnsUDP) / 4000, 0.35, accuracy: 0.03)
        let hellos = try tshark(a, ["-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "tls.handshake.extensions_server_name"])
        XCTAssertGreaterThan(hellos.count, 20)
        XCTAssertTrue(hellos.allSatisfy { $0.contains(".") }, "every ClientHello carries an SNI")
        // QUIC: each connection's first client Initial is real — tshark removes its protection
        // with the keys its DCID gives and finds a ClientHello with a server name inside.
        let quicFlows = try tshark(a, ["-Y", "udp.dstport == 443 && quic.long.packet_type == 0",
                                       "-T", "fields", "-e", "udp.srcport"]).count
        let quicHellos = try tshark(a, ["-Y", "quic && tls.handshake.type == 1", "-T", "fields",
                                        "-e", "tls.handshake.extensions_server_name"])
        XCTAssertGreaterThan(quicHellos.count, 5)
        XCTAssertEqual(quicHellos.count, quicFlows, "every client Initial decrypts to a ClientHello")
        XCTAssertTrue(quicHellos.allSatisfy { $0.contains(".") }, "every QUIC ClientHello carries an SNI")
    }

    func testBadArgumentsExitTwoWithOneLine() throws {
        for args in [["mix", "--packets", "0", "--out", temporaryPath("x.pcap")],
                     ["mix", "--packets", "ten", "--out", temporaryPath("x.pcap")],
                     ["mix", "--out", temporaryPath("x.pcap")],
                     ["mix", "--packets", "10", "--out", "/nonexistent-dir/x.pcap"],
                     ["demo", "--out", "/dev/null/sub"],
                     ["frobnicate"]] {
            let (status, _, err) = try gen(args)
            XCTAssertEqual(status, 2, "\(args): \(err)")
            XCTAssertEqual(err.split(separator: "\n").count, 1, "\(args): one line, got \(err)")
            XCTAssertTrue(err.hasPrefix("dnsaudit-gen: "), err)
        }
        XCTAssertEqual(try gen(["--help"]).0, 0)
    }
}
