import Foundation
import NIOCore
@testable import Probes
import ResolverClients
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// DoH over HTTP/3 without a lab (no root): the `h3://` reference form, DDR designations by ALPN,
/// and the QUIC client's classification against loopback peers that are not HTTP/3 servers (a
/// closed port, a UDP responder that sends junk). Only 127.0.0.1 is contacted.
final class DoH3ClientTests: XCTestCase {
    func testH3ReferenceForms() throws {
        let a = try ResolverEndpoint.parse("h3://198.51.100.1/dns-query")
        XCTAssertEqual(a.transport, .doh3)
        XCTAssertEqual(a.port, 443)
        XCTAssertEqual(a.path, "/dns-query")
        XCTAssertEqual(a.canonical, "h3://198.51.100.1/dns-query")
        let b = try ResolverEndpoint.parse("h3://[2001:db8::1]:8443/q#dns.example.test")
        XCTAssertEqual(b.host, "2001:db8::1")
        XCTAssertEqual(b.port, 8443)
        XCTAssertEqual(b.path, "/q")
        XCTAssertEqual(b.tlsName, "dns.example.test")
        XCTAssertEqual(b.canonical, "h3://[2001:db8::1]:8443/q")
        XCTAssertEqual(try ResolverEndpoint.parse("h3://dns.example.test").path, "/dns-query")
        // The other forms are unchanged: a path is still only for https:// and h3://.
        XCTAssertThrowsError(try ResolverEndpoint.parse("quic://198.51.100.1/dns-query"))
        XCTAssertEqual(try ResolverEndpoint.parse("https://198.51.100.1/dns-query").transport, .doh)
        XCTAssertThrowsError(try ResolverEndpoint.parse("h3://")) { XCTAssertTrue("\($0)".contains("h3://HOST/PATH"), "\($0)") }
    }

    func testDesignationsByALPN() {
        func d(_ alpns: [String]) -> DDRDesignation {
            DDRDesignation(priority: 1, target: "dns.example.test", alpns: alpns, port: nil, hints: [], dohPath: "/dns-query", here: true)
        }
        XCTAssertFalse(d(["h3"]).offersDoH, "h3 alone is HTTP/3 over QUIC, not a promise of TCP")
        XCTAssertTrue(d(["h3"]).offersDoH3)
        XCTAssertTrue(d(["h2", "h3"]).offersDoH && d(["h2", "h3"]).offersDoH3)
        XCTAssertTrue(d(["doq"]).offersDoQ)
        XCTAssertFalse(d(["dot"]).offersDoQ || d(["dot"]).offersDoH3)
    }

    private func settings() -> ClientSettings {
        var s = ClientSettings()
        s.timeout = .milliseconds(600)
        return s
    }

    /// A UDP port on 127.0.0.1 nobody listens on (bound, read, closed).
    private func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw XCTSkip("no UDP socket") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw XCTSkip("cannot bind 127.0.0.1") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    func testClosedLoopbackPortIsRefused() async throws {
        let port = try closedPort()
        let c = DoH3Client(endpoint: ResolverEndpoint(transport: .doh3, host: "127.0.0.1", port: port), settings: settings())
        let q: [UInt8] = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]
        guard case .failed(let f, _) = await c.attempt(q) else { return XCTFail("no failure") }
        XCTAssertEqual(f, .refused)
        let chain = await QUICPeerChain.fetch(address: "127.0.0.1", port: port, sni: nil, alpn: "doq", timeout: .milliseconds(600))
        guard case .failure(let cf) = chain else { return XCTFail("a chain from a closed port: \(chain)") }
        XCTAssertEqual(cf.failure, .refused, cf.detail)
    }

    /// A peer that answers every datagram with junk: the client says "not QUIC", never traps.
    func testJunkResponderIsNotQUIC() async throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw XCTSkip("no UDP socket") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { close(fd); throw XCTSkip("cannot bind 127.0.0.1") }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let stop = ManagedAtomicFlag()
        let responder = Thread {
            var buf = [UInt8](repeating: 0, count: 2048)
            while !stop.isSet {
                var from = sockaddr_storage()
                var fromLen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &fromLen) }
                }
                guard n > 0 else { continue }
                // Junk: a long-header-looking first byte, then bytes that parse as nothing.
                var junk = [UInt8](repeating: 0x5a, count: 64)
                junk[0] = 0xc3
                _ = withUnsafeMutablePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, junk, junk.count, 0, $0, fromLen) }
                }
            }
        }
        responder.start()
        defer {
            stop.set()
            while responder.isExecuting { usleep(10_000) }
            close(fd)
        }
        let c = DoH3Client(endpoint: ResolverEndpoint(transport: .doh3, host: "127.0.0.1", port: port), settings: settings())
        let q: [UInt8] = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]
        guard case .failed(let f, let detail) = await c.attempt(q) else { return XCTFail("no failure") }
        XCTAssertEqual(f, .notQUIC, detail)
        let chain = await QUICPeerChain.fetch(address: "127.0.0.1", port: port, sni: nil, alpn: "h3", timeout: .milliseconds(600))
        guard case .failure(let cf) = chain else { return XCTFail("a chain from junk: \(chain)") }
        XCTAssertEqual(cf.failure, .notQUIC, cf.detail)
    }
}

/// A flag one thread sets and another reads.
private final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
