import DoHWire
import NIOCore
import NIOHPACK
import XCTest

/// Cleartext DoH framing: HTTP/1.1 GET ?dns= and POST bodies, HTTP/2 with prior knowledge and h2c
/// Upgrade (HPACK through NIOHPACK's encoder), split anywhere; hostile bytes never trap.
final class DoHStreamDecoderTests: XCTestCase {
    /// A query for example.com A (id 0, as RFC 8484 asks) and an answer.
    let query: [UInt8] = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
    var answer: [UInt8] {
        var a = query
        a[2] = 0x81; a[3] = 0x80; a[7] = 1
        return a + [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]
    }

    func b64url(_ b: [UInt8]) -> String {
        Data(b).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Feeds `bytes` in pieces of `step` bytes.
    func feed(_ d: DoHStreamDecoder, _ bytes: [UInt8], fromClient: Bool, step: Int = 1_000_000) -> [DoHMessage] {
        var out: [DoHMessage] = []
        var i = 0
        while i < bytes.count {
            let piece = Array(bytes[i..<min(bytes.count, i + step)])
            piece.withUnsafeBytes { _ = d.feed($0, fromClient: fromClient, into: &out) }
            i += step
        }
        return out
    }

    func testHTTP1GetAndPost() {
        for step in [1, 7, 1_000_000] {
            let d = DoHStreamDecoder()
            let get = Array("GET /dns-query?ct&dns=\(b64url(query)) HTTP/1.1\r\nHost: r.example\r\nAccept: application/dns-message\r\n\r\n".utf8)
            let post = Array("POST /dns-query HTTP/1.1\r\nHost: r.example\r\nContent-Type: application/dns-message\r\nContent-Length: \(query.count)\r\n\r\n".utf8) + query
            XCTAssertEqual(feed(d, get + post, fromClient: true, step: step).map(\.dns), [query, query], "step \(step)")
            let resp = Array("HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: \(answer.count)\r\n\r\n".utf8) + answer
            XCTAssertEqual(feed(d, resp + resp, fromClient: false, step: step).map(\.dns), [answer, answer], "step \(step)")
        }
    }

    func testPlainWebIsNoDoH() {
        let d = DoHStreamDecoder()
        let req = Array("GET /index.html HTTP/1.1\r\nHost: www.example\r\n\r\n".utf8)
        XCTAssertEqual(feed(d, req, fromClient: true), [])
        XCTAssertFalse(d.sawDoH)
        XCTAssertEqual(d.clientRequests, 1)
        let body = [UInt8](repeating: 0x41, count: 5000)
        let resp = Array("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n".utf8) + body
        XCTAssertEqual(feed(d, resp, fromClient: false, step: 100), [])
    }

    /// The byte-level pre-check: only a complete request head without any DoH or h2c marker is
    /// plain; whatever it calls plain, the decoder finds no DoH, HTTP/2 or upgrade in either.
    func testPlainHTTPRequestPreCheck() {
        func plain(_ s: String) -> Bool { Array(s.utf8).withUnsafeBytes { DoHStreamDecoder.isPlainHTTPRequest($0) } }
        XCTAssertTrue(plain("GET /index.html HTTP/1.1\r\nHost: www.example\r\nAccept: */*\r\n\r\n"))
        XCTAssertTrue(plain("POST /form HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd"))
        XCTAssertFalse(plain("GET /index.html HTTP/1.1\r\nHost: www.example\r\n"), "head not complete")
        XCTAssertFalse(plain("GET /q?ct&dns=AAABAAAB HTTP/1.1\r\nHost: r\r\n\r\n"))
        XCTAssertFalse(plain("POST /q HTTP/1.1\r\nContent-Type: Application/DNS-Message\r\nContent-Length: 1\r\n\r\n"))
        XCTAssertFalse(plain("GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: H2C\r\n\r\n"))
        XCTAssertFalse(plain("GET / HTTP/1.1\r\n\r\nGET /q?dns=AAABAAAB HTTP/1.1\r\n\r\n"), "a pipelined DoH request")
        XCTAssertFalse(plain("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
        XCTAssertFalse(plain("SSH-2.0-OpenSSH_9.6\r\n\r\n"))
        for s in ["GET /index.html HTTP/1.1\r\nHost: www.example\r\n\r\n", "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"] {
            XCTAssertTrue(plain(s))
            let d = DoHStreamDecoder()
            XCTAssertEqual(feed(d, Array(s.utf8), fromClient: true), [])
            XCTAssertFalse(d.sawDoH || d.isHTTP2OrUpgrading || d.clientAwaitsDoHBody)
        }
    }

    /// HTTP/2 frames: 9-byte header + payload.
    func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        [UInt8(payload.count >> 16), UInt8((payload.count >> 8) & 0xff), UInt8(payload.count & 0xff), type, flags,
         UInt8(stream >> 24), UInt8((stream >> 16) & 0xff), UInt8((stream >> 8) & 0xff), UInt8(stream & 0xff)] + payload
    }

    func block(_ enc: inout HPACKEncoder, _ headers: [(String, String)]) throws -> [UInt8] {
        var buf = ByteBuffer()
        try enc.encode(headers: HPACKHeaders(headers), to: &buf)
        return buf.readBytes(length: buf.readableBytes) ?? []
    }

    func testH2PriorKnowledgePostAndGet() throws {
        var cenc = HPACKEncoder(allocator: ByteBufferAllocator())
        var senc = HPACKEncoder(allocator: ByteBufferAllocator())
        var client = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(4, 0, 0, [0, 3, 0, 0, 0, 100])
        let postHeaders = try block(&cenc, [(":method", "POST"), (":scheme", "http"), (":authority", "r.example"), (":path", "/dns-query"),
                                            ("content-type", "application/dns-message"), ("content-length", "\(query.count)")])
        // The header block split over HEADERS + CONTINUATION, the body over two DATA frames (one padded).
        client += frame(1, 0x0, 1, Array(postHeaders.prefix(5))) + frame(9, 0x4, 1, Array(postHeaders.dropFirst(5)))
        client += frame(0, 0x8, 1, [3] + Array(query.prefix(10)) + [0, 0, 0]) + frame(0, 0x1, 1, Array(query.dropFirst(10)))
        let getHeaders = try block(&cenc, [(":method", "GET"), (":scheme", "http"), (":authority", "r.example"), (":path", "/dns-query?dns=\(b64url(query))")])
        client += frame(1, 0x5, 3, getHeaders)
        var server = frame(4, 0, 0, []) + frame(4, 1, 0, [])
        for stream: UInt32 in [3, 1] {
            let h = try block(&senc, [(":status", "200"), ("content-type", "application/dns-message")])
            server += frame(1, 0x4, stream, h) + frame(0, 0x1, stream, answer)
        }
        for step in [1, 13, 1_000_000] {
            let d = DoHStreamDecoder()
            let q = feed(d, client, fromClient: true, step: step)
            XCTAssertEqual(q.map(\.dns), [query, query], "step \(step)")
            XCTAssertEqual(q.map(\.stream), [1, 3])
            let a = feed(d, server, fromClient: false, step: step)
            XCTAssertEqual(a.map(\.dns), [answer, answer], "step \(step)")
            XCTAssertEqual(a.map(\.stream), [3, 1])
        }
    }

    func testH2CUpgrade() throws {
        var senc = HPACKEncoder(allocator: ByteBufferAllocator())
        let d = DoHStreamDecoder()
        let upgrade = Array("GET /dns-query?dns=\(b64url(query)) HTTP/1.1\r\nHost: r.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n".utf8)
        XCTAssertEqual(feed(d, upgrade, fromClient: true).map(\.dns), [query])
        let h = try block(&senc, [(":status", "200"), ("content-type", "application/dns-message")])
        let server = Array("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".utf8)
            + frame(4, 0, 0, []) + frame(1, 0x4, 1, h) + frame(0, 0x1, 1, answer)
        XCTAssertEqual(feed(d, server, fromClient: false, step: 5).map(\.dns), [answer])
        XCTAssertEqual(feed(d, Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(4, 0, 0, []), fromClient: true), [])
        XCTAssertFalse(d.isDead)
    }

    func testHostileBytesNeverTrap() {
        var seed: UInt64 = 0x1234_5678
        for n in 0..<2_000 {
            var bytes: [UInt8] = []
            for _ in 0..<(n % 300) {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(UInt8(truncatingIfNeeded: seed >> 33))
            }
            let prefix: [UInt8] = n % 3 == 0 ? Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) : (n % 3 == 1 ? Array("POST / HTTP/1.1\r\n".utf8) : [])
            let d = DoHStreamDecoder()
            _ = feed(d, prefix + bytes, fromClient: true, step: 1 + n % 17)
            _ = feed(d, bytes, fromClient: false, step: 1 + n % 11)
        }
        XCTAssertNil(base64url("a*b"))
        XCTAssertEqual(base64url("AAEC"), [0, 1, 2])
    }
}
