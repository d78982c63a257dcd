import Crypto
import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#endif

/// What one certificate says about itself, for a report's evidence.
public struct CertificateFacts: Sendable, Equatable {
    /// Subject and issuer distinguished names, RFC 4514 order ("CN=…,O=…,C=…").
    public var subject: String
    public var issuer: String
    public var commonName: String?
    /// Subject alternative names: DNS names as they are, IP addresses in text form, others prefixed ("URI:…").
    public var subjectAlternativeNames: [String]
    public var notBefore: Date
    public var notAfter: Date
    /// Serial number in hex with colons, as OpenSSL prints it.
    public var serialNumber: String
    /// SHA-256 of the DER, lowercase hex (the usual certificate fingerprint).
    public var sha256: String
    /// Subject and issuer are the same name.
    public var isSelfIssued: Bool
    /// basicConstraints says CA:TRUE.
    public var isCA: Bool

    init(_ cert: Certificate, der: [UInt8]) {
        subject = cert.subject.description
        issuer = cert.issuer.description
        commonName = Self.commonName(cert.subject)
        var sans: [String] = []
        if let names = try? cert.extensions.subjectAlternativeNames {
            for n in names.prefix(64) { sans.append(Self.text(n)) }
        }
        subjectAlternativeNames = sans
        notBefore = cert.notValidBefore
        notAfter = cert.notValidAfter
        serialNumber = cert.serialNumber.description
        sha256 = SHA256.hash(data: der).map { hex2($0) }.joined()
        isSelfIssued = cert.subject == cert.issuer
        isCA = ((try? cert.extensions.basicConstraints) ?? nil).map {
            if case .isCertificateAuthority = $0 { return true }
            return false
        } ?? false
    }

    static func commonName(_ dn: DistinguishedName) -> String? {
        for rdn in dn.reversed() {
            for attr in rdn where attr.type == .RDNAttributeType.commonName {
                return String(describing: attr.value)
            }
        }
        return nil
    }

    static func text(_ n: GeneralName) -> String {
        switch n {
        case .dnsName(let s): return s
        case .ipAddress(let octets): return ipText(Array(octets.bytes))
        case .rfc822Name(let s): return "email:" + s
        case .uniformResourceIdentifier(let s): return "URI:" + s
        case .directoryName(let dn): return "DirName:" + dn.description
        default: return "other"
        }
    }

    static func ipText(_ b: [UInt8]) -> String {
        if b.count == 4 { return b.map(String.init).joined(separator: ".") }
        if b.count == 16 {
            var buf = [CChar](repeating: 0, count: 64)
            let ok = b.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &buf, 64) } != nil
            if ok, let end = buf.firstIndex(of: 0) { return String(decoding: buf[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return b.map(hex2).joined()
    }
}

@inline(__always)
func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 0x0F)]])
}
