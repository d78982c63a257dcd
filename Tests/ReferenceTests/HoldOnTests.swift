import AnswerComparison
import DNSWire
import Foundation
import NIOCore
import FindingPolicy
@testable import Probes
@testable import ResolverClients
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Hold-On (issue 15 bug 12) against a loopback UDP server that answers each query once or
/// twice: the client keeps listening after the first answer and hears the second.
final class HoldOnTests: XCTestCase {
    /// A UDP server on 127.0.0.1 (a thread of this process): for each query, `answers` replies
    /// (A records), the n-th after `delays[n]` ms.
    final class RacingServer: @unchecked Sendable {
        let fd: Int32
        let port: Int
        convenience init(answers: [String], delays: [Double]) throws {
            try self.init { q in
                guard let question = q.questions.first else { return [] }
                return answers.enumerated().map { (delays[$0.offset], RacingServer.answer(id: q.id, name: question.name, address: $0.element)) }
            }
        }

        /// `replies` gives, per query, the answers to send and when (ms after the query).
        init(replies: @escaping @Sendable (DNSMessage) -> [(Double, [UInt8])]) throws {
            let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
            guard bound == 0 else { throw NSError(domain: "bind", code: Int(errno)) }
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
            port = Int(UInt16(bigEndian: addr.sin_port))
            fd = s
            let sock = s
            Thread.detachNewThread {
                var buf = [UInt8](repeating: 0, count: 2048)
                while true {
                    var peer = sockaddr_in()
                    var plen = socklen_t(MemoryLayout<sockaddr_in>.size)
                    let n = withUnsafeMutablePointer(to: &peer) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(sock, &buf, buf.count, 0, $0, &plen) }
                    }
                    if n <= 0 { return }
                    guard case .success(let q) = DNSMessage.parse(Array(buf[0..<n])) else { continue }
                    var last = 0.0
                    for (at, reply) in replies(q) {
                        Thread.sleep(forTimeInterval: max(0, at - last) / 1000)
                        last = at
                        _ = withUnsafePointer(to: &peer) { p in
                            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sock, reply, reply.count, 0, $0, plen) }
                        }
                    }
                }
            }
        }

        static func answer(id: UInt16, name: String, address: String) -> [UInt8] {
            var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
            for label in name.split(separator: ".") {
                out.append(UInt8(label.utf8.count))
                out += Array(label.utf8)
            }
            out += [0, 0, 1, 0, 1, 0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]
            out += address.split(separator: ".").map { UInt8($0)! }
            return out
        }

        func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    func client(_ port: Int) throws -> ResolverClient {
        var settings = ClientSettings()
        settings.timeout = .seconds(2)
        return try ResolverClient(endpoint: ResolverEndpoint(transport: .udp, host: "127.0.0.1", port: port), settings: settings,
                                  group: ResolverEventLoops.shared)
    }

    func testSecondDifferentAnswerIsHeardAndReported() throws {
        let server = try RacingServer(answers: ["192.0.2.66", "198.51.100.10"], delays: [0, 80])
        defer { server.stop() }
        let c = try client(server.port)
        let held = try runBlocking { try await c.queryHoldingOn("www.example.test", type: DNSType.a) }
        runBlockingClose(c)
        XCTAssertEqual(AnswerSet(message: held.first).addresses, ["192.0.2.66"], "the first answer is what a client would take")
        XCTAssertEqual(held.later.map { AnswerSet(message: $0.message).addresses }, [["198.51.100.10"]], "the second is heard")
        XCTAssertGreaterThanOrEqual(held.windowMilliseconds, 200)

        // The references agree with the second: it is the resolver's own, the first the injector's.
        let runner = ProbeRunner(ProbeConfiguration())
        let refs: [AnswerSet?] = [AnswerSet(rcode: 0, addresses: ["198.51.100.10"])]
        let r = runner.injectionFinding("www.example.test", endpoint: ResolverEndpoint(transport: .udp, host: "127.0.0.1", port: server.port),
                                        held: held, references: refs)
        XCTAssertEqual(r?.finding.kind, .dnsInjection)
        XCTAssertEqual(r?.finding.severity, .high)
        XCTAssertEqual(r.map { AnswerSet(message: $0.genuine).addresses }, ["198.51.100.10"])
    }

    func testDuplicateAnswerIsNoInjection() throws {
        let server = try RacingServer(answers: ["198.51.100.10", "198.51.100.10"], delays: [0, 30])
        defer { server.stop() }
        let c = try client(server.port)
        let held = try runBlocking { try await c.queryHoldingOn("www.example.test", type: DNSType.a) }
        runBlockingClose(c)
        XCTAssertEqual(held.later.count, 1, "the retransmitted duplicate is heard")
        let r = ProbeRunner(ProbeConfiguration()).injectionFinding(
            "www.example.test", endpoint: ResolverEndpoint(transport: .udp, host: "127.0.0.1", port: server.port), held: held, references: [])
        XCTAssertNil(r, "identical duplicates are never an injection")
    }

    func testWindowFollowsTheResolversUsualRTTAndIsBounded() {
        var settings = ClientSettings()
        settings.timeout = .seconds(3)
        let c = DatagramDNSClient(endpoint: ResolverEndpoint(transport: .udp, host: "127.0.0.1", port: 53), settings: settings,
                                  group: ResolverEventLoops.shared)
        XCTAssertEqual(c.holdOnWindow(afterFirstAnswerIn: 1), 200, "at least 200 ms")
        XCTAssertEqual(c.holdOnWindow(afterFirstAnswerIn: 100), 400, "four times the first answer's RTT")
        XCTAssertEqual(c.holdOnWindow(afterFirstAnswerIn: 2000), 1500, "bounded")
        c.rtts.withLockedValue { $0 = [300, 310, 320] }
        XCTAssertEqual(c.holdOnWindow(afterFirstAnswerIn: 1), 670, "twice the resolver's usual RTT, plus slack")
        settings.timeout = .milliseconds(250)
        let short = DatagramDNSClient(endpoint: c.endpoint, settings: settings, group: ResolverEventLoops.shared)
        XCTAssertEqual(short.holdOnWindow(afterFirstAnswerIn: 100), 250, "never longer than the query timeout")
    }

    /// DDR (RFC 9462): the endpoints a resolver designates for itself become offered services,
    /// on its own address (verified by the IP SAN, no name).
    func testDesignatedEndpointsFromDDR() throws {
        let server = try RacingServer { q in
            guard let question = q.questions.first else { return [] }
            var b = DNSMessageBuilder(id: q.id, flags: DNSMessageBuilder.responseFlags())
            try? b.addQuestion(name: question.name, type: question.type)
            if question.name.lowercased().hasPrefix("dns.example.test") {
                // The designated resolver's name resolves to this very address.
                if question.type == DNSType.a { return [(0, RacingServer.answer(id: q.id, name: question.name, address: "127.0.0.1"))] }
                return (try? b.build()).map { [(0, $0)] } ?? []
            }
            guard question.name.lowercased().hasPrefix("_dns.resolver.arpa") else { return [] }
            // A designation of a resolver elsewhere (hints name another address), as a forwarder relays it.
            try? b.addAnswer(name: question.name, type: DNSType.svcb, ttl: 300,
                             rdata: .svcb(priority: 3, target: "upstream.example.test", params: [.alpnIDs(["dot"]), .ipv4hint([DNSIPv4Address(192, 0, 2, 53)])]))
            try? b.addAnswer(name: question.name, type: DNSType.svcb, ttl: 300,
                             rdata: .svcb(priority: 1, target: "dns.example.test", params: [.alpnIDs(["dot"]), .port(8853)]))
            try? b.addAnswer(name: question.name, type: DNSType.svcb, ttl: 300,
                             rdata: .svcb(priority: 2, target: "dns.example.test",
                                          params: [.alpnIDs(["h2"]), .port(8443), .other(key: 7, value: Array("/q{?dns}".utf8))]))
            return (try? b.build()).map { [(0, $0)] } ?? []
        }
        defer { server.stop() }
        let c = try client(server.port)
        let runner = ProbeRunner(ProbeConfiguration())
        let ddr = try runBlocking { await runner.designatedEndpoints("127.0.0.1", client: c) }
        runBlockingClose(c)
        XCTAssertEqual(ddr.endpoints.map(\.canonical), ["tls://127.0.0.1:8853", "https://127.0.0.1:8443/q"], "\(ddr.facts)")
        XCTAssertTrue(ddr.facts.contains { $0.contains("upstream.example.test") && $0.contains("not an offer") }, "\(ddr.facts)")
        XCTAssertTrue(ddr.endpoints.allSatisfy { $0.tlsName == nil }, "verified by the address (IP SAN)")
        let offered = runner.offeredEncryptedEndpoints("127.0.0.1", designated: ddr.endpoints)
        XCTAssertEqual(offered.map(\.1), [.designated, .designated])
    }

    func testResolverTargets() {
        var config = ProbeConfiguration()
        config.resolvers = [ResolverEndpoint(transport: .udp, host: "10.88.0.53", port: 53)]
        config.systemResolvers = ["10.88.0.1"]
        XCTAssertTrue(config.isResolver("10.88.0.53"), "a resolver under test")
        XCTAssertTrue(config.isResolver("10.88.0.1"), "this machine's resolver (resolv.conf)")
        XCTAssertTrue(config.isResolver("127.0.0.53"), "systemd-resolved's stub")
        XCTAssertTrue(config.isResolver("9.9.9.9"), "a well-known public resolver")
        XCTAssertFalse(config.isResolver("10.88.0.80"), "any other address is a host")
        XCTAssertFalse(config.isResolver("dns.example.test"), "a name is probed as a host")
    }

    private func runBlockingClose(_ c: ResolverClient) {
        _ = try? runBlocking { await c.close() }
    }
}
