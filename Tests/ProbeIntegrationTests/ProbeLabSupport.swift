import DNSWire
import Dispatch
import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// Support for the root-only probe lab: the tools it needs, the three-namespace topology (client —
// router — services), the lab's DNS / DoT / DoH / web servers and its private PKI, a DNS client
// that runs inside a namespace, and the built dnsaudit. Processes (and why servers are started
// with posix_spawn), namespaces, skips and openssl come from IntegrationSupport.
//
// Network rule: every packet this lab sends stays in the namespaces it creates. The namespaces
// have no default route and no link to the host; dnsaudit, tcpdump and the test's own DNS
// queries run inside them; the servers answer local zones only and refuse recursion.

/// Absolute paths of the programs the lab needs.
struct ProbeLabTools {
    var ip: String
    var ss: String
    var nft: String
    var unbound: String
    var dnsmasq: String
    var openssl: String
    var tcpdump: String
    /// Only the hostile-reference test needs it (it is skipped without).
    var python3: String?

    static func skip(_ reason: String) -> XCTSkip {
        Requirements.skip("ProbeIntegrationTests", reason)
    }

    /// The tools, or an XCTSkip that says what is missing (printed too, so CI logs show it).
    static func require() throws -> ProbeLabTools {
        let suite = "ProbeIntegrationTests"
        try Requirements.requireRoot(suite, "needs root (network namespaces, nftables, tcpdump)")
        let found = try Requirements.requireTools(suite, [("ip", "iproute2"), ("ss", "iproute2"), ("nft", "nftables"), ("unbound", "unbound"),
                                                          ("dnsmasq", "dnsmasq-base"), ("openssl", "openssl"), ("tcpdump", "tcpdump")])
        guard PackagePaths.dnsauditIsBuilt else {
            throw LabError("\(PackagePaths.dnsaudit.path) is not built (swift build --build-tests)")
        }
        return ProbeLabTools(ip: found["ip"]!, ss: found["ss"]!, nft: found["nft"]!, unbound: found["unbound"]!,
                             dnsmasq: found["dnsmasq"]!, openssl: found["openssl"]!, tcpdump: found["tcpdump"]!,
                             python3: Requirements.findTool("python3", preferring: ["/usr/bin"]))
    }
}

// MARK: - DNS from inside a namespace

/// A tiny DNS client whose socket lives in a lab namespace (`NamespaceThread`: a fresh thread joins
/// the namespace with setns(2), checks that it really is there, asks, and ends). No dig needed;
/// the test's own queries never leave the lab.
enum NamespaceDNS {
    struct Answer {
        var message: DNSMessage
        var addresses: [String] {
            message.answers.compactMap { rr -> String? in
                switch rr.rdata {
                case .a(let a): return a.description
                case .aaaa(let a): return a.description
                default: return nil
                }
            }
        }
    }

    /// One query for `name` to `server`:53 over UDP (or TCP), from inside namespace `ns`.
    static func query(in ns: String, server: String, name: String, type: UInt16 = 1, tcp: Bool = false,
                      timeout: TimeInterval = 2) throws -> Answer {
        let id = UInt16.random(in: 1...0xFFFF)
        let q = try DNSQuery.make(id: id, name: name, type: type)
        let bytes = try NamespaceThread.run(in: ns, timeout: timeout + 5) {
            try LabDNSExchange.exchange(server: server, query: q, tcp: tcp, timeout: timeout)
        }
        switch DNSMessage.parse(bytes) {
        case .success(let m):
            guard m.id == id else { throw LabError("DNS answer from \(server) has id \(m.id), asked \(id)") }
            return Answer(message: m)
        case .failure(let e):
            throw LabError("unparseable DNS answer from \(server) for \(name): \(e)")
        }
    }
}

// MARK: - The lab

/// The shared three-namespace lab (`ResolverLab`, IntegrationSupport), plus hostile references
/// at 198.18.30.53 and an interception server on the router.
final class ProbeLab: ResolverLab {
    static let hostileAddress = "198.18.30.53"
    /// What the rogue answers for every lab.test name but www (a public-looking address: only
    /// data, nothing ever connects to it).
    static let rogueWildcardAnswer = "93.184.216.34"

    let tools: ProbeLabTools

    init(tools: ProbeLabTools, tag: String) throws {
        self.tools = tools
        try super.init(ip: tools.ip, programs: Programs(ss: tools.ss, nft: tools.nft, unbound: tools.unbound,
                                                        dnsmasq: tools.dnsmasq, openssl: tools.openssl),
                       kind: "probe", interfacePrefix: "p", tag: tag, label: "probe lab", skipSuite: "ProbeIntegrationTests")
    }

    func build() throws {
        try build(extraServiceAddresses: [Self.hostileAddress])
    }

    /// Tools (or skip), a built topology, the PKI and the services; the lab is `session`'s (torn
    /// down by it) from before it is built. `tag` is one letter, unique per test.
    static func make(_ tag: String, in session: LabSession<ProbeLab>) throws -> (ProbeLab, ProbeLabPKI) {
        let lab = try session.begin { try ProbeLab(tools: try ProbeLabTools.require(), tag: tag) }
        try lab.build()
        let pki = try ProbeLabPKI.make(in: lab.dir, openssl: lab.tools.openssl)
        try lab.startServices(pki)
        return (lab, pki)
    }

    // MARK: Services

    func startServices(_ pki: ProbeLabPKI) throws {
        try startServices(ServiceCertificates(resolverCert: pki.resolverCert, resolverKey: pki.resolverKey,
                                              webCert: pki.webCert, webKey: pki.webKey),
                          rogueWildcardAnswer: Self.rogueWildcardAnswer)
    }

    /// `openssl s_server` on the router (198.18.1.2:8443) with a certificate for www.lab.test from
    /// the interception CA, and the DNAT that sends the client's TLS to 198.18.50.10 there.
    func startInterception(_ pki: ProbeLabPKI) throws {
        let s = try spawn(routerNS, name: "interceptor", [tools.openssl, "s_server", "-4", "-accept", "\(Self.routerClientSide):8443",
                                                          "-cert", pki.interceptionCert.path, "-key", pki.interceptionKey.path, "-www", "-quiet"])
        try waitListening(routerNS, s, ["\(Self.routerClientSide):8443"])
        try routerRules("""
        table ip dnsaudit_lab {
            chain prerouting {
                type nat hook prerouting priority dstnat; policy accept;
                ip daddr \(Self.webAddress) tcp dport 443 dnat to \(Self.routerClientSide):8443
            }
        }

        """)
    }

    /// tcpdump on the client's interface, returned once it is really capturing.
    func startCapture(_ file: URL) throws -> SpawnedProcess {
        try startCapture(file, in: clientNS, interface: clientIf, tcpdump: tools.tcpdump)
    }

    // MARK: dnsaudit

    /// The options every probe in this lab uses: the lab resolver, the lab's own references (never
    /// the built-in public ones), the lab CA, lab names, no DNSSEC, short timeouts.
    static func probeArguments(targets: [String], extraReferences: [String] = [], caFile: URL) -> [String] {
        ["probe"] + targets + [
            "--resolver", resolverAddress,
            "--reference", dohReference, "--reference", dotReference,
        ] + extraReferences.flatMap { ["--reference", $0] } + [
            "--ca-file", caFile.path,
            "--check-name", webName, "--canary-zone", zone, "--no-dnssec",
            "--format", "json", "--timeout", "2",
        ]
    }

    /// Runs the built dnsaudit inside the client namespace and parses its JSON report. Refuses
    /// to run a probe or a reference analysis that could fall back to the built-in public defaults.
    func dnsaudit(_ args: [String], timeout: TimeInterval = 60) throws -> ProbeReport {
        if args.first == "probe" {
            guard args.contains("--resolver"), args.contains("--reference"), args.contains("--canary-zone"),
                  args.contains("--check-name"), args.contains("--no-dnssec") else {
                throw LabError("refusing to run a probe without explicit lab resolver, references and names: \(args)")
            }
        }
        if args.first == "analyze", !args.contains("--reference") {
            throw LabError("refusing to run analyze without explicit lab references: \(args)")
        }
        return try runDNSAudit(args, in: clientNS, timeout: timeout)
    }
}

/// The lab PKI: "Lab Test Root CA" with certificates for resolver.lab.test (the references),
/// www.lab.test (the web server) and other.lab.test (a DoT server with the wrong name); and an
/// unrelated "Lab Interception CA" with its own certificate for www.lab.test.
struct ProbeLabPKI {
    static let interceptionCAName = "Lab Interception CA"

    var caCert: URL
    var resolverCert: URL, resolverKey: URL
    var webCert: URL, webKey: URL
    var wrongNameCert: URL, wrongNameKey: URL
    var interceptionCACert: URL
    var interceptionCert: URL, interceptionKey: URL

    static func make(in dir: URL, openssl: String) throws -> ProbeLabPKI {
        let pki = OpenSSLTestPKI(dir: dir, openssl: openssl)
        func makeLeaf(_ base: String, ca: String, name: String) throws {
            try pki.makeServerCertificate(base, ca: ca, commonName: name, dnsNames: [name])
        }
        try pki.makeCA("ca", subject: "/O=dnsaudit lab/CN=Lab Test Root CA")
        // The resolver's certificate names it and carries its address as an iPAddress SAN, as
        // public resolvers' do: DoT to the address alone verifies against it (issue 15 bug 6).
        try makeLeafWithAddress(pki, "resolver", ca: "ca", name: ProbeLab.resolverTLSName, address: ProbeLab.resolverAddress)
        try makeLeaf("web", ca: "ca", name: ProbeLab.webName)
        try makeLeaf("wrong-name", ca: "ca", name: "other.lab.test")
        try pki.makeCA("interception-ca", subject: "/O=Lab Interception/CN=\(interceptionCAName)")
        try makeLeaf("interception", ca: "interception-ca", name: ProbeLab.webName)
        let u = pki.url
        return ProbeLabPKI(caCert: u("ca.pem"), resolverCert: u("resolver.pem"), resolverKey: u("resolver.key"),
                           webCert: u("web.pem"), webKey: u("web.key"), wrongNameCert: u("wrong-name.pem"), wrongNameKey: u("wrong-name.key"),
                           interceptionCACert: u("interception-ca.pem"), interceptionCert: u("interception.pem"),
                           interceptionKey: u("interception.key"))
    }
}

/// A TLS server certificate `<base>.pem` / `<base>.key` from CA `<ca>` with a DNS SAN `name` and
/// an iPAddress SAN `address`.
func makeLeafWithAddress(_ pki: OpenSSLTestPKI, _ base: String, ca: String, name: String, address: String) throws {
    try pki.makeServerCertificate(base, ca: ca, commonName: name, dnsNames: [name], ipAddresses: [address])
}

/// One `dnsaudit … --format json` run, parsed (IntegrationSupport's `DNSAuditReport`, written by
/// `NamespaceLab.runDNSAudit`).
typealias ProbeReport = DNSAuditReport

/// The hostile DoT "references" of the last test, as a python3 script run in the services namespace.
enum HostileReferenceScript {
    static let source = #"""
    # Hostile DoT references for dnsaudit's probe tests. Usage: hostile.py MODE ADDR PORT [CERT KEY]
    #   silent     accepts TCP connections and never sends a byte
    #   garbage    sends bytes that are neither TLS nor DNS, and keeps the connection open
    #   truncated  TLS with a valid certificate; answers the first query with a frame holding a DNS
    #              message cut short inside its question section, the next with a frame that
    #              announces 512 bytes and carries 6; then closes
    #   wrongcert  TLS with a certificate for another name; answers nothing
    import socket, ssl, struct, sys, threading
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctx = None
    if mode in ("truncated", "wrongcert"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(64)
    print("listening", flush=True)
    held = []

    def read_exact(c, n):
        b = b""
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x:
                return None
            b += x
        return b

    def serve(c):
        try:
            c.settimeout(20)
            if mode == "silent":
                held.append(c)
                return
            if mode == "garbage":
                try:
                    c.recv(4096)
                except Exception:
                    pass
                c.sendall(b"HELLO this is not TLS\r\n\x00\xff\xfe garbage garbage garbage\r\n" * 8)
                held.append(c)
                return
            t = ctx.wrap_socket(c, server_side=True)
            if mode == "wrongcert":
                held.append(t)
                return
            first = True
            while True:
                h = read_exact(t, 2)
                if h is None:
                    break
                q = read_exact(t, struct.unpack("!H", h)[0])
                if q is None:
                    break
                if first:
                    msg = q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + b"\x03ww"
                    t.sendall(struct.pack("!H", len(msg)) + msg)
                    first = False
                else:
                    t.sendall(struct.pack("!H", 512) + q[:2] + b"\x81\x80\x00\x01")
                    break
            t.close()
        except Exception as e:
            print("serve:", e, flush=True)

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

    """#
}
