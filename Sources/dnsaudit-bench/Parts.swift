// Per-operation costs of the packet path's most expensive steps, in nanoseconds (`--parts`).
// These explain the analyze figures; they are printed, never asserted.
import DNSWire
import Foundation
import PacketSynth
import TLSWire

enum Parts {
    static func run() {
        print("dnsaudit packet-path parts (ns per operation, median of 5 rounds)")
        // A typical response: www.example.com A via a CNAME, with EDNS.
        var b = DNSMessageBuilder(id: 0x1234, flags: DNSMessageBuilder.responseFlags())
        try? b.addQuestion(name: "www.example.com", type: 1)
        try? b.addAnswer(name: "www.example.com", type: 5, ttl: 300, rdata: .cname("edge.cdn.example.net"))
        try? b.addAnswer(name: "edge.cdn.example.net", type: 1, ttl: 60, rdata: .a(DNSIPv4Address(192, 0, 2, 10)))
        try? b.addAnswer(name: "edge.cdn.example.net", type: 1, ttl: 60, rdata: .a(DNSIPv4Address(192, 0, 2, 11)))
        b.setEDNS()
        let response = (try? b.build()) ?? []
        report("DNS summary, response with 3 answers", iterations: 200_000) { _ in
            response.withUnsafeBytes { Int(DNSSummary.summarize($0)?.answersParsed ?? 0) }
        }
        report("DNS full parse, same response", iterations: 50_000) { _ in
            response.withUnsafeBytes { if case .success(let m) = DNSMessage.parse($0) { return m.answers.count }; return 0 }
        }
        var rng = SplitMix64(seed: 7)
        let hello = Array(TLSRecords.clientHello(serverName: "www.example.com", rng: &rng).dropFirst(9))
        if hello.withUnsafeBytes({ ClientHello.scan($0)?.sni }) != "www.example.com" || DNSSummary.summarize(response)?.answersParsed != 3 {
            print("  (the sample messages did not decode as intended: figures below are not meaningful)")
        }
        report("TLS ClientHello scan (analysis)", iterations: 200_000) { _ in
            hello.withUnsafeBytes { ClientHello.scan($0)?.sni?.utf8.count ?? 0 }
        }
        report("TLS ClientHello full parse (decode)", iterations: 50_000) { _ in
            ClientHello.parse(hello)?.cipherSuites.count ?? 0
        }
        var dcid: [UInt8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08]
        report("QUIC Initial keys (new connection)", iterations: 20_000) { i in
            dcid[0] = UInt8(truncatingIfNeeded: i)
            dcid[1] = UInt8(truncatingIfNeeded: i >> 8)
            return QUICInitialKeys(version: QUICVersion.v1, initialDCID: dcid, side: .client) == nil ? 1 : 0
        }
        // A client Initial whose protected part is random: header protection, then AEAD fails.
        var datagram: [UInt8] = [0xc3, 0, 0, 0, 1, 8] + dcid + [8] + dcid + [0, 0x44, 0xca]
        var seed: UInt32 = 1
        while datagram.count < 1_252 {
            seed = seed &* 1_103_515_245 &+ 12_345
            datagram.append(UInt8(truncatingIfNeeded: seed >> 16))
        }
        var decryptor = QUICInitialDecryptor(side: .client)
        report("QUIC Initial decrypt attempt (keys cached)", iterations: 20_000) { _ in
            decryptor.decrypt(datagram: datagram).errors.count
        }
    }

    static func report(_ what: String, iterations: Int, _ body: (Int) -> Int) {
        var rounds: [Double] = []
        var sink = 0
        for _ in 0..<5 {
            let t0 = now()
            for i in 0..<iterations { sink &+= body(i) }
            rounds.append((now() - t0) / Double(iterations) * 1e9)
        }
        print("  \(what.padding(toLength: 44, withPad: " ", startingAt: 0)) \(String(format: "%9.0f", median(rounds))) ns"
              + (sink == Int.min ? "" : ""))
    }
}
