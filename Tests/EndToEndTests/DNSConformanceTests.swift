import DNSWire
import Foundation
import IntegrationSupport
import XCTest

/// `dnsaudit decode` against tshark's truth (`*.dns.tsv`) for every real third-party capture:
/// message by message by frame number: id, qr, rcode, qname, qtype, answer count and answers.
/// Every remaining difference must be listed, with its reason, in known-differences.tsv.
final class DNSConformanceTests: XCTestCase {
    struct TruthRow {
        var frame: Int
        var id: Int
        var qr: Bool
        var rcode: String
        var qname: String
        var qtype: String
        var answerCount: Int
        var answers: [String]
        var proto: String
        var malformed: Bool
    }

    func loadTruth(_ url: URL) throws -> [TruthRow] {
        let text = try String(contentsOf: url, encoding: .utf8)
        var rows: [TruthRow] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).dropFirst() {
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard c.count >= 25, let frame = Int(c[0]) else { continue }
            let answers = c[12] == "-" ? [] : c[12].split(separator: ";").map { tsvUnescape(String($0)) }
            rows.append(TruthRow(frame: frame, id: Int(c[6]) ?? -1, qr: c[7] == "1", rcode: c[8], qname: tsvUnescape(c[9]),
                                 qtype: c[10], answerCount: Int(c[11]) ?? -1, answers: answers, proto: c[13],
                                 malformed: c[24] == "1"))
        }
        return rows
    }

    struct Known: Hashable {
        var file: String
        var frame: Int
        var field: String
    }

    func loadKnown() throws -> [Known: String] {
        guard let url = Bundle.module.url(forResource: "known-differences", withExtension: "tsv") else { return [:] }
        var out: [Known: String] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
            let c = line.split(separator: "\t", maxSplits: 3).map(String.init)
            guard c.count == 4, let f = Int(c[1]) else { continue }
            out[Known(file: c[0], frame: f, field: c[2])] = c[3]
        }
        return out
    }

    /// Our answer (type + presentation data) in tshark's notation.
    static func tsharkForm(type: String, data: String) -> String {
        func strip(_ n: String) -> String { n.count > 1 && n.hasSuffix(".") && !n.hasSuffix("\\.") ? String(n.dropLast()) : n }
        let fields = data.split(separator: " ").map(String.init)
        switch type {
        case "A", "AAAA":
            return "\(type)=\(data)"
        case "CNAME", "NS", "PTR", "DNAME":
            return "\(type)=\(strip(data))"
        case "MX", "SRV":
            return "\(type)=" + fields.map(strip).joined(separator: " ")
        case "SOA":
            return "\(type)=" + fields.enumerated().map { $0.offset < 2 ? strip($0.element) : $0.element }.joined(separator: " ")
        case "TXT", "SPF":
            return "\(type)=\(data)"
        case "HTTPS", "SVCB":
            // tshark prints the target "." as <Root> and the ech parameter last, without its value.
            var f = fields
            if f.count > 1 { f[1] = f[1] == "." ? "<Root>" : strip(f[1]) }
            let hasECH = f.contains { $0.hasPrefix("ech=") }
            f.removeAll { $0.hasPrefix("ech=") }
            if hasECH { f.append("ech") }
            return "\(type)=" + f.joined(separator: " ")
        default:
            return type  // compared by type only: tshark's rendering of these is its own
        }
    }

    static func truthForm(_ t: String) -> String {
        guard let eq = t.firstIndex(of: "=") else { return t }
        let type = String(t[..<eq])
        switch type {
        case "A", "AAAA", "CNAME", "NS", "PTR", "DNAME", "MX", "SRV", "SOA", "TXT", "SPF", "HTTPS", "SVCB": return t
        default: return type
        }
    }

    func testDecodeMatchesTsharkOnEveryRealCapture() throws {
        let base = try TestPaths.requireRealCaptures()
        let known = try loadKnown()
        var compared = 0, matched = 0, tsharkMessages = 0
        var failures: [String] = []
        var listed: [String] = []
        var extra = 0
        var extraFrames: [String] = []
        var pendingDNS: [String] = []
        for file in try TestPaths.manifestCaptures(base) {
            let truthURL = base.appendingPathComponent(file + ".dns.tsv")
            let all = try loadTruth(truthURL)
            let truth = all.filter { !PendingDecodes.isPendingDNS(file: file, proto: $0.proto) }
            let pendingRows = all.filter { PendingDecodes.isPendingDNS(file: file, proto: $0.proto) }
            let r = try runProcess(TestPaths.dnsaudit, ["decode", base.appendingPathComponent(file).path])
            XCTAssertEqual(r.status, 0, "\(file): decode exited \(r.status): \(r.stderr)")
            var ours: [Int: [[String: Any]]] = [:]
            for line in r.stdout.split(separator: UInt8(ascii: "\n")) {
                guard let obj = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let frame = obj["frame"] as? Int, obj["tls"] == nil else { continue }
                ours[frame, default: []].append(obj)
            }
            if !pendingRows.isEmpty {
                pendingDNS.append("\(file): \(pendingRows.count) \(pendingRows[0].proto) messages")
                // A pending message that is decoded now must leave the pending list.
                let decodedNow = Set(pendingRows.map(\.frame)).intersection(ours.keys)
                XCTAssertTrue(decodedNow.isEmpty, "\(file): frames \(decodedNow.sorted()) are pending but decoded now: check them and remove the pending entry")
            }
            var truthByFrame: [Int: [TruthRow]] = [:]
            for t in truth { truthByFrame[t.frame, default: []].append(t) }
            tsharkMessages += truth.count
            for (frame, ourMsgs) in ours.sorted(by: { $0.key < $1.key }) where truthByFrame[frame] == nil {
                extra += ourMsgs.count
                let m = ourMsgs[0]
                extraFrames.append("\(file) frame \(frame): \(m["transport"] ?? "?") \(m["sport"] ?? "?")→\(m["dport"] ?? "?")")
            }
            for frame in truthByFrame.keys.sorted() {
                let rows = truthByFrame[frame] ?? []
                let mine = ours[frame] ?? []
                for (i, t) in rows.enumerated() {
                    compared += 1
                    var diffs: [(String, String)] = []
                    if i >= mine.count {
                        diffs.append(("missing", "tshark decodes a message here, dnsaudit emitted \(mine.count)"))
                    } else if let dns = mine[i]["dns"] as? [String: Any] {
                        let id = dns["id"] as? Int ?? -1
                        let qr = dns["qr"] as? Bool ?? false
                        let rcode = dns["rcode"] as? Int ?? -1
                        let qs = dns["questions"] as? [[String: Any]] ?? []
                        let qname = qs.map { ($0["name"] as? String ?? "").trimmingTrailingDot }.joined(separator: ",")
                        let qtype = qs.map { $0["type"] as? String ?? "" }.joined(separator: ",")
                        let counts = dns["counts"] as? [String: Any] ?? [:]
                        let an = counts["an"] as? Int ?? -1
                        let answers = (dns["answers"] as? [[String: Any]] ?? []).map {
                            Self.tsharkForm(type: $0["type"] as? String ?? "", data: $0["data"] as? String ?? "")
                        }
                        if id != t.id { diffs.append(("id", "\(id) vs \(t.id)")) }
                        if qr != t.qr { diffs.append(("qr", "\(qr) vs \(t.qr)")) }
                        if t.qr && t.rcode != "-" && String(rcode) != t.rcode { diffs.append(("rcode", "\(rcode) vs \(t.rcode)")) }
                        let tq = t.qname == "<Root>" ? "" : t.qname
                        if t.qname != "-" && qname != tq && !(qs.isEmpty && t.qname == "-") { diffs.append(("qname", "\(qname) vs \(t.qname)")) }
                        if t.qtype != "-" && !Self.sameTypes(qtype, t.qtype) { diffs.append(("qtype", "\(qtype) vs \(t.qtype)")) }
                        if an != t.answerCount { diffs.append(("answer_count", "\(an) vs \(t.answerCount)")) }
                        let theirs = t.answers.map(Self.truthForm)
                        if answers != theirs && !(t.answers.isEmpty && t.answerCount > 0) {
                            diffs.append(("answers", "\(answers) vs \(theirs)"))
                        }
                    } else {
                        diffs.append(("undecoded", "dnsaudit could not decode: \(mine[i]["error"] ?? "?")"))
                    }
                    if diffs.isEmpty {
                        matched += 1
                        continue
                    }
                    for (field, what) in diffs {
                        let line = "\(file)\tframe \(frame) msg \(i + 1)\t\(field)\t\(what)"
                        if let reason = known[Known(file: file, frame: frame, field: field)] {
                            listed.append(line + "\t(known: \(reason))")
                        } else {
                            failures.append(line)
                        }
                    }
                }
            }
        }
        let pct = compared == 0 ? 0 : Double(matched) * 100 / Double(compared)
        print("DNS conformance: \(matched)/\(compared) tshark-decoded messages match exactly (\(String(format: "%.2f", pct))%); "
              + "\(listed.count) listed differences; \(extra) messages decoded by dnsaudit that tshark does not show")
        for l in listed { print("  listed: \(l)") }
        // DNS tshark does not show: DNS recognised by content on ports tshark does not decode as DNS.
        for e in extraFrames { print("  decoded by dnsaudit only: \(e)") }
        PendingDecodes.printList(dnsCounts: pendingDNS)
        XCTAssertGreaterThan(tsharkMessages, 600)
        XCTAssertTrue(failures.isEmpty, "unlisted differences (\(failures.count)):\n" + failures.prefix(60).joined(separator: "\n"))
    }

    static func sameTypes(_ ours: String, _ theirs: String) -> Bool {
        let a = ours.split(separator: ","), b = theirs.split(separator: ",")
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            // tshark may print an RFC 3597 name where we know a mnemonic, or the reverse.
            let cx = DNSType.code(for: String(x)), cy = DNSType.code(for: String(y))
            if cx == nil || cx != cy { return false }
        }
        return true
    }
}

extension String {
    var trimmingTrailingDot: String { count > 1 && hasSuffix(".") && !hasSuffix("\\.") ? String(dropLast()) : (self == "." ? "" : self) }
}

/// ONE list of what the real captures hold that dnsaudit does not decode yet (issue 17 items 3
/// and 4), with the reason. Printed on every run of both conformance tests. These are not
/// understood differences (known-differences.tsv lists those): they are work still to do.
enum PendingDecodes {
    /// DNS messages tshark finds inside other protocols: `proto` as the truth TSV names it.
    static let dns: [(proto: String, reason: String)] = [
        ("dns-in-http2", "DNS over cleartext HTTP/2 (h2c DoH, POST application/dns-message): HTTP/2 framing is not decoded yet (issue 17 item 4)"),
    ]
    /// ClientHellos by capture and frame.
    static let tls: [(file: String, frame: Int, reason: String)] = [
        ("ndpi/ndpi-dlt_ppp.pcap", 1,
         "QUIC draft-29 Initial (version 0xff00001d, ALPN hq-29) over DLT_PPP: the frame decodes to UDP 443, but only QUIC v1/v2 Initials are decrypted; draft salts are issue 17 item 3"),
        ("ndpi/ndpi-doq_adguard.pcapng", 1,
         "DNS over QUIC draft (ALPN doq-i00) on UDP 784 in a QUIC draft-29 Initial: DoQ ports and draft Initials are issue 17 item 3"),
    ]

    static func isPendingDNS(file: String, proto: String) -> Bool { dns.contains { $0.proto == proto } }

    static func isPendingTLS(file: String, frame: Int) -> Bool { tls.contains { $0.file == file && $0.frame == frame } }

    static func printList(dnsCounts: [String] = []) {
        print("PENDING (not decoded yet; not counted as matches or as known differences):")
        for d in dns { print("  pending DNS \(d.proto): \(d.reason)") }
        for c in dnsCounts { print("    \(c)") }
        for t in tls { print("  pending ClientHello \(t.file) frame \(t.frame): \(t.reason)") }
    }
}
