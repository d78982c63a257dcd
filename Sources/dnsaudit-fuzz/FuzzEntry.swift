// Fuzz entry points for the wire parsers (DNS, TLS, QUIC Initial) and the packet decoder.
//
// libFuzzer build (see scripts/fuzz.sh):
//   swift build --scratch-path .build-fuzz --product dnsaudit-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
// Without -DFUZZING the same target is a replay tool: `dnsaudit-fuzz FILE...` runs each file
// through every parser once (for reproducing a crash found by the fuzzer).
import AnalysisEngine
import DNSWire
import DoHWire
import NetTypes
import PacketDecode
import TLSAnalysis
import TLSWire

/// Runs one input through every parser. The first byte picks a link type for the packet decoder
/// so the fuzzer explores every link-layer path.
func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    guard !bytes.isEmpty else { return }
    // DNS: both the fast summary and the full parse, and they must agree on the header.
    let s = DNSSummary.summarize(bytes)
    if case .success(let m) = DNSMessage.parse(bytes) {
        if let s, s.id != m.id { fatalError("summary and parse disagree on the id") }
        for rr in m.answers + m.authority + m.additional { _ = rr.rdata.presentation }
    }
    // DNS recognised by content on odd ports: whatever passes the strict check must parse.
    if DNSContentCheck.looksLikeDNS(bytes), case .failure = DNSMessage.parse(bytes) {
        fatalError("DNSContentCheck accepts a message DNSMessage.parse rejects")
    }
    _ = DNSContentCheck.looksLikeDNSOverTCP(bytes)
    // TLS: a ClientHello body (the quick checks must agree with the full parse), a ServerHello
    // body, and a record stream.
    let ch = ClientHello.parse(bytes)
    if let ch {
        _ = JA3.compute(ch)
        _ = JA4.compute(ch, transport: .tcp)
    }
    if ClientHello.scan(bytes) != ch.map({ ClientHello.Scan(sni: $0.sni) }) {
        fatalError("ClientHello.scan and parse disagree")
    }
    if ClientHello.offersTLS13(bytes) != (ch?.supportedVersions.contains(0x0304) ?? false) {
        fatalError("ClientHello.offersTLS13 and parse disagree")
    }
    let sh = ServerHello.parse(bytes)
    if ServerHello.scan(bytes) != sh.map(ServerHello.Scan.init) {
        fatalError("ServerHello.scan and parse disagree")
    }
    var reassembler = TLSHandshakeReassembler()
    _ = reassembler.feed(bytes)
    // QUIC Initial (v1, v2, drafts 29–34), DoQ by ALPN.
    _ = QUICInitial.decryptClientInitial(bytes)
    _ = ClientHello.offersDoQ(bytes)
    // A TCP client's first bytes (the reset-injection evidence): HTTP Host, a cut ClientHello's SNI, raw.
    _ = FirstBytesClassifier.classify(bytes)
    // Cleartext DoH: the bytes as the client's stream after each kind of start (HTTP/1.1, HTTP/2
    // preface, h2c upgrade), and as the server's; split where the second byte says.
    for start in FuzzState.dohStarts {
        let d = DoHStreamDecoder()
        var out: [DoHMessage] = []
        let split = bytes.count > 1 ? Int(bytes[1]) % bytes.count : 0
        start.withUnsafeBytes { _ = d.feed($0, fromClient: true, into: &out) }
        _ = d.feed(UnsafeRawBufferPointer(rebasing: bytes[..<split]), fromClient: true, into: &out)
        _ = d.feed(UnsafeRawBufferPointer(rebasing: bytes[split...]), fromClient: !start.isEmpty, into: &out)
        _ = d.feed(bytes, fromClient: false, into: &out)
    }
    // Packets: every link type, then the full engine on the same frame.
    let links: [LinkType] = [.ethernet, .raw, .null, .loop, .linuxSLL, .linuxSLL2, .nflog, .ipv4, .ipv6,
                             .ppp, .pppSerial, .pppEther, .cHDLC]
    let link = links[Int(bytes[0]) % links.count]
    let rest = UnsafeRawBufferPointer(rebasing: bytes[1...])
    _ = PacketDecoder.decodeThroughTunnels(rest, linkType: link)
    FuzzState.analyzer.processFrame(rest, link: link, frame: 1, ts: Timestamp(seconds: 1, nanoseconds: 0))
}

/// One engine for the whole fuzz run, so flow state accumulates across inputs like a real capture.
enum FuzzState {
    static let dohStarts: [[UInt8]] = [
        [], Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8),
        Array("POST /dns-query HTTP/1.1\r\nContent-Type: application/dns-message\r\nContent-Length: 40\r\n\r\n".utf8),
        Array("GET /dns-query?dns=AAABAAABAAAAAAAAB2V4YW1wbGUDY29tAAABAAE HTTP/1.1\r\nUpgrade: h2c\r\n\r\n".utf8),
    ]
    nonisolated(unsafe) static let analyzer: CaptureAnalyzer = {
        var o = AnalysisOptions()
        o.wantDecode = true
        let a = CaptureAnalyzer(options: o)
        a.onDecode = { _ in }
        return a
    }()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
// SwiftPM links an executable with `--defsym main=dnsaudit_fuzz_main` (its entry point renamed for
// testability). Under libFuzzer that symbol is ours: it hands control to libFuzzer's driver, and
// libFuzzer's own `main` is then never linked in.
@_silgen_name("LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("dnsaudit_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return llvmFuzzerRunDriver(&count, &vector) { data, size in fuzzerTestOneInput(data, size) }
}
#else
import Foundation

@main
enum Replay {
    static func main() {
        let files = CommandLine.arguments.dropFirst()
        if files.isEmpty {
            print("usage: dnsaudit-fuzz FILE...  (replays inputs through every parser; see scripts/fuzz.sh)")
            return
        }
        for f in files {
            guard let d = FileManager.default.contents(atPath: f) else {
                print("cannot read \(f)")
                continue
            }
            d.withUnsafeBytes { fuzzOne($0) }
            print("ok \(f)")
        }
    }
}
#endif
