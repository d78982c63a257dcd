@testable import AnalysisEngine
import Findings
import Foundation
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// Issue 20 item 11 beyond ports and the catalogue's addresses, on PacketSynth-built traffic fed
/// to the analyzer: DoH to the endpoints a captured DDR answer (`_dns.resolver.arpa` SVCB)
/// designated, by address and by name; ODoH by a ClientHello naming a known relay; cleartext DoH
/// counted per client and server. Each capture also carries look-alikes that must not be counted.
final class EncryptedDNSClassificationTests: XCTestCase {
    let client = IPAddress("198.18.70.10")!
    let plainResolver = IPAddress("198.18.70.53")!
    let dohByHint = IPAddress("198.18.71.1")!       // designated: ipv4hint of doh.lab.test
    let dotByHint = IPAddress("198.18.71.2")!       // designated: ipv4hint of dot.lab.test (DoT, port 853)
    let dohByName = IPAddress("198.18.71.3")!       // not hinted: its ClientHello names doh.lab.test
    let web = IPAddress("198.18.71.9")!             // plain HTTPS to www.lab.test: never counted
    let odohRelay = IPAddress("198.18.72.1")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    // MARK: - Wire bytes

    static func name(_ n: String) -> [UInt8] {
        n.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }

    /// One SVCB RR (owner `_dns.resolver.arpa`, by a pointer to the question) with alpn, optional port, one ipv4hint.
    static func svcb(priority: UInt16, target: String, alpn: [String], port: UInt16?, hint: [UInt8]) -> [UInt8] {
        var rd: [UInt8] = [UInt8(priority >> 8), UInt8(priority & 0xff)] + name(target)
        let ids = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        rd += [0, 1, 0, UInt8(ids.count)] + ids
        if let port { rd += [0, 3, 0, 2, UInt8(port >> 8), UInt8(port & 0xff)] }
        rd += [0, 4, 0, 4] + hint
        return [0xc0, 0x0c, 0, 64, 0, 1, 0, 0, 0x0e, 0x10, UInt8(rd.count >> 8), UInt8(rd.count & 0xff)] + rd
    }

    /// The DDR query and its answer: doh.lab.test (h2, hint dohByHint), dot.lab.test (dot, port 853, hint dotByHint).
    static func ddrExchange(id: UInt16) -> (query: [UInt8], answer: [UInt8]) {
        let question = name("_dns.resolver.arpa") + [0, 64, 0, 1]
        let q: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0] + question
        let rrs = svcb(priority: 1, target: "doh.lab.test", alpn: ["h2"], port: nil, hint: [198, 18, 71, 1])
            + svcb(priority: 2, target: "dot.lab.test", alpn: ["dot"], port: 853, hint: [198, 18, 71, 2])
        let a: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0] + question + rrs
        return (q, a)
    }

    // MARK: - Running the analyzer

    final class Capture {
        var frames: [[UInt8]] = []
        var rng = SplitMix64(seed: 7)
        var nextPort: UInt16 = 40_000

        func udp(_ from: IPAddress, _ sport: UInt16, _ to: IPAddress, _ dport: UInt16, _ payload: [UInt8]) {
            frames.append(IPPacket.udp(from: from, sport, to: to, dport, payload: payload))
        }

        /// A TLS connection: handshake, a ClientHello naming `sni` (none: no hello), `records` application-data records each way.
        func tls(_ client: IPAddress, _ server: IPAddress, port: UInt16, sni: String?, records: Int = 2) {
            nextPort += 1
            var conv = TCPConversation(client: client, clientPort: nextPort, server: server, serverPort: port,
                                       clientIP: IPFields(ttl: 64, identification: 100), serverIP: IPFields(ttl: 60, identification: 9_000))
            frames += conv.handshake()
            if let sni {
                let hello = TLSRecords.clientHello(serverName: sni, rng: &rng)
                frames += conv.send(hello, from: .client)
                frames += conv.send(TLSRecords.serverHello(sessionID: TLSRecords.sessionID(ofClientHello: hello), rng: &rng), from: .server)
            }
            for _ in 0..<records {
                frames += conv.send(TLSRecords.applicationData(length: 120, rng: &rng), from: .client)
                frames += conv.send(TLSRecords.applicationData(length: 300, rng: &rng), from: .server)
            }
            frames += conv.close()
        }

        /// A cleartext HTTP/1.1 DoH exchange (POST, application/dns-message) on `port`.
        func cleartextDoH(_ client: IPAddress, _ server: IPAddress, port: UInt16) {
            nextPort += 1
            let query: [UInt8] = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0] + EncryptedDNSClassificationTests.name("example.com") + [0, 1, 0, 1]
            var answer = query
            answer[2] = 0x81; answer[3] = 0x80; answer[7] = 1
            answer += [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]
            let post = Array("POST /dns-query HTTP/1.1\r\nHost: r.example\r\nContent-Type: application/dns-message\r\nContent-Length: \(query.count)\r\n\r\n".utf8)
            let ok = Array("HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: \(answer.count)\r\n\r\n".utf8)
            var conv = TCPConversation(client: client, clientPort: nextPort, server: server, serverPort: port,
                                       clientIP: IPFields(ttl: 64, identification: 100), serverIP: IPFields(ttl: 60, identification: 9_000))
            frames += conv.handshake()
            frames += conv.send(post + query, from: .client)
            frames += conv.send(ok + answer, from: .server)
            frames += conv.close()
        }
    }

    /// The `encrypted-dns` report inputs of the capture, as (resolver, protocol) → facts.
    func rows(_ c: Capture) -> [String: [String: SubjectValue]] {
        var o = AnalysisOptions()
        o.trust = nil
        let a = CaptureAnalyzer(options: o)
        a.beginInput(name: "test")
        for (i, f) in c.frames.enumerated() {
            f.withUnsafeBytes { a.processFrame($0, link: .raw, frame: UInt64(i + 1), ts: t0.adding(nanoseconds: Int64(i) * 1_000_000)) }
        }
        var result = InputResult(name: "test", linkType: .raw)
        result.first = t0
        result.last = t0.adding(nanoseconds: Int64(c.frames.count) * 1_000_000)
        result.packets = c.frames.count
        a.endInput(result)
        _ = a.finish()
        var out: [String: [String: SubjectValue]] = [:]
        for input in EncryptedDNSSummary.reportInputs(of: a) {
            let facts = Dictionary(input.facts, uniquingKeysWith: { x, _ in x })
            guard case .string(let server)? = facts["resolver"], case .string(let proto)? = facts["protocol"] else { continue }
            out["\(server) \(proto)"] = facts
        }
        return out
    }

    func string(_ v: SubjectValue?) -> String? { if case .string(let s)? = v { return s } else { return nil } }
    func int(_ v: SubjectValue?) -> Int? { if case .int(let n)? = v { return n } else { return nil } }

    /// The traffic after the DDR exchange: DoH to the hinted address (no SNI in the capture: the
    /// hello was before it started), DoH to an unhinted address whose hello names the designated
    /// target, DoT to the DoT designation, plain HTTPS elsewhere.
    func designatedTraffic(_ c: Capture) {
        c.tls(client, dohByHint, port: 443, sni: nil, records: 3)
        c.tls(client, dohByName, port: 443, sni: "doh.lab.test")
        c.tls(client, dotByHint, port: 853, sni: "dot.lab.test")
        c.tls(client, web, port: 443, sni: "www.lab.test")
    }

    func testDDRDesignatedEndpointsCountAsEncryptedDNS() {
        let c = Capture()
        let ddr = Self.ddrExchange(id: 0x4242)
        c.udp(client, 53_001, plainResolver, 53, ddr.query)
        c.udp(plainResolver, 53, client, 53_001, ddr.answer)
        designatedTraffic(c)
        let r = rows(c)
        XCTAssertEqual(Set(r.keys), ["\(dohByHint) DoH", "\(dohByName) DoH", "\(dotByHint) DoT"], "\(r)")
        XCTAssertEqual(string(r["\(dohByHint) DoH"]?["identified_by"]), "ddr doh.lab.test", "\(r)")
        XCTAssertEqual(string(r["\(dohByName) DoH"]?["identified_by"]), "ddr doh.lab.test", "\(r)")
        XCTAssertEqual(string(r["\(dotByHint) DoT"]?["identified_by"]), "ddr dot.lab.test", "\(r)")
        // The hinted address: 3 records each way + the closing segments; flows = one client port.
        XCTAssertEqual(int(r["\(dohByHint) DoH"]?["flows"]), 1)
        XCTAssertGreaterThanOrEqual(int(r["\(dohByHint) DoH"]?["packets"]) ?? 0, 6)
        XCTAssertEqual(string(r["\(dohByHint) DoH"]?["client"]), client.description)
        // The client also asked the plain resolver (the DDR query): not a bypass.
        XCTAssertEqual(string(r["\(dohByHint) DoH"]?["plain_dns"]), "\(plainResolver) (1)", "\(r)")
    }

    /// Without the DDR answer the same TCP 443 traffic is plain HTTPS: only DoT (by its port) is counted.
    func testWithoutTheDDRAnswerNothingOn443IsDoH() {
        let c = Capture()
        designatedTraffic(c)
        let r = rows(c)
        XCTAssertEqual(Set(r.keys), ["\(dotByHint) DoT"], "\(r)")
        XCTAssertNil(r["\(dotByHint) DoT"]?["identified_by"], "\(r)")
    }

    /// A DDR answer with an error rcode, or for another name, designates nothing.
    func testOnlyASuccessfulDDRAnswerDesignates() {
        let c = Capture()
        var ddr = Self.ddrExchange(id: 7)
        ddr.answer[3] = 0x82  // SERVFAIL
        c.udp(plainResolver, 53, client, 53_002, ddr.answer)
        var other = Self.ddrExchange(id: 8).answer
        if let i = other.firstIndex(of: UInt8(ascii: "_")) { other[i] = UInt8(ascii: "x") }  // _dns → xdns
        c.udp(plainResolver, 53, client, 53_003, other)
        designatedTraffic(c)
        XCTAssertEqual(Set(rows(c).keys), ["\(dotByHint) DoT"])
    }

    func testODoHRelayByServerName() {
        let c = Capture()
        c.tls(client, odohRelay, port: 443, sni: "odoh-relay.edgecompute.app")
        c.tls(client, web, port: 443, sni: "odoh-relay.example.net")  // a look-alike name
        let r = rows(c)
        XCTAssertEqual(Set(r.keys), ["\(odohRelay) ODoH"], "\(r)")
        XCTAssertEqual(string(r["\(odohRelay) ODoH"]?["odoh_role"]), "relay")
        XCTAssertEqual(string(r["\(odohRelay) ODoH"]?["identified_by"]), "sni odoh-relay.edgecompute.app")
        XCTAssertEqual(string(r["\(odohRelay) ODoH"]?["plain_dns"]), "none seen: bypasses the network's resolver")
    }

    func testCleartextDoHIsCountedPerClientAndServer() {
        let c = Capture()
        let server = IPAddress("198.18.73.80")!
        c.cleartextDoH(client, server, port: 80)
        c.cleartextDoH(client, server, port: 80)
        let r = rows(c)
        XCTAssertEqual(Set(r.keys), ["\(server) DoH"], "\(r)")
        let row = r["\(server) DoH"]
        XCTAssertEqual(string(row?["client"]), client.description)
        XCTAssertEqual(int(row?["port"]), 80)
        XCTAssertEqual(int(row?["flows"]), 2, "two connections")
        XCTAssertEqual(int(row?["packets"]), 4, "a query and an answer on each")
        XCTAssertEqual(string(row?["identified_by"]), "cleartext")
    }
}

extension EncryptedDNSClassificationTests {
    /// Cleartext ODoH (RFC 9230 over HTTP/1.1): the request names application/oblivious-dns-message,
    /// the bodies are opaque. Counted as ODoH for its client and server; a plain web POST whose
    /// body merely mentions "dns-message" is not.
    func testCleartextODoHByContentType() {
        let c = Capture()
        let server = IPAddress("198.18.74.80")!, other = IPAddress("198.18.74.81")!
        var rng = SplitMix64(seed: 3)
        let body = rng.bytes(96)
        let post = Array("POST /dns-query HTTP/1.1\r\nHost: target.lab.test\r\nContent-Type: application/oblivious-dns-message\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        let ok = Array("HTTP/1.1 200 OK\r\nContent-Type: application/oblivious-dns-message\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        var conv = TCPConversation(client: client, clientPort: 41_000, server: server, serverPort: 80,
                                   clientIP: IPFields(ttl: 64, identification: 100), serverIP: IPFields(ttl: 60, identification: 9_000))
        c.frames += conv.handshake()
        c.frames += conv.send(post + body, from: .client)
        c.frames += conv.send(ok + body, from: .server)
        c.frames += conv.close()
        let text = Array("note=dns-message is a media type".utf8)
        let web = Array("POST /form HTTP/1.1\r\nHost: www.lab.test\r\nContent-Type: text/plain\r\nContent-Length: \(text.count)\r\n\r\n".utf8) + text
        var conv2 = TCPConversation(client: client, clientPort: 41_001, server: other, serverPort: 80,
                                    clientIP: IPFields(ttl: 64, identification: 200), serverIP: IPFields(ttl: 60, identification: 9_100))
        c.frames += conv2.handshake()
        c.frames += conv2.send(web, from: .client)
        c.frames += conv2.send(Array("HTTP/1.1 204 No Content\r\n\r\n".utf8), from: .server)
        c.frames += conv2.close()
        let r = rows(c)
        XCTAssertEqual(Set(r.keys), ["\(server) ODoH"], "\(r)")
        XCTAssertEqual(string(r["\(server) ODoH"]?["client"]), client.description)
        XCTAssertEqual(int(r["\(server) ODoH"]?["port"]), 80)
        XCTAssertEqual(int(r["\(server) ODoH"]?["flows"]), 1)
        XCTAssertGreaterThanOrEqual(int(r["\(server) ODoH"]?["packets"]) ?? 0, 2, "the request and the response")
        XCTAssertNil(r["\(server) ODoH"]?["odoh_role"], "a cleartext connection's role is not known")
    }
}
