// Per-operation costs of the packet path's most expensive steps, in nanoseconds (`--parts`).
// These explain the analyze figures; they are printed, never asserted.
import DNSAnalysis
import NetTypes
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
        // The transaction tracker alone: 8 800 queries/s from 150 clients to 3 resolvers, each
        // answered 20 ms later (so the open table holds the 5 s late window, as in the mix).
        var q = DNSMessageBuilder(id: 1, flags: DNSMessageBuilder.queryFlags())
        try? q.addQuestion(name: "www.example.com", type: 1)
        let query = (try? q.build()) ?? []
        let qs = query.withUnsafeBytes { DNSSummary.summarize($0) }
        let rs = response.withUnsafeBytes { DNSSummary.summarize($0) }
        if let qs, let rs {
            let tracker = DNSTransactionTracker()
            var rounds = 0
            // Message n: the query of transaction n/2 (even n) or the response to the query sent
            // 176 transactions (20 ms) earlier (odd n); capture time only moves forward.
            func endpoints(_ k: Int) -> (client: NetTypes.IPAddress, server: NetTypes.IPAddress, port: UInt16) {
                (NetTypes.IPAddress(v4: 0xC633_6400 | UInt32(k % 150)), NetTypes.IPAddress(v4: 0xC633_6435 | UInt32(k % 3)),
                 UInt16(truncatingIfNeeded: 1024 + (k &* 7919) % 60000))
            }
            report("DNS tracker, one message (query or response)", iterations: 400_000) { i in
                let n = i + 400_000 * rounds
                let k = n / 2
                let tsNanos = Int64(k) * 113_636
                let ts = Timestamp(seconds: 1_700_000_000 + tsNanos / 1_000_000_000, nanoseconds: UInt32(tsNanos % 1_000_000_000))
                if n % 2 == 0 {
                    let (client, server, port) = endpoints(k)
                    var sum = qs
                    sum.id = UInt16(truncatingIfNeeded: k)
                    tracker.observe(DNSObservation(frame: UInt64(n), ts: ts, src: client, dst: server, sport: port, dport: 53,
                                                   transport: .udp, ipTTL: 64, ipID: 1),
                                    bytes: UnsafeRawBufferPointer(start: nil, count: 0), summary: sum)
                } else if k >= 176 {
                    let (client, server, port) = endpoints(k - 176)
                    var sum = rs
                    sum.id = UInt16(truncatingIfNeeded: k - 176)
                    response.withUnsafeBytes {
                        tracker.observe(DNSObservation(frame: UInt64(n), ts: ts, src: server, dst: client, sport: 53, dport: port,
                                                       transport: .udp, ipTTL: 58, ipID: 2), bytes: $0, summary: sum)
                    }
                }
                if i == 399_999 { rounds += 1 }
                return tracker.openTransactions
            }
            if tracker.stats.transactions < tracker.stats.queries * 9 / 10 {
                print("  (the tracker sample did not pair queries and responses as intended: \(tracker.stats))")
            }
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
