import Foundation
import IntegrationSupport
import XCTest

/// `dnsaudit decode` TLS lines against tshark's truth (`*.tls.tsv`: SNI, ALPN, offered version,
/// cipher count, JA3 — TCP and QUIC) and against FoxIO's JA4 truth (ja4-python outputs).
final class TLSConformanceTests: XCTestCase {
    /// ClientHello lines per frame (TCP and QUIC), in output order.
    func clientHellos(_ capture: URL) throws -> [[String: Any]] {
        let r = try runProcess(TestPaths.dnsaudit, ["decode", capture.path])
        XCTAssertEqual(r.status, 0, "\(capture.lastPathComponent): \(r.stderr)")
        return try r.stdout.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard let o = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let tls = o["tls"] as? [String: Any], tls["handshake"] as? String == "client_hello" else { return nil }
            return o
        }
    }

    static let versionNames = ["0x0304": "1.3", "0x0303": "1.2", "0x0302": "1.1", "0x0301": "1.0", "0x0300": "ssl3.0"]

    func testClientHellosMatchTsharkOnEveryRealCapture() throws {
        let base = try TestPaths.requireRealCaptures()
        var compared = 0, matched = 0, pending = 0
        var failures: [String] = []
        var listed: [String] = []
        // The contract prints non-ASCII ALPN values as "0x…" hex; tshark prints the raw bytes.
        let knownALPN: Set<String> = ["ja4/ja4-tls-non-ascii-alpn.pcapng#1"]
        for file in try TestPaths.manifestCaptures(base) {
            let tsv = try String(contentsOf: base.appendingPathComponent(file + ".tls.tsv"), encoding: .utf8)
            let rows = tsv.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            guard !rows.isEmpty else { continue }
            var ours: [Int: [[String: Any]]] = [:]
            for o in try clientHellos(base.appendingPathComponent(file)) {
                ours[o["frame"] as? Int ?? -1, default: []].append(o["tls"] as? [String: Any] ?? [:])
            }
            var seen: [Int: Int] = [:]
            for r in rows where r.count >= 10 {
                guard let frame = Int(r[0]) else { continue }
                let i = seen[frame, default: 0]
                seen[frame] = i + 1
                compared += 1
                if PendingDecodes.isPendingTLS(file: file, frame: frame) {
                    compared -= 1
                    pending += 1
                    // A pending ClientHello that is decoded now must leave the pending list.
                    if (ours[frame]?.count ?? 0) > i {
                        failures.append("\(file) frame \(frame): pending but decoded now: check it and remove the pending entry")
                    }
                    continue
                }
                guard let t = ours[frame], i < t.count else {
                    failures.append("\(file) frame \(frame): missing ClientHello (tshark: sni \(r[5]))")
                    continue
                }
                let tls = t[i]
                var diffs: [String] = []
                let sni = tls["sni"] as? String ?? "-"
                if sni != r[5] { diffs.append("sni \(sni) vs \(r[5])") }
                let alpn = (tls["alpn"] as? [String] ?? []).joined(separator: ",")
                if (alpn.isEmpty ? "-" : alpn) != r[6] && !knownALPN.contains("\(file)#\(frame)") { diffs.append("alpn \(alpn) vs \(r[6])") }
                let version = tls["version"] as? String ?? ""
                if version != Self.versionNames[r[7], default: r[7]] { diffs.append("version \(version) vs \(r[7])") }
                let ciphers = (tls["ciphers"] as? [Int] ?? []).count
                if String(ciphers) != r[8] { diffs.append("cipher_count \(ciphers) vs \(r[8])") }
                let ja3 = tls["ja3"] as? String ?? ""
                if ja3 != r[9] { diffs.append("ja3 \(ja3) vs \(r[9])") }
                if diffs.isEmpty { matched += 1 } else { failures.append("\(file) frame \(frame): " + diffs.joined(separator: "; ")) }
                if knownALPN.contains("\(file)#\(frame)") { listed.append("\(file) frame \(frame): ALPN printed as 0x… hex per the contract") }
            }
        }
        print("TLS conformance: \(matched)/\(compared) tshark ClientHellos match (SNI, ALPN, version, cipher count, JA3); listed: \(listed); \(pending) pending")
        PendingDecodes.printList()
        XCTAssertGreaterThan(compared, 100)
        XCTAssertTrue(failures.isEmpty, failures.prefix(40).joined(separator: "\n"))
    }

    func testJA4MatchesFoxIOTruth() throws {
        let base = try TestPaths.requireRealCaptures()
        let dir = base.appendingPathComponent("ja4")
        var compared = 0
        var failures: [String] = []
        for entry in try FileManager.default.contentsOfDirectory(atPath: dir.path) where entry.hasSuffix(".truth") {
            let capture = dir.appendingPathComponent(String(entry.dropLast(".truth".count)))
            let truthDir = dir.appendingPathComponent(entry).appendingPathComponent("ja4-python")
            guard let json = try FileManager.default.contentsOfDirectory(atPath: truthDir.path).first(where: { $0.hasSuffix(".json") }) else { continue }
            let truth = try JSONSerialization.jsonObject(with: Data(contentsOf: truthDir.appendingPathComponent(json))) as? [[String: Any]] ?? []
            var ours: [String: [[String: Any]]] = [:]
            for o in try clientHellos(capture) {
                let key = "\(o["src"] ?? "") \(o["dst"] ?? "") \(o["sport"] ?? "") \(o["dport"] ?? "")"
                ours[key, default: []].append(o["tls"] as? [String: Any] ?? [:])
            }
            for e in truth {
                let key = "\(e["src"] ?? "") \(e["dst"] ?? "") \(e["srcport"] ?? "") \(e["dstport"] ?? "")"
                var n = 1
                while let ja4 = e["JA4.\(n)"] as? String {
                    compared += 1
                    let mine = ours[key] ?? []
                    if mine.count < n {
                        failures.append("\(capture.lastPathComponent) \(key): missing ClientHello #\(n) (\(ja4))")
                    } else {
                        let t = mine[n - 1]
                        if t["ja4"] as? String != ja4 { failures.append("\(capture.lastPathComponent) \(key): ja4 \(t["ja4"] ?? "-") vs \(ja4)") }
                        if let r = e["JA4_r.\(n)"] as? String, t["ja4_r"] as? String != r {
                            failures.append("\(capture.lastPathComponent) \(key): ja4_r \(t["ja4_r"] ?? "-") vs \(r)")
                        }
                    }
                    n += 1
                }
            }
        }
        print("JA4 conformance: \(compared - failures.count)/\(compared) ClientHellos match FoxIO's ja4 truth (JA4 and JA4_r)")
        XCTAssertGreaterThan(compared, 50)
        XCTAssertTrue(failures.isEmpty, failures.prefix(40).joined(separator: "\n"))
    }

    /// The real RST-injection captures: the blocked SNI is flagged, the others are not.
    func testRealResetInjectionCaptures() throws {
        let base = try TestPaths.requireRealCaptures()
        for (file, blocked) in [("tripwire/tripwire-gfw-1597963966.pcap", "www.wikipedia.org"),
                                ("tripwire/tripwire-airtel_https_example.pcap", "youporn.com")] {
            let r = try runProcess(TestPaths.dnsaudit, ["analyze", "--format", "json", base.appendingPathComponent(file).path])
            XCTAssertEqual(r.status, 1, "\(file): a high finding means exit 1")
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
            let findings = report["findings"] as? [[String: Any]] ?? []
            let resets = findings.filter { $0["kind"] as? String == "tls.reset-after-clienthello" }
            XCTAssertFalse(resets.isEmpty, file)
            for f in resets {
                let subject = f["subject"] as? [String: Any] ?? [:]
                XCTAssertEqual(subject["sni"] as? String, blocked, "\(file): only the blocked SNI is flagged")
                XCTAssertEqual(f["severity"] as? String, "high")
                let evidence = (f["evidence"] as? [[String: Any]] ?? []).map { $0["detail"] as? String ?? "" }
                XCTAssertTrue(evidence.contains { $0.contains("IP TTL") && $0.contains("injected") }, "\(file): TTL comparison in evidence")
            }
            // The Tripwire GFW capture (taken at the server) also holds plain HTTP requests for
            // youporn.com and the residual blocking of that 3-tuple after them (a raw "\r\n.\r\nQUIT"
            // probe): resets from the client's address with TTLs far from its SYN's — injected, item 5.
            let injected = findings.filter { $0["kind"] as? String == "tcp.reset-injection" }
            for f in injected {
                let subject = f["subject"] as? [String: Any] ?? [:]
                XCTAssertEqual(file, "tripwire/tripwire-gfw-1597963966.pcap")
                XCTAssertEqual(subject["port"] as? Int, 80, "\(file): \(f["title"] ?? "")")
                XCTAssertTrue(subject["host"] as? String == "youporn.com" || subject["protocol"] as? String == "raw", "\(file): \(f["title"] ?? "")")
                XCTAssertEqual(f["severity"] as? String, "high")
            }
            XCTAssertEqual(findings.count, resets.count + injected.count, "\(file): nothing else is flagged")
        }
    }

    /// Hard ClientHellos decode: split over three TCP segments, 1747-byte post-quantum, 350 ciphers.
    func testHardClientHellosDecode() throws {
        let base = try TestPaths.requireRealCaptures()
        let cases: [(String, (([String: Any]) -> Bool))] = [
            ("suricata-verify/sv-tls-client-hello-frag-mtu300.pcap", { _ in true }),
            ("zeek/chrome-1250-tls-x25519-kyber.pcap", { ($0["extensions"] as? [Int] ?? []).contains(0x0033) }),
            ("ndpi/ndpi-ja3_lots_of_cipher_suites.pcap", { ($0["ciphers"] as? [Int] ?? []).count == 350 }),
        ]
        for (file, check) in cases {
            let url = base.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                XCTFail("\(file) is listed in the brief but missing")
                continue
            }
            let hellos = try clientHellos(url).compactMap { $0["tls"] as? [String: Any] }
            XCTAssertFalse(hellos.isEmpty, "\(file): no ClientHello decoded")
            XCTAssertTrue(hellos.contains(where: check), "\(file): expected ClientHello not found")
        }
    }
}
