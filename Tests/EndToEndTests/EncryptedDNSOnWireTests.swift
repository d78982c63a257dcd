import Foundation
import IntegrationSupport
import XCTest

/// Issue 20 item 11: `analyze` summarises encrypted DNS per client and resolver (report inputs of
/// kind `encrypted-dns`). Truth: the ClientHellos of the tshark TLS TSVs next to the real captures
/// (DoT to Google from nDPI, DoQ from Zeek and nDPI): one row per (client, resolver, port,
/// protocol), flows = the distinct client ports that sent a ClientHello to it.
final class EncryptedDNSOnWireTests: XCTestCase {
    struct Row: Hashable { var client: String, resolver: String, port: Int, proto: String }

    private func analyze(_ file: URL) throws -> [[String: Any]] {
        let r = try runBounded(TestPaths.dnsaudit.path, ["analyze", file.path, "--format", "json", "--quiet"], timeout: 60)
        XCTAssertTrue(r.status == 0 || r.status == 1, "analyze \(file.lastPathComponent) exited \(r.status): \(r.output.suffix(400))")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.output.prefix(400).description)
        return (json["inputs"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "encrypted-dns" }
    }

    /// (client, resolver, port, protocol) → distinct client ports, from the TLS TSV's ClientHellos to 853/784/8853.
    private func truth(_ tsv: URL) throws -> [Row: Set<String>] {
        let lines = try String(contentsOf: tsv, encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { return [:] }
        func col(_ n: String) -> Int? { header.firstIndex(of: n) }
        guard let src = col("src"), let dst = col("dst"), let sport = col("sport"), let dport = col("dport"), let transport = col("transport") else { return [:] }
        var out: [Row: Set<String>] = [:]
        for f in lines.dropFirst() where f.count > transport {
            guard let p = Int(f[dport]), [853, 784, 8853].contains(p) else { continue }
            let proto = f[transport] == "quic" ? "DoQ" : "DoT"
            out[Row(client: f[src], resolver: f[dst], port: p, proto: proto), default: []].insert(f[sport])
        }
        return out
    }

    /// tshark's TCP/UDP conversations with a port 853/784/8853 side, per row (nil without tshark).
    private func tsharkConversations(_ file: URL) throws -> [Row: Int]? {
        guard let tshark = Requirements.findTool("tshark", preferring: ["/usr/bin"]) else { return nil }
        var out: [Row: Int] = [:]
        for (proto, service) in [("tcp", "DoT"), ("udp", "DoQ")] {
            let r = try runBounded(tshark, ["-r", file.path, "-n", "-q", "-z", "conv,\(proto)"], timeout: 60)
            for line in r.stdout.split(separator: "\n") {
                let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                guard f.count > 3, f[1] == "<->" else { continue }
                func split(_ e: String) -> (String, Int)? {
                    guard let c = e.lastIndex(of: ":"), let p = Int(e[e.index(after: c)...]) else { return nil }
                    return (String(e[..<c]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), p)
                }
                guard let a = split(f[0]), let b = split(f[2]) else { continue }
                let dns = [853, 784, 8853]
                let (client, server) = dns.contains(b.1) ? (a, b) : (b, a)
                guard dns.contains(server.1) else { continue }
                out[Row(client: client.0, resolver: server.0, port: server.1, proto: service), default: 0] += 1
            }
        }
        return out
    }

    func testRealCapturesMatchTheTSVTruth() throws {
        let base = try TestPaths.requireRealCaptures()
        let files = ["ndpi/ndpi-dns_dot.pcap", "ndpi/ndpi-googledns_android10.pcap", "zeek/quicdoq.pcap", "ndpi/ndpi-doq_adguard.pcapng"]
        var checked = 0
        for name in files {
            let file = base.appendingPathComponent(name)
            let tsv = base.appendingPathComponent(name + ".tls.tsv")
            guard FileManager.default.fileExists(atPath: file.path), FileManager.default.fileExists(atPath: tsv.path) else { continue }
            let expected = try truth(tsv)
            XCTAssertFalse(expected.isEmpty, "\(name): the truth has encrypted-DNS ClientHellos")
            let rows = try analyze(file)
            var got: [Row: Int] = [:]
            for r in rows {
                let key = Row(client: r["client"] as? String ?? "", resolver: r["resolver"] as? String ?? "", port: r["port"] as? Int ?? 0,
                              proto: r["protocol"] as? String ?? "")
                got[key] = r["flows"] as? Int
                XCTAssertGreaterThan(r["bytes"] as? Int ?? 0, 0, "\(name): \(r)")
                XCTAssertNotNil(r["plain_dns"] as? String, "\(name): \(r)")
            }
            XCTAssertEqual(Set(got.keys), Set(expected.keys), "\(name): the rows are the truth's (client, resolver, port, protocol)")
            let conversations = try tsharkConversations(file)
            for (k, ports) in expected {
                // Every port that sent a ClientHello is a flow; connections the capture caught
                // mid-way (no ClientHello) are flows too: tshark's conversation list is the count.
                XCTAssertGreaterThanOrEqual(got[k] ?? 0, ports.count, "\(name) \(k): flows")
                if let conversations { XCTAssertEqual(got[k], conversations[k], "\(name) \(k): flows = tshark's conversations") }
            }
            checked += 1
        }
        print("EncryptedDNSOnWireTests: \(checked) real capture(s) checked")
        XCTAssertGreaterThan(checked, 0)
    }

    /// A capture without encrypted DNS gets no such rows (the report is unchanged for it).
    func testPlainDNSCaptureHasNoEncryptedRows() throws {
        let file = TestPaths.root.appendingPathComponent("captures/dns-injection.pcap")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: file.path), "captures/dns-injection.pcap is absent")
        XCTAssertTrue(try analyze(file).isEmpty)
    }
}
