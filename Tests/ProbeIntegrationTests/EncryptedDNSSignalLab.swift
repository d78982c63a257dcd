import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Engineer H's two-namespace lab for the encrypted-DNS signal checks (issue 20): a client and a
/// services namespace joined by one veth (client 198.18.101.1/30 — services 198.18.101.2/30).
/// The services namespace carries on its loopback:
///   198.18.110.1, 198.18.110.2  one unbound: the two references (plain DNS, `udp://`), answering
///                               hx.test and the opt-out canaries with addresses, refusing the rest
///   198.18.120.53               the same unbound: the clean resolver under test
///   198.18.130.53               dnsmasq: the tampering resolver (canaries NXDOMAIN, every other
///                               name → 198.18.66.77, a made-up address nothing connects to)
/// Namespaces `hx-<pid>-<tag>-c|s`, interfaces `hxc|hxs<pid><tag>`. No default route, IPv6 off;
/// unbound forwards nothing (its forwarder is a closed port on loopback), dnsmasq has no upstream.
final class HXLab: NamespaceLab {
    static let clientAddress = "198.18.101.1"
    static let servicesAddress = "198.18.101.2"
    static let references = ["198.18.110.1", "198.18.110.2"]
    static let cleanResolver = "198.18.120.53"
    static let tamperingResolver = "198.18.130.53"
    static let wildcardAnswer = "198.18.66.77"
    static let zone = "hx.test"
    static let checkName = "www.hx.test"
    static let checkAddress = "198.18.50.10"
    static let canaries = ["use-application-dns.net": "198.18.200.1", "mask.icloud.com": "198.18.200.2", "mask-h2.icloud.com": "198.18.200.3"]

    let tools: ProbeLabTools
    let clientNS: String, servicesNS: String
    let clientIf: String, servicesIf: String
    let tag: String

    init(tools: ProbeLabTools, tag: String) throws {
        self.tools = tools
        self.tag = tag
        let pid = getpid()
        clientNS = "hx-\(pid)-\(tag)-c"
        servicesNS = "hx-\(pid)-\(tag)-s"
        clientIf = "hxc\(pid)\(tag)"
        servicesIf = "hxs\(pid)\(tag)"
        try super.init(ip: tools.ip, label: "hx lab", dirPrefix: "hx-\(pid)-\(tag)")
    }

    /// Namespaces, the link, the service addresses; then unbound and dnsmasq.
    func build(extraDnsmasq: [String] = []) throws {
        for ns in [clientNS, servicesNS] { try addNamespace(ns, skipSuite: "ProbeIntegrationTests") }
        try addLink(clientIf, in: clientNS, address: "\(Self.clientAddress)/30", peer: servicesIf, in: servicesNS,
                    peerAddress: "\(Self.servicesAddress)/30")
        for a in Self.references + [Self.cleanResolver, Self.tamperingResolver] {
            try addAddress("\(a)/32", dev: "lo", in: servicesNS)
        }
        try addRoute("198.18.0.0/15", via: Self.servicesAddress, in: clientNS)
        for ns in [clientNS, servicesNS] {
            let routes = try mustExec(ns, [ip, "-4", "route", "show", "default"]).stdout
            guard routes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw LabError("namespace \(ns) has a default route: \(routes)") }
        }
        let canaryData = Self.canaries.sorted { $0.key < $1.key }.flatMap { name, addr in
            ["local-zone: \"\(name).\" static", "local-data: \"\(name). 300 IN A \(addr)\""]
        }
        let conf = try UnboundConfig(server: (Self.references + [Self.cleanResolver]).map { "interface: \($0)@53" }
            + ["module-config: \"iterator\""]
            + UnboundConfig.onlyZone(Self.zone, records: ["\(Self.checkName). 300 IN A \(Self.checkAddress)"]) + canaryData
        ).write("unbound.conf", in: self)
        let unbound = try spawn(servicesNS, name: "unbound", [tools.unbound, "-d", "-c", conf.path])
        let dnsmasq = try spawn(servicesNS, name: "dnsmasq", [
            tools.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=\(Self.tamperingResolver)", "--port=53", "--pid-file", "--user=root",
            "--log-facility=-", "--log-queries",
            // The opt-out canaries: NXDOMAIN (an address-less --address).
            "--address=/use-application-dns.net/", "--address=/mask.icloud.com/", "--address=/mask-h2.icloud.com/",
            // Every other name, even single labels that cannot exist: one made-up address.
            "--address=/#/\(Self.wildcardAnswer)",
        ] + extraDnsmasq)
        try waitListening(servicesNS, unbound, (Self.references + [Self.cleanResolver]).map { "\($0):53" }, ss: tools.ss)
        try waitListening(servicesNS, dnsmasq, ["\(Self.tamperingResolver):53"], ss: tools.ss)
    }

    /// `dnsaudit probe` inside the client namespace against the resolver under test, with the
    /// lab's two references only (never the built-in public ones).
    func probe(resolver: String, extra: [String] = []) throws -> ProbeReport {
        let args = ["probe", "--resolver", resolver]
            + Self.references.flatMap { ["--reference", "udp://\($0)"] }
            + ["--check-name", Self.checkName, "--canary-zone", Self.zone, "--no-dnssec", "--no-identity",
               "--format", "json", "--timeout", "2"] + extra
        return try runDNSAudit(args, in: clientNS, timeout: 90)
    }

    func query(_ server: String, _ name: String, type: UInt16 = 1) throws -> NamespaceDNS.Answer {
        try NamespaceDNS.query(in: clientNS, server: server, name: name, type: type)
    }
}

// MARK: - Forwarders (issue 20 item 10)

extension HXLab {
    /// dnsmasq, a fixed-port forwarder (every upstream query from 198.18.140.53:40053).
    static let fixedPortForwarder = "198.18.140.53"
    static let fixedPort = 40053
    /// unbound, a randomising forwarder (random ports and ids, 0x20) at 198.18.150.53.
    static let randomForwarder = "198.18.150.53"

    /// Both forwarders, each relaying hx.test to the lab's unbound at 198.18.110.1 (and nothing else).
    func startForwarders() throws {
        for a in [Self.fixedPortForwarder, Self.randomForwarder] { try addAddress("\(a)/32", dev: "lo", in: servicesNS) }
        let upstream = Self.references[0]
        let dnsmasq = try spawn(servicesNS, name: "dnsmasq-fixed", [
            tools.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=\(Self.fixedPortForwarder)", "--port=53", "--pid-file", "--user=root",
            "--log-facility=-", "--cache-size=0",
            "--server=/\(Self.zone)/\(upstream)@\(Self.fixedPortForwarder)#\(Self.fixedPort)",
        ])
        let conf = try UnboundConfig(server: [
            "interface: \(Self.randomForwarder)@53", "outgoing-interface: \(Self.randomForwarder)", "module-config: \"iterator\"",
            "use-caps-for-id: yes",
            "# unbound answers test. itself by default (RFC 6761): relay hx.test instead.",
            "local-zone: \"test.\" nodefault", "msg-cache-size: 0", "rrset-cache-size: 0",
        ], clauses: [["forward-zone:", "name: \"\(Self.zone)\"", "forward-addr: \(upstream)@53"]]
        ).write("unbound-forwarder.conf", in: self)
        let unbound = try spawn(servicesNS, name: "unbound-forwarder", [tools.unbound, "-d", "-c", conf.path])
        try waitListening(servicesNS, dnsmasq, ["\(Self.fixedPortForwarder):53"], ss: tools.ss)
        try waitListening(servicesNS, unbound, ["\(Self.randomForwarder):53"], ss: tools.ss)
    }

    /// `dnsaudit analyze FILES --format json` (analyze asks no reference unless told to; none is given).
    func analyze(_ files: [URL]) throws -> ProbeReport {
        let args = ["analyze"] + files.map(\.path) + ["--format", "json", "--fail-on", "medium"]
        return try runDNSAudit(args, in: clientNS, timeout: 60)
    }
}

// MARK: - A spraying sender (issue 20 item 10)

extension HXLab {
    /// python3: `count` DNS responses for `name` A with random ids, sent with a raw socket from
    /// SRC:53 to DST:PORT (all inside the services namespace's loopback).
    static let sprayScript = #"""
    import random, socket, struct, sys
    src, dst, port, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\x00\x00\x01\x00\x01"
    for i in range(count):
        dns = struct.pack("!HHHHHH", random.randrange(65536), 0x8180, 1, 1, 0, 0) + q + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04" + bytes([203, 0, 113, 66])
        udp = struct.pack("!HHHH", 53, port, 8 + len(dns), 0) + dns
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), random.randrange(65536), 0, 250, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
        s.sendto(ip + udp, (dst, 0))
    print("sent", count, flush=True)
    """#

    func spray(from src: String, to dst: String, port: Int, name: String, count: Int) throws {
        guard let python = tools.python3 else { throw ProbeLabTools.skip("python3 is needed for the spraying sender") }
        let script = file("spray.py")
        try Self.sprayScript.write(to: script, atomically: true, encoding: .utf8)
        try mustExec(servicesNS, [python, script.path, src, dst, String(port), name, String(count)], timeout: 30)
    }
}
