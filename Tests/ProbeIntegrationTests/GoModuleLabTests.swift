import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Root only. `dnsaudit probe --goproxy` in the probe lab (no route out): a local HTTPS server
/// (Tests/Fixtures/goproxy/goproxy_server.py, certificates from the lab CA with IP SANs) plays the
/// module proxy at 198.18.60.10 and the checksum database at 198.18.60.20; GOPROXY and GOSUMDB
/// point at them (never at proxy.golang.org / sum.golang.org). The router's nft drops one of them;
/// the report must name the one that fails first. Truth: the router's nft counter.
final class GoModuleLabTests: XCTestCase {
    static let proxyAddress = "198.18.60.10"
    static let sumdbAddress = "198.18.60.20"
    private var lab: ProbeLab?
    private var savedEnvironment: [String: String?] = [:]

    override func setUp() {
        super.setUp()
        // The probe inherits this process's environment: only lab URLs, nothing private.
        let lab = ["GOPROXY": "https://\(Self.proxyAddress)", "GOSUMDB": "sum.lab.test https://\(Self.sumdbAddress)"]
        for name in ["GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOPROXY", "GOPRIVATE", "GOFLAGS"] {
            savedEnvironment[name] = ProcessInfo.processInfo.environment[name]
            if let v = lab[name] { setenv(name, v, 1) } else { unsetenv(name) }
        }
    }

    override func tearDown() {
        for (name, value) in savedEnvironment {
            if let value { setenv(name, value, 1) } else { unsetenv(name) }
        }
        if let lab {
            lab.finish(after: testRun, keptMessage: "Go module lab \(lab.tag): files kept for inspection in \(lab.dir.path)")
        }
        lab = nil
        super.tearDown()
    }

    static var fixture: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/goproxy/goproxy_server.py")
    }

    private func makeLab(_ tag: String) throws -> (ProbeLab, ProbeLabPKI) {
        let tools = try ProbeLabTools.require()
        guard let python = tools.python3 else { throw ProbeLabTools.skip("needs python3 (the proxy / checksum database server)") }
        let lab = try ProbeLab(tools: tools, tag: tag)
        self.lab = lab
        try lab.build(extraServiceAddresses: [ProbeLab.hostileAddress, Self.proxyAddress, Self.sumdbAddress])
        let pki = try ProbeLabPKI.make(in: lab.dir, openssl: tools.openssl)
        let openssl = OpenSSLTestPKI(dir: lab.dir, openssl: tools.openssl)
        try makeLeafWithAddress(openssl, "goproxy", ca: "ca", name: "proxy.lab.test", address: Self.proxyAddress)
        try makeLeafWithAddress(openssl, "gosumdb", ca: "ca", name: "sum.lab.test", address: Self.sumdbAddress)
        try lab.startServices(pki)
        for (name, address) in [("goproxy", Self.proxyAddress), ("gosumdb", Self.sumdbAddress)] {
            let p = try lab.spawn(lab.servicesNS, name: name, [python, Self.fixture.path, address, "443",
                                                              lab.file("\(name).pem").path, lab.file("\(name).key").path])
            try lab.waitListening(lab.servicesNS, p, ["\(address):443"])
        }
        return (lab, pki)
    }

    private func probe(_ lab: ProbeLab, _ pki: ProbeLabPKI) throws -> ProbeReport {
        let r = try lab.dnsaudit(ProbeLab.probeArguments(targets: ["--goproxy"], caFile: pki.caCert))
        print("dnsaudit probe --goproxy: \(r.described)")
        return r
    }

    private func goInput(_ r: ProbeReport) -> [String: Any]? {
        (r.report["inputs"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "go modules" }
    }

    private func dropRule(_ lab: ProbeLab, _ address: String) throws {
        try lab.routerRules("""
        table ip dnsaudit_lab {
            chain forward {
                type filter hook forward priority filter; policy accept;
                ip daddr \(address) tcp dport 443 counter drop
            }
        }

        """)
    }

    private func routerCounter(_ lab: ProbeLab) throws -> Int {
        let listing = try lab.exec(lab.routerNS, [lab.programs.nft, "list", "chain", "ip", "dnsaudit_lab", "forward"]).stdout
        guard let m = listing.range(of: #"counter packets [0-9]+"#, options: .regularExpression) else { return -1 }
        return Int(listing[m].split(separator: " ").last ?? "") ?? -1
    }

    func testProxyAndChecksumDatabaseReachable() throws {
        let (lab, pki) = try makeLab("o")
        let r = try probe(lab, pki)
        let input = goInput(r)
        XCTAssertEqual(input?["fails_first"] as? String, "none", "\(ProbeReport.json(input ?? [:]))\n\(r.described)")
        XCTAssertEqual(input?["proxy1"] as? String, "https://\(Self.proxyAddress): reachable", "\(ProbeReport.json(input ?? [:]))")
        XCTAssertEqual(input?["checksum_database"] as? String, "https://\(Self.sumdbAddress): reachable", "\(ProbeReport.json(input ?? [:]))")
        XCTAssertTrue(r.notes.contains { $0.hasPrefix("GOSUMDB=sum.lab.test https://\(Self.sumdbAddress)") }, "\(r.notes)")
        XCTAssertTrue(r.mediumOrAboveFindings.isEmpty, "\(r.described)")
    }

    func testDroppedChecksumDatabaseIsNamed() throws {
        let (lab, pki) = try makeLab("p")
        try dropRule(lab, Self.sumdbAddress)
        let r = try probe(lab, pki)
        XCTAssertGreaterThan(try routerCounter(lab), 0, "nft: the router dropped TCP to the checksum database")
        let input = goInput(r)
        XCTAssertEqual(input?["fails_first"] as? String, "checksum database https://\(Self.sumdbAddress)", "\(ProbeReport.json(input ?? [:]))\n\(r.described)")
        XCTAssertEqual(input?["proxy1"] as? String, "https://\(Self.proxyAddress): reachable", "the proxy still works")
        XCTAssertTrue(r.notes.contains { $0.contains("fails first at the checksum database") }, "\(r.notes)")
    }

    func testDroppedProxyIsNamed() throws {
        let (lab, pki) = try makeLab("r")
        try dropRule(lab, Self.proxyAddress)
        let r = try probe(lab, pki)
        XCTAssertGreaterThan(try routerCounter(lab), 0, "nft: the router dropped TCP to the proxy")
        let input = goInput(r)
        XCTAssertEqual(input?["fails_first"] as? String, "module proxy https://\(Self.proxyAddress)", "\(ProbeReport.json(input ?? [:]))\n\(r.described)")
        XCTAssertEqual(input?["checksum_database"] as? String, "https://\(Self.sumdbAddress): reachable", "\(ProbeReport.json(input ?? [:]))")
    }
}
