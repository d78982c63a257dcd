import DNSWire
import Foundation
import NIOCore
import ResolverClients
import XCTest

/// The reference clients against real servers on loopback: unbound with DoH (HTTP/2), DoT and
/// Do53 for a local zone, and hostile servers (silent, garbage, truncated). Loopback only.
final class ClientTests: XCTestCase {
    nonisolated(unsafe) static var lab: LoopbackLab?
    nonisolated(unsafe) static var labError: String?

    override class func setUp() {
        super.setUp()
        do { lab = try LoopbackLab.start() } catch { labError = "\(error)" }
    }

    override class func tearDown() {
        lab?.stop()
        lab = nil
        super.tearDown()
    }

    func requireLab() throws -> LoopbackLab {
        guard let lab = Self.lab else { throw XCTSkip("loopback resolver lab not available: \(Self.labError ?? "?")") }
        return lab
    }

    func settings(_ lab: LoopbackLab, timeoutMS: Int64 = 2000) -> ClientSettings {
        var s = ClientSettings()
        s.caFile = lab.caFile
        s.timeout = .milliseconds(timeoutMS)
        s.retries = 0
        return s
    }

    func ask(_ url: String, _ s: ClientSettings, name: String = "www.lab.test", type: UInt16 = DNSType.a) throws -> DNSMessage {
        let e = try ResolverEndpoint.parse(url)
        let c = try ResolverClient(endpoint: e, settings: s, group: ResolverEventLoops.shared)
        defer { try? runBlocking { await c.close() } }
        return try runBlocking { try await c.query(name, type: type) }
    }

    func testEveryTransportAnswers() throws {
        let lab = try requireLab()
        var post = settings(lab)
        post.dohPOST = true
        for (url, s) in [("https://\(lab.address):\(lab.dohPort)/dns-query#resolver.lab.test", settings(lab)),
                         ("https://\(lab.address):\(lab.dohPort)/dns-query#resolver.lab.test", post),
                         ("tls://\(lab.address):\(lab.dotPort)#resolver.lab.test", settings(lab)),
                         ("udp://\(lab.address):\(lab.dnsPort)", settings(lab)),
                         ("tcp://\(lab.address):\(lab.dnsPort)", settings(lab))] {
            let m = try ask(url, s)
            XCTAssertEqual(m.rcode, 0, url)
            XCTAssertEqual(m.answers.first.map { "\($0.rdata)" }?.contains("198.18.50.10"), true, url)
            let nx = try ask(url, s, name: "nope.lab.test")
            XCTAssertEqual(nx.rcode, 3, url)
        }
    }

    func testDoTPipelinesManyQueries() throws {
        let lab = try requireLab()
        let e = try ResolverEndpoint.parse("tls://\(lab.address):\(lab.dotPort)#resolver.lab.test")
        let c = try ResolverClient(endpoint: e, settings: settings(lab), group: ResolverEventLoops.shared)
        defer { try? runBlocking { await c.close() } }
        let codes = try runBlocking {
            try await withThrowingTaskGroup(of: UInt16.self) { g in
                for i in 0..<40 { g.addTask { try await c.query(i % 2 == 0 ? "www.lab.test" : "nope\(i).lab.test", type: DNSType.a).rcode } }
                var out: [UInt16] = []
                for try await r in g { out.append(r) }
                return out
            }
        }
        XCTAssertEqual(codes.filter { $0 == 0 }.count, 20)
        XCTAssertEqual(codes.filter { $0 == 3 }.count, 20)
    }

    func testTheCertificateMustCarryTheName() throws {
        let lab = try requireLab()
        // The server certificate has an IP SAN for the lab address, but not this name: refused.
        XCTAssertThrowsError(try ask("tls://\(lab.address):\(lab.dotPort)#other.lab.test", settings(lab))) { e in
            XCTAssertTrue("\(e)".contains("does not name") || "\(e)".contains("certificate"), "\(e)")
        }
        XCTAssertThrowsError(try ask("https://\(lab.address):\(lab.dohPort)/dns-query#other.lab.test", settings(lab)))
        // Without the lab CA, nothing is trusted.
        var noCA = settings(lab)
        noCA.caFile = nil
        XCTAssertThrowsError(try ask("tls://\(lab.address):\(lab.dotPort)#resolver.lab.test", noCA))
    }

    func testHostileServersFailCleanly() throws {
        let lab = try requireLab()
        let s = settings(lab, timeoutMS: 800)
        // Accepts and never answers: a timeout.
        XCTAssertThrowsError(try ask("tcp://\(lab.address):\(lab.silentPort)", s)) { e in
            XCTAssertEqual(ResolverError.classify(e), .timeout, "\(e)")
        }
        // Sends garbage framed as a DNS message, then a truncated message: bad response, no crash.
        for port in [lab.garbagePort, lab.truncatedPort] {
            XCTAssertThrowsError(try ask("tcp://\(lab.address):\(port)", s)) { e in
                let c = ResolverError.classify(e)
                switch c {
                case .badResponse, .closed, .timeout: break
                default: XCTFail("port \(port): \(c)")
                }
            }
        }
        // Nobody listens: refused.
        XCTAssertThrowsError(try ask("tls://\(lab.address):\(lab.closedPort)#resolver.lab.test", s)) { e in
            XCTAssertEqual(ResolverError.classify(e), .connectionRefused)
        }
    }
}
