import Foundation
import XCTest
import TLSWire

/// Runs every ClientHello of the third-party captures (extracted by tshark into a JSON file
/// whose path is in TLSWIRE_VECTORS) through the reassembler / QUIC path and compares with
/// the tshark truth (.tls.tsv) and the JA4 truth (FoxIO python/rust, Arkime, nDPI,
/// suricata-verify). Skipped when the variable is not set. The extraction script is at the
/// end of this file:
///
///     python3 harvest.py /work/shared/captures-real /tmp/client.json /tmp/server.json
///     TLSWIRE_VECTORS=/tmp/client.json TLSWIRE_SERVER_VECTORS=/tmp/server.json \
///         swift test --filter CaptureConformanceTests
final class CaptureConformanceTests: XCTestCase {
    func testAllCaptureClientHellos() throws {
        guard let path = ProcessInfo.processInfo.environment["TLSWIRE_VECTORS"] else {
            throw XCTSkip("TLSWIRE_VECTORS not set")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let streams = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            XCTFail("bad vectors file"); return
        }
        var chChecked = 0, chFailed = 0, ja4Checked = 0, ja4Failed = 0
        var deviations: [String] = []
        for s in streams {
            let cap = s["capture"] as? String ?? "?"
            let kind = s["kind"] as? String ?? "tcp"
            let chunks = (s["chunks"] as? [String] ?? []).map(hexBytes)
            let expected = s["expected"] as? [[String: String]] ?? []
            var hellos: [ClientHello] = []
            if kind == "tcp" {
                var r = TLSHandshakeReassembler(preambleLimit: 4096)
                for c in chunks {
                    for ev in r.feed(c) {
                        if case .handshake(let t, let body) = ev, t == 1 {
                            if let ch = ClientHello.parse(body) { hellos.append(ch) } else { deviations.append("\(cap) unparsable CH") }
                        }
                    }
                    if r.isDone { break }
                }
            } else {
                if let (body, _) = clientHelloFromQUIC(chunks), let ch = ClientHello.parse(body) {
                    hellos.append(ch)
                }
            }
            let transport: JA4Transport = kind == "tcp" ? .tcp : .quic
            let ctx = "\(cap) \(kind) stream \(s["stream"] ?? "?")"
            let wantCount = kind == "tcp" ? expected.count : 1
            if hellos.count != wantCount {
                deviations.append("\(ctx): got \(hellos.count) hellos, want \(wantCount)")
                chFailed += 1
            }
            for (i, e) in expected.enumerated() where i < hellos.count {
                let ch = hellos[i]
                chChecked += 1
                var bad: [String] = []
                let sni = ch.sni ?? "-"
                if sni != e["sni"] { bad.append("sni \(sni) != \(e["sni"] ?? "")") }
                let ja3 = JA3.compute(ch)
                if ja3.hash != e["ja3"] { bad.append("ja3 \(ja3.string) != \(e["ja3_full"] ?? "")") }
                if String(ch.cipherSuites.count) != e["cipher_count"] { bad.append("cipher_count") }
                let v = String(format: "0x%04x", ch.highestOfferedVersion)
                if v != e["tls_version_offered"] { bad.append("version \(v)") }
                let exts = ch.extensionTypes.map(String.init).joined(separator: ",")
                if exts != e["extensions"] { bad.append("extensions \(exts) != \(e["extensions"] ?? "")") }
                let ech = (ch.hasECH || ch.hasESNI) ? "yes" : "no"
                if ech != e["ech_or_esni"] { bad.append("ech") }
                let alpnWant = e["alpn"] ?? "-"
                let alpnGot = ch.alpn.isEmpty ? "-" : ch.alpn.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ",")
                if alpnWant.allSatisfy({ $0.isASCII }) && alpnGot != alpnWant { bad.append("alpn \(alpnGot) != \(alpnWant)") }
                if !bad.isEmpty {
                    chFailed += 1
                    deviations.append("\(ctx) frame \(e["frame"] ?? "?"): " + bad.joined(separator: "; "))
                }
            }
            for j in s["ja4"] as? [[String: Any]] ?? [] {
                let src = j["source"] as? String ?? "?"
                let want = j["ja4"] as? [String] ?? []
                let wantR = j["ja4_r"] as? [Any] ?? []
                for (i, w) in want.enumerated() {
                    ja4Checked += 1
                    guard i < hellos.count else { ja4Failed += 1; deviations.append("\(ctx) \(src): no hello #\(i + 1) for \(w)"); continue }
                    let got = JA4.compute(hellos[i], transport: transport)
                    var ok = got.ja4 == w
                    if i < wantR.count, let wr = wantR[i] as? String, wr != got.ja4_r { ok = false }
                    if !ok {
                        ja4Failed += 1
                        deviations.append("\(ctx) \(src): ja4 \(got.ja4) != \(w)\n    got  \(got.ja4_r)\n    want \(i < wantR.count ? "\(wantR[i])" : "-")")
                    }
                }
            }
        }
        print("conformance: \(chChecked) hellos checked, \(chFailed) failed; \(ja4Checked) JA4 values checked, \(ja4Failed) failed")
        for d in deviations { print("  DEVIATION " + d) }
        // nDPI writes `d` whenever it knows a host name from elsewhere (DoT to 8.8.8.8 with no
        // SNI, draft ESNI with no cleartext SNI); FoxIO's rule is the SNI extension.
        let known = deviations.filter { $0.contains(" ndpi: ja4 t12i250900_7415a186c913") || $0.contains(" ndpi: ja4 t13i1813h2_29a2cd9e9f10") }
        XCTAssertEqual(deviations.count, known.count)
    }

    /// Server directions of the same TCP streams: ServerHello and Certificate messages must
    /// match tshark (TLSWIRE_SERVER_VECTORS).
    func testAllCaptureServerDirections() throws {
        guard let path = ProcessInfo.processInfo.environment["TLSWIRE_SERVER_VECTORS"] else {
            throw XCTSkip("TLSWIRE_SERVER_VECTORS not set")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let streams = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            XCTFail("bad vectors file"); return
        }
        var checked = 0
        var failures: [String] = []
        var eventCounts: [String: Int] = [:]
        for s in streams {
            let ctx = "\(s["capture"] ?? "?") stream \(s["stream"] ?? "?")"
            let truth = s["truth"] as? [String: Any] ?? [:]
            let wantSH = truth["sh"] as? [[String: String]] ?? []
            let wantCerts = truth["certs"] as? [Int] ?? []
            var r = TLSHandshakeReassembler(preambleLimit: 4096)
            var gotSH: [ServerHello] = []
            var gotCerts: [Int] = []
            for c in (s["chunks"] as? [String] ?? []).map(hexBytes) {
                for ev in r.feed(c) {
                    switch ev {
                    case .handshake(let t, let body):
                        if t == 2 {
                            if let sh = ServerHello.parse(body) { gotSH.append(sh) } else { failures.append("\(ctx): bad SH") }
                        } else if t == 11 {
                            if let cm = body.withUnsafeBytes({ CertificateMessage.parse($0) }) {
                                gotCerts.append(cm.certificates.count)
                            } else { failures.append("\(ctx): bad Certificate") }
                        }
                    case .notTLS:
                        print("  notTLS: \(ctx)")
                    default:
                        eventCounts["\(ev)".components(separatedBy: "(").first ?? "?", default: 0] += 1
                    }
                }
                if r.isDone { break }
            }
            checked += 1
            let gotDesc = gotSH.map { String(format: "0x%04x/%@", $0.cipherSuite, $0.selectedVersion.map { String(format: "0x%04x", $0) } ?? "") }
            let wantDesc = wantSH.map { "\($0["cipher"] ?? "")/\($0["sv"] ?? "")" }
            if gotDesc != wantDesc { failures.append("\(ctx): SH \(gotDesc) != \(wantDesc)") }
            if gotCerts != wantCerts { failures.append("\(ctx): certs \(gotCerts) != \(wantCerts)") }
        }
        print("server directions: \(checked) streams, events \(eventCounts)")
        for f in failures { print("  FAIL " + f) }
        XCTAssertEqual(failures, [])
    }
}

// MARK: - harvest.py (tshark extraction of the vectors used above)
//
// #!/usr/bin/env python3
// # Usage: harvest_all.py CAPTURES_REAL_DIR OUT_CLIENT.json OUT_SERVER.json   (needs tshark)
// import csv, glob, json, os, re, subprocess, sys
// ROOT, OUT_C, OUT_S = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
// def ts(args): return subprocess.run(["tshark"] + args, capture_output=True, text=True).stdout
// def ja4_truth(cap):  # [(source, (src, sport, dst, dport) or None, [ja4...], [ja4_r...])]
//     out, t = [], os.path.join(ROOT, cap + ".truth")
//     for f in glob.glob(t + "/ja4-python/*.json"):
//         for e in json.load(open(f)):
//             ks = sorted((k for k in e if re.fullmatch(r"JA4\.\d+", k)), key=lambda k: int(k[4:]))
//             if ks: out.append(("ja4-python", (e["src"], str(e["srcport"]), e["dst"], str(e["dstport"])),
//                                [e[k] for k in ks], [e.get("JA4_r." + k[4:]) for k in ks]))
//     for f in glob.glob(t + "/ja4-rust/*.snap"):
//         recs = []
//         for line in open(f):
//             if re.match(r"^- stream: \d+", line): recs.append({})
//             m = re.match(r"^  (src|dst|src_port|dst_port|ja4): (.*)$", line)
//             if m and recs: recs[-1][m.group(1)] = m.group(2).strip()
//         out += [("ja4-rust", (r["src"], r["src_port"], r["dst"], r["dst_port"]), [r["ja4"]], [None]) for r in recs if "ja4" in r]
//     for f in glob.glob(t + "/arkime/*.test"):
//         txt = open(f).read()
//         def walk(o):
//             if isinstance(o, dict):
//                 if isinstance(o.get("tls"), dict) and "ja4" in o["tls"]:
//                     s, d = o.get("source", {}), o.get("destination", {})
//                     out.append(("arkime", (s.get("ip"), str(s.get("port")), d.get("ip"), str(d.get("port"))),
//                                 o["tls"]["ja4"], o["tls"].get("ja4_r", [None] * len(o["tls"]["ja4"]))))
//                 for v in o.values(): walk(v)
//             elif isinstance(o, list):
//                 for v in o: walk(v)
//         walk(json.loads(txt[txt.index("{"):]))
//     for f in glob.glob(t + "/ndpi/*.out"):
//         for line in open(f):
//             m = re.search(r"(TCP|UDP) ([\d.:a-f\[\]]+?):(\d+) <?-> ([\d.:a-f\[\]]+?):(\d+) ", line)
//             j = re.search(r"\[JA4: ([^\]]+)\]", line)
//             if m and j: out.append(("ndpi", (m.group(2).strip("[]"), m.group(3), m.group(4).strip("[]"), m.group(5)), [j.group(1)], [None]))
//     for f in glob.glob(t + "/suricata-verify/*/test.yaml"):
//         out += [("suricata", None, [m.group(1)], [None]) for m in re.finditer(r"tls\.ja4: (\S+)", open(f).read())]
//     return out
// def follow(pcap, stream, sport, client_side):
//     txt = ts(["-r", pcap, "-q", "-z", "follow,tcp,raw,%s" % stream])
//     client_is_0 = re.search(r"Node 0: (.*)", txt).group(1).rsplit(":", 1)[1] == sport
//     chunks = []
//     for line in txt.split("Node 1:", 1)[1].split("\n", 1)[1].splitlines():
//         if line.startswith("====="): break
//         if line.strip() and ((not line.startswith("\t")) == client_is_0) == client_side: chunks.append(line.strip())
//     return chunks
// client, server = [], []
// for tsv in sorted(glob.glob(ROOT + "/*/*.tls.tsv")):
//     cap = tsv[len(ROOT) + 1:-len(".tls.tsv")]
//     rows = list(csv.DictReader(open(tsv), delimiter="\t", quoting=csv.QUOTE_NONE))
//     if not rows: continue
//     pcap = os.path.join(ROOT, cap)
//     smap = {p[0]: p[1:] for p in (l.split("\t") for l in ts(["-r", pcap, "-T", "fields", "-e", "frame.number", "-e", "tcp.stream", "-e", "udp.stream"]).splitlines())}
//     truths, streams = ja4_truth(cap), {}
//     for r in rows:
//         t, u = smap[r["frame"]]
//         streams.setdefault(("tcp", t) if r["transport"] == "tcp" else ("quic", u), []).append(r)
//     decode = ["-d", "tcp.port==80,tls"] if "airtel" in cap else []
//     sh = {}
//     for line in ts(["-r", pcap] + decode + ["-Y", "tls.handshake.type==2 || tls.handshake.type==11", "-T", "fields", "-E", "occurrence=a",
//                     "-e", "tcp.stream", "-e", "tls.handshake.type", "-e", "tls.handshake.ciphersuite",
//                     "-e", "tls.handshake.extensions.supported_version", "-e", "tls.handshake.certificate_length"]).splitlines():
//         p = line.split("\t")
//         e = sh.setdefault(p[0], {"sh": [], "certs": []})
//         if "2" in p[1].split(","): e["sh"].append({"cipher": p[2].split(",")[0], "sv": p[3]})
//         if "11" in p[1].split(",") and p[4]: e["certs"].append(len(p[4].split(",")))
//     for (kind, sid), rs in sorted(streams.items(), key=lambda kv: int(kv[1][0]["frame"])):
//         src, sport, dst, dport = rs[0]["src"], rs[0]["sport"], rs[0]["dst"], rs[0]["dport"]
//         if kind == "tcp":
//             chunks = follow(pcap, sid, sport, True)
//             server.append({"capture": cap, "stream": int(sid), "chunks": follow(pcap, sid, sport, False), "truth": sh.get(sid, {"sh": [], "certs": []})})
//         else:
//             chunks = [p[2] for p in (l.split("\t") for l in ts(["-r", pcap, "-Y", "udp.stream==" + sid, "-T", "fields", "-e", "frame.number", "-e", "udp.srcport", "-e", "udp.payload"]).splitlines()) if p[1] == sport]
//         client.append({"capture": cap, "kind": kind, "stream": int(sid), "src": src, "sport": sport, "dst": dst, "dport": dport, "chunks": chunks,
//                        "expected": [{k: r[k] for k in ("frame", "sni", "alpn", "tls_version_offered", "cipher_count", "ja3", "ja3_full", "extensions", "ech_or_esni")} for r in rs],
//                        "ja4": [{"source": s, "ja4": v, "ja4_r": rr} for (s, tup, v, rr) in truths if tup is None or tup == (src, sport, dst, dport)]})
// json.dump(client, open(OUT_C, "w")); json.dump(server, open(OUT_S, "w"))
// print(len(client), "client streams,", sum(len(c["expected"]) for c in client), "hellos,", sum(len(j["ja4"]) for c in client for j in c["ja4"]), "JA4 values;", len(server), "server streams")
