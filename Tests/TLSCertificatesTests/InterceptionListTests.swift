import Foundation
import TLSCertificates
import XCTest

final class InterceptionListTests: XCTestCase {
    /// rules/tls-interception-issuers.txt and the compiled-in copy must not drift apart.
    func testBuiltInListEqualsRulesFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent("rules/tls-interception-issuers.txt"), encoding: .utf8)
        XCTAssertEqual(InterceptionIssuers.builtInText + "\n", file, "edit rules/tls-interception-issuers.txt and InterceptionIssuers.swift together")
    }

    func testMatchingIsCaseInsensitiveSubstring() {
        let list = InterceptionIssuerList(text: "# comment\nFortiGate\n  Zscaler  # trailing comment\n\n")
        XCTAssertEqual(list.patterns, ["FortiGate", "Zscaler"])
        XCTAssertEqual(list.match("CN=FORTIGATE CA,O=Fortinet,C=US"), "FortiGate")
        XCTAssertEqual(list.match("CN=Zscaler Intermediate Root CA (zscaler.net),O=Zscaler Inc."), "Zscaler")
        XCTAssertNil(list.match("CN=R3,O=Let's Encrypt,C=US"))
        XCTAssertNotNil(InterceptionIssuers.builtIn.match("CN=mitmproxy,O=mitmproxy"))
        XCTAssertNotNil(InterceptionIssuers.builtIn.match("OU=Created by http://www.fiddler2.com,O=DO_NOT_TRUST,CN=DO_NOT_TRUST_FiddlerRoot"))
    }
}
