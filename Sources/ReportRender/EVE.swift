import AnalysisEvents
import DNSWire
import Findings
import NetTypes
import TLSWire

/// `--format eve`: Suricata's EVE JSON, one object per line, valid against Suricata's own schema
/// (`etc/schema.json`; the DNS records use the version 3 layout). `dnsaudit decode --format eve`
/// writes `dns`, `tls` and `quic` records (and an `anomaly` record for a DNS message that could
/// not be decoded); a report in EVE is one `alert` record per finding.
///
/// Common keys: `timestamp` (the packet's time, Suricata's `YYYY-MM-DDTHH:MM:SS.ffffff+0000`),
/// `flow_id` (48 bits of a hash of the direction-free 5-tuple and the input: both directions of a
/// flow share it), `pcap_cnt` (the frame number, as Suricata counts packets of a pcap file),
/// `pcap_filename` (when known), `event_type`, `src_ip`, `src_port`, `dest_ip`, `dest_port`,
/// `proto` (`UDP`, `TCP`), `app_proto`.
public enum EVERenderer {
    // MARK: decode records

    public static func line(_ event: DecodeEvent, inputName: String? = nil) -> String {
        var w = JSONWriter(reserving: 512)
        w.object { w in
            switch event {
            case .dns(let c, let flavor, let m):
                head(c, inputName, "dns", &w)
                w.field("app_proto", flavor.rawValue)
                w.key("dns"); writeDNS(m, &w)
            case .dnsError(let c, let flavor, let error):
                head(c, inputName, "anomaly", &w)
                w.field("app_proto", flavor.rawValue)
                w.key("anomaly"); w.object { w in
                    w.field("type", "applayer")
                    w.field("event", "MALFORMED_DATA")
                    w.field("layer", "proto_parser")
                    w.field("app_proto", flavor.rawValue)
                }
                _ = error
            case .tlsClientHello(let c, let ch, let transport):
                if transport == .quic {
                    head(c, inputName, "quic", &w)
                    w.field("app_proto", "quic")
                    w.key("quic"); writeQUIC(ch, &w)
                } else {
                    head(c, inputName, "tls", &w)
                    w.field("app_proto", "tls")
                    w.key("tls"); writeTLSClientHello(ch, transport, &w)
                }
            case .tlsServerHello(let c, let sh):
                head(c, inputName, "tls", &w)
                w.field("app_proto", "tls")
                w.key("tls"); w.object { w in
                    w.field("version", suricataTLSVersion(sh.selectedVersion ?? sh.legacyVersion))
                    if let alpn = sh.selectedALPN { w.field("server_alpns", strings: [tlsALPNString(alpn)]) }
                    w.key("server_handshake"); w.object { w in
                        w.field("version", suricataTLSVersion(sh.selectedVersion ?? sh.legacyVersion))
                        w.field("cipher", sh.cipherSuite)
                        if !sh.extensions.isEmpty { w.field("exts", ints: sh.extensions.map(\.type)) }
                    }
                }
            }
        }
        return w.output
    }

    static func head(_ c: WireContext, _ inputName: String?, _ type: String, _ w: inout JSONWriter) {
        w.field("timestamp", timestamp(c.ts))
        w.field("flow_id", flowID(c))
        if let n = inputName { w.field("pcap_filename", n) }
        w.field("pcap_cnt", c.frame)
        w.field("event_type", type)
        w.field("src_ip", c.src.description)
        w.field("src_port", c.sport)
        w.field("dest_ip", c.dst.description)
        w.field("dest_port", c.dport)
        w.field("proto", c.transport == .tcp ? "TCP" : "UDP")
    }

    /// Suricata's timestamp: microseconds and a numeric UTC offset (`+0000`).
    public static func timestamp(_ t: Timestamp) -> String {
        let r = t.rfc3339  // YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ
        guard let dot = r.firstIndex(of: ".") else { return r }
        let frac = r[r.index(after: dot)...].prefix(6)
        return String(r[..<dot]) + "." + frac + "+0000"
    }

    /// An RFC 3339 UTC time (`…Z`, with or without a fraction) in Suricata's spelling.
    public static func timestamp(rfc3339 s: String) -> String? {
        guard s.count >= 20, s.hasSuffix("Z") else { return nil }
        let body = s.dropLast()
        if let dot = body.firstIndex(of: ".") {
            var frac = String(body[body.index(after: dot)...].prefix(6))
            while frac.count < 6 { frac += "0" }
            return String(body[..<dot]) + "." + frac + "+0000"
        }
        return String(body) + ".000000+0000"
    }

    /// FNV-1a over the input, the protocol and both endpoints in a fixed order, 48 bits (Suricata's
    /// flow ids are 48-bit too: safe as JSON numbers everywhere).
    static func flowID(_ c: WireContext) -> UInt64 {
        let a = "\(c.src.description)|\(c.sport)", b = "\(c.dst.description)|\(c.dport)"
        let key = "\(c.input)|\(c.transport.rawValue)|" + (a < b ? a + "|" + b : b + "|" + a)
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h & 0x0000_FFFF_FFFF_FFFF
    }

    /// Names as Suricata writes them: no trailing dot (the root stays ".").
    static func rrname(_ n: String) -> String { n.count > 1 && n.hasSuffix(".") ? String(n.dropLast()) : n }

    static func writeDNS(_ m: DNSMessage, _ w: inout JSONWriter) {
        w.object { w in
            w.field("version", 3)
            w.field("type", m.qr ? "response" : "request")
            w.field("id", m.id)
            w.field("flags", hex4(m.flags))
            w.field("qr", m.qr)
            if m.aa { w.field("aa", true) }
            if m.tc { w.field("tc", true) }
            if m.rd { w.field("rd", true) }
            if m.ra { w.field("ra", true) }
            if m.flags & 0x0040 != 0 { w.field("z", true) }
            w.field("opcode", m.opcode)
            if m.qr { w.field("rcode", DNSRCode.name(m.rcode)) }
            if !m.questions.isEmpty {
                w.key("queries"); w.array { w in
                    for q in m.questions {
                        w.object { w in
                            w.field("rrname", rrname(q.name))
                            w.field("rrtype", DNSType.mnemonic(q.type))
                        }
                    }
                }
            }
            records("answers", m.answers, &w)
            records("authorities", m.authority, &w)
            if !m.additional.isEmpty || m.edns != nil {
                w.key("additionals"); w.array { w in
                    for r in m.additional { record(r, &w) }
                    if let e = m.edns {
                        w.object { w in
                            w.field("rrname", "")
                            w.field("rrtype", "OPT")
                            if !e.options.isEmpty {
                                w.key("opt"); w.array { w in
                                    for o in e.options { w.object { w in w.field("code", o.code) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static func records(_ key: String, _ rrs: [DNSResourceRecord], _ w: inout JSONWriter) {
        guard !rrs.isEmpty else { return }
        w.key(key); w.array { w in
            for r in rrs { record(r, &w) }
        }
    }

    static func record(_ r: DNSResourceRecord, _ w: inout JSONWriter) {
        w.object { w in
            w.field("rrname", rrname(r.name))
            w.field("rrtype", DNSType.mnemonic(r.type))
            w.field("ttl", r.ttl)
            w.field("rdata", r.rdata.presentation)
        }
    }

    static func hex4(_ v: UInt16) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(v >> 12)], digits[Int(v >> 8 & 0xF)], digits[Int(v >> 4 & 0xF)], digits[Int(v & 0xF)]])
    }

    /// Suricata's TLS version names: "TLS 1.3", "TLS 1.2", …, "SSLv3".
    static func suricataTLSVersion(_ v: UInt16) -> String {
        switch v {
        case 0x0304: return "TLS 1.3"
        case 0x0303: return "TLS 1.2"
        case 0x0302: return "TLS 1.1"
        case 0x0301: return "TLS 1.0"
        case 0x0300: return "SSLv3"
        case 0x0002: return "SSLv2"
        default: return "0x" + hex4(v)
        }
    }

    static func writeTLSClientHello(_ ch: ClientHello, _ transport: JA4Transport, _ w: inout JSONWriter) {
        let ja3 = JA3.compute(ch)
        let ja4 = JA4.compute(ch, transport: transport)
        w.object { w in
            if let sni = ch.sni { w.field("sni", sni) }
            w.field("version", suricataTLSVersion(ch.highestOfferedVersion))
            w.key("ja3"); w.object { w in
                w.field("hash", ja3.hash)
                w.field("string", ja3.string)
            }
            w.field("ja4", ja4.ja4)
            if !ch.alpn.isEmpty { w.field("client_alpns", strings: ch.alpn.map(tlsALPNString)) }
            w.key("client_handshake"); w.object { w in
                w.field("version", suricataTLSVersion(ch.highestOfferedVersion))
                if !ch.cipherSuites.isEmpty { w.field("ciphers", ints: ch.cipherSuites) }
                if !ch.extensionTypes.isEmpty { w.field("exts", ints: ch.extensionTypes) }
                if !ch.signatureAlgorithms.isEmpty { w.field("sig_algs", ints: ch.signatureAlgorithms) }
            }
        }
    }

    static func writeQUIC(_ ch: ClientHello, _ w: inout JSONWriter) {
        let ja3 = JA3.compute(ch)
        let ja4 = JA4.compute(ch, transport: .quic)
        w.object { w in
            if let sni = ch.sni { w.field("sni", sni) }
            w.key("ja3"); w.object { w in
                w.field("hash", ja3.hash)
                w.field("string", ja3.string)
            }
            w.field("ja4", ja4.ja4)
            if !ch.extensions.isEmpty {
                w.key("extensions"); w.array { w in
                    for e in ch.extensions {
                        w.object { w in
                            w.field("type", e.type)
                            if e.type == 0, let sni = ch.sni { w.field("name", "server_name"); w.field("values", strings: [sni]) }
                            if e.type == 16, !ch.alpn.isEmpty { w.field("name", "alpn"); w.field("values", strings: ch.alpn.map(tlsALPNString)) }
                        }
                    }
                }
            }
        }
    }

    // MARK: alerts

    /// One `alert` record per finding (worst first).
    public static func render(_ report: Report) -> String {
        var out = ""
        for f in report.sortedFindings { out += alert(f, report) + "\n" }
        return out
    }

    /// Suricata's alert severity: 1 the most severe.
    public static func alertSeverity(_ s: Severity) -> Int {
        switch s {
        case .critical, .high: return 1
        case .medium: return 2
        case .low, .info: return 3
        }
    }

    /// The kinds with a fixed signature id, 9,100,001 upwards, in this order. Append only: an id
    /// once given never changes.
    static let signatureKinds = [
        "dns.injection", "dns.unsolicited-response", "dns.answer-mismatch", "dns.nxdomain-rewrite",
        "dns.resolver-identity-mismatch", "dns.unapproved-resolver", "tls.reset-after-clienthello", "tls.handshake-timeout",
        "tls.untrusted-certificate", "firewall.dns-redirect", "firewall.tls-redirect", "firewall.encrypted-dns-block",
        "encrypted-dns.blocked", "tls.handshake-alert", "probe.unreachable", "tcp.reset-injection",
        "dns.poisoning-exposure", "dns.poisoning-attempt", "dns.dnssec-stripped", "encrypted-dns.opt-out-canary",
        "dns.https-record-stripped", "dns.ecs-forwarded", "encrypted-dns.ddr-unverified",
    ]

    /// A stable signature id per kind: 9,100,001 + the kind's place in `signatureKinds`, or a hash
    /// for other kinds (always in 9,150,000…9,199,998).
    public static func signatureID(_ kind: String) -> Int {
        if let i = signatureKinds.firstIndex(of: kind) { return 9_100_001 + i }
        var h: UInt32 = 2_166_136_261
        for b in kind.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return 9_150_000 + Int(h % 49_999)
    }

    static func alert(_ f: Finding, _ report: Report) -> String {
        var w = JSONWriter(reserving: 1024)
        let t = EventTime.of(f, report)
        let client = JSONLinesRenderer.ip(JSONLinesRenderer.string(f, "client"))
        let clientPort = JSONLinesRenderer.port(f, "client_port")
        let server = JSONLinesRenderer.ip(JSONLinesRenderer.string(f, "resolver")) ?? JSONLinesRenderer.ip(JSONLinesRenderer.string(f, "server"))
        let serverPort = f.subjectValue("table") == nil ? JSONLinesRenderer.port(f, "port") : nil
        let transport = JSONLinesRenderer.string(f, "transport")
        let frame = f.evidence.lazy.compactMap(\.frames.first).first
        w.object { w in
            w.field("timestamp", timestamp(rfc3339: t.timestamp) ?? t.timestamp)
            if let frame { w.field("pcap_cnt", frame) }
            if let input = f.evidence.lazy.compactMap(\.input).first { w.field("pcap_filename", input) }
            w.field("event_type", "alert")
            if let client { w.field("src_ip", client) }
            if let clientPort { w.field("src_port", clientPort) }
            if let server { w.field("dest_ip", server) }
            if let serverPort { w.field("dest_port", serverPort) }
            if let transport { w.field("proto", transport.uppercased()) }
            if f.kindName.hasPrefix("dns.") { w.field("app_proto", "dns") } else if f.kindName.hasPrefix("tls.") { w.field("app_proto", "tls") }
            w.key("alert"); w.object { w in
                w.field("action", "allowed")
                w.field("gid", 1)
                w.field("signature_id", signatureID(f.kindName))
                w.field("rev", 1)
                w.field("signature", "dnsaudit \(f.kindName): \(f.title)")
                w.field("category", ReportText.describe(kind: f.kindName))
                w.field("severity", alertSeverity(f.severity))
                if let client { w.key("source"); w.object { w in w.field("ip", client); if let clientPort { w.field("port", clientPort) } } }
                if let server { w.key("target"); w.object { w in w.field("ip", server); if let serverPort { w.field("port", serverPort) } } }
                w.key("metadata"); w.object { w in
                    w.field("signature_severity", strings: [f.severity.rawValue])
                    w.field("tag", strings: ["dnsaudit", f.kindName])
                    w.field("confidence", strings: [f.confidence.rawValue])
                    w.field("dnsaudit_id", strings: [f.id])
                    w.field("created_at", strings: [report.generatedAt])
                }
            }
        }
        return w.output
    }
}
