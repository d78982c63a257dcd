import AnalysisEngine
import Findings
import NetTypes
import PacketDecode
import PacketSynth
import XCTest

/// Issue 17 item 5: a RST (or RST/ACK) right after the client's first data segment whose IP TTL /
/// IP ID do not fit the server's SYN-ACK is `tcp.reset-injection`, on any TCP service, naming what
/// the client sent (HTTP Host, TLS SNI, raw bytes); a genuine server reset is no finding.
final class ResetInjectionTests: XCTestCase {
    let client = IPAddress("198.18.50.1")!
    let server = IPAddress("198.18.51.80")!
    let t0 = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)

    enum Reset { case injected, injectedBare, genuine, none, afterServerData }

    /// A connection (server packets arrive with TTL 52), the client's first data, then the reset.
    func run(port: UInt16, first: [UInt8], reset: Reset, resetTTL: UInt8 = 250) -> [Finding] {
        var o = AnalysisOptions()
        o.trust = nil
        let a = CaptureAnalyzer(options: o)
        a.beginInput(name: "test")
        var conv = TCPConversation(client: client, clientPort: 43_210, server: server, serverPort: port,
                                   clientIP: IPFields(ttl: 64, identification: 100), serverIP: IPFields(ttl: 52, identification: 7_000))
        var frames: [[UInt8]] = conv.handshake()
        frames += conv.send(first, from: .client)
        switch reset {
        case .injected, .injectedBare:
            var forged = conv
            forged.serverIP = IPFields(ttl: resetTTL, identification: 31_337)
            frames.append(forged.reset(from: .server, withAck: reset == .injected))
        case .genuine:
            frames.append(conv.reset(from: .server))
        case .afterServerData:
            frames += conv.send(Array("HTTP/1.1 200 OK\r\n\r\n".utf8), from: .server)
            var forged = conv
            forged.serverIP = IPFields(ttl: resetTTL, identification: 31_337)
            frames.append(forged.reset(from: .server))
        case .none:
            frames += conv.close()
        }
        for (i, f) in frames.enumerated() {
            f.withUnsafeBytes { a.processFrame($0, link: .raw, frame: UInt64(i + 1), ts: t0.adding(nanoseconds: Int64(i) * 5_000_000)) }
        }
        var result = InputResult(name: "test", linkType: .raw)
        result.first = t0
        result.last = t0.adding(nanoseconds: Int64(frames.count) * 5_000_000)
        result.packets = frames.count
        a.endInput(result)
        return a.finish()
    }

    let http = Array("GET /search?q=falun HTTP/1.1\r\nUser-Agent: x\r\nHOST:  blocked.example\r\nAccept: */*\r\n\r\n".utf8)

    func testInjectedResetAfterHTTPRequestOnPort80() throws {
        let findings = run(port: 80, first: http, reset: .injected)
        XCTAssertEqual(findings.map(\.kind), [FindingKind.tcpResetInjection], findings.map(\.title).joined(separator: "\n"))
        let f = try XCTUnwrap(findings.first)
        XCTAssertEqual(f.severity, .high)
        XCTAssertEqual(f.confidence, .likely)
        XCTAssertEqual(f.subjectValue("protocol"), .string("http"))
        XCTAssertEqual(f.subjectValue("host"), .string("blocked.example"))
        XCTAssertEqual(f.subjectValue("port"), .int(80))
        XCTAssertTrue(f.title.contains("HTTP GET Host blocked.example"), f.title)
        let detail = f.evidence.first?.detail ?? ""
        XCTAssertTrue(detail.contains("IP TTL 250 where the server's SYN-ACK had 52"), detail)
        XCTAssertTrue(detail.contains("IP ID 31337 far from the handshake's 7000"), detail)
        XCTAssertEqual(f.evidence.first?.frames, [4, 5])
    }

    /// The case: a plaintext request on TCP 443 (not TLS), a bare RST with another TTL.
    func testPlaintextOn443AndBareRST() {
        let findings = run(port: 443, first: http, reset: .injectedBare)
        XCTAssertEqual(findings.map(\.kind), [FindingKind.tcpResetInjection], findings.map(\.title).joined(separator: "\n"))
        XCTAssertEqual(findings.first?.subjectValue("host"), .string("blocked.example"))
    }

    func testRawBytesOnAnOddPort() {
        let findings = run(port: 6_881, first: [0x13] + Array("BitTorrent protocol".utf8), reset: .injected, resetTTL: 40)
        XCTAssertEqual(findings.map(\.kind), [FindingKind.tcpResetInjection])
        XCTAssertEqual(findings.first?.subjectValue("protocol"), .string("raw"))
        XCTAssertTrue(findings.first?.title.contains("raw bytes 13 42 69 74") ?? false, findings.first?.title ?? "")
    }

    /// A TLS record whose ClientHello is cut by the reset before it is whole: the SNI its first
    /// segment holds names it.
    func testPartialClientHelloNamesItsSNI() {
        var rng = SplitMix64(seed: 7)
        let hello = TLSRecords.clientHello(serverName: "www.blocked.example", rng: &rng)
        let findings = run(port: 8_443, first: Array(hello.prefix(300)), reset: .injected)
        XCTAssertEqual(findings.map(\.kind), [FindingKind.tcpResetInjection], findings.map(\.title).joined(separator: "\n"))
        XCTAssertEqual(findings.first?.subjectValue("protocol"), .string("tls"))
        XCTAssertEqual(findings.first?.subjectValue("sni"), .string("www.blocked.example"))
    }

    /// Clean controls: the server's own reset (its TTL and IP ID), a reset after the server
    /// answered, a normal close, and a TTL one hop off — no finding.
    func testGenuineResetsAreNoFinding() {
        XCTAssertEqual(run(port: 80, first: http, reset: .genuine).map(\.kind), [])
        XCTAssertEqual(run(port: 80, first: http, reset: .afterServerData).map(\.kind), [])
        XCTAssertEqual(run(port: 80, first: http, reset: .none).map(\.kind), [])
        XCTAssertEqual(run(port: 6_881, first: [1, 2, 3], reset: .genuine).map(\.kind), [])
    }

    /// A whole ClientHello reset by an injector stays the TLS policy's finding, not a second one.
    func testWholeClientHelloStaysTLSFinding() {
        var rng = SplitMix64(seed: 9)
        let hello = TLSRecords.clientHello(serverName: "www.blocked.example", rng: &rng)
        let findings = run(port: 443, first: hello, reset: .injected)
        XCTAssertEqual(findings.map(\.kind), [FindingKind.tlsResetAfterClientHello])
    }
}
