import Foundation
import IntegrationSupport
import XCTest

/// Engineer Q's lab for DoH over HTTP/3 and DDR designations by ALPN (issue 20 items 1–2): a client
/// and a services namespace joined by one veth (client 198.18.181.1/30 — services 198.18.181.2/30),
/// namespaces `q3-<pid>-<tag>-c|s`. On the services loopback, two resolvers, each an unbound for
/// plain DNS (zone q3.test only, no recursion) with a DDR designation of itself by ALPN `h3` and
/// `doq`, plus aioquic servers (Tests/Fixtures/doh3/doh3_server.py) for DoH over HTTP/3 on UDP 443
/// and DoQ on UDP 853, and `openssl s_server` on TCP 443 (the TCP path that stays open):
///   198.18.182.53  certificate for h3-good.q3.test, doq-good.q3.test AND the IP 198.18.182.53
///   198.18.183.53  certificate for h3-bad.q3.test, doq-bad.q3.test only (no IP SAN)
/// Certificates from a throwaway lab CA (`--ca-file`). No default route; nothing forwards.
final class DoH3Lab: ClientServicesLab {
    static let clientAddress = "198.18.181.1"
    static let servicesAddress = "198.18.181.2"
    static let goodResolver = "198.18.182.53"
    static let badResolver = "198.18.183.53"
    static let zone = "q3.test"
    static let checkName = "www.q3.test"
    static let checkAddress = "198.18.50.10"

    static func names(_ base: String) -> (h3: String, doq: String) { ("h3-\(base).\(zone)", "doq-\(base).\(zone)") }
    /// The configured DoH/3 reference on the good resolver's address.
    static let h3Reference = "h3://\(goodResolver)/dns-query#\(names("good").h3)"

    let tools: ProbeLabTools
    let python: String

    init(tools: ProbeLabTools, python: String, tag: String) throws {
        self.tools = tools
        self.python = python
        try super.init(ip: tools.ip, prefix: "q3", tag: tag, label: "q3 doh3 lab")
    }

    var caFile: URL { dir.appendingPathComponent("q3-ca.pem") }

    static var fixture: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/doh3/doh3_server.py")
    }

    /// A leaf for `names` (DNS SANs) and `ipSANs`, issued by the lab CA.
    /// `openssl x509 -text` of a lab certificate: the truth about what it covers.
    func certificateText(_ base: String) throws -> String {
        try mustExec(servicesNS, [tools.openssl, "x509", "-noout", "-text", "-in", file("\(base).pem").path]).stdout
    }

    func build() throws {
        try buildNamespaces(client: Self.clientAddress, services: Self.servicesAddress,
                            serviceAddresses: [Self.goodResolver, Self.badResolver], skipSuite: "ProbeIntegrationTests")
        let pki = OpenSSLTestPKI(dir: dir, openssl: tools.openssl)
        try pki.makeCA("q3-ca", subject: "/O=dnsaudit q3 lab/CN=DoH3 lab CA")
        try pki.makeServerCertificate("good", ca: "q3-ca", commonName: Self.names("good").h3,
                                       dnsNames: [Self.names("good").h3, Self.names("good").doq], ipAddresses: [Self.goodResolver])
        try pki.makeServerCertificate("bad", ca: "q3-ca", commonName: Self.names("bad").h3, dnsNames: [Self.names("bad").h3, Self.names("bad").doq])

        var tcp: [(SpawnedProcess, [String])] = []
        for (address, base) in [(Self.goodResolver, "good"), (Self.badResolver, "bad")] {
            let n = Self.names(base)
            var server: [String] = ["interface: \(address)@53", "module-config: \"iterator\""]
            server += UnboundConfig.onlyZone(Self.zone, records: ["\(Self.checkName). 300 IN A \(Self.checkAddress)",
                                                                  "\(n.h3). 300 IN A \(address)", "\(n.doq). 300 IN A \(address)"])
            server += ["local-zone: \"resolver.arpa.\" static",
                       "local-data: \"resolver.arpa. 300 IN SOA ns.resolver.arpa. admin.resolver.arpa. 1 3600 600 86400 300\"",
                       "local-data: \"_dns.resolver.arpa. 300 IN SVCB 1 \(n.h3). alpn=h3 ipv4hint=\(address)\"",
                       "local-data: \"_dns.resolver.arpa. 300 IN SVCB 2 \(n.doq). alpn=doq ipv4hint=\(address)\""]
            let conf = try UnboundConfig(server: server).write("unbound-\(address).conf", in: self)
            tcp.append((try spawn(servicesNS, name: "unbound-\(address)", [tools.unbound, "-d", "-c", conf.path]), ["\(address):53"]))
            // TCP 443: a TLS server, the TCP path DoH over HTTP/2 would take (open while UDP 443 may be dropped).
            tcp.append((try spawn(servicesNS, name: "tls443-\(address)", [tools.openssl, "s_server", "-4", "-accept", "\(address):443",
                                                                          "-cert", file("\(base).pem").path, "-key", file("\(base).key").path,
                                                                          "-www", "-quiet"]), ["\(address):443"]))
            for (mode, port) in [("h3", 443), ("doq", 853)] {
                let p = try spawn(servicesNS, name: "\(mode)-\(address)",
                                  [python, Self.fixture.path, address, "\(port)", file("\(base).pem").path, file("\(base).key").path,
                                   Self.zone, Self.checkAddress, mode])
                guard waitUntil(timeout: 20, poll: 0.05, { !p.isRunning || p.output.contains("ready") }), p.isRunning else {
                    throw LabError("the \(mode) server on \(address):\(port) did not start: \(p.output)")
                }
            }
        }
        for (p, sockets) in tcp { try waitListening(servicesNS, p, sockets, ss: tools.ss) }
    }

    /// nft in the services namespace (the path's far end): drop UDP to `port`, counted.
    func dropUDP(_ port: Int) throws {
        let rules = file("drop-udp-\(port).nft")
        try """
        table ip q3lab {
            chain input {
                type filter hook input priority filter; policy accept;
                udp dport \(port) counter drop
            }
        }

        """.write(to: rules, atomically: true, encoding: .utf8)
        try mustExec(servicesNS, [tools.nft, "-f", rules.path])
    }

    /// The drop rule's packet counter.
    func dropCounter() throws -> Int {
        let listing = try mustExec(servicesNS, [tools.nft, "list", "chain", "ip", "q3lab", "input"]).stdout
        guard let m = listing.range(of: #"counter packets [0-9]+"#, options: .regularExpression) else { return -1 }
        return Int(listing[m].split(separator: " ").last ?? "") ?? -1
    }

    /// `dig +short _dns.resolver.arpa SVCB` from the client namespace (the designations on the wire).
    func digDesignation(_ resolver: String) throws -> String {
        guard let dig = Requirements.findTool("dig", preferring: ["/usr/bin"]) else { throw ProbeLabTools.skip("dig (bind9-dnsutils) is needed") }
        return try mustExec(clientNS, [dig, "+short", "+time=2", "+tries=1", "@\(resolver)", "_dns.resolver.arpa", "SVCB"]).stdout
    }

    /// `dnsaudit probe` inside the client namespace against one lab resolver, with only lab
    /// references (never the built-in public ones) and the lab CA, captured on the client's link.
    func probe(resolver: String, references: [String], capture: URL) throws -> ProbeReport {
        let cap = try startCapture(capture, in: clientNS, interface: clientIf, tcpdump: tools.tcpdump)
        let args = ["probe", "--resolver", resolver] + references.flatMap { ["--reference", $0] } + [
            "--ca-file", caFile.path, "--check-name", Self.checkName, "--canary-zone", Self.zone, "--no-dnssec", "--no-identity",
            "--format", "json", "--timeout", "2"]
        let r = try runDNSAudit(args, in: clientNS, timeout: 120)
        try stopCapture(cap)
        return r
    }

    /// tshark over a capture: one line per UDP 443 packet (source, destination, destination port).
    func udp443(_ capture: URL, tshark: String) throws -> [String] {
        let out = try runBounded(tshark, ["-r", capture.path, "-n", "-Y", "udp.port == 443",
                                          "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "udp.dstport"], timeout: 60)
        return out.stdout.split(separator: "\n").map(String.init)
    }
}
