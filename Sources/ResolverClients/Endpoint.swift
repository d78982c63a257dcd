import Foundation
import NetTypes
import ResolverCatalog
/// Where a resolver is and how to talk to it.
///
/// Accepted forms (CONTRACT.md "--reference"):
///   `https://HOST[:PORT]/PATH[#TLS-NAME]`  DoH (RFC 8484)
///   `tls://HOST[:PORT][#TLS-NAME]`          DoT (RFC 7858)
///   `quic://HOST[:PORT][#TLS-NAME]`         DoQ (RFC 9250, UDP; default port 853)
///   `h3://HOST[:PORT]/PATH[#TLS-NAME]`      DoH over HTTP/3 (RFC 8484 on RFC 9114, UDP; default port 443)
///   `udp://HOST[:PORT]`, `tcp://HOST[:PORT]` plain DNS (probes only)
/// HOST may be an IP literal (`[v6]` with brackets). `#TLS-NAME` is the name the server's
/// certificate must carry; the well-known public resolver addresses get theirs automatically, so an
/// IP-literal reference is verified by name, not only by an IP SAN, and needs no bootstrap lookup.
public struct ResolverEndpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Transport: String, Sendable, Hashable { case doh, dot, udp, tcp, doq, doh3 }

    public var transport: Transport
    public var host: String
    public var port: Int
    /// DoH path incl. leading "/".
    public var path: String
    /// The name the certificate must match (also the SNI). Nil: the host itself (IP SAN for an IP).
    public var tlsName: String?
    /// The text the user gave (or the canonical form).
    public var original: String

    public init(transport: Transport, host: String, port: Int, path: String = "/dns-query", tlsName: String? = nil, original: String? = nil) {
        self.transport = transport
        self.host = host
        self.port = port
        self.path = path
        self.tlsName = tlsName
        self.original = original ?? ""
        if self.original.isEmpty { self.original = canonical }
    }

    public var description: String { original }

    public var canonical: String {
        let h = host.contains(":") ? "[\(host)]" : host
        switch transport {
        case .doh: return "https://\(h)\(port == 443 ? "" : ":\(port)")\(path)"
        case .dot: return "tls://\(h)\(port == 853 ? "" : ":\(port)")"
        case .udp: return "udp://\(h)\(port == 53 ? "" : ":\(port)")"
        case .tcp: return "tcp://\(h)\(port == 53 ? "" : ":\(port)")"
        case .doq: return "quic://\(h)\(port == 853 ? "" : ":\(port)")"
        case .doh3: return "h3://\(h)\(port == 443 ? "" : ":\(port)")\(path)"
        }
    }

    public var isIPLiteral: Bool { IPAddress.isLiteral(host) }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ text: String) throws -> ResolverEndpoint {
        func fail(_ why: String) -> ParseError {
            ParseError(description: "bad resolver URL '\(text)': \(why) (use https://HOST/PATH for DoH, tls://HOST for DoT, quic://HOST for DoQ or h3://HOST/PATH for DoH over HTTP/3)")
        }
        var rest = Substring(text)
        var fragment: String?
        if let hash = rest.firstIndex(of: "#") {
            fragment = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
            if fragment?.isEmpty ?? true { throw fail("empty name after '#'") }
        }
        guard let schemeEnd = rest.range(of: "://") else { throw fail("no scheme") }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        rest = rest[schemeEnd.upperBound...]
        let transport: Transport
        let defaultPort: Int
        switch scheme {
        case "https": transport = .doh; defaultPort = 443
        case "tls": transport = .dot; defaultPort = 853
        case "udp": transport = .udp; defaultPort = 53
        case "tcp": transport = .tcp; defaultPort = 53
        case "quic": transport = .doq; defaultPort = 853
        case "h3": transport = .doh3; defaultPort = 443
        default: throw fail("unknown scheme '\(scheme)'")
        }
        var path = "/dns-query"
        if let slash = rest.firstIndex(of: "/") {
            guard transport == .doh || transport == .doh3 else { throw fail("a path is only for https:// and h3://") }
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        var host: String
        var port = defaultPort
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unclosed '['") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), p > 0, p < 65536 else { throw fail("bad port") }
                port = p
            } else if !after.isEmpty { throw fail("junk after ']'") }
            guard IPAddress(host)?.isV6 == true, IPAddress.isLiteral(host) else { throw fail("not an IPv6 address in brackets") }
        } else {
            let colons = rest.filter { $0 == ":" }.count
            if colons == 1, let c = rest.firstIndex(of: ":") {
                guard let p = Int(rest[rest.index(after: c)...]), p > 0, p < 65536 else { throw fail("bad port") }
                port = p
                host = String(rest[..<c])
            } else {
                host = String(rest)
            }
        }
        guard !host.isEmpty else { throw fail("no host") }
        guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "_") }) else {
            throw fail("bad host")
        }
        var name = fragment
        if name == nil, transport == .doh || transport == .dot || transport == .doq || transport == .doh3 { name = ResolverCatalog.tlsName(for: host) }
        return ResolverEndpoint(transport: transport, host: host, port: port, path: path, tlsName: name, original: text)
    }
}
