// Per-operation costs of the packet path's most expensive steps, in nanoseconds (`--parts`).
// These explain the analyze figures; they are printed, never asserted.
import AnalysisEngine
import DNSAnalysis
import NetTypes
import PacketDecode
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
        // DNS recognised by content (issue 17 item 2): the strict check on what the mix carries off
        // the DNS ports: an NTP datagram, an HTTP request's first segment (both rejected), a DNS query (accepted).
        var ntp = [UInt8](repeating: 0, count: 48)
        ntp[0] = 0x23
        for i in 40..<48 { ntp[i] = UInt8(truncatingIfNeeded: i &* 37) }
        let http = Array("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n".utf8)
        let tcpQuery = [UInt8(query.count >> 8), UInt8(truncatingIfNeeded: query.count)] + query
        if ntp.withUnsafeBytes(DNSContentCheck.looksLikeDNS) || http.withUnsafeBytes(DNSContentCheck.looksLikeDNSOverTCP)
            || !query.withUnsafeBytes(DNSContentCheck.looksLikeDNS) || !tcpQuery.withUnsafeBytes(DNSContentCheck.looksLikeDNSOverTCP) {
            print("  (the content-check samples were not judged as intended: figures below are not meaningful)")
        }
        // 64 copies of each sample (ids varied), picked by the iteration, so the check cannot be hoisted.
        func copies(_ b: [UInt8]) -> [[UInt8]] {
            (0..<64).map { k in var c = b; if c.count > 1 { c[1] = UInt8(k) }; return c }
        }
        let ntps = copies(ntp), queries = copies(query), https = copies(http)
        report("DNS content check, NTP datagram (no)", iterations: 1_000_000) { i in
            ntps[i & 63].withUnsafeBytes { DNSContentCheck.looksLikeDNS($0) ? 1 : 0 }
        }
        report("DNS content check, DNS query (yes)", iterations: 1_000_000) { i in
            queries[i & 63].withUnsafeBytes { DNSContentCheck.looksLikeDNS($0) ? 1 : 0 }
        }
        report("DNS-over-TCP check, HTTP request (no)", iterations: 1_000_000) { i in
            https[i & 63].withUnsafeBytes { DNSContentCheck.looksLikeDNSOverTCP($0) ? 1 : 0 }
        }
        TunnelParts.run()
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

// MARK: - Tunnel cost (`--parts`, issue 17)

/// The same DNS and TLS packets, plain and inside each tunnel: ns per packet through the packet
/// decoder alone (PacketDecoder.decodeThroughTunnels) and through the whole engine
/// (CaptureAnalyzer.processFrame, default options), and the extra cost per tunnelled packet; "trace"
/// is PacketDecoder.tunnelTrace, which the engine runs once more on each tunnelled frame to keep
/// its layers as evidence (TunnelContexts).
enum TunnelParts {
    typealias SynthIP = NetTypes.IPAddress
    /// One inner packet (a raw IP packet) and its direction.
    struct Inner {
        var packet: [UInt8]
        var fromClient: Bool
    }

    static let flows = 256
    static let macA = MACAddress(2, 0, 0, 0, 0, 0xa), macB = MACAddress(2, 0, 0, 0, 0, 0xb)
    static let ethAB = FrameBuilder.ethernet(source: macA, destination: macB)
    static let ethBA = FrameBuilder.ethernet(source: macB, destination: macA)
    static let outerA = SynthIP("192.0.2.1")!, outerB = SynthIP("192.0.2.2")!

    /// Per flow: a DNS query and its response on UDP 53, then a TCP connection to 443 (handshake,
    /// a ClientHello, a ServerHello, the close): 11 packets, each flow from its own client port.
    static func innerPackets(v6: Bool) -> [Inner] {
        var rng = SplitMix64(seed: 17)
        let client = SynthIP(v6 ? "2001:db8:1::10" : "10.1.0.10")!
        let resolver = SynthIP(v6 ? "2001:db8:2::53" : "10.2.0.53")!
        let server = SynthIP(v6 ? "2001:db8:3::443" : "10.3.0.44")!
        var out: [Inner] = []
        for f in 0..<flows {
            let port = UInt16(20_000 + f)
            var q = DNSMessageBuilder(id: UInt16(truncatingIfNeeded: 0x100 + f), flags: DNSMessageBuilder.queryFlags())
            try? q.addQuestion(name: "www\(f).example.com", type: 1)
            var r = DNSMessageBuilder(id: UInt16(truncatingIfNeeded: 0x100 + f), flags: DNSMessageBuilder.responseFlags())
            try? r.addQuestion(name: "www\(f).example.com", type: 1)
            try? r.addAnswer(name: "www\(f).example.com", type: 1, ttl: 300, rdata: .a(DNSIPv4Address(192, 0, 2, UInt8(f % 250))))
            out.append(Inner(packet: IPPacket.udp(from: client, port, to: resolver, 53, payload: (try? q.build()) ?? []), fromClient: true))
            out.append(Inner(packet: IPPacket.udp(from: resolver, 53, to: client, port, payload: (try? r.build()) ?? []), fromClient: false))
            var c = TCPConversation(client: client, clientPort: port, server: server, serverPort: 443)
            let hello = TLSRecords.clientHello(serverName: "www\(f).example.com", rng: &rng)
            let sh = TLSRecords.serverHello(sessionID: TLSRecords.sessionID(ofClientHello: hello), rng: &rng)
            out.append(Inner(packet: c.syn(), fromClient: true))
            out.append(Inner(packet: c.synAck(), fromClient: false))
            out.append(Inner(packet: c.ack(from: .client), fromClient: true))
            out += c.send(hello, from: .client).map { Inner(packet: $0, fromClient: true) }
            out += c.send(sh, from: .server).map { Inner(packet: $0, fromClient: false) }
            out.append(Inner(packet: c.fin(from: .client), fromClient: true))
            out.append(Inner(packet: c.fin(from: .server), fromClient: false))
            out.append(Inner(packet: c.ack(from: .client), fromClient: true))
        }
        return out
    }

    /// The Ethernet frame carrying `p` plainly or inside `tunnel` (outer endpoints follow the direction).
    static func frame(_ p: Inner, tunnel: String) -> [UInt8] {
        let eth = p.fromClient ? ethAB : ethBA
        let (src, dst) = p.fromClient ? (outerA, outerB) : (outerB, outerA)
        let innerEth = Encapsulate.ethernet(p.packet, etherType: Encapsulate.etherType(ofIPPacket: p.packet),
                                            source: p.fromClient ? macA : macB, destination: p.fromClient ? macB : macA)
        switch tunnel {
        case "GRE":
            return eth.ip(from: src, to: dst, protocol: IPProtocolNumber.gre,
                          payload: Encapsulate.gre(p.packet, protocolType: Encapsulate.etherType(ofIPPacket: p.packet)))
        case "VXLAN":
            return eth.udp(from: src, 49_152, to: dst, TunnelPorts.vxlan, payload: Encapsulate.vxlan(innerEth, vni: 42))
        case "Geneve":
            return eth.udp(from: src, 49_153, to: dst, TunnelPorts.geneve,
                           payload: Encapsulate.geneve(innerEth, protocolType: EtherType.transparentEthernet, vni: 7))
        case "MPLS":
            return Encapsulate.ethernet(Encapsulate.mpls(p.packet, labels: [1_000, 2_000]), etherType: EtherType.mplsUnicast,
                                        source: p.fromClient ? macA : macB, destination: p.fromClient ? macB : macA)
        case "PPPoE":
            return Encapsulate.ethernet(Encapsulate.pppoeSession(p.packet, sessionID: 0x1234), etherType: EtherType.pppoeSession,
                                        source: p.fromClient ? macA : macB, destination: p.fromClient ? macB : macA)
        case "GTP-U":
            return eth.udp(from: src, TunnelPorts.gtpUser, to: dst, TunnelPorts.gtpUser,
                           payload: Encapsulate.gtpU(p.packet, teid: 0x0102_0304))
        case "6in4":
            return eth.ip(from: src, to: dst, protocol: IPProtocolNumber.ipv6InIP, payload: p.packet)
        default:
            return eth.frame(ipPacket: p.packet)
        }
    }

    /// This thread's CPU time in seconds (the machine is shared: time spent descheduled is not counted).
    static func cpuNow() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    static func run() {
        let v4 = innerPackets(v6: false), v6 = innerPackets(v6: true)
        let rows: [(name: String, tunnel: String, inner: [Inner], baseline: Int?)] = [
            ("plain Ethernet/IPv4", "", v4, nil), ("GRE", "GRE", v4, 0), ("VXLAN (Ethernet inside)", "VXLAN", v4, 0),
            ("Geneve (Ethernet inside)", "Geneve", v4, 0), ("MPLS, 2 labels", "MPLS", v4, 0), ("PPPoE session", "PPPoE", v4, 0),
            ("GTP-U", "GTP-U", v4, 0), ("plain Ethernet/IPv6", "", v6, nil), ("6in4", "6in4", v6, 7),
        ]
        let frames = rows.map { row in row.inner.map { frame($0, tunnel: row.tunnel) } }
        let rounds = 11, passes = 4
        var decodeNs = [[Double]](repeating: [], count: rows.count), traceNs = decodeNs, engineNs = decodeNs
        var segments = [Int](repeating: 0, count: rows.count)
        var counts = [(dns: Int, ch: Int, sh: Int)](repeating: (0, 0, 0), count: rows.count)
        // Rounds interleave the rows, so load on this shared machine falls on all of them alike.
        for _ in 0..<rounds {
            for (r, fs) in frames.enumerated() {
                let packets = Double(fs.count * passes)
                // Decoder alone: every frame to its innermost transport segment.
                var seg = 0
                var t0 = cpuNow()
                for _ in 0..<passes {
                    for f in fs {
                        f.withUnsafeBytes { if case .segment = PacketDecoder.decodeThroughTunnels($0, linkType: .ethernet) { seg += 1 } }
                    }
                }
                decodeNs[r].append((cpuNow() - t0) / packets * 1e9)
                segments[r] = seg / passes
                // The tunnel evidence the engine records for each tunnelled frame (its layers, re-read).
                var hops = 0
                t0 = cpuNow()
                for _ in 0..<passes {
                    for f in fs { f.withUnsafeBytes { hops &+= PacketDecoder.tunnelTrace($0, linkType: .ethernet).count } }
                }
                traceNs[r].append((cpuNow() - t0) / packets * 1e9 + (hops == Int.min ? 1 : 0))
                // The whole engine: a fresh analyzer, the capture clock 10 ms per packet (a flow comes
                // back 25.6 s later, past the DNS late window, its TCP connection closed).
                let a = CaptureAnalyzer(options: AnalysisOptions())
                a.beginInput(name: "tunnel-cost")
                var n: UInt64 = 0
                t0 = cpuNow()
                for _ in 0..<passes {
                    for f in fs {
                        n += 1
                        let ns = Int64(n) * 10_000_000
                        f.withUnsafeBytes {
                            a.processFrame($0, link: .ethernet, frame: n,
                                           ts: Timestamp(seconds: 1_700_000_000 + ns / 1_000_000_000, nanoseconds: UInt32(ns % 1_000_000_000)))
                        }
                    }
                }
                engineNs[r].append((cpuNow() - t0) / packets * 1e9)
                counts[r] = (a.dnsMessages / passes, a.tlsClientHellos / passes, a.tlsServerHellos / passes)
            }
        }
        print("tunnel cost: the same \(v4.count) DNS/TLS packets (\(flows) flows of a DNS query + response and a TCP/443")
        print("  connection: handshake, ClientHello, ServerHello, close), plain and tunnelled; thread CPU ns per packet,")
        print("  median of \(rounds) interleaved rounds; 'trace' is the tunnelTrace share of the engine's extra cost")
        print("  \("".padding(toLength: 26, withPad: " ", startingAt: 0))   decode    extra    engine    extra    trace   decoded per pass DNS/CH/SH")
        func f(_ v: Double) -> String { String(format: "%8.0f", v) }
        for (r, row) in rows.enumerated() {
            let d = median(decodeNs[r]), e = median(engineNs[r])
            let dx = row.baseline.map { String(format: "%+8.0f", d - median(decodeNs[$0])) } ?? "        "
            let ex = row.baseline.map { String(format: "%+8.0f", e - median(engineNs[$0])) } ?? "        "
            let tr = row.baseline == nil ? "        " : f(median(traceNs[r]))
            let note = segments[r] == frames[r].count ? "" : "  (only \(segments[r]) of \(frames[r].count) frames decoded to a segment)"
            print("  \(row.name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(f(d)) \(dx)  \(f(e)) \(ex) \(tr)   \(counts[r].dns)/\(counts[r].ch)/\(counts[r].sh)\(note)")
        }
    }
}
