import X509

/// Does a certificate name a host (RFC 6125: DNS SANs, one leftmost wildcard label; the CN only
/// when there are no DNS SANs)? IP SANs do not count: a reference is verified by its name, so a
/// certificate that merely lists the address it was reached at is not enough.
public enum CertificateNames {
    public static func names(_ der: [UInt8], host: String) -> Bool {
        guard let cert = try? Certificate(derEncoded: der) else { return false }
        let want = normalize(host)
        var dnsNames: [String] = []
        if let sans = try? cert.extensions.subjectAlternativeNames {
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
