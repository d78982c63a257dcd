@testable import AnalysisEngine
import Foundation
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// Cleartext DoH on a followed HTTP/1.1 connection (port 80), as the analyzer meets it: the
/// request head and its body in separate TCP segments, the whole request in one, plain web
/// traffic (given up without any DNS), and a GET ?dns= request.
final class CleartextDoHStageTests: XCTestCase {
    let client = IPAddress("198.18.60.1")!
    let server = IPAddress("198.18.61.80")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    /// A query for example.com A (id 0, as RFC 8484 asks) and its answer.
    let query: [UInt8] = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
    var answer: [UInt8] {
        var a = query
        a[2] = 0x81; a[3] = 0x80; a[7] = 1
        return a + [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]
    }

    var postHead: [UInt8] {
        Array("POST /dns-query HTTP/1.1\r\nHost: r.example\r\nContent-Type: application/dns-message\r\nContent-Length: \(query.count)\r\n\r\n".utf8)
    }

    var okHead: [UInt8] {
        Array("HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: \(answer.count)\r\n\r\n".utf8)
    }

    /// Runs one connection whose client sends `requestSegments` (one TCP segment each) and whose
    /// server answers with `responseSegments`; the number of DoH messages the analyzer took.
    func run(requestSegments: [[UInt8]], responseSegments: [[UInt8]]) -> Int {
        var o = AnalysisOptions()
        o.trust = nil
        let a = CaptureAnalyzer(options: o)
        a.beginInput(name: "test")
        var conv = TCPConversation(client: client, clientPort: 45_000, server: server, serverPort: 80,
                                   clientIP: IPFields(ttl: 64, identification: 100), serverIP: IPFields(ttl: 60, identification: 9_000))
        var frames: [[UInt8]] = conv.handshake()
        for s in requestSegments { frames += conv.send(s, from: .client) }
        for s in responseSegments { frames += conv.send(s, from: .server) }
        frames += conv.close()
        for (i, f) in frames.enumerated() {
            f.withUnsafeBytes { a.processFrame($0, link: .raw, frame: UInt64(i + 1), ts: t0.adding(nanoseconds: Int64(i) * 1_000_000)) }
        }
        var result = InputResult(name: "test", linkType: .raw)
        result.first = t0
        result.last = t0.adding(nanoseconds: Int64(frames.count) * 1_000_000)
        result.packets = frames.count
        a.endInput(result)
        _ = a.finish()
        return a.dohMessages
    }

    func testPostWithBodyInTheSameSegment() {
        XCTAssertEqual(run(requestSegments: [postHead + query], responseSegments: [okHead + answer]), 2)
    }

    /// The head in one segment, the body in the next (as many clients send a POST): still DoH.
    func testPostWithBodyInALaterSegment() {
        XCTAssertEqual(run(requestSegments: [postHead, query], responseSegments: [okHead, answer]), 2)
    }

    /// The body itself split over two segments after the head.
    func testPostWithBodySplitOverTwoLaterSegments() {
        XCTAssertEqual(run(requestSegments: [postHead, Array(query[..<10]), Array(query[10...])], responseSegments: [okHead + answer]), 2)
    }

    func testGetWithDNSParameter() {
        let b64 = query.withUnsafeBytes { Data($0) }.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let get = Array("GET /dns-query?dns=\(b64) HTTP/1.1\r\nHost: r.example\r\nAccept: application/dns-message\r\n\r\n".utf8)
        XCTAssertEqual(run(requestSegments: [get], responseSegments: [okHead + answer]), 2)
    }

    /// Plain web traffic, even with a body that a DoH response would have: given up at the
    /// request, nothing taken from the response.
    func testPlainWebRequestIsGivenUp() {
        let get = Array("GET /index.html HTTP/1.1\r\nHost: www.example\r\nAccept: */*\r\n\r\n".utf8)
        XCTAssertEqual(run(requestSegments: [get], responseSegments: [okHead + answer]), 0)
        let post = Array("POST /form HTTP/1.1\r\nHost: www.example\r\nContent-Type: text/plain\r\nContent-Length: \(query.count)\r\n\r\n".utf8)
        XCTAssertEqual(run(requestSegments: [post, query], responseSegments: [okHead + answer]), 0)
    }
}
