import Foundation
import IntegrationSupport
import XCTest

/// Engineer E3's two-namespace lab for issue 20 items 4 and 6: HTTPS records with `ech=`, EDNS
/// Client Subnet, rebinding protection. A client and a services namespace joined by one veth
/// (client 198.18.201.1/30 — services 198.18.201.2/30); the services namespace carries on its loopback:
///   198.18.210.1, 198.18.210.2  one unbound: the two references (plain DNS, `udp://`), serving e3.test:
///                               ech.e3.test A + HTTPS (alpn=h2,h3 ipv4hint ech=…), rebind.e3.test A 192.168.7.7
///   198.18.220.53               unbound: the clean path, forwarding e3.test to the references and
///                               e3ecs.test to the echo server, without ECS
///   198.18.230.53               python: a forwarder that strips `ech` from HTTPS/SVCB answers
///   198.18.231.53               dnsmasq --stop-dns-rebind: forwards e3.test, drops private answers
///   198.18.232.53               unbound with subnetcache: forwards e3ecs.test with ECS (send-client-subnet)
///   198.18.240.53               python: authoritative for e3ecs.test, every TXT answer is the ECS it received
/// Namespaces `e3-<pid>-<tag>-c|s`, interfaces `e3c|e3s<pid><tag>`. No default route; every server
/// answers only the lab's zones (the references refuse the rest, forwarders go nowhere else).
final class E3Lab: ClientServicesLab {
    static let clientAddress = "198.18.201.1"
    static let servicesAddress = "198.18.201.2"
    static let references = ["198.18.210.1", "198.18.210.2"]
    static let cleanPath = "198.18.220.53"
    static let strippingPath = "198.18.230.53"
    static let rebindingPath = "198.18.231.53"
    static let ecsPath = "198.18.232.53"
    static let echoServer = "198.18.240.53"
    static let zone = "e3.test"
    static let echName = "ech.e3.test"
    static let webAddress = "198.18.50.10"
    static let rebindName = "rebind.e3.test"
    static let rebindAddress = "192.168.7.7"
    static let ecsName = "whoami.e3ecs.test"
    /// An ECHConfigList-shaped value (the lab never does a TLS handshake with it).
    static let ech = "AEX+DQBBpQAgACAAzvf8E6OBgJNv+iY1SJCId44Fnwel0b7aU/FxnTVXdjEABAABAAEAEmVjaC5lMy50ZXN0AAA="

    let tools: ProbeLabTools
    let python: String
    let dig: String

    init(tools: ProbeLabTools, tag: String) throws {
        guard let python = tools.python3 else { throw ProbeLabTools.skip("python3 is needed for the ech-stripping forwarder and the ECS echo server") }
        guard let dig = ["/usr/bin/dig", "/bin/dig"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ProbeLabTools.skip("dig (bind9-dnsutils) is needed for the lab's truth: apt-get install bind9-dnsutils")
        }
        self.tools = tools
        self.python = python
        self.dig = dig
        try super.init(ip: tools.ip, prefix: "e3", tag: tag, label: "e3 lab")
    }

    /// The forward zones of the two forwarding unbounds: e3.test to the first reference, e3ecs.test
    /// to the echo server (UnboundConfig adds "." to a closed loopback port).
    private static var forwardZones: [[String]] {
        [["forward-zone:", "name: \"\(zone)\"", "forward-addr: \(references[0])@53"],
         ["forward-zone:", "name: \"e3ecs.test\"", "forward-addr: \(echoServer)@53"]]
    }

    func build() throws {
        try buildNamespaces(client: Self.clientAddress, services: Self.servicesAddress,
                            serviceAddresses: Self.references + [Self.cleanPath, Self.strippingPath, Self.rebindingPath, Self.ecsPath, Self.echoServer], skipSuite: "ProbeIntegrationTests")
        var refServer = Self.references.map { "interface: \($0)@53" }
        refServer.append("module-config: \"iterator\"")
        refServer += UnboundConfig.onlyZone(Self.zone, records: [
            "\(Self.echName). 300 IN A \(Self.webAddress)",
            "\(Self.echName). 300 IN HTTPS 1 . alpn=h2,h3 ipv4hint=\(Self.webAddress) ech=\(Self.ech)",
            "\(Self.rebindName). 300 IN A \(Self.rebindAddress)",
        ])
        let refConf = try UnboundConfig(server: refServer).write("unbound-references.conf", in: self)
        let cleanConf = try UnboundConfig(server: [
            "interface: \(Self.cleanPath)@53", "outgoing-interface: \(Self.cleanPath)", "module-config: \"iterator\"",
            "local-zone: \"test.\" nodefault",
        ], clauses: Self.forwardZones).write("unbound-clean.conf", in: self)
        let ecsConf = try UnboundConfig(server: [
            "interface: \(Self.ecsPath)@53", "outgoing-interface: \(Self.ecsPath)", "module-config: \"subnetcache iterator\"",
            "send-client-subnet: \(Self.echoServer)", "local-zone: \"test.\" nodefault",
        ], clauses: Self.forwardZones).write("unbound-ecs.conf", in: self)
        let stripScript = file("strip-ech.py"), echoScript = file("ecs-echo.py")
        try Self.stripScript.write(to: stripScript, atomically: true, encoding: .utf8)
        try Self.echoScript.write(to: echoScript, atomically: true, encoding: .utf8)
        let refs = try spawn(servicesNS, name: "unbound-references", [tools.unbound, "-d", "-c", refConf.path])
        let clean = try spawn(servicesNS, name: "unbound-clean", [tools.unbound, "-d", "-c", cleanConf.path])
        let ecs = try spawn(servicesNS, name: "unbound-ecs", [tools.unbound, "-d", "-c", ecsConf.path])
        let strip = try spawn(servicesNS, name: "strip-ech", [python, "-u", stripScript.path, Self.strippingPath, Self.references[0]])
        let echo = try spawn(servicesNS, name: "ecs-echo", [python, "-u", echoScript.path, Self.echoServer])
        let dnsmasq = try spawn(servicesNS, name: "dnsmasq-rebind", [
            tools.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=\(Self.rebindingPath)", "--port=53", "--pid-file", "--user=root",
            "--log-facility=-", "--log-queries", "--stop-dns-rebind", "--server=/\(Self.zone)/\(Self.references[0])",
        ])
        try waitListening(servicesNS, refs, Self.references.map { "\($0):53" }, ss: tools.ss)
        try waitListening(servicesNS, clean, ["\(Self.cleanPath):53"], ss: tools.ss)
        try waitListening(servicesNS, ecs, ["\(Self.ecsPath):53"], ss: tools.ss)
        // The python servers are UDP only (ss -lt would not list them): each prints "listening" once bound.
        for p in [strip, echo] {
            guard waitUntil(timeout: 10, { !p.isRunning || p.output.contains("listening") }), p.isRunning else {
                throw LabError("\(p.name) is not serving: \(p.output)")
            }
        }
        try waitListening(servicesNS, dnsmasq, ["\(Self.rebindingPath):53"], ss: tools.ss)
    }

    /// `dig +short @server name type` from the client namespace: the lab's truth, independent of dnsaudit.
    func dig(_ server: String, _ name: String, _ type: String, _ extra: [String] = []) throws -> String {
        let r = try mustExec(clientNS, [dig, "+short", "+time=2", "+tries=1", "@\(server)", name, type] + extra)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The rcode dig reports (`NOERROR`, `NXDOMAIN`…).
    func digStatus(_ server: String, _ name: String, _ type: String) throws -> String {
        let r = try mustExec(clientNS, [dig, "+time=2", "+tries=1", "@\(server)", name, type])
        guard let line = r.stdout.split(separator: "\n").first(where: { $0.contains("status:") }),
              let s = line.split(separator: " ").drop(while: { $0 != "status:" }).dropFirst().first else { return "?" }
        return s.trimmingCharacters(in: CharacterSet(charactersIn: ", "))
    }

    /// `dnsaudit probe` in the client namespace against `resolver`, with the lab's two references only.
    func probe(resolver: String, extra: [String]) throws -> ProbeReport {
        let args = ["probe", "--resolver", resolver]
            + Self.references.flatMap { ["--reference", "udp://\($0)"] }
            + ["--check-name", Self.echName, "--canary-zone", Self.zone, "--no-dnssec", "--no-identity",
               "--format", "json", "--timeout", "2"] + extra
        return try runDNSAudit(args, in: clientNS, timeout: 90)
    }

    /// `dnsaudit analyze FILE --reference udp://… --format json` in the client namespace.
    func analyze(_ capture: URL) throws -> ProbeReport {
        try runDNSAudit(["analyze", capture.path] + Self.references.flatMap { ["--reference", "udp://\($0)"] } + ["--format", "json", "--timeout", "2"],
                        in: clientNS, timeout: 60)
    }

    /// A forwarding resolver that strips `ech` (SvcParamKey 5) from HTTPS/SVCB answers.
    static let stripScript = #"""
# A forwarding resolver that strips `ech` (SvcParamKey 5) from HTTPS/SVCB answers.
import socket, struct, sys
listen, upstream = sys.argv[1], sys.argv[2]
def skipname(b, o):
    while True:
        l = b[o]
        if l == 0: return o + 1
        if l & 0xC0 == 0xC0: return o + 2
        o += 1 + l
def strip(b):
    qd, an, ns, ar = struct.unpack('!HHHH', b[4:12])
    o = 12
    for _ in range(qd): o = skipname(b, o) + 4
    out = bytearray(b[:o])
    for _ in range(an + ns + ar):
        n = skipname(b, o)
        typ, cls, ttl, rdl = struct.unpack('!HHIH', b[n:n + 10])
        rd = b[n + 10:n + 10 + rdl]
        if typ in (64, 65):
            p = skipname(rd, 2)
            new = bytearray(rd[:p])
            while p + 4 <= len(rd):
                k, l = struct.unpack('!HH', rd[p:p + 4])
                if k != 5: new += rd[p:p + 4 + l]
                p += 4 + l
            rd = bytes(new)
        out += b[o:n] + struct.pack('!HHIH', typ, cls, ttl, len(rd)) + rd
        o = n + 10 + rdl
    return bytes(out)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((listen, 53))
print("listening", flush=True)
while True:
    q, peer = s.recvfrom(4096)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    try:
        u.sendto(q, (upstream, 53))
        r, _ = u.recvfrom(4096)
        s.sendto(strip(r), peer)
    except Exception as e:
        print("error", e, flush=True)
    finally:
        u.close()
"""#

    /// An authoritative server that answers every TXT question with the EDNS Client Subnet it received.
    static let echoScript = #"""
# An authoritative server that answers every TXT question with the EDNS Client Subnet it received.
import socket, struct, sys
listen = sys.argv[1]
def skipname(b, o):
    while True:
        l = b[o]
        if l == 0: return o + 1
        if l & 0xC0 == 0xC0: return o + 2
        o += 1 + l
def answer(q):
    qid, flags, qd, an, ns, ar = struct.unpack('!HHHHHH', q[:12])
    o = skipname(q, 12)
    qtype, qclass = struct.unpack('!HH', q[o:o + 4])
    question = q[12:o + 4]
    o += 4
    ecs, opt = None, None
    for _ in range(an + ns + ar):
        n = skipname(q, o)
        typ, cls, ttl, rdl = struct.unpack('!HHIH', q[n:n + 10])
        rd = q[n + 10:n + 10 + rdl]
        if typ == 41:
            opt = b''
            p = 0
            while p + 4 <= len(rd):
                code, l = struct.unpack('!HH', rd[p:p + 4])
                v = rd[p + 4:p + 4 + l]
                if code == 8 and len(v) >= 4:
                    fam, src, scope = struct.unpack('!HBB', v[:4])
                    if fam == 1: a = socket.inet_ntop(socket.AF_INET, v[4:].ljust(4, b'\0')[:4])
                    else: a = socket.inet_ntop(socket.AF_INET6, v[4:].ljust(16, b'\0')[:16])
                    ecs = "%s/%d" % (a, src)
                    opt = struct.pack('!HH', 8, l) + v[:3] + bytes([src]) + v[4:]
                p += 4 + l
        o = n + 10 + rdl
    answers = b''
    count = 0
    if qtype == 16:
        t = ("edns0-client-subnet " + ecs) if ecs else "no-ecs"
        t = t.encode()
        answers = b'\xc0\x0c' + struct.pack('!HHIH', 16, 1, 0, len(t) + 1) + bytes([len(t)]) + t
        count = 1
    add = b''
    if opt is not None:
        add = b'\x00' + struct.pack('!HHIH', 41, 1232, 0, len(opt)) + opt
    hdr = struct.pack('!HHHHHH', qid, 0x8400 | (flags & 0x0100), 1, count, 0, 1 if opt is not None else 0)
    print("query type", qtype, "ecs", ecs, flush=True)
    return hdr + question + answers + add
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((listen, 53))
print("listening", flush=True)
while True:
    q, peer = s.recvfrom(4096)
    try:
        s.sendto(answer(q), peer)
    except Exception as e:
        print("error", e, flush=True)
"""#
}
