import FirewallAudit
import Foundation
import NetTypes
import ResolverCatalog
import XCTest

final class ResolverCatalogTests: XCTestCase {
    /// rules/doh-resolvers.txt is the catalogue's address list, byte for byte.
    func testRulesFileIsTheCatalogue() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent("rules/doh-resolvers.txt"), encoding: .utf8)
        XCTAssertEqual(file, ResolverCatalog.addressListText, "edit Sources/ResolverCatalog and rules/doh-resolvers.txt together")
    }

    /// Every listed address parses; identities are main addresses of their operator; names are lowercase.
    func testCatalogueIsWellFormed() {
        let parsed = ResolverAddressList.parse(ResolverCatalog.addressListText)
        XCTAssertEqual(parsed.bad, [])
        XCTAssertEqual(parsed.ranges.count, ResolverCatalog.operators.reduce(0) { $0 + $1.addresses.count })
        XCTAssertEqual(ResolverAddressList.builtIn.count, parsed.ranges.count)
        var seen = Set<String>()
        for op in ResolverCatalog.operators {
            XCTAssertEqual(op.listHeading == nil, op.addresses.isEmpty, op.name)
            XCTAssertEqual(op.identityAddresses.isEmpty, op.tlsName == nil, op.name)
            for a in op.identityAddresses {
                XCTAssertTrue(op.addresses.contains(a), "\(op.name): \(a)")
                XCTAssertTrue(IPAddress.isLiteral(a), a)
                XCTAssertEqual(IPAddress(a)?.description, a, "identity addresses are written canonically (lookups compare text)")
            }
            for a in op.addresses { XCTAssertTrue(seen.insert(a).inserted, "\(a) listed twice") }
            for n in op.dohNames { XCTAssertEqual(n, n.lowercased()) }
        }
    }

    func testLookups() {
        XCTAssertEqual(ResolverCatalog.identity(for: "9.9.9.9")?.name, "Quad9")
        XCTAssertEqual(ResolverCatalog.identity(for: "2606:4700:4700::1111")?.tlsName, "cloudflare-dns.com")
        XCTAssertEqual(ResolverCatalog.tlsName(for: "8.8.4.4"), "dns.google")
        XCTAssertNil(ResolverCatalog.identity(for: "1.1.1.2"), "a family address: in the block list, no identity claimed")
        XCTAssertNil(ResolverCatalog.identity(for: "192.0.2.53"))
        XCTAssertTrue(ResolverCatalog.dohNames.contains("dns.nextdns.io"))
        XCTAssertTrue(ResolverCatalog.dohNames.contains("ordns.he.net"))
        XCTAssertEqual(Set(ResolverCatalog.operators.flatMap(\.dohNames)).count, 30, "the list the capture used before the catalogue")
        XCTAssertEqual(ResolverCatalog.dohNames.count, 30 + ResolverCatalog.odohEndpoints.count, "and the ODoH targets and relays")
        XCTAssertEqual(ResolverCatalog.odohEndpoints["odoh-relay.edgecompute.app"], "relay")
        XCTAssertEqual(ResolverCatalog.odohEndpoints["odoh.cloudflare-dns.com"], "target")
        XCTAssertTrue(ResolverAddressList.builtIn.contains { $0.contains(IPAddress("45.90.28.17")!) }, "NextDNS prefix")
    }

    /// The default references are IP literals of operators whose identity the catalogue knows.
    func testDefaultReferencesAreKnownIdentities() {
        for r in ResolverCatalog.defaultReferences {
            let host = r.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "tls://", with: "")
                .split(separator: "/").first.map(String.init) ?? ""
            XCTAssertNotNil(ResolverCatalog.identity(for: host), r)
        }
    }
}
