import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The lab the probe and audit integration tests share: client — router — services, each its own
/// network namespace, joined by two veth pairs:
///   client 198.18.1.1/30 ── 198.18.1.2/30 router 198.18.2.1/30 ── 198.18.2.2/30 services
/// The services namespace carries the service addresses on its loopback: the "public" resolver
/// (unbound: Do53, DoT, DoH) 198.18.10.53, the rogue resolver (dnsmasq) 198.18.20.53, the web
/// server 198.18.50.10, and whatever else a suite adds. The client routes 198.18.0.0/15 to the
/// router; the router forwards and has /32 routes to the service addresses only (so the rogue's
/// answer 198.18.66.66 is unreachable at once). No default route anywhere, IPv6 off.
///
/// Network rule: unbound answers lab.test only (every other name is refused, and its forwarder is
/// a closed port on loopback); dnsmasq answers from its own table with no upstream.
open class ResolverLab: NamespaceLab {
    public static let clientAddress = "198.18.1.1"
    public static let routerClientSide = "198.18.1.2"
    public static let routerServicesSide = "198.18.2.1"
    public static let servicesAddress = "198.18.2.2"
    public static let resolverAddress = "198.18.10.53"
    public static let rogueAddress = "198.18.20.53"
    public static let webAddress = "198.18.50.10"
    /// What the rogue answers for www.lab.test (only data: nothing ever connects to it).
    public static let rogueWebAnswer = "198.18.66.66"
    public static let zone = "lab.test"
    public static let webName = "www.lab.test"
    public static let resolverTLSName = "resolver.lab.test"
    public static let resolverIdentity = "ref-1.lab"

    public static var dohReference: String { "https://\(resolverAddress)/dns-query#\(resolverTLSName)" }
    public static var dotReference: String { "tls://\(resolverAddress)#\(resolverTLSName)" }

    /// The router answers plain DNS sent to the public resolver with the rogue one.
    public static let hijackRules = """
    table ip dnsaudit_lab {
        chain prerouting {
            type nat hook prerouting priority dstnat; policy accept;
            ip daddr \(resolverAddress) udp dport 53 dnat to \(rogueAddress)
            ip daddr \(resolverAddress) tcp dport 53 dnat to \(rogueAddress)
        }
    }

    """

    /// Absolute paths of the programs the topology and its services need.
    public struct Programs {
        public var ss: String, nft: String, unbound: String, dnsmasq: String, openssl: String
        public init(ss: String, nft: String, unbound: String, dnsmasq: String, openssl: String) {
            self.ss = ss
            self.nft = nft
            self.unbound = unbound
            self.dnsmasq = dnsmasq
            self.openssl = openssl
        }
    }

    /// The services' certificates (from the suite's PKI).
    public struct ServiceCertificates {
        public var resolverCert: URL, resolverKey: URL, webCert: URL, webKey: URL
        public init(resolverCert: URL, resolverKey: URL, webCert: URL, webKey: URL) {
            self.resolverCert = resolverCert
            self.resolverKey = resolverKey
            self.webCert = webCert
            self.webKey = webKey
        }
    }

    public let programs: Programs
    public let tag: String
    public let clientNS: String, routerNS: String, servicesNS: String
    public let clientIf: String, routerClientIf: String, routerServicesIf: String, servicesIf: String
    private let skipSuite: String

    /// Namespaces are named `dnsaudit-<kind>-<pid>-<tag>-client|router|services`, interfaces
    /// `<p>c|<p>rc|<p>rs|<p>s<pid><tag>` for `interfacePrefix` p (short: at most 15 characters).
    public init(ip: String, programs: Programs, kind: String, interfacePrefix p: String, tag: String, label: String,
                skipSuite: String) throws {
        self.programs = programs
        self.tag = tag
        self.skipSuite = skipSuite
        let pid = getpid()
        clientNS = "dnsaudit-\(kind)-\(pid)-\(tag)-client"
        routerNS = "dnsaudit-\(kind)-\(pid)-\(tag)-router"
        servicesNS = "dnsaudit-\(kind)-\(pid)-\(tag)-services"
        clientIf = "\(p)c\(pid)\(tag)"
        routerClientIf = "\(p)rc\(pid)\(tag)"
        routerServicesIf = "\(p)rs\(pid)\(tag)"
        servicesIf = "\(p)s\(pid)\(tag)"
        try super.init(ip: ip, label: label, dirPrefix: "dnsaudit-\(kind)-\(pid)-\(tag)")
    }

    /// Creates the namespaces, links, addresses and routes; `extraServiceAddresses` are carried by
    /// the services namespace and routed like the others.
    public func build(extraServiceAddresses: [String] = []) throws {
        for ns in [clientNS, routerNS, servicesNS] { try addNamespace(ns, skipSuite: skipSuite) }
        // Created directly inside the namespaces: never an interface on the host.
        try addLink(clientIf, in: clientNS, address: "\(Self.clientAddress)/30",
                    peer: routerClientIf, in: routerNS, peerAddress: "\(Self.routerClientSide)/30")
        try addLink(routerServicesIf, in: routerNS, address: "\(Self.routerServicesSide)/30",
                    peer: servicesIf, in: servicesNS, peerAddress: "\(Self.servicesAddress)/30")
        for a in [Self.resolverAddress, Self.rogueAddress, Self.webAddress] + extraServiceAddresses {
            try addAddress("\(a)/32", dev: "lo", in: servicesNS)
            try addRoute("\(a)/32", via: Self.servicesAddress, in: routerNS)
        }
        // Only lab routes, no default route anywhere.
        try addRoute("198.18.0.0/15", via: Self.routerClientSide, in: clientNS)
        try addRoute("198.18.1.0/30", via: Self.routerServicesSide, in: servicesNS)
        try sysctl(routerNS, "net.ipv4.ip_forward", "1")
        for ns in [clientNS, routerNS, servicesNS] {
            let routes = try mustExec(ns, [ip, "-4", "route", "show", "default"]).stdout
            guard routes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw LabError("namespace \(ns) has a default route: \(routes)")
            }
        }
    }

    /// Waits until every `ADDR:PORT` is a listening TCP socket in `ns` (and `p` still runs).
    public func waitListening(_ ns: String, _ p: SpawnedProcess, _ sockets: [String], timeout: TimeInterval = 10) throws {
        try waitListening(ns, p, sockets, ss: programs.ss, timeout: timeout)
    }

    /// Loads an nftables ruleset into the router.
    public func routerRules(_ ruleset: String) throws {
        let f = file("router-\(UUID().uuidString.prefix(6)).nft")
        try ruleset.write(to: f, atomically: true, encoding: .utf8)
        try mustExec(routerNS, [programs.nft, "-f", f.path])
    }

    public func flushRouterRules() throws {
        try mustExec(routerNS, [programs.nft, "flush", "ruleset"])
    }

    /// unbound at 198.18.10.53: Do53, DoT (853) and DoH (443, /dns-query) for lab.test only,
    /// identity "ref-1.lab"; the rogue dnsmasq at 198.18.20.53 (www.lab.test → 198.18.66.66, every
    /// other lab.test name → `rogueWildcardAnswer`); the web server at 198.18.50.10:443.
    public func startServices(_ certs: ServiceCertificates, rogueWildcardAnswer: String) throws {
        let r = Self.resolverAddress
        let conf = try UnboundConfig(server: [
            "interface: \(r)@53", "interface: \(r)@853", "interface: \(r)@443",
            "tls-port: 853", "https-port: 443", "http-endpoint: \"/dns-query\"",
            "tls-service-key: \"\(certs.resolverKey.path)\"", "tls-service-pem: \"\(certs.resolverCert.path)\"",
            "module-config: \"iterator\"",
            "identity: \"\(Self.resolverIdentity)\"", "hide-identity: no",
            "version: \"unbound-\(Self.resolverIdentity)\"", "hide-version: no", "nsid: \"ascii_\(Self.resolverIdentity)\"",
        ] + UnboundConfig.onlyZone(Self.zone, records: ["\(Self.webName). 300 IN A \(Self.webAddress)",
                                                         "\(Self.resolverTLSName). 300 IN A \(r)"])
        ).write("unbound.conf", in: self)
        let unbound = try spawn(servicesNS, name: "unbound", [programs.unbound, "-d", "-c", conf.path])
        let dnsmasq = try spawn(servicesNS, name: "dnsmasq", [
            programs.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=\(Self.rogueAddress)", "--port=53", "--pid-file", "--user=root",
            "--log-facility=-", "--address=/\(Self.zone)/\(rogueWildcardAnswer)",
            "--address=/\(Self.webName)/\(Self.rogueWebAnswer)",
        ])
        let web = try spawn(servicesNS, name: "web", [programs.openssl, "s_server", "-4", "-accept", "\(Self.webAddress):443",
                                                     "-cert", certs.webCert.path, "-key", certs.webKey.path, "-www", "-quiet"])
        try waitListening(servicesNS, unbound, ["\(r):53", "\(r):853", "\(r):443"])
        try waitListening(servicesNS, dnsmasq, ["\(Self.rogueAddress):53"])
        try waitListening(servicesNS, web, ["\(Self.webAddress):443"])
    }
}

/// One DNS exchange over a socket of the calling thread (run it on a `NamespaceThread` that has
/// joined a lab namespace): UDP, or TCP with the 2-byte length prefix. Returns the answer's bytes.
public enum LabDNSExchange {
    public static func exchange(server: String, port: UInt16 = 53, query: [UInt8], tcp: Bool = false,
                                timeout: TimeInterval) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw LabError("socket: errno \(errno)") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, server, &addr.sin_addr) == 1 else { throw LabError("not an IPv4 address: \(server)") }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw LabError("connect to \(server):\(port)\(tcp ? "/tcp" : ""): errno \(errno)") }
        func sendAll(_ bytes: [UInt8]) throws {
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw LabError("send to \(server): errno \(errno)") }
                off += n
            }
        }
        func readExactly(_ count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var off = 0
            while off < count {
                let n = out[off...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { throw LabError("no DNS answer from \(server) over TCP (errno \(errno))") }
                off += n
            }
            return out
        }
        if tcp {
            try sendAll([UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query)
            let len = try readExactly(2)
            return try readExactly(Int(len[0]) << 8 | Int(len[1]))
        }
        try sendAll(query)
        var buf = [UInt8](repeating: 0, count: 65535)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw LabError("no DNS answer from \(server) over UDP within \(timeout) s (errno \(errno))") }
        return Array(buf[..<n])
    }
}
