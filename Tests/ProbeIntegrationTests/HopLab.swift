import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// MARK: - The route rung's lab (issue 20 item 8)

/// A router chain in five namespaces, IPv4 only, no default route anywhere:
///
///     client 198.19.220.1 — .2 r1 .5 — .6 r2 .9 — .10 r3 .13 — .14 server
///
/// r1, r2 and r3 forward and send ICMP time-exceeded (kernel default; `icmp_ratelimit` 0 so every
/// TTL is answered). The server runs dnsmasq (hop.test → the server's address) and a threaded
/// python TLS web server (OpenSSL through python's ssl) with a lab CA's certificate for
/// blocked.hop.test. The tamperer is r2: a python injector sniffing r2's r1-side interface before
/// routing (so it also sees packets whose TTL ends at r2, like an on-path box) that forges a DNS
/// answer or resets the connection after a ClientHello naming blocked.hop.test; or an iptables
/// raw-table rule that drops such ClientHellos (silence).
final class HopLab: NamespaceLab {
    static let client = "198.19.220.1"
    static let r1 = "198.19.220.2"
    /// r2's address on the r1 side: the source of its time-exceeded messages to the client.
    static let r2 = "198.19.220.6"
    static let r3 = "198.19.220.10"
    static let server = "198.19.220.14"
    static let forgedAddress = "198.19.220.66"
    static let blockedName = "blocked.hop.test"
    static let zone = "hop.test"
    static let checkName = "www.hop.test"
    /// IPv6 (with `build(ipv6: true)`): the same chain on fd48:6f70:1::/64 … fd48:6f70:4::/64.
    static let client6 = "fd48:6f70:1::1"
    static let r1v6 = "fd48:6f70:1::2"
    static let r2v6 = "fd48:6f70:2::2"
    static let server6 = "fd48:6f70:4::2"

    enum Tamperer { case none, forgeDNS, resetHello, dropHello, dropSYN, dropSYN6 }

    let tools: ProbeLabTools
    let python: String
    let iptables: String
    let ip6tables: String
    let tshark: String
    let ns: [String: String]
    /// Interfaces: client side of r1-r2 ("r1b") and r3 side of r2 ("r2b") are captured.
    let ifs: [String: String]

    init(tools: ProbeLabTools, tag: String) throws {
        self.tools = tools
        guard let python = tools.python3 else { throw ProbeLabTools.skip("python3 is needed for the lab's injector and TLS server") }
        self.python = python
        let found = try Requirements.requireTools("ProbeIntegrationTests", [("iptables", "iptables"), ("ip6tables", "iptables"), ("tshark", "tshark")])
        iptables = found["iptables"]!
        ip6tables = found["ip6tables"]!
        tshark = found["tshark"]!
        let pid = getpid()
        var n: [String: String] = [:]
        for node in ["c", "r1", "r2", "r3", "s"] { n[node] = "hp-\(pid)-\(tag)-\(node)" }
        ns = n
        var i: [String: String] = [:]
        for (k, suffix) in [("c", "c"), ("r1a", "d"), ("r1b", "e"), ("r2a", "f"), ("r2b", "g"), ("r3a", "h"), ("r3b", "i"), ("s", "j")] {
            i[k] = "hp\(pid)\(tag)\(suffix)"
        }
        ifs = i
        try super.init(ip: tools.ip, label: "hop lab", dirPrefix: "hp-\(pid)-\(tag)")
    }

    func build(ipv6: Bool = false) throws {
        for node in ["c", "r1", "r2", "r3", "s"] {
            try addNamespace(ns[node]!, skipSuite: "ProbeIntegrationTests")
            try sysctl(ns[node]!, "net.ipv4.icmp_ratelimit", "0")
        }
        try addLink(ifs["c"]!, in: ns["c"]!, address: "\(Self.client)/30", peer: ifs["r1a"]!, in: ns["r1"]!, peerAddress: "\(Self.r1)/30")
        try addLink(ifs["r1b"]!, in: ns["r1"]!, address: "198.19.220.5/30", peer: ifs["r2a"]!, in: ns["r2"]!, peerAddress: "\(Self.r2)/30")
        try addLink(ifs["r2b"]!, in: ns["r2"]!, address: "198.19.220.9/30", peer: ifs["r3a"]!, in: ns["r3"]!, peerAddress: "\(Self.r3)/30")
        try addLink(ifs["r3b"]!, in: ns["r3"]!, address: "198.19.220.13/30", peer: ifs["s"]!, in: ns["s"]!, peerAddress: "\(Self.server)/30")
        for r in ["r1", "r2", "r3"] { try sysctl(ns[r]!, "net.ipv4.ip_forward", "1") }
        try addRoute("198.19.220.0/24", via: Self.r1, in: ns["c"]!)
        try addRoute("198.19.220.8/29", via: Self.r2, in: ns["r1"]!)
        try addRoute("198.19.220.0/30", via: "198.19.220.5", in: ns["r2"]!)
        try addRoute("198.19.220.12/30", via: Self.r3, in: ns["r2"]!)
        try addRoute("198.19.220.0/29", via: "198.19.220.9", in: ns["r3"]!)
        try addRoute("198.19.220.0/24", via: "198.19.220.13", in: ns["s"]!)
        if ipv6 { try buildIPv6() }
        for node in ["c", "r1", "r2", "r3", "s"] {
            let routes = try mustExec(ns[node]!, [ip, "-4", "route", "show", "default"]).stdout
            guard routes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw LabError("namespace \(ns[node]!) has a default route: \(routes)") }
        }
    }

    /// IPv6 back on in every namespace (NamespaceLab turns it off), no DAD, forwarding on the
    /// routers, no ICMPv6 rate limit; addresses and routes for the lab prefixes only.
    private func buildIPv6() throws {
        for node in ["c", "r1", "r2", "r3", "s"] {
            for key in ["net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad", "net.ipv6.conf.all.accept_ra", "net.ipv6.conf.default.accept_ra"] {
                try sysctl(ns[node]!, key, "0")
            }
            try sysctl(ns[node]!, "net.ipv6.conf.all.disable_ipv6", "0")
            try sysctl(ns[node]!, "net.ipv6.conf.default.disable_ipv6", "0")
            try sysctl(ns[node]!, "net.ipv6.icmp.ratelimit", "0")
        }
        for r in ["r1", "r2", "r3"] { try sysctl(ns[r]!, "net.ipv6.conf.all.forwarding", "1") }
        let links: [(String, String, String, String)] = [("c", "c", "r1", "r1a"), ("r1", "r1b", "r2", "r2a"), ("r2", "r2b", "r3", "r3a"), ("r3", "r3b", "s", "s")]
        for (i, (a, aif, b, bif)) in links.enumerated() {
            try mustExec(ns[a]!, [ip, "-6", "addr", "add", "fd48:6f70:\(i + 1)::1/64", "dev", ifs[aif]!, "nodad"])
            try mustExec(ns[b]!, [ip, "-6", "addr", "add", "fd48:6f70:\(i + 1)::2/64", "dev", ifs[bif]!, "nodad"])
        }
        func route(_ node: String, _ prefix: String, _ via: String) throws { try mustExec(ns[node]!, [ip, "-6", "route", "add", prefix, "via", via]) }
        try route("c", "fd48:6f70::/32", "fd48:6f70:1::2")
        try route("r1", "fd48:6f70:3::/64", "fd48:6f70:2::2")
        try route("r1", "fd48:6f70:4::/64", "fd48:6f70:2::2")
        try route("r2", "fd48:6f70:1::/64", "fd48:6f70:2::1")
        try route("r2", "fd48:6f70:4::/64", "fd48:6f70:3::2")
        try route("r3", "fd48:6f70:1::/64", "fd48:6f70:3::1")
        try route("r3", "fd48:6f70:2::/64", "fd48:6f70:3::1")
        try route("s", "fd48:6f70::/32", "fd48:6f70:4::1")
        for node in ["c", "r1", "r2", "r3", "s"] {
            let routes = try mustExec(ns[node]!, [ip, "-6", "route", "show", "default"]).stdout
            guard routes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw LabError("namespace \(ns[node]!) has an IPv6 default route: \(routes)") }
        }
    }

    var caFile: URL { file("pki/ca.pem") }

    func startServer() throws {
        let pkiDir = file("pki")
        try FileManager.default.createDirectory(at: pkiDir, withIntermediateDirectories: true)
        let pki = OpenSSLTestPKI(dir: pkiDir, openssl: tools.openssl)
        try pki.makeCA("ca", subject: "/O=dnsaudit hop lab/CN=Hop Lab Root CA")
        try pki.makeServerCertificate("web", ca: "ca", commonName: Self.blockedName, dnsNames: [Self.blockedName, Self.checkName])
        let dns = try spawn(ns["s"]!, name: "dnsmasq", [tools.dnsmasq, "-k", "--no-resolv", "--no-hosts", "--listen-address=\(Self.server)",
                                                          "--bind-interfaces", "--address=/\(Self.zone)/\(Self.server)", "--pid-file=", "--user=root"])
        let script = file("web.py")
        try Self.webScript.write(to: script, atomically: true, encoding: .utf8)
        let web = try spawn(ns["s"]!, name: "web", [python, "-u", script.path, Self.server, pki.url("web.pem").path, pki.url("web.key").path])
        try waitListening(ns["s"]!, dns, ["\(Self.server):53"], ss: tools.ss)
        try waitListening(ns["s"]!, web, ["\(Self.server):443"], ss: tools.ss)
        if (try? exec(ns["s"]!, [ip, "-6", "addr", "show", "dev", ifs["s"]!]).stdout.contains(Self.server6)) == true {
            let web6 = try spawn(ns["s"]!, name: "web6", [python, "-u", script.path, Self.server6, pki.url("web.pem").path, pki.url("web.key").path])
            try waitListening(ns["s"]!, web6, ["[\(Self.server6)]:443"], ss: tools.ss)
        }
    }

    func startTamperer(_ t: Tamperer) throws {
        switch t {
        case .none: return
        case .dropSYN6:
            try mustExec(ns["r2"]!, [ip6tables, "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--dport", "443", "--syn", "-j", "DROP"])
        case .dropSYN:
            try mustExec(ns["r2"]!, [iptables, "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--dport", "443", "--syn", "-j", "DROP"])
        case .dropHello:
            try mustExec(ns["r2"]!, [iptables, "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--dport", "443",
                                     "-m", "string", "--string", Self.blockedName, "--algo", "bm", "-j", "DROP"])
        case .forgeDNS, .resetHello:
            let script = file("injector.py")
            try Self.injectorScript.write(to: script, atomically: true, encoding: .utf8)
            let p = try spawn(ns["r2"]!, name: "injector", [python, "-u", script.path, t == .forgeDNS ? "dns" : "rst", ifs["r2a"]!,
                                                             Self.blockedName, Self.forgedAddress])
            guard waitUntil(timeout: 10, { !p.isRunning || p.output.contains("listening") }), p.isRunning else {
                throw LabError("injector did not start: \(p.output)")
            }
        }
    }

    /// The iptables drop rule's packet counter in r2 (the ruleset's truth for the silent cases).
    func dropCount(ipv6: Bool = false) throws -> Int {
        let out = try mustExec(ns["r2"]!, [ipv6 ? ip6tables : iptables, "-t", "raw", "-L", "PREROUTING", "-v", "-n", "-x"]).stdout
        let line = out.split(separator: "\n").first { $0.contains("DROP") }
        return line.flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
    }

    /// tcpdump on r1's side of the r1–r2 link and on r2's side of the r2–r3 link.
    func startCaptures() throws -> [SpawnedProcess] {
        [try startCapture(file("r1-r2.pcap"), in: ns["r1"]!, interface: ifs["r1b"]!, tcpdump: tools.tcpdump),
         try startCapture(file("r2-r3.pcap"), in: ns["r2"]!, interface: ifs["r2b"]!, tcpdump: tools.tcpdump)]
    }

    /// Packets of a capture matching a tshark display filter.
    func count(_ pcap: String, _ filter: String) throws -> Int {
        let r = try runBounded(tshark, ["-n", "-r", file(pcap).path, "-Y", filter, "-T", "fields", "-e", "frame.number"], timeout: 60)
        guard r.status == 0 else { throw LabError("tshark -Y '\(filter)' on \(pcap) failed: \(r.output)") }
        return r.stdout.split(separator: "\n").count
    }

    /// `dnsaudit probe https://blocked.hop.test/` from the client: the server is the resolver, its
    /// TCP port 53 the reference (the injector forges UDP only), the lab CA, lab names.
    /// `unprivileged`: run as nobody (uid/gid 65534, no capabilities, setpriv) — the rung needs no
    /// raw socket.
    func probe(_ extra: [String] = [], target: String = "https://\(blockedName)/", unprivileged: Bool = false) throws -> ProbeReport {
        let args = ["probe", target, "--resolver", Self.server, "--reference", "tcp://\(Self.server)",
                    "--check-name", Self.checkName, "--canary-zone", Self.zone, "--no-dnssec", "--no-identity",
                    "--ca-file", caFile.path, "--timeout", "2", "--format", "json"] + extra
        var wrapper: [String] = []
        if unprivileged {
            guard let setpriv = Requirements.findTool("setpriv") else { throw ProbeLabTools.skip("setpriv (util-linux) is needed to run the probe unprivileged") }
            wrapper = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        }
        return try runDNSAudit(args, in: ns["c"]!, timeout: 120, wrapper: wrapper)
    }

    static let webScript = #"""
    # A threaded HTTPS server for the hop lab (python's ssl is OpenSSL). Usage: web.py ADDR CERT KEY
    # Each connection waits 0.2 s before its TLS handshake: an on-path reset only lands if it beats
    # the ServerHello (after it the client's window has moved on), and the lab's python injector
    # lost that race now and then without the wait (2 of 5 runs of HopLocatorLabTests).
    import http.server, ssl, sys, time
    class H(http.server.BaseHTTPRequestHandler):
        def setup(self):
            time.sleep(0.2)
            super().setup()
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")
        def log_message(self, *a):
            pass
    import socket
    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
    srv = Server((sys.argv[1], 443), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    srv.serve_forever()
    """#

    static let injectorScript = #"""
    # An on-path tamperer for the hop lab: sniffs IFACE (AF_PACKET, before routing, so it also sees
    # packets whose TTL ends at this router) and, per MODE, answers a DNS query for NAME with a
    # forged A record FORGED (dns), or resets a TCP connection whose client sends NAME, an SNI (rst).
    # Usage: injector.py MODE IFACE NAME FORGED
    import socket, struct, sys
    mode, iface, name, forged = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4]
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sniff.bind((iface, 0))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    print("listening", flush=True)

    def csum(b):
        if len(b) % 2:
            b += b"\0"
        s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        return ~s & 0xFFFF

    def ip_header(src, dst, proto, length):
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0x4242, 0, 64, proto, 0, src, dst)
        return h[:10] + struct.pack("!H", csum(h)) + h[12:]

    def qname(m, i):
        labels = []
        while i < len(m) and m[i] != 0:
            labels.append(m[i + 1:i + 1 + m[i]])
            i += 1 + m[i]
        return b".".join(labels).lower(), i + 1

    while True:
        frame, addr = sniff.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        p = frame[14:]
        if len(p) < 20 or p[0] >> 4 != 4:
            continue
        ihl = (p[0] & 15) * 4
        proto, src, dst = p[9], p[12:16], p[16:20]
        l4 = p[ihl:struct.unpack("!H", p[2:4])[0]]
        try:
            if mode == "dns" and proto == 17 and len(l4) > 20:
                sport, dport = struct.unpack("!HH", l4[:4])
                dns = l4[8:]
                if dport != 53 or dns[2] & 0x80:
                    continue
                q, end = qname(dns, 12)
                if q != name:
                    continue
                answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(forged)
                msg = dns[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + dns[12:end + 4] + answer
                udp = struct.pack("!HHHH", 53, sport, 8 + len(msg), 0) + msg
                raw.sendto(ip_header(dst, src, 17, len(udp)) + udp, (socket.inet_ntoa(src), 0))
                print("forged an answer for", socket.inet_ntoa(src), "query ttl", p[8], flush=True)
            elif mode == "rst" and proto == 6 and len(l4) >= 20:
                sport, dport, seq, ack = struct.unpack("!HHII", l4[:12])
                payload = l4[(l4[12] >> 4) * 4:]
                if not payload or name not in payload:
                    continue
                tcp = struct.pack("!HHIIBBHHH", dport, sport, ack, (seq + len(payload)) & 0xFFFFFFFF, 5 << 4, 0x14, 0, 0, 0)
                pseudo = dst + src + struct.pack("!BBH", 0, 6, len(tcp))
                tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
                raw.sendto(ip_header(dst, src, 6, len(tcp)) + tcp, (socket.inet_ntoa(src), 0))
                print("reset", socket.inet_ntoa(src), sport, "hello ttl", p[8], flush=True)
        except Exception as e:
            print("error:", e, flush=True)
    """#
}
