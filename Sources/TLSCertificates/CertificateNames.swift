import X509

#if canImport(Glibc)
import Glibc
#endif

/// Does a certificate name a host (RFC 6125: DNS SANs, one leftmost wildcard label; the CN only
/// when there are no DNS SANs)? For a DNS name, IP SANs do not count: a reference is verified by
/// its name, so a certificate that merely lists the address it was reached at is not enough. For
/// an IP literal (a resolver configured by address, RFC 6125 §1.7.2), only an iPAddress SAN
/// holding that address counts (RFC 5280 §4.2.1.6), never a DNS name or the CN.
public enum CertificateNames {
    public static func names(_ der: [UInt8], host: String) -> Bool {
        guard let cert = try? Certificate(derEncoded: der) else { return false }
        let sans = (try? cert.extensions.subjectAlternativeNames) ?? nil
        if let want = ipBytes(host) {
            guard let sans else { return false }
            for n in sans {
                if case .ipAddress(let octets) = n, Array(octets.bytes) == want { return true }
            }
            return false
        }
        let want = normalize(host)
        var dnsNames: [String] = []
        if let sans {
            for n in sans {
                if case .dnsName(let d) = n { dnsNames.append(normalize(d)) }
            }
        }
        if dnsNames.isEmpty {
            for rdn in cert.subject {
                for attr in rdn where attr.type == .RDNAttributeType.commonName {
                    dnsNames.append(normalize(String(describing: attr.value)))
                }
            }
        }
        return dnsNames.contains { matches(pattern: $0, host: want) }
    }

    /// An IPv4 or IPv6 address in text form (what must never be sent as SNI, RFC 6066 §3).
    public static func isIPLiteral(_ s: String) -> Bool { ipBytes(s) != nil }

    /// The address's bytes (4 or 16), or nil when `s` is not an IP literal.
    static func ipBytes(_ s: String) -> [UInt8]? {
        var text = s
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        guard !text.isEmpty, text.count <= 45 else { return nil }
        var v4 = in_addr()
        if text.contains("."), !text.contains(":"), inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if text.contains(":"), inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func normalize(_ s: String) -> String {
        var n = s.lowercased()
        while n.hasSuffix(".") { n.removeLast() }
        return n
    }

    static func matches(pattern: String, host: String) -> Bool {
        if pattern == host { return true }
        guard pattern.hasPrefix("*.") else { return false }
        let suffix = pattern.dropFirst(1)  // ".example.com"
        guard host.hasSuffix(suffix) else { return false }
        let label = host.dropLast(suffix.count)
        return !label.isEmpty && !label.contains(".")
    }
}
