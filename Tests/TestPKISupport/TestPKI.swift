import Crypto
import Foundation
import SwiftASN1
import X509

/// A small in-memory PKI built with swift-certificates: roots and leaves with DNS and IP SANs.
public struct TestPKI {
    public struct Issued {
        public var certificate: Certificate
        public var key: P256.Signing.PrivateKey
        public var der: [UInt8] {
            var s = DER.Serializer()
            try! s.serialize(certificate)
            return s.serializedBytes
        }
    }

    public static let now = Date()

    public static func root(_ commonName: String) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-86_400), notValidAfter: now.addingTimeInterval(86_400 * 30),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                KeyUsage(keyCertSign: true)
            },
            issuerPrivateKey: .init(key))
        return Issued(certificate: cert, key: key)
    }

    /// A leaf for `dnsNames` and `ipAddresses` (text), issued by `ca`.
    public static func leaf(_ commonName: String, dnsNames: [String] = [], ipAddresses: [String] = [], ca: Issued) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        var sans: [GeneralName] = dnsNames.map { .dnsName($0) }
        for ip in ipAddresses { sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(ipBytes(ip))))) }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(86_400 * 7),
            issuer: ca.certificate.subject, subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames(sans)
            },
            issuerPrivateKey: .init(ca.key))
        return Issued(certificate: cert, key: key)
    }

    public static func ipBytes(_ text: String) -> [UInt8] {
        if text.contains(":") {
            var a = in6_addr()
            precondition(inet_pton(AF_INET6, text, &a) == 1)
            return withUnsafeBytes(of: &a) { Array($0) }
        }
        var a = in_addr()
        precondition(inet_pton(AF_INET, text, &a) == 1)
        return withUnsafeBytes(of: &a) { Array($0) }
    }
}
