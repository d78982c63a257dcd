import Foundation
import IntegrationSupport
import XCTest

/// Root only. Issue 15 bugs 6, 8, 12, 16 and 17 in the probe lab (client — router — services
/// namespaces, unbound for DNS/DoT/DoH, a rogue dnsmasq, a web server): what the probe concludes
/// about resolvers given as targets, addresses that are unreachable, references that are unusable,
/// DoT to an address, and a plain-DNS injector on the router. Truth comes from the wire (tshark on
/// tcpdump's capture) and from the lab's own DNS queries, never from dnsaudit.
final class ProbeVerdictTests: XCTestCase {
    private let session = LabSession<ProbeLab>("probe lab")

    override func tearDown() {
        session.end(self)
        super.tearDown()
    }

    private func makeLab(_ tag: String) throws -> (ProbeLab, ProbeLabPKI) {
        try ProbeLab.make(tag, in: session)
    }

    private func probe(_ lab: ProbeLab, _ args: [String]) throws -> ProbeReport {
        let r = try lab.dnsaudit(args)
        print("dnsaudit \(args.prefix(4).joined(separator: " ")) …: \(r.described)")
        return r
    }

    private func inconclusive(_ r: ProbeReport) -> [String] { r.report["inconclusive"] as? [String] ?? [] }

    // MARK: - Bug 8 (and 6): a resolver given as a target gets resolver checks

    func testResolverTargetGetsResolverChecksNotTheWebLadder() throws {
        let (lab, pki) = try makeLab("g")
        let target = ProbeLab.resolverAddress
        // Without the DoT reference nothing names the resolver's DoT endpoint: it is tried at the address.
        var args = ProbeLab.probeArguments(targets: [target], caFile: pki.caCert)
        if let i = args.firstIndex(of: ProbeLab.dotReference) { args.removeSubrange((i - 1)...i) }
        let r = try probe(lab, args)
        XCTAssertEqual(r.status, 0, "a healthy resolver as a target: exit 0\n\(r.described)")
        XCTAssertTrue(r.findings(kind: "probe.unreachable").isEmpty, "a resolver is not a web site\n\(r.described)")
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, "\(r.described)")
        XCTAssertFalse(r.notes.contains { $0.hasPrefix("\(target): dns") }, "no web ladder for a resolver\n\(r.described)")
        XCTAssertTrue(r.notes.contains { $0.hasPrefix("\(target) (a resolver):") && $0.contains("udp ok") && $0.contains("tcp ok") },
                      "the resolver checks ran\n\(r.described)")
        // DoT to the address itself, verified against the certificate's IP SAN (no SNI for an address).
        let inputs = r.report["inputs"] as? [[String: Any]] ?? []
        let checks = inputs.first { $0["name"] as? String == "resolver \(target)" }
        XCTAssertNotNil(checks, "an input record for the resolver checks: \(ProbeReport.json(inputs))")
        XCTAssertTrue(ProbeReport.json(checks ?? [:]).contains("dot ok (certificate verified for the address \(target)"),
                      "DoT to the address verifies against its IP SAN: \(ProbeReport.json(checks ?? [:]))")
    }

    /// Bug 6: the identity check (plain DNS vs DoT on the same address) works without a DoT
    /// reference or a known name: DoT to the address is verified by its IP SAN.
    func testIdentityCheckUsesDoTToTheAddress() throws {
        let (lab, pki) = try makeLab("h")
        try lab.routerRules(ProbeLab.hijackRules)
        let plain = try NamespaceDNS.query(in: lab.clientNS, server: ProbeLab.resolverAddress, name: ProbeLab.webName)
        XCTAssertEqual(plain.addresses, [ProbeLab.rogueWebAnswer], "lab: the hijack is in place")
        // Only the DoH reference: nothing names the DoT endpoint of 198.18.10.53.
        var args = ProbeLab.probeArguments(targets: [], caFile: pki.caCert)
        if let i = args.firstIndex(of: ProbeLab.dotReference) { args.removeSubrange((i - 1)...i) }
        XCTAssertFalse(args.contains(ProbeLab.dotReference))
        let r = try probe(lab, args)
        let identity = r.findings(kind: "dns.resolver-identity-mismatch")
        XCTAssertEqual(identity.count, 1, "plain DNS vs DoT to the address: the hijack shows\n\(r.described)")
        if let f = identity.first {
            XCTAssertEqual(ProbeReport.subject(f)["resolver"] as? String, ProbeLab.resolverAddress)
            XCTAssertTrue(ProbeReport.text(f).contains(ProbeLab.resolverIdentity), "the DoT side names the real resolver: \(ProbeReport.text(f))")
        }
    }

    // MARK: - Bug 17: unreachable is a diagnosis

    func testUnreachableTargetsAreDiagnosesNotTampering() throws {
        let (lab, pki) = try makeLab("i")
        let refusing = ProbeLab.rogueAddress   // a DNS forwarder that offers no HTTPS
        let unrouted = "198.18.99.1"           // no route on the router
        // Truth from the lab: the forwarder's host refuses 443; the router has no route to the other.
        let routes = try lab.exec(lab.routerNS, [lab.tools.ip, "-4", "route", "get", unrouted])
        XCTAssertNotEqual(routes.status, 0, "lab: the router must have no route to \(unrouted): \(routes.output)")
        let r = try probe(lab, ProbeLab.probeArguments(targets: [refusing, unrouted], caFile: pki.caCert))
        XCTAssertEqual(r.status, 0, "unreachable targets are not tampering: exit 0\n\(r.described)")
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, "no medium+ finding\n\(r.described)")
        let unreachable = r.findings(kind: "probe.unreachable")
        let refused = unreachable.first { ProbeReport.subject($0)["server"] as? String == refusing }
        let noRoute = unreachable.first { ProbeReport.subject($0)["server"] as? String == unrouted }
        XCTAssertEqual(refused?["severity"] as? String, "low", "the host refuses the port: low\n\(r.described)")
        XCTAssertEqual(noRoute?["severity"] as? String, "info", "no route from here: info\n\(r.described)")
        XCTAssertFalse(r.raw.contains("fails as well"), "no reference address existed: nothing is said about one\n\(r.described)")
    }

    // MARK: - Bug 16: an unusable reference is a note, and the comparison inconclusive

    func testUnusableReferenceIsANoteAndTheRunInconclusive() throws {
        let (lab, pki) = try makeLab("j")
        // Nothing listens on this port: the reference is mistyped. Only it is given.
        let bad = "tls://\(ProbeLab.hostileAddress):8539#\(ProbeLab.resolverTLSName)"
        var args = ProbeLab.probeArguments(targets: [ProbeLab.webName], caFile: pki.caCert)
        for ref in [ProbeLab.dotReference, ProbeLab.dohReference] {
            if let i = args.firstIndex(of: ref) { args.removeSubrange((i - 1)...i) }
        }
        args += ["--reference", bad]
        let r = try probe(lab, args)
        XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty, "a mistyped reference is not the network's fault\n\(r.described)")
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, "\(r.described)")
        XCTAssertEqual(r.status, 0, "\(r.described)")
        XCTAssertTrue(r.notes.contains { $0.contains("reference \(bad) unavailable") }, "\(r.described)")
        XCTAssertFalse(inconclusive(r).isEmpty, "no usable reference: the comparison is inconclusive\n\(r.raw.prefix(1500))")
        XCTAssertEqual(r.report["verdict"] as? String ?? "inconclusive", "inconclusive", "\(r.raw.prefix(600))")
    }

    // MARK: - Bug 12: Hold-On tells an injector from the resolver

    func testHoldOnReportsAnInjectorRacingTheResolver() throws {
        guard let python3 = try ProbeLabTools.require().python3 else {
            throw ProbeLabTools.skip("python3 is not installed: the injector cannot run")
        }
        let (lab, pki) = try makeLab("k")
        let script = lab.file("injector.py")
        try InjectorScript.source.write(to: script, atomically: true, encoding: .utf8)
        // The router: plain DNS to the resolver goes through a 150 ms delay line (the resolver is
        // far), and an injector on the client-side interface answers www.lab.test at once.
        try lab.routerRules("""
        table ip dnsaudit_lab {
            chain prerouting {
                type nat hook prerouting priority dstnat; policy accept;
                ip daddr \(ProbeLab.resolverAddress) udp dport 53 dnat to \(ProbeLab.routerClientSide):5300
            }
            chain output {
                type filter hook output priority raw; policy accept;
                ip saddr \(ProbeLab.resolverAddress) udp sport 53 notrack
            }
        }

        """)
        let p = try lab.spawn(lab.routerNS, name: "injector",
                              [python3, script.path, lab.routerClientIf, ProbeLab.resolverAddress, ProbeLab.routerClientSide,
                               ProbeLab.webName, InjectorScript.forgedAnswer])
        try waitForLine(p, "ready", in: lab)
        let capture = lab.file("holdon.pcap")
        let tcpdump = try lab.startCapture(capture)
        let r = try probe(lab, ProbeLab.probeArguments(targets: [ProbeLab.webName], caFile: pki.caCert))
        try lab.stopCapture(tcpdump)

        // The wire: one query id for www.lab.test answered twice, with different addresses, the forged one first.
        let tshark = try lab.exec(lab.clientNS, ["/usr/bin/tshark", "-r", capture.path, "-Y",
                                                 "dns.flags.response == 1 && dns.qry.name == \"\(ProbeLab.webName)\" && dns.qry.type == 1 && udp",
                                                 "-T", "fields", "-e", "dns.id", "-e", "dns.a"])
        let lines = tshark.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let byID = Dictionary(grouping: lines.filter { $0.count == 2 }, by: { $0[0] })
        let raced = byID.values.first { group in Set(group.map { $0[1] }).count >= 2 }
        XCTAssertNotNil(raced, "lab: the wire shows one query answered twice, differently: \(tshark.stdout)")
        XCTAssertEqual(raced?.first?[1], InjectorScript.forgedAnswer, "lab: the forged answer arrives first: \(tshark.stdout)")

        let injection = r.findings(kind: "dns.injection")
        XCTAssertEqual(injection.count, 1, "Hold-On hears the second answer\n\(r.described)")
        if let f = injection.first {
            let s = ProbeReport.subject(f)
            XCTAssertEqual(s["qname"] as? String, ProbeLab.webName)
            XCTAssertEqual(s["resolver"] as? String, ProbeLab.resolverAddress)
            XCTAssertEqual(f["severity"] as? String, "high", "\(r.described)")
            let text = ProbeReport.text(f)
            XCTAssertTrue(text.contains(InjectorScript.forgedAnswer) && text.contains(ProbeLab.webAddress), "both answers: \(text)")
        }
        // The resolver itself is honest: its own answer agrees with the references, so no answer
        // mismatch is pinned on it, and the ladder goes on with the genuine address.
        XCTAssertTrue(r.findings(kind: "dns.answer-mismatch").filter { ProbeReport.subject($0)["qname"] as? String == ProbeLab.webName }.isEmpty,
                      "the injector is not the resolver\n\(r.described)")
        XCTAssertTrue(r.raw.contains("\(ProbeLab.webAddress):443 connected"), "the ladder connects to the resolver's own answer\n\(r.described)")
    }

    // MARK: - SNI filtering: the probe's control tells it from a broken server; DoT cut by name

    /// The router resets TLS whose ClientHello names `name` (iptables string match), or drops it.
    private func sniFilter(_ lab: ProbeLab, _ name: String, port: Int, target: String) throws {
        guard let iptables = Requirements.findTool("iptables", preferring: ["/usr/sbin", "/sbin"]) else {
            throw ProbeLabTools.skip("iptables is not installed: no SNI filter can be built")
        }
        let rule = ["-A", "FORWARD", "-p", "tcp", "--dport", String(port), "-m", "string", "--string", name, "--algo", "bm", "-j"]
            + (target == "REJECT" ? ["REJECT", "--reject-with", "tcp-reset"] : [target])
        let r = try lab.exec(lab.routerNS, [iptables] + rule)
        if r.status != 0 {
            throw ProbeLabTools.skip("the iptables string match is not available here: \(r.output.prefix(200))")
        }
    }

    func testSNIResetIsJudgedAgainstAControlWithoutTheName() throws {
        guard let python3 = try ProbeLabTools.require().python3 else {
            throw ProbeLabTools.skip("python3 is not installed: the threaded web server cannot run")
        }
        let (lab, pki) = try makeLab("l")
        // A threaded HTTPS server on the web address (openssl s_server serves one connection at a
        // time and stays stuck on the one the filter reset, so it could not answer the control).
        let script = lab.file("web.py")
        try ThreadedWebServer.source.write(to: script, atomically: true, encoding: .utf8)
        let web = try lab.spawn(lab.servicesNS, name: "web8443", [python3, script.path, ProbeLab.webAddress, "8443", pki.webCert.path, pki.webKey.path])
        try lab.waitListening(lab.servicesNS, web, ["\(ProbeLab.webAddress):8443"])
        try sniFilter(lab, ProbeLab.webName, port: 8443, target: "REJECT")
        let r = try probe(lab, ProbeLab.probeArguments(targets: ["https://\(ProbeLab.webName):8443/"], caFile: pki.caCert))
        let resets = r.findings(kind: "tls.reset-after-clienthello")
        XCTAssertEqual(resets.count, 1, "the reset is found\n\(r.described)")
        if let f = resets.first {
            XCTAssertEqual(f["severity"] as? String, "medium", "\(r.described)")
            XCTAssertEqual(f["confidence"] as? String, "likely", "a handshake without the name completes: the reset follows the name\n\(r.described)")
            XCTAssertEqual(ProbeReport.subject(f)["sni"] as? String, ProbeLab.webName)
        }
        XCTAssertTrue(r.findings(kind: "probe.unreachable").isEmpty, "\(r.described)")
        XCTAssertTrue(r.findings(kind: "encrypted-dns.blocked").isEmpty, "DoH to the resolver has another name: not filtered\n\(r.described)")
    }

    /// The same reset in front of openssl s_server, which serves one connection at a time and stays
    /// stuck on the one the filter reset: the control times out — a different failure, no
    /// conclusion — so the reset keeps its medium (never lowered by a busy server).
    func testSNIResetInFrontOfABusyServerStaysMedium() throws {
        let (lab, pki) = try makeLab("n")
        try sniFilter(lab, ProbeLab.webName, port: 443, target: "REJECT")
        let r = try probe(lab, ProbeLab.probeArguments(targets: [ProbeLab.webName], caFile: pki.caCert))
        let resets = r.findings(kind: "tls.reset-after-clienthello")
        XCTAssertEqual(resets.count, 1, "\(r.described)")
        XCTAssertEqual(resets.first?["severity"] as? String, "medium", "\(r.described)")
        XCTAssertEqual(resets.first?["confidence"] as? String, "possible", "\(r.described)")
        XCTAssertTrue(r.raw.contains("differently: no conclusion"), "\(r.described)")
    }

    func testDoTDroppedAfterTheHelloWhilePlainDNSAnswers() throws {
        let (lab, pki) = try makeLab("m")
        try sniFilter(lab, ProbeLab.resolverTLSName, port: 853, target: "DROP")
        let r = try probe(lab, ProbeLab.probeArguments(targets: [], caFile: pki.caCert))
        let blocked = r.findings(kind: "encrypted-dns.blocked")
        XCTAssertEqual(blocked.count, 1, "DoT to the resolver under test is cut by name\n\(r.described)")
        if let f = blocked.first {
            XCTAssertEqual((ProbeReport.subject(f)["port"] as? NSNumber)?.intValue, 853)
            XCTAssertEqual(f["severity"] as? String, "high", "only the encrypted path fails, plain DNS answers\n\(r.described)")
            XCTAssertTrue(ProbeReport.text(f).contains("connects, then"), "TCP connected, the hello got no answer: \(ProbeReport.text(f))")
        }
        XCTAssertTrue(r.notes.contains { $0.contains("reference \(ProbeLab.dotReference) unavailable") }, "the reference itself is only a note\n\(r.described)")
    }

    private func waitForLine(_ p: SpawnedProcess, _ line: String, in lab: ProbeLab, timeout: TimeInterval = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if p.output.contains(line) { return }
            if !p.isRunning { throw LabError("the injector exited: \(p.output)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw LabError("the injector did not get ready: \(p.output)")
    }
}

/// An on-path injector and a delay line, run on the lab router (python3, no scapy):
/// - a relay on ROUTER:5300 (where the router DNATs plain DNS to the resolver) that waits 150 ms
///   and forwards each query to the real resolver, relaying its answer;
/// - a sniffer on the client-side interface (AF_PACKET) that answers every A query for NAME to
///   RESOLVER at once with FORGED, from the resolver's address (a raw IPv4 socket).
enum InjectorScript {
    static let forgedAnswer = "198.18.66.99"
    static let source = #"""
    # Usage: injector.py IFACE RESOLVER ROUTER_ADDR NAME FORGED
    import socket, struct, sys, threading, time
    iface, resolver, router, name, forged = sys.argv[1:6]

    def relay():
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind((router, 5300))
        while True:
            q, peer = srv.recvfrom(4096)
            def answer(q=q, peer=peer):
                time.sleep(0.15)
                up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                up.settimeout(2)
                try:
                    up.sendto(q, (resolver, 53))
                    a, _ = up.recvfrom(4096)
                    srv.sendto(a, peer)
                except Exception:
                    pass
                finally:
                    up.close()
            threading.Thread(target=answer, daemon=True).start()

    def qname(dns):
        labels, i = [], 12
        while i < len(dns) and dns[i] != 0:
            n = dns[i]
            labels.append(dns[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        return ".".join(labels).lower(), i + 1

    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sniff.bind((iface, 0x0800))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    threading.Thread(target=relay, daemon=True).start()
    time.sleep(0.2)
    print("ready", flush=True)
    want = name.lower().rstrip(".")
    while True:
        pkt = sniff.recv(65535)
        if len(pkt) < 28 or pkt[9] != 17:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
        sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
        dns = pkt[ihl + 8:]
        if dst != resolver or dport != 53 or len(dns) < 17 or dns[2] & 0x80:
            continue
        qn, end = qname(dns)
        if qn != want or end + 4 > len(dns) or struct.unpack("!H", dns[end:end + 2])[0] != 1:
            continue
        question = dns[12:end + 4]
        body = dns[:2] + b"\x81\x80" + struct.pack("!HHHH", 1, 1, 0, 0) + question
        body += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(forged)
        udp = struct.pack("!HHHH", 53, sport, 8 + len(body), 0) + body
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x4242, 0, 64, 17, 0,
                         socket.inet_aton(resolver), socket.inet_aton(src))
        raw.sendto(ip + udp, (src, 0))
    """#
}

/// A threaded HTTPS server (python3): each connection's handshake runs in its own thread.
enum ThreadedWebServer {
    static let source = #"""
    # Usage: web.py ADDR PORT CERT KEY
    import http.server, socketserver, ssl, sys
    addr, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def setup(self):
            self.request.settimeout(10)
            self.request = ctx.wrap_socket(self.request, server_side=True)
            super().setup()
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")
        def log_message(self, *a):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        def handle_error(self, request, client_address):
            pass

    Server((addr, port), Handler).serve_forever()
    """#
}
