import Foundation
import IntegrationSupport
import XCTest

/// Engineer E1's lab for DDR verification (issue 20 item 1, RFC 9462): a client and a services
/// namespace joined by one veth (client 198.18.201.1/30 — services 198.18.201.2/30). The services
/// namespace carries three unbound resolvers on its loopback, each with its own configuration:
///   198.18.210.53  designates `dot-good.ddr.test` (alpn=dot, ipv4hint itself) and serves DoT with a
///                  certificate for that name AND the IP address 198.18.210.53 → verified
///   198.18.220.53  designates `dot-bad.ddr.test` the same way, but its DoT certificate covers the
///                  name only (no IP SAN) → `encrypted-dns.ddr-unverified`
///   198.18.230.53  designates nothing (`_dns.resolver.arpa` has no SVCB) → a note
/// Certificates come from a throwaway lab CA (`--ca-file`). Namespaces `e1-<pid>-<tag>-c|s`,
/// interfaces `e1c|e1s<pid><tag>`. No default route, IPv6 off, unbound forwards nothing.
final class DDRLab: ClientServicesLab {
    static let clientAddress = "198.18.201.1"
    static let servicesAddress = "198.18.201.2"
    static let goodResolver = "198.18.210.53"
    static let badResolver = "198.18.220.53"
    static let silentResolver = "198.18.230.53"
    static let goodName = "dot-good.ddr.test"
    static let badName = "dot-bad.ddr.test"
    static let zone = "ddr.test"
    static let checkName = "www.ddr.test"
    static let checkAddress = "198.18.50.10"

    let tools: ProbeLabTools
    private(set) var pki: OpenSSLTestPKI?

    init(tools: ProbeLabTools, tag: String) throws {
        self.tools = tools
        try super.init(ip: tools.ip, prefix: "e1", tag: tag, label: "e1 ddr lab")
    }

    var caFile: URL { dir.appendingPathComponent("ddr-ca.pem") }

    /// A leaf certificate for `name` with the given IP SANs, issued by the lab CA.
    func makeLeaf(_ base: String, pki: OpenSSLTestPKI, name: String, ipSANs: [String]) throws {
        try pki.makeServerCertificate(base, ca: "ddr-ca", commonName: name, dnsNames: [name], ipAddresses: ipSANs)
    }

    /// `openssl x509 -text` of a lab certificate: the truth about what it covers.
    func certificateText(_ base: String) throws -> String {
        try mustExec(servicesNS, [tools.openssl, "x509", "-noout", "-text", "-in", file("\(base).pem").path]).stdout
    }

    func build() throws {
        try buildNamespaces(client: Self.clientAddress, services: Self.servicesAddress,
                            serviceAddresses: [Self.goodResolver, Self.badResolver, Self.silentResolver], skipSuite: "ProbeIntegrationTests")
        let pki = OpenSSLTestPKI(dir: dir, openssl: tools.openssl)
        self.pki = pki
        try pki.makeCA("ddr-ca", subject: "/O=dnsaudit e1 lab/CN=DDR lab CA")
        try makeLeaf("good", pki: pki, name: Self.goodName, ipSANs: [Self.goodResolver])
        try makeLeaf("bad", pki: pki, name: Self.badName, ipSANs: [])

        var processes: [(SpawnedProcess, [String])] = []
        for (address, designation, cert) in [
            (Self.goodResolver, "1 \(Self.goodName). alpn=dot ipv4hint=\(Self.goodResolver)", "good"),
            (Self.badResolver, "1 \(Self.badName). alpn=dot ipv4hint=\(Self.badResolver)", "bad"),
            (Self.silentResolver, nil, nil),
        ] as [(String, String?, String?)] {
            let tls = cert.map { ["interface: \(address)@853", "tls-port: 853",
                                  "tls-service-key: \"\(file("\($0).key").path)\"", "tls-service-pem: \"\(file("\($0).pem").path)\""] } ?? []
            let ddr = designation.map { ["local-data: \"_dns.resolver.arpa. 300 IN SVCB \($0)\""] } ?? []
            var server: [String] = ["interface: \(address)@53"]
            server += tls
            server.append("module-config: \"iterator\"")
            server += UnboundConfig.onlyZone(Self.zone, records: ["\(Self.checkName). 300 IN A \(Self.checkAddress)",
                                                                  "\(Self.goodName). 300 IN A \(Self.goodResolver)",
                                                                  "\(Self.badName). 300 IN A \(Self.badResolver)"])
            server += ["local-zone: \"resolver.arpa.\" static",
                       "local-data: \"resolver.arpa. 300 IN SOA ns.resolver.arpa. admin.resolver.arpa. 1 3600 600 86400 300\""]
            server += ddr
            let conf = try UnboundConfig(server: server).write("unbound-\(address).conf", in: self)
            let p = try spawn(servicesNS, name: "unbound-\(address)", [tools.unbound, "-d", "-c", conf.path])
            processes.append((p, ["\(address):53"] + (cert == nil ? [] : ["\(address):853"])))
        }
        for (p, sockets) in processes { try waitListening(servicesNS, p, sockets, ss: tools.ss) }
    }

    /// `dig +short _dns.resolver.arpa SVCB` from the client namespace (the designation on the wire).
    func digDesignation(_ resolver: String) throws -> String {
        guard let dig = Requirements.findTool("dig", preferring: ["/usr/bin"]) else { throw ProbeLabTools.skip("dig (bind9-dnsutils) is needed") }
        return try mustExec(clientNS, [dig, "+short", "+time=2", "+tries=1", "@\(resolver)", "_dns.resolver.arpa", "SVCB"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `dnsaudit probe` inside the client namespace against one resolver, with that lab resolver as
    /// the only reference (never the built-in public ones) and the lab CA as the extra trust root.
    func probe(resolver: String) throws -> ProbeReport {
        let args = ["probe", "--resolver", resolver, "--reference", "udp://\(Self.goodResolver)", "--ca-file", caFile.path,
                    "--check-name", Self.checkName, "--canary-zone", Self.zone, "--no-dnssec", "--no-identity",
                    "--format", "json", "--timeout", "2"]
        return try runDNSAudit(args, in: clientNS, timeout: 90)
    }
}
