import Foundation
import IntegrationSupport
import XCTest

/// No false decodes on the benchmark mix's other traffic (issue 17 item 2: DNS and TLS recognised
/// by content on any port). dnsaudit-gen writes a 20 000-packet mix and its truth, the kind of
/// every frame it wrote (DNS over UDP or TCP, TLS, QUIC, HTTP, NTP, ARP, ICMP); every DNS message
/// and TLS hello `dnsaudit decode` prints must sit on a frame the generator wrote as DNS, or as
/// TLS / QUIC. Where tshark is installed (no decode-as: its own port tables and heuristics), every
/// frame decoded as DNS must be one tshark decodes as DNS too.
final class ContentDetectionFalseDecodeTests: XCTestCase {
    func testNoDNSOrTLSDecodedOnTheMixsOtherTraffic() throws {
        let gen = TestPaths.dnsaudit.deletingLastPathComponent().appendingPathComponent("dnsaudit-gen")
        guard FileManager.default.isExecutableFile(atPath: gen.path), PackagePaths.dnsauditIsBuilt else {
            throw XCTSkip("dnsaudit-gen or dnsaudit is not built next to the tests (swift build --build-tests)")
        }
        let dir = try TempDirs.make(prefix: "dnsaudit-falsedecode")
        defer { try? FileManager.default.removeItem(at: dir) }
        let mix = dir.appendingPathComponent("mix.pcap"), truthFile = dir.appendingPathComponent("truth.tsv")
        let g = try runProcess(gen, ["mix", "--packets", "20000", "--seed", "3", "--out", mix.path, "--truth", truthFile.path])
        XCTAssertEqual(g.status, 0, g.stderr)
        var kind: [Int: String] = [:]
        for line in try String(contentsOf: truthFile, encoding: .utf8).split(separator: "\n") {
            let f = line.split(separator: "\t")
            if f.count == 2, let n = Int(f[0]) { kind[n] = String(f[1]) }
        }
        XCTAssertEqual(kind.count, 20_000, "the truth lists every frame")

        let d = try runProcess(TestPaths.dnsaudit, ["decode", mix.path])
        XCTAssertEqual(d.status, 0, d.stderr)
        var dnsFrames: [Int] = [], tlsFrames: [(frame: Int, tcp: Bool)] = []
        for line in d.stdoutText.split(separator: "\n") {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let frame = o["frame"] as? Int else {
                XCTFail("not a decode line: \(line.prefix(200))")
                continue
            }
            if o["dns"] != nil { dnsFrames.append(frame) }
            if o["tls"] != nil { tlsFrames.append((frame, o["transport"] as? String == "tcp")) }
        }
        let dnsKinds: Set<String> = ["dns-udp", "dns-tcp"], tlsKinds: Set<String> = ["tls", "quic"]
        let falseDNS = dnsFrames.filter { !dnsKinds.contains(kind[$0] ?? "?") }
        let falseTLS = tlsFrames.filter { !tlsKinds.contains(kind[$0.frame] ?? "?") }
        XCTAssertEqual(falseDNS.count, 0, "DNS decoded on frames that are not DNS: "
                       + falseDNS.prefix(10).map { "\($0) (\(kind[$0] ?? "?"))" }.joined(separator: ", "))
        XCTAssertEqual(falseTLS.count, 0, "TLS decoded on frames that are not TLS or QUIC: "
                       + falseTLS.prefix(10).map { "\($0.frame) (\(kind[$0.frame] ?? "?"))" }.joined(separator: ", "))
        // Not vacuous: each DNS-over-UDP frame is one message, and all of them are decoded; the
        // other kinds the detection must leave alone are really in the mix.
        let udpDNS = kind.values.filter { $0 == "dns-udp" }.count
        XCTAssertEqual(dnsFrames.filter { kind[$0] == "dns-udp" }.count, udpDNS)
        XCTAssertGreaterThan(dnsFrames.filter { kind[$0] == "dns-tcp" }.count, 0)
        XCTAssertGreaterThan(tlsFrames.count, 100)
        for other in ["http", "ntp", "arp", "icmp"] {
            XCTAssertGreaterThan(kind.values.filter { $0 == other }.count, 200, "the mix has \(other) traffic")
        }
        print("false-decode check on 20 000 packets: \(dnsFrames.count) DNS messages, \(tlsFrames.count) TLS hellos,"
              + " 0 on other traffic (\(kind.values.filter { !dnsKinds.contains($0) && !tlsKinds.contains($0) }.count) frames)")

        // Second truth: tshark's own reading, no decode-as.
        guard let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("tshark is not installed: the check against tshark's DNS frames is skipped")
            return
        }
        let t = try runProcess(URL(fileURLWithPath: tshark), ["-n", "-r", mix.path, "-Y", "dns", "-T", "fields", "-e", "frame.number"],
                               timeout: 300)
        XCTAssertEqual(t.status, 0, t.stderr)
        let tsharkDNS = Set(t.stdoutText.split(separator: "\n").compactMap { Int($0) })
        let notInTshark = Set(dnsFrames).subtracting(tsharkDNS)
        XCTAssertTrue(notInTshark.isEmpty, "frames decoded as DNS that tshark does not decode as DNS: \(notInTshark.sorted().prefix(10))")
    }
}
