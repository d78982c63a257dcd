import TestPKISupport
import Foundation
import TLSCertificates
import X509
import XCTest

/// Issue 15 bug 6: an address is matched against iPAddress SANs (RFC 5280 §4.2.1.6, RFC 6125
/// §1.7.2), never against DNS names, and a DNS name never against an IP SAN.
final class IPAddressNameTests: XCTestCase {
    func judge(_ leaf: TestPKI.Issued, root: TestPKI.Issued, name: String) -> CertificateVerdict? {
        let j = CertificateJudge(settings: TrustSettings(useSystemStore: false, additionalRoots: TrustRoots(certificates: [root.certificate])))
        guard case .judged(let v) = j.judge(der: [leaf.der], serverName: name, at: Date()) else { return nil }
        return v
    }

    func testJudgeMatchesIPSANsForAddresses() throws {
        let root = try TestPKI.root("Lab Root")
        let leaf = try TestPKI.leaf("resolver.lab.test", dnsNames: ["resolver.lab.test"], ipAddresses: ["10.88.1.53", "fd88::53"], ca: root)
        XCTAssertEqual(judge(leaf, root: root, name: "10.88.1.53")?.problems, [], "the IPv4 SAN covers the address")
        XCTAssertEqual(judge(leaf, root: root, name: "fd88::53")?.problems, [], "the IPv6 SAN covers the address")
        XCTAssertEqual(judge(leaf, root: root, name: "resolver.lab.test")?.problems, [], "the DNS name still matches")
        XCTAssertEqual(judge(leaf, root: root, name: "10.88.1.54")?.problems, [.nameMismatch], "another address does not match")

        // A certificate with the address only in its CN / a DNS SAN spelled as an address: no match.
        let textual = try TestPKI.leaf("10.88.1.53", dnsNames: ["10.88.1.53"], ca: root)
        XCTAssertEqual(judge(textual, root: root, name: "10.88.1.53")?.problems, [.nameMismatch], "an address needs an iPAddress SAN")
    }

    func testCertificateNamesForDoTChecks() throws {
        let root = try TestPKI.root("Lab Root")
        let leaf = try TestPKI.leaf("resolver.lab.test", dnsNames: ["resolver.lab.test"], ipAddresses: ["10.88.1.53"], ca: root)
        XCTAssertTrue(CertificateNames.names(leaf.der, host: "resolver.lab.test"))
        XCTAssertTrue(CertificateNames.names(leaf.der, host: "10.88.1.53"), "an address configured as the name: its IP SAN")
        XCTAssertFalse(CertificateNames.names(leaf.der, host: "10.88.1.54"))
        let ipOnly = try TestPKI.leaf("x", ipAddresses: ["10.88.1.53"], ca: root)
        XCTAssertFalse(CertificateNames.names(ipOnly.der, host: "resolver.lab.test"), "a name is never proven by an IP SAN")
        XCTAssertTrue(CertificateNames.isIPLiteral("10.88.1.53") && CertificateNames.isIPLiteral("fd88::53") && CertificateNames.isIPLiteral("[fd88::53]"))
        XCTAssertFalse(CertificateNames.isIPLiteral("resolver.lab.test") || CertificateNames.isIPLiteral("1.2.3") || CertificateNames.isIPLiteral(""))
    }
}

/// Chains in old captures that end at roots retired since (Symantec's brands after the 2018
/// distrust) are recognised, so the untrusted-certificate policy lowers them to info.
final class RetiredRootTests: XCTestCase {
    func testSymantecEraRootsAreRetired() {
        let g5 = "CN=VeriSign Class 3 Public Primary Certification Authority - G5,OU=(c) 2006 VeriSign\\, Inc. - For authorized use only,OU=VeriSign Trust Network,O=VeriSign\\, Inc.,C=US"
        XCTAssertEqual(RetiredRoots.match(g5), "VeriSign Class 3 Public Primary Certification Authority - G5")
        XCTAssertEqual(RetiredRoots.match("CN=GeoTrust Primary Certification Authority - G3,O=GeoTrust Inc.,C=US"),
                       "GeoTrust Primary Certification Authority - G3")
        XCTAssertNil(RetiredRoots.match("CN=Lab Interception CA,O=Lab Interception"), "an unknown CA is not a retired public root")
        XCTAssertNil(RetiredRoots.match("CN=VeriSign Class 3 Public Primary Certification Authority - G9,C=US"), "whole names only")
    }
}
